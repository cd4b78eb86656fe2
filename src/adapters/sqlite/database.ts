import { chmodSync, closeSync, mkdirSync, openSync, statSync } from "node:fs";
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
/** Owner-only: the database holds full phone numbers and every transcript. */
const FILE_MODE = 0o600;
const DIR_MODE = 0o700;

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
    if (path !== IN_MEMORY) makePrivate(path);
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

/**
 * Before the writer opens the file: a folder the server creates is 0700, and the database file is
 * created 0600 here (an empty file is a valid empty SQLite database), because SQLite would create
 * it 0644 and gives its -wal and -shm files the database file's own mode. A database file (or
 * -wal/-shm) that already exists and is open to other users is tightened to 0600: these files are
 * unambiguously the server's, and three chmods cost nothing. An existing folder is left as it is:
 * it may be shared (DATABASE_URL=/var/lib/x.db), and a 0600 file in it is private anyway.
 */
function makePrivate(path: string): void {
  const created = mkdirSync(dirname(path), { recursive: true, mode: DIR_MODE });
  // mkdir's mode is narrowed by the umask; set exactly the folder the database lives in.
  if (created !== undefined) chmodSync(dirname(path), DIR_MODE);
  createPrivateFile(path);
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, FILE_MODE);
    } catch {
      // Missing (no -wal yet), or another user's file: SQLite's open says what matters.
    }
  }
}

/**
 * Creates the file, empty and 0600, unless it exists; an existing file is never opened here.
 * Closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's
 * included ("How To Corrupt An SQLite Database File", 2.2): a writer thread reopened while
 * reader threads of this process hold their locks must not cancel them, or another process
 * (a cluster's other workers share the file) could take the lock that lets it delete the WAL
 * they are reading.
 */
function createPrivateFile(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, "wx", FILE_MODE);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") return;
    throw error;
  }
  closeSync(fd);
}
