import Database from "better-sqlite3";
import { conflict, DomainError, notFound, storageUnavailable } from "../../domain/errors.ts";

/** What a failed write was about, so the DomainError can name the entity and not the SQL. */
export interface WriteContext {
  /** e.g. "call", "transcript". */
  entity: string;
  id: string;
  /** The parent call, for rows that reference one. */
  callId?: string;
}

/** The SqliteError behind an error, which drizzle wraps in a DrizzleQueryError carrying the SQL. */
type SqliteError = InstanceType<typeof Database.SqliteError>;

function findSqliteError(error: unknown): SqliteError | null {
  let current: unknown = error;
  for (let depth = 0; depth < 5 && current instanceof Error; depth++) {
    if (current instanceof Database.SqliteError) return current;
    current = current.cause;
  }
  return null;
}

/**
 * Turns any failure of a SQLite call into a DomainError whose message carries no SQL, table
 * names or file paths; the original error is kept as `cause` for the server's log.
 */
export function translateSqliteError(error: unknown, context?: WriteContext): DomainError {
  if (error instanceof DomainError) return error;
  const sqliteError = findSqliteError(error);
  const code = sqliteError?.code ?? "";
  let translated: DomainError;
  if (context && code === "SQLITE_CONSTRAINT_FOREIGNKEY") {
    translated = notFound(`call ${context.callId ?? context.id} not found`);
  } else if (
    context &&
    (code === "SQLITE_CONSTRAINT_UNIQUE" || code === "SQLITE_CONSTRAINT_PRIMARYKEY")
  ) {
    const field = sqliteError?.message.includes("stream_sid") ? "streamSid" : "id";
    translated = conflict(`a ${context.entity} with this ${field} already exists`);
  } else {
    translated = storageUnavailable("the database could not complete the operation");
  }
  translated.cause = error;
  return translated;
}
