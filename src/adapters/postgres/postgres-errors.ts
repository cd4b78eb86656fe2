import { conflict, DomainError, notFound, storageUnavailable } from "../../domain/errors.ts";

/** What a failed write was about, so the DomainError can name the entity and not the SQL. */
export interface WriteContext {
  /** e.g. "call", "transcript". */
  entity: string;
  id: string;
  /** The parent call, for rows that reference one. */
  callId?: string;
}

/** The fields of a server error that both drivers expose (SQLSTATE and constraint name). */
interface PostgresServerError {
  code: string;
  constraint?: string;
}

const SQLSTATE = /^[0-9A-Z]{5}$/;

/** The server error behind an error, which drizzle wraps in a DrizzleQueryError carrying the SQL. */
function findServerError(error: unknown): PostgresServerError | null {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    // node-postgres names the constraint `constraint`, postgres.js `constraint_name`.
    const { code, constraint, constraint_name } = current as {
      code?: unknown;
      constraint?: unknown;
      constraint_name?: unknown;
    };
    // Connection errors carry Node's codes (ECONNREFUSED...), never a five-character SQLSTATE.
    if (typeof code === "string" && SQLSTATE.test(code)) {
      const name = constraint ?? constraint_name;
      return { code, constraint: typeof name === "string" ? name : undefined };
    }
    current = current.cause;
  }
  return null;
}

const FOREIGN_KEY_VIOLATION = "23503";
const UNIQUE_VIOLATION = "23505";

/**
 * Turns any failure of a PostgreSQL query into the DomainError the SQLite adapter gives for the
 * same failure (sqlite-errors.ts), with a message that carries no SQL, table names or addresses;
 * the original error is kept as `cause` for the server's log. Anything that is not a constraint
 * violation of a write (the server is down, the pool is closed, a trigger refused) is
 * storage_unavailable.
 */
export function translatePostgresError(error: unknown, context?: WriteContext): DomainError {
  if (error instanceof DomainError) return error;
  const serverError = findServerError(error);
  let translated: DomainError;
  if (context && serverError?.code === FOREIGN_KEY_VIOLATION) {
    translated = notFound(`call ${context.callId ?? context.id} not found`);
  } else if (context && serverError?.code === UNIQUE_VIOLATION) {
    const field = serverError.constraint?.includes("stream_sid") ? "streamSid" : "id";
    translated = conflict(`a ${context.entity} with this ${field} already exists`);
  } else {
    translated = storageUnavailable("the database could not complete the operation");
  }
  translated.cause = error;
  return translated;
}
