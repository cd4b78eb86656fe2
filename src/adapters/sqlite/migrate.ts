import { existsSync } from "node:fs";
import { join, resolve } from "node:path";
import type Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";

/**
 * The committed migrations folder. Resolved from the working directory (npm scripts run at the
 * project root), not from import.meta.url, which would point elsewhere once compiled.
 */
export const defaultMigrationsFolder = (cwd: string = process.cwd()): string =>
  resolve(cwd, "migrations");

interface ForeignKeyViolation {
  table: string;
  rowid: number | null;
  parent: string;
  fkid: number;
}

/**
 * Applies pending drizzle-kit migrations without losing rows.
 *
 * drizzle's migrator runs every migration inside one transaction, where the
 * `PRAGMA foreign_keys=OFF` that drizzle-kit writes around a table rebuild has no effect: the
 * rebuild's `DROP TABLE calls` would then cascade into every child table. Foreign keys are
 * therefore switched off before the migrator starts, checked once it has finished, and switched
 * back on whatever happens.
 */
export function migrateDatabase(sqlite: Database.Database, migrationsFolder: string): void {
  if (sqlite.inTransaction) {
    // PRAGMA foreign_keys is a no-op inside a transaction, so the protection would silently fail.
    throw new Error("migrateDatabase must not be called inside a transaction");
  }
  if (!existsSync(join(migrationsFolder, "meta", "_journal.json"))) {
    throw new Error(`no drizzle-kit migrations found in ${migrationsFolder} (meta/_journal.json)`);
  }
  sqlite.pragma("foreign_keys = OFF");
  try {
    migrate(drizzle(sqlite), { migrationsFolder });
    const violations = sqlite.pragma("foreign_key_check") as ForeignKeyViolation[];
    if (violations.length > 0) {
      const tables = [...new Set(violations.map((v) => `${v.table} → ${v.parent}`))].join(", ");
      throw new Error(
        `database migration left ${violations.length} row(s) whose parent row is missing (${tables}); ` +
          "restore the database from a backup and fix the migration",
      );
    }
  } finally {
    sqlite.pragma("foreign_keys = ON");
  }
}
