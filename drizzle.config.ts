import { defineConfig } from "drizzle-kit";

// drizzle-kit reads the same DATABASE_URL as the server so that `drizzle-kit migrate`
// touches the database the server uses. Prefer `npm run db:migrate`: see README.
const url = (process.env.DATABASE_URL ?? "./data/calls.db").replace(/^file:/, "");

export default defineConfig({
  dialect: "sqlite",
  schema: "./drizzle/schema.ts",
  out: "./migrations",
  dbCredentials: { url },
  strict: true,
  verbose: true,
});
