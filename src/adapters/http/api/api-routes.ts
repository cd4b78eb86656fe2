import { Hono } from "hono";
import type { CallQueries } from "../../../application/queries.ts";
import { callRoutes } from "./call-routes.ts";
import { exportRoutes } from "./export-routes.ts";
import { recordingRoutes } from "./recording-routes.ts";
import { searchRoutes } from "./search-routes.ts";

export interface ApiDeps {
  queries: CallQueries;
  /** True while the call is live in this process (its recording is still being written). */
  isCallActive: (callId: string) => boolean;
  /** Calls read per query while an export streams (tests make it small). */
  exportPageSize?: number;
}

/**
 * The JSON API, mounted at "/api". Its body limit and API key are applied in createHttpApp, so
 * that they cover the other groups under /api (the event feeds) too.
 */
export function apiRoutes(deps: ApiDeps): Hono {
  const app = new Hono();
  app.route("/", callRoutes(deps));
  app.route("/", recordingRoutes(deps));
  app.route("/", searchRoutes(deps));
  app.route("/", exportRoutes(deps));
  return app;
}
