import { drizzle as drizzleNodePostgres, type NodePgDatabase } from "drizzle-orm/node-postgres";
import type { PgDatabase as DrizzlePgDatabase, PgQueryResultHKT } from "drizzle-orm/pg-core";
import pg from "pg";
import * as schema from "../../../drizzle/pg-schema.ts";
import type { BatchStatement } from "./batch-insert.ts";

// The server talks to PostgreSQL through `pg` (node-postgres); README ("Running against
// PostgreSQL") and bench/postgres-drivers.ts say why. The postgres.js twin of connectPostgres,
// which only that bench uses, lives in the bench (postgres.js is a devDependency).

/** The drizzle instance the PostgreSQL adapters query through (node-postgres). */
export type PgDatabase = NodePgDatabase<typeof schema>;

/**
 * What the repository's reads and writes need of a drizzle instance, whichever the driver: no
 * driver-specific result shapes (a write that needs a row count asks for `.returning()`).
 */
export type AnyDriverDatabase = DrizzlePgDatabase<PgQueryResultHKT, typeof schema>;

/**
 * Transcripts and analytics are committed in batches on a connection of their own, with
 * `synchronous_commit = off`: a batch is visible to every reader once committed, and survives
 * any crash of this process, but a crash of the database server or its machine may lose the
 * batches of its last moments (never corrupting anything). That is the durability SQLite gives
 * the same rows (WAL with synchronous=NORMAL, see ../sqlite/database.ts), and it saves the
 * flush to disk that would otherwise be most of a batch's time (measured: 12,000 against
 * 8,000 rows/s). Everything else (calls, recordings, metadata) commits durably.
 */
const BATCH_SESSION = "-c synchronous_commit=off";

export interface PgConnection {
  driver: "pg";
  db: PgDatabase;
  /**
   * Runs the statements of a write-behind batch in one transaction, on a connection of their own
   * (batches run one at a time; see BATCH_SESSION), each prepared once per connection.
   */
  runBatch(statements: readonly BatchStatement[]): Promise<void>;
  /** Closes every connection of the pool; queries after it fail. */
  end(): Promise<void>;
}

/** The same through postgres.js: bench/postgres-drivers.ts makes it. */
export interface PostgresJsConnection {
  driver: "postgres";
  db: AnyDriverDatabase;
  runBatch(statements: readonly BatchStatement[]): Promise<void>;
  end(): Promise<void>;
}

export type DriverConnection = PgConnection | PostgresJsConnection;

export const DEFAULT_POOL_SIZE = 10;

/** A node-postgres pool of `poolSize` connections to `url`, made as queries need them. */
export function connectPostgres(url: string, poolSize = DEFAULT_POOL_SIZE): PgConnection {
  const pool = new pg.Pool({ connectionString: url, max: poolSize });
  const batchPool = new pg.Pool({ connectionString: url, max: 1, options: BATCH_SESSION });
  // An idle connection that the server drops emits 'error' on the pool; without a listener
  // that would crash the process. The next query reconnects (or fails and is reported).
  pool.on("error", () => {});
  batchPool.on("error", () => {});
  let ended: Promise<void> | null = null;
  return {
    driver: "pg",
    db: drizzleNodePostgres(pool, { schema }),
    runBatch: async (statements) => {
      const [only] = statements;
      if (statements.length <= 1) {
        if (only) await batchPool.query(only);
        return;
      }
      const client = await batchPool.connect();
      try {
        await client.query("BEGIN");
        for (const statement of statements) await client.query(statement);
        await client.query("COMMIT");
      } catch (error) {
        await client.query("ROLLBACK").catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    end: () => {
      ended ??= Promise.all([pool.end(), batchPool.end()]).then(() => {});
      return ended;
    },
  };
}
