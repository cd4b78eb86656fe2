import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";

/** Kernel clock ticks per second, the unit of utime/stime in /proc/<pid>/stat. */
const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** User + system CPU time of a whole process (every thread), in ms. */
export function cpuMs(pid: number): number {
  return statCpuMs(`/proc/${pid}/stat`);
}

/**
 * User + system CPU time of a process's main thread alone (its thread id is the pid), in ms:
 * for Node, the event loop that carries the audio, without the worker threads and libuv's pool.
 */
export function mainThreadCpuMs(pid: number): number {
  return statCpuMs(`/proc/${pid}/task/${pid}/stat`);
}

function statCpuMs(path: string): number {
  const stat = readFileSync(path, "utf8");
  // The command name may contain spaces and parentheses; fields resume after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / CLOCK_TICKS;
}

/** Resident set size in KB. */
export function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status);
  return match ? Number(match[1]) : Number.NaN;
}

export function hasTaskset(): boolean {
  try {
    execFileSync("taskset", ["-p", String(process.pid)], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/**
 * A process and its descendants (WORKERS=N: the cluster primary and its workers), from
 * /proc/<pid>/task/<tid>/children where the kernel provides it (CONFIG_PROC_CHILDREN), else from
 * the parent pid of every process in /proc/<pid>/stat. Root first; a process that ended while
 * the tree was read is left out.
 */
export function processTree(root: number): number[] {
  const childrenOf = childLister();
  const tree: number[] = [];
  const pending = [root];
  while (pending.length > 0) {
    const pid = pending.shift()!;
    tree.push(pid);
    pending.push(...childrenOf(pid));
  }
  return tree;
}

function childLister(): (pid: number) => number[] {
  if (existsSync(`/proc/${process.pid}/task/${process.pid}/children`)) {
    return (pid) => {
      const children: number[] = [];
      try {
        for (const tid of readdirSync(`/proc/${pid}/task`)) {
          const list = readFileSync(`/proc/${pid}/task/${tid}/children`, "utf8").trim();
          if (list) children.push(...list.split(" ").map(Number));
        }
      } catch {
        // The process ended while we looked.
      }
      return children;
    };
  }
  // One scan of /proc for the whole tree.
  const byParent = new Map<number, number[]>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const siblings = byParent.get(ppid) ?? [];
      siblings.push(Number(entry));
      byParent.set(ppid, siblings);
    } catch {
      // The process ended while we looked.
    }
  }
  return (pid) => byParent.get(pid) ?? [];
}

/** CPU ms (user + system, every thread) of each process of a tree, by pid; root first. */
export type TreeCpu = Map<number, number>;

export function treeCpuMs(root: number): TreeCpu {
  const byPid: TreeCpu = new Map();
  for (const pid of processTree(root)) {
    try {
      byPid.set(pid, cpuMs(pid));
    } catch {
      // Ended between the listing and the read.
    }
  }
  return byPid;
}

/**
 * CPU a tree used between two snapshots, by process: a process started in between counts from
 * 0; one that ended in between is listed in `ended` (its CPU since `start` is lost, so the
 * total is then a lower bound).
 */
export function treeCpuBetween(
  start: TreeCpu,
  end: TreeCpu,
): { totalMs: number; byPid: Map<number, number>; ended: number[] } {
  const byPid = new Map<number, number>();
  let totalMs = 0;
  for (const [pid, ms] of end) {
    const used = ms - (start.get(pid) ?? 0);
    byPid.set(pid, used);
    totalMs += used;
  }
  const ended = [...start.keys()].filter((pid) => !end.has(pid));
  return { totalMs, byPid, ended };
}

/** Resident set size of a process tree in KB: the sum of its processes' (shared pages counted in each). */
export function treeRssKb(root: number): number {
  let total = 0;
  for (const pid of processTree(root)) {
    try {
      total += rssKb(pid);
    } catch {
      // Ended between the listing and the read.
    }
  }
  return total;
}

/**
 * The host's CPU time so far (every core, /proc/stat), ms: busy (all but idle and iowait; steal,
 * time a hypervisor gave to other guests, counts as busy) and total.
 */
export function hostCpuMs(): { busyMs: number; totalMs: number; cores: number } {
  const stat = readFileSync("/proc/stat", "utf8");
  const line = stat.split("\n").find((l) => l.startsWith("cpu "));
  const ticks = (line ?? "").trim().split(/\s+/).slice(1, 9).map(Number);
  // user nice system idle iowait irq softirq steal (guest time is already in user).
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  const cores = stat.split("\n").filter((l) => /^cpu\d+ /.test(l)).length;
  return {
    busyMs: ((total - idle) * 1000) / CLOCK_TICKS,
    totalMs: (total * 1000) / CLOCK_TICKS,
    cores,
  };
}

/** A process's command name (/proc/<pid>/comm), or null once it has ended. */
export function commandName(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/comm`, "utf8").trim();
  } catch {
    return null;
  }
}
