import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { errorBody } from "../errors.ts";

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

const BEARER = /^Bearer +(.+)$/i;

/**
 * What a browser loads without being able to set headers, so these take `?access_token=` too:
 * the SSE feeds (event-routes.ts) and the audio an <audio> element streams. Full paths, since
 * `c.req.path` is the whole path wherever a group is mounted.
 */
export const QUERY_TOKEN_PATHS = /^\/api\/(events|calls\/[^/]+\/events|recordings\/[^/]+\/audio)$/;

export interface BearerAuthOptions {
  /**
   * Paths that also take the key as `?access_token=<apiKey>`: browsers cannot add a header to
   * EventSource streams or <audio> sources. Request logs carry route patterns, never query strings.
   */
  queryTokenPaths?: RegExp;
}

/**
 * `Authorization: Bearer <apiKey>`. Both sides are hashed first so that timingSafeEqual compares
 * equal-length buffers and neither the key's length nor its prefix leaks through timing.
 */
export function bearerAuth(apiKey: string, options: BearerAuthOptions = {}): MiddlewareHandler {
  const expected = digest(apiKey);
  return async (c, next) => {
    const header = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
    const token =
      header ??
      (options.queryTokenPaths?.test(c.req.path) ? c.req.query("access_token") : undefined);
    if (token === undefined || !timingSafeEqual(digest(token), expected)) {
      return c.json(errorBody("unauthorized", "missing or invalid bearer token"), 401, {
        "WWW-Authenticate": 'Bearer realm="callbridge"',
      });
    }
    await next();
  };
}
