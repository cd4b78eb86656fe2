// Preloaded into the server under test (`--import .../stall-monitor-preload.mjs`, after
// `--import tsx`): starts bench/load/stall-monitor.ts on the main thread only. Plain JavaScript
// because worker threads inherit the server's execArgv, and a worker runs its preloads before
// any TypeScript loader is registered in it: a .ts preload made every worker fail to start.
// The stalls that matter are those of the thread that carries the calls' audio.
import { isMainThread } from "node:worker_threads";

if (isMainThread) await import("./stall-monitor.ts");
