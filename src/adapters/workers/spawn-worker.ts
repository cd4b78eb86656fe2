import { Worker } from "node:worker_threads";

const BOOT = new URL("./ts-worker-boot.mjs", import.meta.url);

export interface SpawnWorkerOptions {
  /** Passed to the worker as `workerData.options` (structured-cloned). */
  options?: unknown;
  /** The worker's name in stack traces and `inspect`. */
  name?: string;
}

/**
 * Starts a worker thread running the TypeScript module `entry` (a file: URL, usually
 * `new URL("./x-worker.ts", import.meta.url)`). Its `workerData` is `{ entry, options }`.
 */
export function spawnWorker(entry: URL, spawnOptions: SpawnWorkerOptions = {}): Worker {
  return new Worker(BOOT, {
    name: spawnOptions.name,
    // Not the parent's flags: under `tsx` they would load a second TypeScript loader here.
    execArgv: [],
    workerData: { entry: entry.href, options: spawnOptions.options },
  });
}
