// Entry of every worker thread: lowers the thread's priority, then loads the TypeScript module
// named in workerData.entry through tsx, so a worker runs the same sources whether the parent is
// `npm start` (tsx), vitest or a bench script. Plain JavaScript because nothing has registered a
// TypeScript loader yet here.
import { readlinkSync } from "node:fs";
import { createRequire } from "node:module";
import { setPriority } from "node:os";
import { fileURLToPath } from "node:url";
import { workerData } from "node:worker_threads";

// First of all: loading and compiling the module costs about a second of CPU (and tsx's esbuild
// child, which inherits this thread's nice value), which a thread sharing a core with the audio
// thread must not take from it.
if (workerData.nice) lowerThreadPriority(workerData.nice);

// tsx's require() hook, not its ESM loader: Node 20 runs ESM loader hooks on a thread of their
// own, so each worker would bring a second thread and V8 heap (about 13 MB of RSS a worker).
// Worker modules therefore must not use top-level await or import.meta.
const { register } = await import("tsx/cjs/api");
register();
createRequire(import.meta.url)(fileURLToPath(workerData.entry));

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
