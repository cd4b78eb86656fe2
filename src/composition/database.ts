import { resolve } from "node:path";
import pg from "pg";
import type { AppLogger } from "../adapters/logging/pino-logger.ts";
import type { PrometheusMetrics } from "../adapters/metrics/prometheus-metrics.ts";
import { PostgresCallRepository } from "../adapters/postgres/postgres-call-repository.ts";
import { ThreadedCallRepository } from "../adapters/sqlite/threaded-call-repository.ts";
import type { CallRepository } from "../application/ports/index.ts";
import { type Config, describeDatabase } from "../config.ts";
import { errorMessage } from "../domain/errors.ts";

/** The repository, and what shutdown needs of it: close commits every write still pending. */
export interface CallDatabase extends CallRepository {
  close(): Promise<void>;
}

/**
 * A PostgreSQL server that does not answer within this fails startup: an unreachable host
 * must not hang the process (TCP alone retries for minutes).
 */
export const POSTGRES_CONNECT_TIMEOUT_MS = 10_000;

/** PostgreSQL's migrations live beside SQLite's, in MIGRATIONS_PATH/postgres. */
export function postgresMigrationsFolder(migrationsPath: string): string {
  return resolve(migrationsPath, "postgres");
}

export interface OpenCallRepositoryOptions {
  /**
   * A cluster's primary migrated the database before it forked this worker: the SQLite writer
   * must not apply them again, racing the other workers' writers. (PostgreSQL's migrator takes
   * an advisory lock and finds nothing to do.)
   */
  migrated?: boolean;
}

/** The configured database, migrated, reporting failures to logs and metrics. */
export async function openCallRepository(
  config: Config,
  logger: AppLogger,
  metrics: PrometheusMetrics,
  onFailure: () => void = () => {},
  options: OpenCallRepositoryOptions = {},
): Promise<CallDatabase> {
  const { database } = config;
  const onBackgroundError = (message: string) => {
    logger.error({ err: message }, "indexing transcripts for search failed; retrying in 1 s");
    metrics.error("storage_search_index");
    onFailure();
  };
  logger.info(
    { database: describeDatabase(database), kind: database.kind },
    database.kind === "postgres" ? "storing calls in PostgreSQL" : "storing calls in SQLite",
  );
  if (database.kind === "postgres") {
    await ensureReachable(database.url);
    return PostgresCallRepository.open({
      url: database.url,
      migrationsPath: postgresMigrationsFolder(config.migrationsPath),
      poolSize: database.poolSize,
      onBackgroundError,
    });
  }
  // SQLite runs on worker threads (a writer, and readers for the API): no statement, however
  // long, runs on this thread, which carries every call's audio. The writer migrates first.
  return ThreadedCallRepository.open({
    databaseUrl: database.path,
    migrationsPath: options.migrated ? undefined : config.migrationsPath,
    readers: config.databaseReaderThreads,
    onBackgroundError,
    onUnexpectedExit: (thread, reason) => {
      logger.error({ thread, err: reason }, "a database thread stopped; starting a new one");
      onFailure();
    },
  });
}

/**
 * One connection, with a deadline, before the pool and the migrator (which wait for as long
 * as the migrations take) get the URL: a wrong host, port, password or database name then
 * fails startup at once, with a message that names it and never the password.
 */
export async function ensureReachable(
  url: string,
  timeoutMs = POSTGRES_CONNECT_TIMEOUT_MS,
): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs });
  // An error after connect (the server restarting) must not become an uncaught exception.
  client.on("error", () => {});
  try {
    await client.connect();
    await client.query("SELECT 1");
  } catch (error) {
    throw new Error(
      `cannot connect to PostgreSQL at ${describeDatabase({ kind: "postgres", url, poolSize: 1 })}: ${errorMessage(error)}`,
    );
  } finally {
    await client.end().catch(() => {});
  }
}
