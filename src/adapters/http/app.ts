import { Hono } from "hono";
import type { Logger } from "../../application/ports/index.ts";
import { bearerAuth, QUERY_TOKEN_PATHS } from "./api/bearer-auth.ts";
import { limitBody } from "./api/body-limit.ts";
import { errorBody, toErrorResponse } from "./errors.ts";
import { type HealthDeps, healthRoutes } from "./health-routes.ts";
import { type RequestLoggingOptions, requestLogging } from "./request-logging.ts";

/** A route group and the path its routes are relative to. */
export interface RouteMount {
  prefix: string;
  routes: Hono;
}

export interface HttpAppDeps {
  logger: Logger;
  health: HealthDeps;
  /** Route groups, mounted in order after the shared middleware below. */
  mounts?: RouteMount[];
  /** Bodies over `maxBytes` on `paths` (e.g. "/api/*") are refused with a JSON 413. */
  bodyLimit?: { maxBytes: number; paths: string[] };
  /** `apiKey` set = requests on `paths` need `Authorization: Bearer <apiKey>` (else 401). */
  auth?: { apiKey?: string; paths: string[] };
  /** Request ids, one log line per request and the latency metric; off when absent. */
  requestLogging?: Omit<RequestLoggingOptions, "logger">;
}

/** Mounts every route group and the one error mapping onto `app` (created first for node-ws). */
export function createHttpApp(deps: HttpAppDeps, app: Hono = new Hono()): Hono {
  if (deps.requestLogging) {
    app.use("*", requestLogging({ ...deps.requestLogging, logger: deps.logger }));
  }
  // Hono runs handlers in the order they were added, so middleware added before the groups
  // covers every group mounted under its paths, whatever the mount order.
  if (deps.bodyLimit) {
    const limit = limitBody(deps.bodyLimit.maxBytes);
    for (const path of deps.bodyLimit.paths) app.use(path, limit);
  }
  if (deps.auth?.apiKey) {
    const auth = bearerAuth(deps.auth.apiKey, { queryTokenPaths: QUERY_TOKEN_PATHS });
    for (const path of deps.auth.paths) app.use(path, auth);
  }
  app.route("/", healthRoutes(deps.health));
  for (const { prefix, routes } of deps.mounts ?? []) app.route(prefix, routes);
  app.notFound((c) => c.json(errorBody("not_found", "no such route"), 404));
  app.onError((error, c) => {
    const response = toErrorResponse(c, error);
    if (response.status >= 500) {
      deps.logger.error(
        {
          requestId: c.get("requestId"),
          err: error instanceof Error ? { message: error.message, stack: error.stack } : error,
        },
        "request failed",
      );
    }
    return response;
  });
  return app;
}
