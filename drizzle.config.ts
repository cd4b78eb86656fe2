import { defineConfig } from "drizzle-kit";

// drizzle-kit reads the same DATABASE_URL as the server, so that `drizzle-kit migrate` touches
// the database the server uses, and picks the dialect from it as the server does. PostgreSQL
// deployments run `drizzle-kit migrate` (its migrations alter tables in place, in a
// transaction); on SQLite prefer `npm run db:migrate` (README, "Migrations").
const databaseUrl = process.env.DATABASE_URL ?? "./data/calls.db";
const isPostgres = /^postgres(ql)?:\/\//i.test(databaseUrl);

export default isPostgres
  ? defineConfig({
      dialect: "postgresql",
      schema: "./drizzle/pg-schema.ts",
      out: "./migrations/postgres",
      dbCredentials: { url: databaseUrl },
      strict: true,
      verbose: true,
    })
  : defineConfig({
      dialect: "sqlite",
      schema: "./drizzle/schema.ts",
      out: "./migrations",
      dbCredentials: { url: databaseUrl.replace(/^file:/, "") },
      strict: true,
      verbose: true,
    });
