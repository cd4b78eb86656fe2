import type { AddressInfo } from "node:net";
import { type ServerType, serve } from "@hono/node-server";
import { apiRoutes } from "../../../../src/adapters/http/api/api-routes.ts";
import { signedUrlRoutes, urlSignerFor } from "../../../../src/adapters/http/api/signed-urls.ts";
import { createHttpApp } from "../../../../src/adapters/http/app.ts";
import { CallEventHub } from "../../../../src/adapters/http/events/call-event-hub.ts";
import { eventRoutes } from "../../../../src/adapters/http/events/event-routes.ts";
import { createLogger } from "../../../../src/adapters/logging/pino-logger.ts";
import { CallQueries } from "../../../../src/application/queries.ts";
import { type ApiWorld, createApiWorld } from "../api/api-test-world.ts";

export interface EventsWorld {
  /** The API world's database and recording folder (for the seed helpers). */
  api: ApiWorld;
  hub: CallEventHub;
  baseUrl: string;
  close(): Promise<void>;
}

export interface EventsWorldOptions {
  apiKey?: string;
  heartbeatMs?: number;
  maxQueued?: number;
}

/**
 * The API and the event feeds mounted at /api as main.ts mounts them (behind the same API key),
 * served on a real socket on 127.0.0.1.
 */
export async function startEventsWorld(options: EventsWorldOptions = {}): Promise<EventsWorld> {
  const api = createApiWorld({ apiKey: options.apiKey });
  const hub = new CallEventHub();
  const queries = new CallQueries({ calls: api.repository, recordings: api.store });
  const urlSigner = urlSignerFor(options.apiKey);
  const app = createHttpApp({
    logger: createLogger("silent"),
    health: { calls: api.repository, recordings: api.store, activeCalls: () => 0 },
    bodyLimit: { maxBytes: 64 * 1024, paths: ["/api/*"] },
    auth: { apiKey: options.apiKey, paths: ["/api/*"], urlSigner },
    mounts: [
      { prefix: "/api", routes: apiRoutes({ queries, isCallActive: () => false }) },
      { prefix: "/api", routes: signedUrlRoutes(urlSigner) },
      {
        prefix: "/api",
        routes: eventRoutes({
          hub,
          queries,
          heartbeatMs: options.heartbeatMs,
          maxQueued: options.maxQueued,
        }),
      },
    ],
  });
  const server = await new Promise<ServerType>((resolve) => {
    const s = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    api,
    hub,
    baseUrl: `http://127.0.0.1:${port}`,
    async close() {
      hub.close();
      const http = server as import("node:http").Server;
      http.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      api.close();
    },
  };
}
