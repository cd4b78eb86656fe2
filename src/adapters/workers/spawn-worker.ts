import { Worker } from "node:worker_threads";

const BOOT = new URL("./ts-worker-boot.mjs", import.meta.url);

export interface SpawnWorkerOptions {
  /** Passed to the worker as `workerData.options` (structured-cloned). */
  options?: unknown;
  /** The worker's name in stack traces and `inspect`. */
  name?: string;
  /**
   * Linux nice value of the thread, set before it loads anything: when it shares a core with
   * the audio thread (a pinned server), the kernel runs the audio thread first. 0 keeps the
   * process's.
   */
  nice?: number;
}

/**
 * Starts a worker thread running the TypeScript module `entry` (a file: URL, usually
 * `new URL("./x-worker.ts", import.meta.url)`). Its `workerData` is `{ entry, options, nice }`.
 */
export function spawnWorker(entry: URL, spawnOptions: SpawnWorkerOptions = {}): Worker {
  return new Worker(BOOT, {
    name: spawnOptions.name,
    // Not the parent's flags: under `tsx` they would load a second TypeScript loader here.
    execArgv: [],
    workerData: {
      entry: entry.href,
      options: spawnOptions.options,
      nice: spawnOptions.nice ?? 0,
    },
  });
}
