import type { Context } from "hono";
import type { z } from "zod";
import { HttpError } from "../errors.ts";
import { ID_PATTERN } from "./query-schemas.ts";

export const badRequest = (field: string, message: string) =>
  new HttpError(400, "invalid_request", `${field}: ${message}`);

/**
 * Parses the query parameters the schema names; others are ignored. A known parameter given
 * twice is refused rather than silently resolved, since `status=a&status=b` usually means the
 * client expected an OR that this API does not offer.
 */
export function parseQuery<S extends z.ZodObject>(c: Context, schema: S): z.output<S> {
  const all = c.req.queries();
  const input: Record<string, string> = {};
  for (const key of Object.keys(schema.shape)) {
    const values = Object.hasOwn(all, key) ? all[key] : undefined;
    if (values === undefined || values.length === 0) continue;
    if (values.length > 1) throw badRequest(key, "must be given at most once");
    input[key] = values[0] ?? "";
  }
  const result = schema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw badRequest(String(issue?.path[0] ?? "query"), issue?.message ?? "is invalid");
  }
  return result.data;
}

/**
 * The `:id` path parameter. An id outside the id alphabet cannot name anything, so it is a
 * plain 404 that does not echo the id back.
 */
export function pathId(c: Context, resource: "call" | "recording"): string {
  const id = c.req.param("id");
  if (typeof id !== "string" || !ID_PATTERN.test(id)) {
    throw new HttpError(404, "not_found", `${resource} not found`);
  }
  return id;
}
