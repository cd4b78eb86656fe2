import { readlinkSync } from "node:fs";
import { setPriority } from "node:os";

/**
 * Lowers the calling thread's scheduling priority (Linux nice value), so that when this
 * worker and the audio thread compete for one core, the kernel runs the audio thread first.
 * On Linux, setpriority() on a thread id changes that thread only; the id comes from
 * /proc/thread-self. Elsewhere it does nothing and says so.
 */
export function lowerThreadPriority(nice: number): boolean {
  if (process.platform !== "linux") return false;
  try {
    const link = readlinkSync("/proc/thread-self"); // "<pid>/task/<tid>"
    const tid = Number(link.slice(link.lastIndexOf("/") + 1));
    if (!Number.isInteger(tid) || tid <= 0) return false;
    setPriority(tid, nice);
    return true;
  } catch {
    return false;
  }
}
