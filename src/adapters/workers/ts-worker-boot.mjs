// Entry of every worker thread: lowers the thread's priority, then loads the TypeScript module
// named in workerData.entry through tsx, so a worker runs the same sources whether the parent is
// `npm start` (tsx), vitest or a bench script. Plain JavaScript because nothing has registered a
// TypeScript loader yet here.
import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";
import { workerData } from "node:worker_threads";

// First of all: loading and compiling the module costs about a second of CPU (and tsx's esbuild
// child, which inherits this thread's nice value), which a thread sharing a core with the audio
// thread must not take from it.
if (workerData.nice) lowerThreadPriority(workerData.nice);

const { tsImport } = await import("tsx/esm/api");
await tsImport(workerData.entry, import.meta.url);

/**
 * Linux keeps a nice value per thread: setpriority() on this thread's id (from
 * /proc/thread-self) changes this thread alone. Elsewhere, or if refused, the thread runs as is.
 */
function lowerThreadPriority(nice) {
  if (process.platform !== "linux") return;
  try {
    const link = readlinkSync("/proc/thread-self"); // "<pid>/task/<tid>"
    const tid = Number(link.slice(link.lastIndexOf("/") + 1));
    if (Number.isInteger(tid) && tid > 0) setPriority(tid, nice);
  } catch {
    // Not Linux's /proc, or not allowed: the thread keeps the process's priority.
  }
}
