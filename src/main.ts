import type { Server } from "node:http";
import { type ServerType, serve } from "@hono/node-server";
import type { Hono } from "hono";
import { type AppLogger, createLogger } from "./adapters/logging/pino-logger.ts";
import { PrometheusMetrics } from "./adapters/metrics/prometheus-metrics.ts";
import { migratePostgres } from "./adapters/postgres/migrate.ts";
import { openDatabase } from "./adapters/sqlite/database.ts";
import { migrateDatabase } from "./adapters/sqlite/migrate.ts";
import { systemClock } from "./adapters/system/system-clock.ts";
import { uuidIds } from "./adapters/system/uuid-ids.ts";
import type { CallManager } from "./application/call-manager.ts";
import type {
  CallRepository,
  Clock,
  IdGenerator,
  RecordingStore,
} from "./application/ports/index.ts";
import { createBridge } from "./composition/bridge.ts";
import { runClusterPrimary } from "./composition/cluster.ts";
import { type ClusterWorker, joinCluster } from "./composition/cluster-worker.ts";
import { ensureReachable, postgresMigrationsFolder } from "./composition/database.ts";
import { createHttp } from "./composition/http.ts";
import { openStorage } from "./composition/storage.ts";
import { resolveWorkerCount } from "./composition/worker-identity.ts";
import { type Config, ConfigError, describeDatabase, loadConfig } from "./config.ts";
import { errorMessage } from "./domain/errors.ts";

export interface Overrides {
  clock?: Clock;
  ids?: IdGenerator;
  logger?: AppLogger;
  /** This process is a worker of a cluster (WORKERS > 1) that its primary migrated for it. */
  worker?: ClusterWorker;
}

export interface Composition {
  config: Config;
  app: Hono;
  logger: AppLogger;
  calls: CallRepository;
  recordings: RecordingStore;
  callManager: CallManager;
  injectWebSocket: (server: Server) => void;
  /**
   * Shutdown, first half: stops the retention job, ends every live call (recording finalized,
   * status stored) and closes every WebSocket, so that server.close() can complete.
   */
  endCalls(): Promise<void>;
  /** Ends calls (if not done yet) and closes the database. */
  close(): Promise<void>;
}

/** Time in-flight HTTP requests get at shutdown before their connections are cut. */
const HTTP_CLOSE_GRACE_MS = 3000;
/** A shutdown that has not finished by then ends the process anyway (exit code 1). */
const SHUTDOWN_DEADLINE_MS = 10_000;

/**
 * The composition root: the only place (with src/composition/) that creates adapters and wires
 * them to use cases.
 */
export async function compose(config: Config, overrides: Overrides = {}): Promise<Composition> {
  const { worker } = overrides;
  const baseLogger = overrides.logger ?? createLogger(config.logLevel);
  const logger = worker ? baseLogger.child({ worker: worker.index }) : baseLogger;
  const clock = overrides.clock ?? systemClock;
  const ids = overrides.ids ?? uuidIds;
  const metrics = new PrometheusMetrics(worker ? { worker: worker.index } : {});
  worker?.metrics.serve(metrics);
  const storage = await openStorage(config, logger, metrics, {
    migrated: worker !== undefined,
    workerIndex: worker?.index,
  });
  const bridge = await createBridge(config, { storage, logger, metrics, clock, ids });
  const http = createHttp(config, { storage, bridge, logger, metrics, worker });

  let ending: Promise<void> | null = null;
  const endCalls = () => {
    ending ??= (async () => {
      await bridge.stopRetention();
      // Each call hangs up through its session: recording finalized and status stored first.
      await bridge.callManager.endAll("shutdown");
      // The calls just ended stay `pending` if their analysis cannot finish: the next start
      // takes them up again.
      await bridge.postCallAnalysis.close();
      // After endAll, so feeds carry every call.ended; then their streams end.
      bridge.hub.close();
      await http.closeWebSockets();
    })();
    return ending;
  };
  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      bridge.watchdog.stop();
      await endCalls();
      await bridge.releaseLease();
      await http.close();
      // After endCalls: the calls' last events reach the other instances first.
      await bridge.bus.close();
      // Transcripts and analytics are written behind: this commits the last turn's rows first.
      await storage.calls.close();
      await storage.jobs.close();
      storage.releaseInstance();
    })();
    return closing;
  };
  const { app, injectWebSocket } = http;
  const { calls, recordings } = storage;
  const { callManager } = bridge;
  return { config, app, logger, calls, recordings, callManager, injectWebSocket, endCalls, close };
}

