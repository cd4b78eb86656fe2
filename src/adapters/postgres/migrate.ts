import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import { drizzle } from "drizzle-orm/node-postgres";
import { migrate } from "drizzle-orm/node-postgres/migrator";
import pg from "pg";

/**
 * The committed PostgreSQL migrations (drizzle-kit output). Resolved from the working directory,
 * as the SQLite folder is, so that it still points at them once the code is compiled elsewhere.
 */
export const defaultPostgresMigrationsFolder = (cwd: string = process.cwd()): string =>
  resolve(cwd, "migrations/postgres");

/**
 * Key of the session advisory lock held while migrating: instances starting together take turns,
 * so the second finds the migrations applied instead of racing to apply them too. Any constant
 * works as long as every instance uses the same one ("callbrdg" in ASCII).
 */
const MIGRATION_LOCK_KEY = 0x63616c6c62726467n;

/**
 * Applies the pending drizzle-kit migrations of `migrationsFolder`, each in the transaction
 * drizzle's migrator runs them in (PostgreSQL alters tables in place, so no rows are rebuilt),
 * recorded in drizzle.__drizzle_migrations as `drizzle-kit migrate` records them.
 */
export async function migratePostgres(url: string, migrationsFolder: string): Promise<void> {
  if (!existsSync(join(migrationsFolder, "meta", "_journal.json"))) {
    throw new Error(`no drizzle-kit migrations found in ${migrationsFolder} (meta/_journal.json)`);
  }
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY.toString()]);
    try {
      // drizzle logs a NOTICE for "CREATE SCHEMA IF NOT EXISTS drizzle" on every start.
      client.on("notice", () => {});
      await migrate(drizzle(client), { migrationsFolder });
    } finally {
      await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY.toString()]);
    }
  } finally {
    await client.end();
  }
}
