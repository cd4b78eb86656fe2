import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { errorBody } from "../errors.ts";
import type { UrlSigner } from "./signed-urls.ts";

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

const BEARER = /^Bearer +(.+)$/i;

/**
 * What a browser loads without being able to set headers, so these take `?access_token=` too:
 * the SSE feeds (event-routes.ts) and the audio an <audio> element streams. Full paths, since
 * `c.req.path` is the whole path wherever a group is mounted.
 */
export const QUERY_TOKEN_PATHS = /^\/api\/(events|calls\/[^/]+\/events|recordings\/[^/]+\/audio)$/;

/**
 * A URL that is itself a credential must stay out of shared caches and off disk: with
 * `no-store` neither a proxy nor the browser's cache keeps the answer under that URL.
 */
const QUERY_CREDENTIAL_CACHE_CONTROL = "private, no-store";

export interface BearerAuthOptions {
  /**
   * Paths that also take the key as `?access_token=<apiKey>`: browsers cannot add a header to
   * EventSource streams or <audio> sources. Kept for scripts written against it; the page uses
   * signed URLs instead. Request logs carry route patterns, never query strings.
   */
  queryTokenPaths?: RegExp;
  /** Accepts `?expires=&sig=` URLs this signer made (signed-urls.ts) in place of the key. */
  signedUrls?: UrlSigner;
}

/**
 * `Authorization: Bearer <apiKey>`. Both sides are hashed first so that timingSafeEqual compares
 * equal-length buffers and neither the key's length nor its prefix leaks through timing.
 * Without a header, a signed URL or (on `queryTokenPaths`) `?access_token=` is accepted; one
 * credential per request, so a wrong header is not rescued by a query parameter.
 */
export function bearerAuth(apiKey: string, options: BearerAuthOptions = {}): MiddlewareHandler {
  const expected = digest(apiKey);
  const isKey = (token: string | undefined) =>
    token !== undefined && timingSafeEqual(digest(token), expected);
  return async (c, next) => {
    const header = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
    let allowed: boolean;
    let fromQuery = false;
    if (header !== undefined) {
      allowed = isKey(header);
    } else if (options.signedUrls && c.req.query("sig") !== undefined) {
      fromQuery = true;
      allowed = options.signedUrls.verify(
        c.req.method,
        c.req.path,
        c.req.query("expires"),
        c.req.query("sig"),
      );
    } else {
      fromQuery = options.queryTokenPaths?.test(c.req.path) ?? false;
      allowed = fromQuery && isKey(c.req.query("access_token"));
    }
    if (!allowed) {
      return c.json(errorBody("unauthorized", "missing or invalid bearer token"), 401, {
        "WWW-Authenticate": 'Bearer realm="callbridge"',
      });
    }
    await next();
    if (fromQuery) c.res.headers.set("Cache-Control", QUERY_CREDENTIAL_CACHE_CONTROL);
  };
}
