/**
 * Typed domain errors. Each carries a literal `code`; exactly one place (the HTTP adapter)
 * maps codes to statuses, and every other adapter translates its own failures into these.
 */
export type DomainErrorCode =
  | "invalid_argument"
  | "invalid_state"
  | "not_found"
  | "conflict"
  | "invalid_audio"
  | "storage_unavailable";

export class DomainError extends Error {
  readonly code: DomainErrorCode;

  constructor(code: DomainErrorCode, message: string) {
    super(message);
    this.name = "DomainError";
    this.code = code;
  }
}

export const invalidArgument = (message: string) => new DomainError("invalid_argument", message);
export const invalidState = (message: string) => new DomainError("invalid_state", message);
export const notFound = (message: string) => new DomainError("not_found", message);
export const conflict = (message: string) => new DomainError("conflict", message);
export const invalidAudio = (message: string) => new DomainError("invalid_audio", message);
export const storageUnavailable = (message: string) =>
  new DomainError("storage_unavailable", message);

export const isDomainError = (error: unknown): error is DomainError => error instanceof DomainError;

/** The message of anything thrown (an Error's message, else its string form). */
export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** What a log line says about an error: its code when it is a DomainError, and its message. */
export function describeError(error: unknown): { code?: string; message: string } {
  if (isDomainError(error)) return { code: error.code, message: error.message };
  return { message: errorMessage(error) };
}
