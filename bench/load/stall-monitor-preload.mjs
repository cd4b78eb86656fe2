// Preloaded into the server under test (`--import .../stall-monitor-preload.mjs`, after
// `--import tsx`): starts bench/load/stall-monitor.ts on the main thread only. Plain JavaScript
// because worker threads inherit the server's execArgv, and a worker runs its preloads before
// any TypeScript loader is registered in it: a .ts preload made every worker fail to start.
// The stalls that matter are those of the thread that carries the calls' audio. With WORKERS=N,
// node:cluster forks each worker with the primary's execArgv, this preload included: a worker
// is a process of its own whose main thread carries its calls, so the monitor runs there too
// (and in the primary); each announces its pid and worker index (stall-monitor.ts).
import { isMainThread } from "node:worker_threads";

if (isMainThread) await import("./stall-monitor.ts");
