import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { type DomainErrorCode, isDomainError } from "../../domain/errors.ts";

/** The one place where error codes become HTTP statuses. */
const STATUS: Record<DomainErrorCode, ContentfulStatusCode> = {
  invalid_argument: 400,
  invalid_audio: 400,
  invalid_state: 409,
  not_found: 404,
  conflict: 409,
  storage_unavailable: 503,
};

export class HttpError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "HttpError";
  }
}

export function errorBody(code: string, message: string) {
  return { error: { code, message } };
}

export function toErrorResponse(c: Context, error: unknown): Response {
  if (error instanceof HttpError) {
    return c.json(errorBody(error.code, error.message), error.status);
  }
  if (isDomainError(error)) {
    return c.json(errorBody(error.code, error.message), STATUS[error.code]);
  }
  return c.json(errorBody("internal_error", "internal server error"), 500);
}
