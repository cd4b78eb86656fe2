import { Hono } from "hono";
import type { CallQueries } from "../../../application/queries.ts";
import { bearerAuth } from "./bearer-auth.ts";
import { limitBody } from "./body-limit.ts";
import { callRoutes } from "./call-routes.ts";
import { recordingRoutes } from "./recording-routes.ts";
import { searchRoutes } from "./search-routes.ts";

export interface ApiDeps {
  queries: CallQueries;
  /** Set = every /api request needs `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  maxBodyBytes: number;
  /** True while the call is live in this process (its recording is still being written). */
  isCallActive: (callId: string) => boolean;
}

/**
 * What a browser loads without being able to set headers: the SSE feeds (mounted after this
 * group, so this middleware covers them too) and the audio an <audio> element streams.
 */
const QUERY_TOKEN_PATHS = /^\/api\/(events|calls\/[^/]+\/events|recordings\/[^/]+\/audio)$/;

/**
 * The JSON API, mounted at the root. Its body limit also covers /twilio/*, which only works if
 * these routes are mounted before the Twilio ones: Hono runs matching handlers in the order
 * they were added, and a route that answers first never reaches a later middleware.
 */
export function apiRoutes(deps: ApiDeps): Hono {
  const app = new Hono();
  const limit = limitBody(deps.maxBodyBytes);
  app.use("/api/*", limit);
  app.use("/twilio/*", limit);
  if (deps.apiKey) {
    app.use("/api/*", bearerAuth(deps.apiKey, { queryTokenPaths: QUERY_TOKEN_PATHS }));
  }
  app.route("/", callRoutes(deps));
  app.route("/", recordingRoutes(deps));
  app.route("/", searchRoutes(deps));
  return app;
}
