import type { Worker } from "node:worker_threads";
import { errorMessage, storageUnavailable } from "../../domain/errors.ts";
import { spawnWorker } from "../workers/spawn-worker.ts";
import {
  type DatabaseWorkerOptions,
  deserializeError,
  type FromWorker,
  type ToWorker,
  type WorkerMethod,
  type WorkerRequest,
  type WorkerResult,
} from "./worker-protocol.ts";

const WORKER_ENTRY = new URL("./database-worker.ts", import.meta.url);

interface Waiting {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

export interface DatabaseThreadEvents {
  /** A background job of the thread failed (it retries by itself). */
  onBackgroundError?: (message: string) => void;
  /** The thread died with calls in flight; it is started again on the next call. */
  onUnexpectedExit?: (name: string, reason: string) => void;
}

/**
 * One database worker thread seen from the main thread: calls are posted in batches (every call
 * made during one synchronous task goes in one message) and answered by id. The thread is
 * started on first use; if it dies, its calls in flight reject and the next call starts a new
 * one. It keeps the process alive only while calls are in flight.
 */
export class DatabaseThread {
  private worker: Worker | null = null;
  private starting: Promise<Worker> | null = null;
  private readonly inFlight = new Map<number, Waiting>();
  private outgoing: WorkerRequest[] = [];
  private sendScheduled = false;
  private nextId = 1;
  private closed = false;

  constructor(
    readonly name: string,
    private readonly options: DatabaseWorkerOptions,
    private readonly events: DatabaseThreadEvents = {},
  ) {}

  /** Calls posted and not answered yet. */
  get busy(): number {
    return this.inFlight.size;
  }

  /** Starts the thread and waits until it is ready (the writer has migrated the database). */
  async start(): Promise<void> {
    await this.ensureWorker();
  }

  call(method: WorkerMethod, args: unknown[]): Promise<unknown> {
    if (this.closed) return Promise.reject(storageUnavailable("the database is closed"));
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.inFlight.set(id, { resolve, reject });
      this.worker?.ref();
      this.outgoing.push({ id, method, args });
      if (!this.sendScheduled) {
        this.sendScheduled = true;
        queueMicrotask(() => this.send());
      }
    });
  }

  /**
   * Ends the thread at once, as a crash would: its calls in flight reject and the next call
   * starts a new thread. For tests of that path; close() is the orderly end.
   */
  async kill(): Promise<void> {
    await this.worker?.terminate();
  }

  /** Lets the thread commit what is pending and answer every call, then ends it. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const worker = this.worker ?? (await this.starting?.catch(() => null));
    if (!worker) return;
    this.send();
    const ended = new Promise<void>((resolve) => {
      worker.on("message", (message: FromWorker) => {
        if (message.type === "closed") resolve();
      });
      worker.once("exit", () => resolve());
    });
    // Held open until the thread has committed: an idle thread is unref'd, and at shutdown
    // nothing else may be keeping the process alive.
    worker.ref();
    worker.postMessage({ type: "close" } satisfies ToWorker);
    await ended;
    await worker.terminate();
    this.worker = null;
  }

  private send(): void {
    this.sendScheduled = false;
    if (this.outgoing.length === 0) return;
    const worker = this.worker;
    if (worker === null) {
      this.ensureWorker().then(
        () => this.send(),
        (error: unknown) => this.failOutgoing(error),
      );
      return;
    }
    const requests = this.outgoing;
    this.outgoing = [];
    worker.postMessage({ type: "requests", requests } satisfies ToWorker);
  }

  private failOutgoing(error: unknown): void {
    const requests = this.outgoing;
    this.outgoing = [];
    const reason = errorMessage(error);
    for (const { id } of requests) {
      this.inFlight.get(id)?.reject(storageUnavailable(`the database is unavailable: ${reason}`));
      this.inFlight.delete(id);
    }
  }

  private ensureWorker(): Promise<Worker> {
    if (this.worker) return Promise.resolve(this.worker);
    this.starting ??= this.spawn().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private spawn(): Promise<Worker> {
    const worker = spawnWorker(WORKER_ENTRY, {
      name: this.name,
      options: this.options,
      nice: this.options.nice,
    });
    return new Promise<Worker>((resolve, reject) => {
      let ready = false;
      let failure: string | null = null;
      worker.on("message", (message: FromWorker) => {
        switch (message.type) {
          case "ready":
            ready = true;
            this.worker = worker;
            if (this.inFlight.size === 0) worker.unref();
            resolve(worker);
            break;
          case "failed":
            failure = message.message;
            break;
          case "results":
            this.settle(message.results);
            break;
          case "background-error":
            this.events.onBackgroundError?.(message.message);
            break;
          case "closed":
            break;
        }
      });
      worker.on("error", (error) => {
        failure ??= error.message;
      });
      worker.once("exit", (code) => {
        if (!ready) {
          reject(new Error(failure ?? `the ${this.name} thread exited with code ${code}`));
          return;
        }
        if (this.worker === worker) this.worker = null;
        if (this.closed) return;
        const reason = failure ?? `exit code ${code}`;
        if (this.inFlight.size > 0) this.events.onUnexpectedExit?.(this.name, reason);
        const error = storageUnavailable("the database thread stopped");
        error.cause = new Error(reason);
        // Calls queued but not posted yet go to the next thread.
        const queued = new Set(this.outgoing.map((request) => request.id));
        for (const [id, waiting] of this.inFlight) {
          if (queued.has(id)) continue;
          waiting.reject(error);
          this.inFlight.delete(id);
        }
        if (this.outgoing.length > 0) this.send();
      });
    });
  }

  private settle(results: WorkerResult[]): void {
    for (const result of results) {
      const waiting = this.inFlight.get(result.id);
      if (!waiting) continue;
      this.inFlight.delete(result.id);
      if (result.ok) waiting.resolve(result.value);
      else waiting.reject(deserializeError(result.error));
    }
    if (this.inFlight.size === 0) this.worker?.unref();
  }
}
