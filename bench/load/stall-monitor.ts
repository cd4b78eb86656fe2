/**
 * Preloaded into the server under test (`node --import tsx --import .../stall-monitor.ts`): it
 * reports every time the event loop did not turn for STALL_MS, and how much CPU the process used
 * meanwhile. A stall with as much CPU as wall time is the server's own work; one with little CPU
 * is time the process waited: descheduled by other processes on its core, or blocked in a
 * system call. Lines go to stderr as `LOAD_STALL {"at":epochMs,"gapMs":…,"cpuMs":…,"pid":…}`.
 *
 * With WORKERS=N the cluster primary forks its workers with its own execArgv, preloads included,
 * so this runs in the primary and in every worker (each its own process, its own main thread);
 * a worker's stderr reaches the bench through the primary's. Each process announces itself once
 * (`LOAD_STALL_MONITOR {"pid":…,"worker":…}`), so the bench can tell which processes it covers.
 */
import { MONITOR_PREFIX, type StallWatch, stalls } from "./stalls.ts";

const pid = process.pid;
// src/composition/worker-identity.ts (WORKER_INDEX_ENV): set by the primary in each worker.
const worker = Number(process.env.CALLBRIDGE_WORKER) || null;
process.stderr.write(`${MONITOR_PREFIX}${JSON.stringify({ pid, worker })}\n`);
const watch: StallWatch = stalls((stall) =>
  process.stderr.write(`LOAD_STALL ${JSON.stringify({ ...stall, pid })}\n`),
);
watch.start();
