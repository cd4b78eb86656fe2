/**
 * A database thread: owns one better-sqlite3 connection and answers repository calls posted by
 * ThreadedCallRepository. better-sqlite3 is synchronous, so whatever a statement costs (a search
 * over millions of rows, a full-text index merge, a WAL checkpoint, a retention delete) is spent
 * here and never on the thread that carries the calls' audio.
 *
 * The writer applies migrations, then runs every write (write-behind batches included), the
 * search-index catch-ups and the checkpoints they trigger. A reader opens the file read-only.
 */
import { parentPort, workerData } from "node:worker_threads";
import { errorMessage } from "../../domain/errors.ts";
import { openDatabase } from "./database.ts";
import { DrizzleCallRepository } from "./drizzle-call-repository.ts";
import { migrateDatabase } from "./migrate.ts";
import {
  type DatabaseWorkerOptions,
  type FromWorker,
  isWorkerMethod,
  RETURNS_ITS_ARGUMENT,
  serializeError,
  type ToWorker,
  type WorkerRequest,
  type WorkerResult,
} from "./worker-protocol.ts";

const port = parentPort;
if (!port) throw new Error("database-worker.ts runs only as a worker thread");
const options = (workerData as { options: DatabaseWorkerOptions }).options;
const post = (message: FromWorker) => port.postMessage(message);

function open(): { repository: DrizzleCallRepository; close(): void } {
  const readonly = options.role === "reader";
  const database = openDatabase(options.databaseUrl, { readonly });
  try {
    if (!readonly && options.migrationsPath !== undefined) {
      migrateDatabase(database.sqlite, options.migrationsPath);
    }
  } catch (error) {
    database.sqlite.close();
    throw error;
  }
  const repository = new DrizzleCallRepository(database.db, database.sqlite, {
    readOnly: readonly,
    searchIndexDelayMs: options.searchIndexDelayMs,
    searchCandidates: options.searchCandidates,
    onSearchIndexError: (error) =>
      post({
        type: "background-error",
        message: errorMessage(error),
      }),
  });
  return {
    repository,
    close() {
      if (!database.sqlite.open) return;
      if (!readonly) repository.flush();
      database.sqlite.close();
    },
  };
}

let opened: ReturnType<typeof open>;
try {
  opened = open();
} catch (error) {
  post({ type: "failed", message: errorMessage(error) });
  // Let the message reach the parent before the thread ends.
  port.close();
  throw error;
}

// Results are posted a turn's worth at a time: a write-behind commit settles many calls at once.
let outbox: WorkerResult[] = [];
let sending: NodeJS.Immediate | null = null;
function sendOutbox(): void {
  if (sending !== null) clearImmediate(sending);
  sending = null;
  if (outbox.length === 0) return;
  const results = outbox;
  outbox = [];
  post({ type: "results", results });
}
function reply(result: WorkerResult): void {
  outbox.push(result);
  sending ??= setImmediate(sendOutbox);
}

function invoke({ id, method, args }: WorkerRequest): void {
  let pending: Promise<unknown>;
  if (!isWorkerMethod(method)) {
    pending = Promise.reject(new Error(`unknown database method ${String(method)}`));
  } else {
    try {
      const fn = opened.repository[method] as (...a: unknown[]) => Promise<unknown>;
      pending = fn.apply(opened.repository, args);
    } catch (error) {
      pending = Promise.reject(error);
    }
  }
  pending.then(
    (value) => reply({ id, ok: true, value: RETURNS_ITS_ARGUMENT.has(method) ? undefined : value }),
    (error: unknown) => reply({ id, ok: false, error: serializeError(error) }),
  );
}

/** Commits what is pending, answers every call that was made, then says so. */
async function close(): Promise<void> {
  try {
    opened.close();
  } catch (error) {
    post({
      type: "background-error",
      message: errorMessage(error),
    });
  }
  // The commit above settled promises whose replies are queued by their reactions.
  await new Promise((resolve) => setImmediate(resolve));
  sendOutbox();
  post({ type: "closed" });
  port?.close();
}

port.on("message", (message: ToWorker) => {
  if (message.type === "requests") {
    for (const request of message.requests) invoke(request);
  } else {
    void close();
  }
});

post({ type: "ready" });
