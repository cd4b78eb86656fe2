import { randomUUID } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { routePath } from "hono/route";
import type { ActivitySpans, Logger } from "../../application/ports/index.ts";

declare module "hono" {
  interface ContextVariableMap {
    requestId: string;
  }
}

export const REQUEST_ID_HEADER = "X-Request-Id";
/** A caller's id is kept only when it cannot smuggle anything into logs or headers. */
const SANE_REQUEST_ID = /^[A-Za-z0-9-]{1,64}$/;
export const UNMATCHED_ROUTE = "unmatched";

export interface RequestLoggingOptions {
  logger: Logger;
  /** Called once per request with the route pattern, never the raw path. */
  onRequest?(method: string, route: string, status: number, seconds: number): void;
  /** Each request is an activity while its handler runs, for the event-loop watchdog. */
  activity?: ActivitySpans;
}

export function requestIdFrom(header: string | undefined): string {
  return header !== undefined && SANE_REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * The route label: the pattern of the handler that answered. A request that reached no route
 * (a 404 answered past a wildcard middleware) gets one fixed label, so hostile paths can never
 * grow the set of log values or metric labels.
 */
function routeLabel(pattern: string, status: number): string {
  if (pattern === "" || (status === 404 && pattern.includes("*"))) return UNMATCHED_ROUTE;
  return pattern;
}

/** One log line per request (id, method, route pattern, status, ms) and the latency callback. */
export function requestLogging(options: RequestLoggingOptions): MiddlewareHandler {
  return async (c, next) => {
    const started = performance.now();
    const requestId = requestIdFrom(c.req.header(REQUEST_ID_HEADER));
    c.set("requestId", requestId);
    c.header(REQUEST_ID_HEADER, requestId);
    // The router has matched already: the last matched route is the likely handler's pattern,
    // the answer's own pattern replaces it at the end. Never the raw path (it is the client's).
    const span = options.activity?.begin(`${c.req.method} ${routePath(c, -1) || UNMATCHED_ROUTE}`);
    try {
      await next();
    } finally {
      span?.end(`${c.req.method} ${routeLabel(routePath(c), c.res.status)}`);
    }
    // Handlers that build their own Response bypass the prepared headers.
    if (c.res.headers.get(REQUEST_ID_HEADER) !== requestId) c.header(REQUEST_ID_HEADER, requestId);
    const seconds = (performance.now() - started) / 1000;
    const method = c.req.method;
    const status = c.res.status;
    const route = routeLabel(routePath(c), status);
    options.onRequest?.(method, route, status, seconds);
    const line = { requestId, method, route, status, ms: Math.round(seconds * 10_000) / 10 };
    if (status >= 500) options.logger.warn(line, "request");
    else options.logger.info(line, "request");
  };
}
