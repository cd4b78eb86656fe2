import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { errorBody } from "../errors.ts";

/** Refuses request bodies over `maxBytes` with the API's JSON error, before a handler reads them. */
export const limitBody = (maxBytes: number): MiddlewareHandler =>
  bodyLimit({
    maxSize: maxBytes,
    onError: (c) =>
      c.json(errorBody("payload_too_large", `request body exceeds ${maxBytes} bytes`), 413),
  });
