import type { Server } from "node:http";
import { createNodeWebSocket } from "@hono/node-ws";
import { Hono } from "hono";
import { WebSocket } from "ws";
import { apiRoutes } from "../adapters/http/api/api-routes.ts";
import { openApiRoutes } from "../adapters/http/api/openapi.ts";
import { signedUrlRoutes, urlSignerFor } from "../adapters/http/api/signed-urls.ts";
import { createHttpApp } from "../adapters/http/app.ts";
import { eventRoutes } from "../adapters/http/events/event-routes.ts";
import { metricsRoutes } from "../adapters/http/metrics-routes.ts";
import { PeaksWorker } from "../adapters/http/ui/peaks-worker-client.ts";
import { browserNotFound, uiRoutes } from "../adapters/http/ui/ui-routes.tsx";
import { injectGuardedUpgrade } from "../adapters/http/upgrade-guard.ts";
import type { AppLogger } from "../adapters/logging/pino-logger.ts";
import type { PrometheusMetrics } from "../adapters/metrics/prometheus-metrics.ts";
import { SignedCalls } from "../adapters/twilio/signed-calls.ts";
import { twilioRoutes } from "../adapters/twilio/twilio-routes.ts";
import { CallQueries } from "../application/queries.ts";
import type { Config } from "../config.ts";
import type { Bridge } from "./bridge.ts";
import type { ClusterWorker } from "./cluster-worker.ts";
import type { Storage } from "./storage.ts";

/** Twilio frames are ~300 bytes; anything near this limit is hostile (RFC 6455 close 1009). */
const MAX_WS_FRAME_BYTES = 64 * 1024;
/** Time a peer gets to answer our WebSocket close frame before its socket is cut. */
const WS_CLOSE_GRACE_MS = 2000;

export interface HttpDeps {
  storage: Storage;
  bridge: Bridge;
  logger: AppLogger;
  metrics: PrometheusMetrics;
  /** This process is a cluster worker: /metrics is the whole cluster's, /healthz names it. */
  worker?: ClusterWorker;
}

export interface Http {
  app: Hono;
  injectWebSocket(server: Server): void;
  /** Sends every WebSocket a close frame; cuts those that do not answer in time. */
  closeWebSockets(): Promise<void>;
  /** Stops the waveform worker. */
  close(): Promise<void>;
}

/** The Hono app: JSON API, live feeds, call browser, Twilio webhooks and media streams, metrics. */
export function createHttp(
  config: Config,
  { storage, bridge, logger, metrics, worker }: HttpDeps,
): Http {
  const { calls, recordings } = storage;
  const { callManager, hub, activity } = bridge;
  const queries = new CallQueries({ calls, recordings });
  // Waveform peaks read whole recordings: on a worker thread, started before serving and kept.
  const peaks = new PeaksWorker({ idleMs: Number.POSITIVE_INFINITY });
  peaks.warm();
  // node-ws needs the app before the WebSocket routes are declared on it.
  const app = new Hono();
  const nodeWs = createNodeWebSocket({ app });
  nodeWs.wss.options.maxPayload = MAX_WS_FRAME_BYTES;
  const isCallActive = (callId: string) => callManager.isCallActive(callId);
  // One signer for minting and checking, so the page's audio and feed URLs never carry the key.
  const urlSigner = urlSignerFor(config.apiKey);
  createHttpApp(
    {
      logger,
      health: {
        calls,
        recordings,
        activeCalls: () => callManager.activeCount,
        degradedReasons: () => [
          ...storage.degradedReasons(),
          ...bridge.modelStatus.degradedReasons(),
          ...(bridge.uploads?.degradedReasons() ?? []),
        ],
        ...(bridge.uploads ? { uploads: bridge.uploads.status } : {}),
        ...(worker ? { worker: { instance: storage.instanceId, index: worker.index } } : {}),
      },
      requestLogging: {
        onRequest: (method, route, status, seconds) =>
          metrics.httpRequest(method, route, status, seconds),
        activity,
      },
      // /twilio/* has its own, far smaller limit, inside its routes (Twilio's webhooks are a
      // few KB, and a large unsigned form held the event loop while it was parsed and signed).
      bodyLimit: { maxBytes: config.maxBodyBytes, paths: ["/api/*"] },
      auth: { apiKey: config.apiKey, paths: ["/api/*"], urlSigner },
      pageNotFound: browserNotFound(config.apiKey !== undefined),
      mounts: [
        { prefix: "/api", routes: apiRoutes({ queries, isCallActive }) },
        { prefix: "/api", routes: eventRoutes({ hub, queries }) },
        { prefix: "/api", routes: signedUrlRoutes(urlSigner) },
        { prefix: "/", routes: openApiRoutes({ apiKeyRequired: config.apiKey !== undefined }) },
        {
          prefix: "/",
          routes: uiRoutes({
            queries,
            apiKey: config.apiKey,
            computePeaks: (fileKey, sizeBytes, buckets) =>
              recordings.withLocalFile
                ? recordings.withLocalFile(fileKey, (path) =>
                    peaks.compute(path, sizeBytes, buckets),
                  )
                : peaks.compute(recordings.filePath(fileKey), sizeBytes, buckets),
          }),
        },
        {
          prefix: "/twilio",
          routes: twilioRoutes({
            upgradeWebSocket: nodeWs.upgradeWebSocket,
            publicBaseUrl: config.publicBaseUrl,
            trustProxy: config.trustProxy,
            authToken: config.twilioAuthToken,
            // Keyed from the auth token, so every instance sharing it accepts the others' tokens.
            signedCalls: new SignedCalls(config.twilioAuthToken ?? ""),
            maxBodyBytes: config.twilioMaxBodyBytes,
            startTimeoutMs: config.mediaStreamStartTimeoutMs,
            maxStreams: config.maxMediaStreams,
            logger,
            onBadFrame: (kind) => metrics.error(`frame_${kind}`),
            createSession: bridge.createSession,
          }),
        },
        { prefix: "/", routes: metricsRoutes(worker?.metrics ?? metrics) },
      ],
    },
    app,
  );
  return {
    app,
    injectWebSocket: (server) =>
      injectGuardedUpgrade(server, (s) => nodeWs.injectWebSocket(s), logger),
    closeWebSockets: () => closeWebSockets(nodeWs.wss.clients),
    close: () => peaks.close(),
  };
}

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
