import { afterAll, beforeAll } from "vitest";
import type { CallRepository } from "../../src/application/ports/index.ts";
import type { Analytics } from "../../src/domain/analytics.ts";
import type { Transcript } from "../../src/domain/transcript.ts";
import { POSTGRES_WORLD } from "./postgres/postgres-test-world.ts";
import { IN_THREAD_WORLD, THREADED_WORLD } from "./sqlite/sqlite-test-world.ts";

/**
 * A CallRepository adapter under test on a fresh migrated database, with backend-neutral hooks
 * on a connection of the test's own for assertions and fault injection.
 */
export interface RepositoryWorld {
  repository: CallRepository;
  /** The test's own SQLite connection, for the SQLite-only checks (FTS5 internals); else absent. */
  sqlite?: import("better-sqlite3").Database;
  /** Rows of `table` (of one call when `callId` is given), committed ones only. */
  rowCount(table: string, callId?: string): Promise<number>;
  /** Makes every DELETE on `table` fail from now on, as a refusing trigger does. */
  refuseDeletes(table: string): Promise<void>;
  /**
   * Write transactions committed so far: SQLite counts the commits in its WAL file, PostgreSQL
   * the distinct transactions that inserted the transcripts and analytics rows there are.
   * Only differences matter.
   */
  commits(): Promise<number>;
  /** Stores rows with Drizzle's own insert, as the reference for the batched writes. */
  insertDirectly(rows: { transcripts: Transcript[]; analytics: Analytics[] }): Promise<void>;
  /** Every stored value of a call's rows of `table` but their ids, with its storage type. */
  storedValues(table: "transcripts" | "analytics", callId: string): Promise<unknown[]>;
  /**
   * Makes INSERTs into `table` wait until the returned release is called (PostgreSQL: a SHARE
   * lock in a transaction of the test's own), so that a batch stays in flight. Absent where a
   * batch is committed synchronously (SQLite), so never in flight.
   */
  holdWrites?(table: string): Promise<() => Promise<void>>;
  /** The query plan of `query`, as the backend prints it (for the index checks). */
  explain(query: string): Promise<string>;
  /** Takes the repository's database away without committing anything, as a failure would. */
  closeDatabase(): Promise<void>;
  /** Commits what the repository holds, then closes it, as shutdown does. */
  commitAndCloseDatabase(): Promise<void>;
  /** A new repository on the same database, as after a restart. */
  reopen(): Promise<{ repository: CallRepository; close(): Promise<void> }>;
  close(): Promise<void>;
}

export interface RepositoryWorldKind {
  name: string;
  /** `describe`, or `describePostgres` for a world that needs the PostgreSQL server. */
  describe(name: string, body: () => void): void;
  /** Once per suite (a PostgreSQL world creates its database here, and drops it after). */
  setUp?(): Promise<void>;
  tearDown?(): Promise<void>;
  /** A world for one test, on an emptied database. */
  open(): Promise<RepositoryWorld>;
}

/** Every CallRepository adapter: the contract suites run against each. */
export const REPOSITORY_WORLDS: RepositoryWorldKind[] = [
  IN_THREAD_WORLD,
  THREADED_WORLD,
  POSTGRES_WORLD,
];

/**
 * One suite per world, named `<world>: <title>`, whose body gets that world's `open`. A
 * PostgreSQL world's suite is skipped with one line when TEST_POSTGRES_URL is unset.
 */
export function describeEachWorld(
  title: string,
  body: (open: () => Promise<RepositoryWorld>, kind: RepositoryWorldKind) => void,
  worlds: readonly RepositoryWorldKind[] = REPOSITORY_WORLDS,
): void {
  for (const kind of worlds) {
    kind.describe(title ? `${kind.name}: ${title}` : kind.name, () => {
      if (kind.setUp) beforeAll(() => kind.setUp?.(), 60_000);
      if (kind.tearDown) afterAll(() => kind.tearDown?.(), 60_000);
      body(() => kind.open(), kind);
    });
  }
}
