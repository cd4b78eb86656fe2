/** Event-loop stalls of the current process: gaps in a short timer, with the CPU used during them. */

export const STALL_MS = 20;
/** Short enough to see 20 ms stalls; long enough that its reads of the CPU clock cost nothing. */
const PERIOD_MS = 10;
export const STALL_PREFIX = "LOAD_STALL ";
/** Written once by each process the monitor starts in: `LOAD_STALL_MONITOR {"pid":…,"worker":…}`. */
export const MONITOR_PREFIX = "LOAD_STALL_MONITOR ";

/** A process the stall monitor runs in; worker: its cluster worker index (WORKERS > 1), else null. */
export interface MonitoredProcess {
  pid: number;
  worker: number | null;
}

export interface Stall {
  /** Epoch ms at which the stall ended. */
  at: number;
  gapMs: number;
  /** User + system CPU the process used during the gap (every thread). */
  cpuMs: number;
  /** The process that stalled (a cluster's primary or one of its workers); absent in old lines. */
  pid?: number;
}

export interface StallWatch {
  start(): void;
  stop(): void;
}

export function stalls(onStall: (stall: Stall) => void): StallWatch {
  let timer: ReturnType<typeof setInterval> | null = null;
  let last = 0;
  let lastCpu = process.cpuUsage();
  const tick = () => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const gap = now - last;
    if (gap >= STALL_MS + PERIOD_MS) {
      const cpuMs = (cpu.user - lastCpu.user + cpu.system - lastCpu.system) / 1000;
      onStall({ at: Date.now(), gapMs: Math.round(gap), cpuMs: Math.round(cpuMs) });
    }
    last = now;
    lastCpu = cpu;
  };
  return {
    start() {
      last = performance.now();
      lastCpu = process.cpuUsage();
      timer = setInterval(tick, PERIOD_MS);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
  };
}

export interface StallSummary {
  count: number;
  /** Wall time lost in stalls. */
  totalMs: number;
  maxMs: number;
  /** Of totalMs, how much the process spent on the CPU (its own work, GC included). */
  busyMs: number;
}

export function summarizeStalls(list: readonly Stall[]): StallSummary {
  return {
    count: list.length,
    totalMs: list.reduce((sum, s) => sum + s.gapMs, 0),
    maxMs: list.reduce((max, s) => Math.max(max, s.gapMs), 0),
    busyMs: list.reduce((sum, s) => sum + Math.min(s.cpuMs, s.gapMs), 0),
  };
}
