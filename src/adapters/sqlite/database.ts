import { mkdirSync } from "node:fs";
import { dirname, resolve } from "node:path";
import Database from "better-sqlite3";
import { type BetterSQLite3Database, drizzle } from "drizzle-orm/better-sqlite3";
import * as schema from "../../../drizzle/schema.ts";
import { errorMessage } from "../../domain/errors.ts";

export type Schema = typeof schema;
export type AppDatabase = BetterSQLite3Database<Schema>;

export interface OpenedDatabase {
  sqlite: Database.Database;
  db: AppDatabase;
}

const IN_MEMORY = ":memory:";

/**
 * Turns a DATABASE_URL into a file path: a `file:` prefix is accepted (`file:./x.db`,
 * `file:///abs/x.db`), as Prisma and libsql users write it.
 */
export function databasePath(url: string): string {
  const stripped = url.replace(/^file:(\/\/(?=\/))?/, "");
  return stripped === IN_MEMORY ? IN_MEMORY : resolve(stripped);
}

export interface OpenOptions {
  /**
   * A reader thread's connection: opened read-only on the file the writer already made WAL,
   * so nothing it runs can write and it never checkpoints.
   */
  readonly?: boolean;
}

/** Opens the SQLite database at DATABASE_URL, creating its folder, with the server's pragmas. */
export function openDatabase(url: string, options: OpenOptions = {}): OpenedDatabase {
  const path = databasePath(url);
  let sqlite: Database.Database | undefined;
  try {
    if (options.readonly) {
      sqlite = new Database(path, { readonly: true, fileMustExist: true });
      sqlite.pragma("busy_timeout = 5000");
      return { sqlite, db: drizzle(sqlite, { schema }) };
    }
    if (path !== IN_MEMORY) mkdirSync(dirname(path), { recursive: true });
    sqlite = new Database(path);
    // WAL lets readers (API) run while the media path writes; NORMAL is durable in WAL mode
    // except for the last transactions on power loss, which recordings survive via their files.
    sqlite.pragma("journal_mode = WAL");
    sqlite.pragma("synchronous = NORMAL");
    // Checkpoint (copy the WAL back into the database file) every ~40 MB of WAL rather than the
    // default ~4 MB: transcript inserts, each updating the full-text index, ran 15–30% faster in
    // the storage benchmark, for a WAL file that grows to that size between checkpoints.
    sqlite.pragma("wal_autocheckpoint = 10000");
    sqlite.pragma("busy_timeout = 5000");
    sqlite.pragma("foreign_keys = ON");
  } catch (error) {
    sqlite?.close();
    const reason = errorMessage(error);
    throw new Error(`DATABASE_URL: cannot open the SQLite database at ${path}: ${reason}`, {
      cause: error,
    });
  }
  return { sqlite, db: drizzle(sqlite, { schema }) };
}