export interface RunningServer {
  composition: Composition;
  server: ServerType;
  port: number;
  stop(): Promise<void>;
}

export async function start(config: Config, overrides: Overrides = {}): Promise<RunningServer> {
  const composition = await compose(config, overrides);
  const { logger } = composition;
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve(
      { fetch: composition.app.fetch, port: config.port, hostname: config.host },
      () => resolve(s),
    );
  });
  composition.injectWebSocket(server as Server);
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : config.port;
  logger.info({ port, host: config.host }, `callbridge listening on http://${config.host}:${port}`);
  if (!config.openai.apiKey) logger.warn({}, "OPENAI_API_KEY is unset: record-only mode, no AI");
  if (!config.twilioAuthToken) {
    logger.warn({}, "TWILIO_AUTH_TOKEN is unset: Twilio signatures are not checked");
  } else if (!config.publicBaseUrl) {
    logger.warn(
      { trustProxy: config.trustProxy },
      config.trustProxy
        ? "PUBLIC_BASE_URL is unset: signatures are checked against the URL in Host and X-Forwarded-Host/-Proto"
        : "PUBLIC_BASE_URL is unset: signatures are checked against the URL in Host and X-Forwarded-Proto; behind a proxy, set PUBLIC_BASE_URL (or TRUST_PROXY=1)",
    );
  }
  if (!config.apiKey) logger.warn({}, "API_KEY is unset: /api is open to anyone who can reach it");

  let stopping: Promise<void> | null = null;
  const stop = () => {
    stopping ??= (async () => {
      // Stop accepting first; node's close() then waits for every open connection.
      const serverClosed = new Promise<void>((resolve) => server.close(() => resolve()));
      const http = server as Server;
      http.closeIdleConnections();
      await composition.endCalls();
      const cut = setTimeout(() => http.closeAllConnections(), HTTP_CLOSE_GRACE_MS);
      cut.unref();
      await serverClosed;
      clearTimeout(cut);
      await composition.close();
    })();
    return stopping;
  };
  return { composition, server, port, stop };
}

/**
 * `npm run db:migrate`. PostgreSQL: drizzle-orm's migrator, whose migrations alter tables in
 * place in one transaction. SQLite: the safe migrator (foreign keys off around table rebuilds).
 */
async function migrate(config: Config): Promise<void> {
  const { database } = config;
  if (database.kind === "postgres") {
    await ensureReachable(database.url);
    await migratePostgres(database.url, postgresMigrationsFolder(config.migrationsPath));
    return;
  }
  const opened = openDatabase(database.path);
  try {
    migrateDatabase(opened.sqlite, config.migrationsPath);
  } finally {
    opened.sqlite.close();
  }
}

function fail(error: unknown): never {
  const line =
    error instanceof ConfigError
      ? error.message
      : `callbridge failed to start: ${errorMessage(error)}`;
  process.stderr.write(`${line}\n`);
  process.exit(1);
}

async function runCli(argv: string[]): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    fail(error);
  }
  if (argv[0] === "migrate") {
    try {
      await migrate(config);
      process.stdout.write(`migrations applied to ${describeDatabase(config.database)}\n`);
      return;
    } catch (error) {
      fail(error);
    }
  }
  const worker = joinCluster();
  if (worker === null) {
    const workers = resolveWorkerCount(config.workers);
    if (workers > 1) {
      try {
        await runClusterPrimary(config, {
          workers,
          migrate,
          workerShutdownMs: SHUTDOWN_DEADLINE_MS,
        });
        return;
      } catch (error) {
        fail(error);
      }
    }
  }
  let running: RunningServer;
  try {
    running = await start(config, worker ? { worker } : {});
  } catch (error) {
    fail(error);
  }
  let shuttingDown = false;
  const shutdown = (signal: string) => {
    // A cluster worker gets a terminal's Ctrl-C itself, and again from its primary.
    if (shuttingDown) return;
    shuttingDown = true;
    running.composition.logger.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), SHUTDOWN_DEADLINE_MS);
    force.unref();
    running.stop().then(
      () => {
        running.composition.logger.info({ signal }, "shutdown complete");
        process.exit(0);
      },
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", () => shutdown("SIGTERM"));
  process.once("SIGINT", () => shutdown("SIGINT"));
}

const isEntryPoint =
  process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (isEntryPoint) void runCli(process.argv.slice(2));
