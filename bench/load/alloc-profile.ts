/**
 * Preload for investigations: samples every allocation site of the server, garbage included
 * (what `--heap-prof` leaves out), and writes the profile on exit. Used as
 * LOAD_SERVER_NODE_ARGS="--import <repo>/bench/load/alloc-profile.ts" ALLOC_PROFILE=out.heapprofile
 */
import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";

const out = process.env.ALLOC_PROFILE ?? "alloc.heapprofile";
const session = new Session();
session.connect();
session.post("HeapProfiler.startSampling", {
  samplingInterval: 32_768,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
process.on("exit", () => {
  session.post("HeapProfiler.stopSampling", (error, result) => {
    if (!error) writeFileSync(out, JSON.stringify(result.profile));
  });
});
