/**
 * Preloaded into the server under test (`node --import tsx --import .../stall-monitor.ts`): it
 * reports every time the event loop did not turn for STALL_MS, and how much CPU the process used
 * meanwhile. A stall with as much CPU as wall time is the server's own work; one with little CPU
 * is time the process waited: descheduled by other processes on its core, or blocked in a
 * system call. Lines go to stderr as `LOAD_STALL {"at":epochMs,"gapMs":…,"cpuMs":…}`.
 */
import { type StallWatch, stalls } from "./stalls.ts";

const watch: StallWatch = stalls((stall) =>
  process.stderr.write(`LOAD_STALL ${JSON.stringify(stall)}\n`),
);
watch.start();
