import { Hono } from "hono";
import type { Logger } from "../../application/ports/index.ts";
import { errorBody, toErrorResponse } from "./errors.ts";
import { type HealthDeps, healthRoutes } from "./health-routes.ts";
import { type RequestLoggingOptions, requestLogging } from "./request-logging.ts";

export interface HttpAppDeps {
  logger: Logger;
  health: HealthDeps;
  /** Route groups mounted at the root, in order (API, Twilio, metrics...). */
  routes?: Hono[];
  /** Request ids, one log line per request and the latency metric; off when absent. */
  requestLogging?: Omit<RequestLoggingOptions, "logger">;
}

/** Mounts every route group and the one error mapping onto `app` (created first for node-ws). */
export function createHttpApp(deps: HttpAppDeps, app: Hono = new Hono()): Hono {
  if (deps.requestLogging) {
    app.use("*", requestLogging({ ...deps.requestLogging, logger: deps.logger }));
  }
  app.route("/", healthRoutes(deps.health));
  for (const routes of deps.routes ?? []) app.route("/", routes);
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
