import { accessSync, constants, mkdirSync } from "node:fs";
import type { Server } from "node:http";
import { type ServerType, serve } from "@hono/node-server";
import { createNodeWebSocket } from "@hono/node-ws";
import { Hono } from "hono";
import { WebSocket } from "ws";
import { FsRecordingStore } from "./adapters/fs/fs-recording-store.ts";
import { apiRoutes } from "./adapters/http/api/api-routes.ts";
import { openApiRoutes } from "./adapters/http/api/openapi.ts";
import { createHttpApp } from "./adapters/http/app.ts";
import { CallEventHub } from "./adapters/http/events/call-event-hub.ts";
import { eventRoutes } from "./adapters/http/events/event-routes.ts";
import { fanOut } from "./adapters/http/events/fan-out.ts";
import { metricsRoutes } from "./adapters/http/metrics-routes.ts";
import { PeaksWorker } from "./adapters/http/ui/peaks-worker-client.ts";
import { uiRoutes } from "./adapters/http/ui/ui-routes.tsx";
import { injectGuardedUpgrade } from "./adapters/http/upgrade-guard.ts";
import { type AppLogger, createLogger } from "./adapters/logging/pino-logger.ts";
import { PrometheusMetrics } from "./adapters/metrics/prometheus-metrics.ts";
import { OpenAiRealtimeModel } from "./adapters/openai/realtime-client.ts";
import { AfinnSentimentAnalyzer } from "./adapters/sentiment/afinn-sentiment.ts";
import { openDatabase } from "./adapters/sqlite/database.ts";
import { migrateDatabase } from "./adapters/sqlite/migrate.ts";
import { ThreadedCallRepository } from "./adapters/sqlite/threaded-call-repository.ts";
import { ActivityTracker } from "./adapters/system/activity-tracker.ts";
import { EventLoopWatchdog } from "./adapters/system/event-loop-watchdog.ts";
import { scheduleEvery } from "./adapters/system/interval-scheduler.ts";
import { systemClock } from "./adapters/system/system-clock.ts";
import { uuidIds } from "./adapters/system/uuid-ids.ts";
import { LiveSessions } from "./adapters/twilio/live-sessions.ts";
import { SignedCalls } from "./adapters/twilio/signed-calls.ts";
import { twilioRoutes } from "./adapters/twilio/twilio-routes.ts";
import { CallManager } from "./application/call-manager.ts";
import { CallSession } from "./application/call-session.ts";
import type {
  CallRepository,
  Clock,
  IdGenerator,
  RecordingStore,
} from "./application/ports/index.ts";
import { CallQueries } from "./application/queries.ts";
import { RecordingRetention } from "./application/retention.ts";
import { type Config, ConfigError, loadConfig } from "./config.ts";
import { errorMessage } from "./domain/errors.ts";

