import { createHash, timingSafeEqual } from "node:crypto";
import type { MiddlewareHandler } from "hono";
import { errorBody } from "../errors.ts";

const digest = (value: string): Buffer => createHash("sha256").update(value, "utf8").digest();

const BEARER = /^Bearer +(.+)$/i;

/**
 * `Authorization: Bearer <apiKey>`. Both sides are hashed first so that timingSafeEqual compares
 * equal-length buffers and neither the key's length nor its prefix leaks through timing.
 */
export function bearerAuth(apiKey: string): MiddlewareHandler {
  const expected = digest(apiKey);
  return async (c, next) => {
    const token = BEARER.exec(c.req.header("authorization") ?? "")?.[1];
    if (token === undefined || !timingSafeEqual(digest(token), expected)) {
      return c.json(errorBody("unauthorized", "missing or invalid bearer token"), 401, {
        "WWW-Authenticate": 'Bearer realm="callbridge"',
      });
    }
    await next();
  };
}
