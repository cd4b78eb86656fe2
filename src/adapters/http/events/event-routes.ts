import { type Context, Hono } from "hono";
import { streamSSE } from "hono/streaming";
import type { CallQueries } from "../../../application/queries.ts";
import { pathId } from "../api/validation.ts";
import type { CallEventHub, FeedMessage } from "./call-event-hub.ts";

export interface EventRoutesDeps {
  hub: CallEventHub;
  queries: CallQueries;
  /** A comment line this often keeps proxies and browsers from timing the stream out. */
  heartbeatMs?: number;
  /** A client this many messages behind is cut off rather than buffered without bound. */
  maxQueued?: number;
}

export const DEFAULT_HEARTBEAT_MS = 15_000;
const DEFAULT_MAX_QUEUED = 1000;
/** What EventSource waits before reconnecting after the stream ends. */
const RETRY_MS = 3000;
const HEARTBEAT = Symbol("heartbeat");

/**
 * Server-Sent Events, mounted at "/api": `GET /api/events` (every call) and
 * `GET /api/calls/:id/events` (one call). The API key applies (createHttpApp); since EventSource
 * cannot send headers, a signed URL (signed-urls.ts) opens these too, as does the deprecated
 * `?access_token=` (QUERY_TOKEN_PATHS).
 */
export function eventRoutes(deps: EventRoutesDeps): Hono {
  const app = new Hono();
  app.get("/events", (c) => openFeed(c, deps, null));
  app.get("/calls/:id/events", async (c) => {
    const id = pathId(c, "call");
    // Unknown calls are a 404 JSON error, answered before the stream starts.
    await deps.queries.getCall(id);
    return openFeed(c, deps, id);
  });
  return app;
}

function openFeed(c: Context, deps: EventRoutesDeps, callId: string | null): Response {
  const heartbeatMs = deps.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const maxQueued = deps.maxQueued ?? DEFAULT_MAX_QUEUED;
  // Tells nginx-style proxies not to buffer the stream.
  c.header("X-Accel-Buffering", "no");
  const response = streamSSE(c, async (stream) => {
    // This part runs before the response is returned, so the client is subscribed by the time it
    // sees the headers: a page that loads the REST state after `open` misses nothing.
    const queue: (FeedMessage | typeof HEARTBEAT)[] = [];
    let wake: (() => void) | null = null;
    let done = false;
    let heartbeat: ReturnType<typeof setInterval> | undefined;
    let unsubscribe = () => {};
    const notify = () => {
      const resume = wake;
      wake = null;
      resume?.();
    };
    const stop = () => {
      if (done) return;
      done = true;
      clearInterval(heartbeat);
      unsubscribe();
      notify();
    };
    unsubscribe = deps.hub.subscribe(callId, {
      send(message) {
        if (queue.length >= maxQueued) {
          stop();
          // The socket is not draining: abort so that a pending write gives up too.
          stream.abort();
          return;
        }
        queue.push(message);
        notify();
      },
      close: stop,
    });
    // The hub may have ended the subscription already (shutdown): then no timer is left behind.
    if (!done) {
      heartbeat = setInterval(() => {
        // Anything already queued will show the line is alive just as well.
        if (queue.length > 0) return;
        queue.push(HEARTBEAT);
        notify();
      }, heartbeatMs);
    }
    // A client that goes away is freed at once, not at the next write.
    stream.onAbort(stop);
    c.req.raw.signal.addEventListener("abort", stop, { once: true });
    try {
      await stream.write(`retry: ${RETRY_MS}\n: connected\n\n`);
      while (!done) {
        const next = queue.shift();
        if (next === undefined) {
          await new Promise<void>((resolve) => {
            wake = resolve;
          });
          continue;
        }
        if (next === HEARTBEAT) await stream.write(": heartbeat\n\n");
        else await stream.writeSSE({ event: next.event, data: next.data });
        if (stream.aborted) stop();
      }
    } finally {
      stop();
    }
  });
  // The connection ends with the stream (EventSource reconnects on a new one anyway), so that
  // a shutdown which ends every feed is not left waiting on idle keep-alive sockets.
  response.headers.set("Connection", "close");
  return response;
}
