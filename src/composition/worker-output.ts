import type { Worker } from "node:cluster";
import { createInterface } from "node:readline";

/**
 * Copies a worker's log to the primary's own, whole lines at a time. Workers writing straight to
 * a shared stdout would interleave: pino writes buffered lines in one write of up to 16 KB, and a
 * pipe keeps only writes of up to 4 KB (PIPE_BUF) whole when several processes write to it, so
 * two workers logging at once could cut each other's JSON lines. Here the primary is the only
 * writer, and each line is one write. (The workers are forked with `silent: true`.) Settles
 * once the worker has exited and all it wrote has been passed on.
 */
export function forwardWorkerOutput(worker: Worker): Promise<void> {
  const { stdout, stderr } = worker.process;
  // After the worker exited, once its last lines have been read: the primary must not exit
  // before, or the workers' own "shutdown complete" would be lost.
  const drained = new Promise<void>((resolve) => worker.process.once("close", () => resolve()));
  if (stdout) {
    const lines = createInterface({ input: stdout, crlfDelay: Number.POSITIVE_INFINITY });
    lines.on("line", (line) => process.stdout.write(`${line}\n`));
  }
  // Not JSON (a crash's stack trace, node's warnings): passed on as it comes.
  stderr?.pipe(process.stderr, { end: false });
  return drained;
}
