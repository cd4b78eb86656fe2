import { type Context, Hono, type MiddlewareHandler } from "hono";
import type { Logger } from "../../application/ports/index.ts";
import { bearerAuth, QUERY_TOKEN_PATHS } from "./api/bearer-auth.ts";
import { limitBody } from "./api/body-limit.ts";
import { UrlSigner } from "./api/signed-urls.ts";
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
  /**
   * `apiKey` set = requests on `paths` need `Authorization: Bearer <apiKey>` (else 401), or a
   * signed URL from `urlSigner` (by default the one derived from `apiKey`, as every process
   * started with that key derives it: see UrlSigner.forApiKey).
   */
  auth?: { apiKey?: string; paths: string[]; urlSigner?: UrlSigner };
  /**
   * An unknown path's page for a browser (the call browser's "not found"), or null for anyone
   * else, who gets the JSON 404 as the API does.
   */
  pageNotFound?: (c: Context) => Response | null;
  /** Request ids, one log line per request and the latency metric; off when absent. */
  requestLogging?: Omit<RequestLoggingOptions, "logger">;
}

/**
 * Headers on every answer, errors and 401s included (this runs outermost). `nosniff`, so a
 * browser never runs a JSON or WAV answer as script or HTML; `no-store` unless the route chose a
 * policy itself, since nearly everything here is call data or live state that no cache should
 * keep (the page, its assets and /openapi.json set their own).
 */
export function defaultHeaders(): MiddlewareHandler {
  return async (c, next) => {
    await next();
    const headers = c.res.headers;
    headers.set("X-Content-Type-Options", "nosniff");
    if (!headers.has("Cache-Control")) headers.set("Cache-Control", "no-store");
  };
}

/** Mounts every route group and the one error mapping onto `app` (created first for node-ws). */
export function createHttpApp(deps: HttpAppDeps, app: Hono = new Hono()): Hono {
  app.use("*", defaultHeaders());
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
    const auth = bearerAuth(deps.auth.apiKey, {
      queryTokenPaths: QUERY_TOKEN_PATHS,
      signedUrls: deps.auth.urlSigner ?? UrlSigner.forApiKey(deps.auth.apiKey),
    });
    for (const path of deps.auth.paths) app.use(path, auth);
  }
  app.route("/", healthRoutes(deps.health));
  for (const { prefix, routes } of deps.mounts ?? []) app.route(prefix, routes);
  app.notFound(
    (c) => deps.pageNotFound?.(c) ?? c.json(errorBody("not_found", "no such route"), 404),
  );
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
