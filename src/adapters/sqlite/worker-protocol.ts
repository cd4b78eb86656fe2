import type { CallRepository } from "../../application/ports/index.ts";
import { DomainError, type DomainErrorCode } from "../../domain/errors.ts";

/**
 * The repository methods a database worker answers, and which connection each needs: writes go
 * to the one writer thread, reads to a reader thread once every write issued before them has
 * settled (so a read sees every write created before it, as with one connection).
 */
export const REPOSITORY_METHODS = {
  createCall: "write",
  updateCall: "write",
  setCallAnalysis: "write",
  deleteCall: "write",
  createRecording: "write",
  deleteRecording: "write",
  setRecordingCloudUrl: "write",
  createTranscript: "write",
  markTranscriptInterrupted: "write",
  createAnalytics: "write",
  createOrUpdateMetadata: "write",
  ping: "write",
  renewLease: "write",
  releaseLease: "write",
  failCallIfOwnedBy: "write",
  getOwnedActiveCalls: "read",
  getCallById: "read",
  getCallByStreamSid: "read",
  getAllCalls: "read",
  getActiveCalls: "read",
  getCallTotals: "read",
  getRecordingById: "read",
  getRecordingsByCallId: "read",
  getRecordingsOfCallsStartedBefore: "read",
  getTranscriptsByCallId: "read",
  getTranscriptById: "read",
  countTranscriptsByCallId: "read",
  searchTranscripts: "read",
  getAnalyticsByCallId: "read",
  getAnalyticsById: "read",
  countAnalyticsByCallId: "read",
  getMetadataByCallId: "read",
} as const satisfies Record<keyof CallRepository, "read" | "write">;

export type RepositoryMethod = keyof typeof REPOSITORY_METHODS;

/**
 * Writes whose result is the entity they were given: the worker answers them without a value
 * and the caller's side resolves with its own object, so nothing is cloned back per row.
 */
export const RETURNS_ITS_ARGUMENT: ReadonlySet<WorkerMethod> = new Set<WorkerMethod>([
  "createCall",
  "updateCall",
  "createRecording",
  "createTranscript",
  "createAnalytics",
  "createOrUpdateMetadata",
]);

/** Work only the writer does besides the repository's own methods. */
export type WriterMethod = "catchUpSearchIndex";

export type WorkerMethod = RepositoryMethod | WriterMethod;

export const isWorkerMethod = (name: unknown): name is WorkerMethod =>
  typeof name === "string" &&
  (Object.hasOwn(REPOSITORY_METHODS, name) || name === "catchUpSearchIndex");

export type DatabaseRole = "writer" | "reader";

export interface DatabaseWorkerOptions {
  role: DatabaseRole;
  /** DATABASE_URL, as the server was given it. */
  databaseUrl: string;
  /** The writer applies pending migrations before it reports ready. */
  migrationsPath?: string;
  searchIndexDelayMs?: number;
  searchCandidates?: number;
  /** Linux nice value for the thread (0 leaves it as it is). */
  nice: number;
}

export interface WorkerRequest {
  id: number;
  method: WorkerMethod;
  args: unknown[];
}

/** An error as it crosses the thread boundary: DomainErrors keep their code. */
export interface SerializedError {
  name: string;
  message: string;
  code?: DomainErrorCode;
  /** The underlying failure's message, for the server's log (never sent to clients). */
  cause?: string;
}

export type WorkerResult =
  | { id: number; ok: true; value: unknown }
  | { id: number; ok: false; error: SerializedError };

export type ToWorker = { type: "requests"; requests: WorkerRequest[] } | { type: "close" };

export type FromWorker =
  | { type: "ready" }
  | { type: "failed"; message: string }
  | { type: "results"; results: WorkerResult[] }
  | { type: "background-error"; message: string }
  | { type: "closed" };

export function serializeError(error: unknown): SerializedError {
  if (error instanceof DomainError) {
    const cause = error.cause instanceof Error ? error.cause.message : undefined;
    return { name: error.name, message: error.message, code: error.code, cause };
  }
  if (error instanceof Error) return { name: error.name, message: error.message };
  return { name: "Error", message: String(error) };
}

export function deserializeError(serialized: SerializedError): Error {
  const error =
    serialized.code !== undefined
      ? new DomainError(serialized.code, serialized.message)
      : Object.assign(new Error(serialized.message), { name: serialized.name });
  if (serialized.cause !== undefined) error.cause = new Error(serialized.cause);
  return error;
}