export interface Overrides {
  clock?: Clock;
  ids?: IdGenerator;
  logger?: AppLogger;
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

const MAX_WS_FRAME_BYTES = 64 * 1024;
/** /healthz stays degraded this long after a storage write failed. */
const STORAGE_ERROR_WINDOW_MS = 60_000;
const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
/** Time a peer gets to answer our WebSocket close frame before its socket is cut. */
const WS_CLOSE_GRACE_MS = 2000;
/** Time in-flight HTTP requests get at shutdown before their connections are cut. */
const HTTP_CLOSE_GRACE_MS = 3000;

const monotonicSeconds = () => performance.now() / 1000;

function ensureWritableFolder(variable: string, path: string): void {
  try {
    mkdirSync(path, { recursive: true });
    accessSync(path, constants.W_OK);
  } catch {
    throw new ConfigError(variable, `is not a writable folder: ${path}`);
  }
}

/** The composition root: the only place that creates adapters and wires them to use cases. */
export async function compose(config: Config, overrides: Overrides = {}): Promise<Composition> {
  const logger = overrides.logger ?? createLogger(config.logLevel);
  const clock = overrides.clock ?? systemClock;
  const ids = overrides.ids ?? uuidIds;

  ensureWritableFolder("RECORDING_STORAGE_PATH", config.recordingStoragePath);

  let activeCalls = () => 0;
  const metrics = new PrometheusMetrics(() => activeCalls());
  // Monotonic, not the injected clock: this is an operational window, not call time.
  let lastStorageErrorAt = Number.NEGATIVE_INFINITY;
  // SQLite runs on worker threads (a writer, and readers for the API): no statement, however
  // long, runs on this thread, which carries every call's audio. The writer migrates first.
  const calls = await ThreadedCallRepository.open({
    databaseUrl: config.databasePath,
    migrationsPath: config.migrationsPath,
    readers: config.databaseReaderThreads,
    onBackgroundError: (message) => {
      logger.error({ err: message }, "indexing transcripts for search failed; retrying in 1 s");
      metrics.error("storage_search_index");
      lastStorageErrorAt = performance.now();
    },
    onUnexpectedExit: (thread, reason) => {
      logger.error({ thread, err: reason }, "a database thread stopped; starting a new one");
      lastStorageErrorAt = performance.now();
    },
  });
  const recordings = new FsRecordingStore({
    root: config.recordingStoragePath,
    logger,
    onBytesWritten: (n) => metrics.bytesWritten(n),
    onError: (kind) => {
      metrics.error(kind);
      // recording_overflow means audio came faster than real time, which any media-stream
      // client can cause at will: counted, but not a storage failure that degrades /healthz.
      if (kind.startsWith("storage_")) lastStorageErrorAt = performance.now();
    },
  });
  const storageDegraded = () =>
    performance.now() - lastStorageErrorAt < STORAGE_ERROR_WINDOW_MS
      ? ["recording storage writes failed in the last 60 s"]
      : [];
  // Live feeds (SSE) for the call browser, beside the metrics that count the same events.
  const hub = new CallEventHub();
  const callManager = new CallManager({
    calls,
    recordings,
    clock,
    ids,
    logger,
    events: fanOut(metrics, hub),
  });
  activeCalls = () => callManager.activeCount;
  await callManager.recoverInterruptedCalls();
  // Started after start-up's own synchronous work (migrations, recovery), which holds up no call.
  const activity = new ActivityTracker();
  const watchdog = new EventLoopWatchdog({
    logger,
    activity,
    liveCalls: () => callManager.activeCount,
    onDelay: (seconds) => metrics.eventLoopDelay(seconds),
    onStall: () => metrics.eventLoopStall(),
  }).start();
  const sessions = new LiveSessions();
  const retentionDays = config.recordingRetentionDays;
  const retentionJob =
    retentionDays === undefined
      ? null
      : scheduleEvery(
          () =>
            new RecordingRetention({
              calls,
              recordings,
              clock,
              logger,
              retentionDays,
              isCallActive: (callId) => callManager.isCallActive(callId),
            }).run(),
          {
            intervalMs: RETENTION_INTERVAL_MS,
            runAtStart: true,
            activity: { spans: activity, label: "retention run" },
            onError: (error) => logger.error({ err: errorMessage(error) }, "retention run failed"),
          },
        );
  const queries = new CallQueries({ calls, recordings });
  // Waveform peaks read whole recordings: on a worker thread, started before serving and kept.
  const peaks = new PeaksWorker({ idleMs: Number.POSITIVE_INFINITY });
  peaks.warm();
  const sentiment = new AfinnSentimentAnalyzer();
  const model = config.openai.apiKey
    ? new OpenAiRealtimeModel({ url: config.openai.realtimeUrl, apiKey: config.openai.apiKey })
    : null;

  // node-ws needs the app before the WebSocket routes are declared on it.
  const app = new Hono();
  const nodeWs = createNodeWebSocket({ app });
  // Twilio frames are ~300 bytes; anything near this limit is hostile (RFC 6455 close 1009).
  nodeWs.wss.options.maxPayload = MAX_WS_FRAME_BYTES;
  createHttpApp(
    {
      logger,
      health: {
        calls,
        recordings,
        activeCalls: () => callManager.activeCount,
        degradedReasons: storageDegraded,
      },
      requestLogging: {
        onRequest: (method, route, status, seconds) =>
          metrics.httpRequest(method, route, status, seconds),
        activity,
      },
      routes: [
        // The API's body limit also covers /twilio/*, so it is mounted first.
        apiRoutes({
          queries,
          apiKey: config.apiKey,
          maxBodyBytes: config.maxBodyBytes,
          isCallActive: (callId) => callManager.isCallActive(callId),
        }),
        // After apiRoutes: its /api/* bearer middleware covers the feeds.
        eventRoutes({ hub, queries }),
        openApiRoutes({ apiKeyRequired: config.apiKey !== undefined }),
        uiRoutes({
          queries,
          apiKey: config.apiKey,
          computePeaks: (fileKey, sizeBytes, buckets) =>
            peaks.compute(recordings.filePath(fileKey), sizeBytes, buckets),
        }),
        twilioRoutes({
          upgradeWebSocket: nodeWs.upgradeWebSocket,
          publicBaseUrl: config.publicBaseUrl,
          authToken: config.twilioAuthToken,
          signedCalls: new SignedCalls(),
          logger,
          onBadFrame: (kind) => metrics.error(`frame_${kind}`),
          createSession: (output) =>
            sessions.track(
              new CallSession({
                callManager,
                model,
                modelOptions: {
                  voice: config.openai.voice,
                  instructions: config.openai.instructions,
                },
                output,
                logger,
                metrics,
                clock,
                maxCallSeconds: config.maxCallSeconds,
                now: monotonicSeconds,
                analyticsIntervalMs: config.analyticsIntervalSeconds * 1000,
                sentiment,
                language: config.language,
                activity,
              }),
              output,
            ),
        }),
        metricsRoutes(metrics),
      ],
    },
    app,
  );

  let ending: Promise<void> | null = null;
  const endCalls = () => {
    ending ??= (async () => {
      await retentionJob?.stop();
      await sessions.stopAll("shutdown");
      await callManager.endAll("completed");
      // After endAll, so feeds carry every call.ended; then their streams end.
      hub.close();
      await closeWebSockets(nodeWs.wss.clients);
    })();
    return ending;
  };
  let closed = false;
  return {
    config,
    app,
    logger,
    calls,
    recordings,
    callManager,
    injectWebSocket: (server) =>
      injectGuardedUpgrade(server, (s) => nodeWs.injectWebSocket(s), logger),
    endCalls,
    async close() {
      if (closed) return;
      closed = true;
      watchdog.stop();
      await endCalls();
      await peaks.close();
      // Transcripts and analytics are written behind: this commits the last turn's rows first.
      await calls.close();
    },
  };
}

/** Sends a close frame to every socket, and cuts those whose peer does not answer in time. */
async function closeWebSockets(clients: Set<WebSocket>): Promise<void> {
  const open = [...clients].filter((ws) => ws.readyState !== WebSocket.CLOSED);
  if (open.length === 0) return;
  const closedAll = Promise.all(
    open.map((ws) => new Promise<void>((resolve) => ws.once("close", () => resolve()))),
  );
  for (const ws of open) ws.close(1001, "server shutting down");
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, WS_CLOSE_GRACE_MS);
  });
  await Promise.race([closedAll, grace]);
  clearTimeout(timer);
  for (const ws of open) if (ws.readyState !== WebSocket.CLOSED) ws.terminate();
  await closedAll;
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
      const database = openDatabase(config.databasePath);
      migrateDatabase(database.sqlite, config.migrationsPath);
      database.sqlite.close();
      process.stdout.write(`migrations applied to ${config.databasePath}\n`);
      return;
    } catch (error) {
      fail(error);
    }
  }
  let running: RunningServer;
  try {
    running = await start(config);
  } catch (error) {
    fail(error);
  }
  const shutdown = (signal: string) => {
    running.composition.logger.info({ signal }, "shutting down");
    const force = setTimeout(() => process.exit(1), 10_000);
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
