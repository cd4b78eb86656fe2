/**
 * `bench/load.ts --perf`: a `perf record` of the server's core (CPU 1) over each run's measured
 * window, and a summary of where that core's time went: idle, the server's main thread, its
 * other threads, other processes; the main thread by kernel, V8/Node native code and
 * JIT-compiled JavaScript (by origin); its top symbols; a few named stacks inclusively. Unlike
 * `--profile` (V8's sampler) this sees kernel time and V8's native builtins.
 *
 * The server runs with `node --perf-basic-prof`, so V8 names its JIT code in
 * /tmp/perf-<pid>.map, which `perf script` reads. Each recording is kept with a sidecar
 * (<file>.json: pid, threads, calls, window) and a copy of that map (<file>.map), so it can be
 * summarised again later:
 *
 *   npx tsx bench/load/perf.ts FILE.perf.data [--top 25]
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { basename } from "node:path";
import { createInterface } from "node:readline";

/** perf record's sampling frequency: one sample per ~2.004 ms of CPU 1's time. */
export const PERF_HZ = 499;
const MS_PER_SAMPLE = 1000 / PERF_HZ;

/** Throws unless `perf` can be run. */
export function checkPerf(): void {
  try {
    execFileSync("perf", ["--version"], { stdio: "ignore" });
  } catch {
    throw new Error("--perf needs `perf` (linux-perf) on the PATH");
  }
}

export interface PerfRecording {
  readonly file: string;
  /** Resolves when perf has exited (after its `sleep`): exit code and what it wrote to stderr. */
  readonly done: Promise<{ code: number | null; stderr: string }>;
  /** Ends the recording early (SIGINT: perf still writes its file). */
  stop(): void;
}

/**
 * `perf record -e cpu-clock -F 499 -g -C <cpu> -o <file> -- sleep <seconds>`, perf itself
 * pinned to `runOn` (the generator's core) so that its own work stays off the recorded core.
 */
export function startPerfRecord(
  file: string,
  seconds: number,
  cpu: string,
  runOn: string | null,
): PerfRecording {
  const perfArgs = [
    "record",
    "-e",
    "cpu-clock",
    "-F",
    String(PERF_HZ),
    "-g",
    "-C",
    cpu,
    "-o",
    file,
    "--",
    "sleep",
    String(seconds),
  ];
  const [command, args] =
    runOn === null ? ["perf", perfArgs] : ["taskset", ["-c", runOn, "perf", ...perfArgs]];
  const child: ChildProcess = spawn(command, args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.once("error", (error) => resolve({ code: -1, stderr: `${stderr}${error.message}` }));
    child.once("exit", (code) => resolve({ code, stderr }));
  });
  return {
    file,
    done,
    stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
    },
  };
}

/** The names of a process's threads (/proc/<pid>/task/<tid>/comm, with their nice if not 0). */
export function threadNames(pid: number, into = new Map<number, string>()): Map<number, string> {
  let tids: string[] = [];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return into;
  }
  for (const tid of tids) {
    try {
      const comm = readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
      // Fields resume after the command name's last ')': state is field 3, nice field 19.
      const nice = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
      into.set(Number(tid), nice ? `${comm} (nice ${nice})` : comm);
    } catch {
      // The thread ended while we looked.
    }
  }
  return into;
}

/** What a recording needs to be summarised (also written next to it as <file>.json). */
export interface PerfRun {
  file: string;
  /** The server's pid: its threads are the tids of this pid. */
  serverPid: number;
  /** Its threads' names, read from /proc while it ran. */
  threads: Record<string, string>;
  calls: number;
  /** The bench's measured window, s (ms per call-second are per calls × this). */
  windowS: number;
  /** The bench's own figure for the server's CPU (/proc utime + stime), ms per call-second. */
  serverCpuMsPerCallS: number;
  /** Heading of the summary: server, call count, round. */
  label: string;
  /** Other processes of the bench by pid (the generator, the bench itself), named in the summary. */
  knownPids?: Record<string, string>;
}

/** Writes <file>.json and copies /tmp/perf-<pid>.map to <file>.map, then deletes the latter. */
export function keepPerfRun(run: PerfRun): void {
  writeFileSync(`${run.file}.json`, `${JSON.stringify(run, null, 2)}\n`);
  const map = `/tmp/perf-${run.serverPid}.map`;
  if (existsSync(map)) copyFileSync(map, `${run.file}.map`);
}

/** Deletes the server's /tmp/perf-<pid>.map (written by --perf-basic-prof). */
export function removePerfMap(pid: number): void {
  rmSync(`/tmp/perf-${pid}.map`, { force: true });
}

type Where =
  | "kernel"
  | "builtins"
  | "interpreter"
  | "node-cxx"
  | "libc"
  | "other-so"
  | "js"
  | "wasm"
  | "jit-other"
  | "unknown";

const WHERE_LABEL: Record<Where, string> = {
  kernel: "kernel (`[kernel.kallsyms]`)",
  builtins: "node binary: V8 builtins (`Builtins_*`, embedded)",
  interpreter:
    "node binary: V8's interpreter (un-optimised JS: entry trampoline, bytecode handlers)",
  "node-cxx": "node binary: C++ (V8 runtime and GC, Node, libuv)",
  libc: "libc",
  "other-so": "other shared objects",
  js: "JIT-compiled JavaScript (`JS:*` TurboFan, `JS:^` Sparkplug, `JS:+` Maglev, `JS:~`)",
  wasm: "WebAssembly (`wasm-function…`)",
  "jit-other": "other JIT code (RegExp, stubs, handlers)",
  unknown: "unresolved (`[unknown]`: code outside any map)",
};

const NATIVE: Where[] = ["builtins", "interpreter", "node-cxx", "libc", "other-so"];
const JIT: Where[] = ["js", "wasm", "jit-other"];

interface Frame {
  sym: string;
  dso: string;
}

function isJit(frame: Frame): boolean {
  return (
    /\/perf-\d+\.map$/.test(frame.dso) ||
    frame.dso.startsWith("[JIT]") ||
    /^(JS|LazyCompile|Function|Script|RegExp|Builtin|BytecodeHandler|Stub|Handler):/.test(
      frame.sym,
    ) ||
    /^(JS:)?wasm-function/.test(frame.sym)
  );
}

function whereOf(frame: Frame): Where {
  const { sym, dso } = frame;
  if (dso.startsWith("[kernel") || dso === "[vmlinux]") return "kernel";
  if (isJit(frame)) {
    // Node 20 names WebAssembly code `JS:wasm-function[i]-i-turbofan`.
    if (/^(JS:)?wasm-function/.test(sym)) return "wasm";
    if (/^(JS|LazyCompile|Function|Script):/.test(sym)) return "js";
    return "jit-other";
  }
  if (dso === "[unknown]") return "unknown";
  const file = basename(dso);
  if (file === "node" || file === basename(process.execPath)) {
    if (sym === "Builtins_InterpreterEntryTrampoline" || /^Builtins_\w+Handler$/.test(sym))
      return "interpreter";
    if (sym.startsWith("Builtins_")) return "builtins";
    return "node-cxx";
  }
  if (/^libc[.-]/.test(file)) return "libc";
  return "other-so";
}

/**
 * Where a JavaScript function came from, by the location V8 gives it (`JS:*name file:///…:l:c`):
 * `src/<file>` (the project's), `bench/<file>` (the reference forwarder), `ws`, another
 * package, `node:` internals, or no file.
 */
function jsOrigin(sym: string): { group: string; detail: string } {
  const rest = sym.replace(/^[A-Za-z]+:[*~^+]?/, "");
  const location = rest.split(" ").at(-1) ?? "";
  const file = /:\d+:\d+$/.test(location) ? location.replace(/:\d+:\d+$/, "") : "";
  if (file === "") return { group: "other JavaScript (no file)", detail: "" };
  if (file.startsWith("node:")) return { group: "node: internals", detail: file };
  const modules = file.lastIndexOf("/node_modules/");
  if (modules >= 0) {
    const parts = file.slice(modules + "/node_modules/".length).split("/");
    const pkg = parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
    return pkg === "ws"
      ? { group: "node_modules/ws", detail: "ws" }
      : { group: "node_modules: other packages", detail: pkg };
  }
  const project = file.search(/\/(src|bench)\//);
  if (project >= 0) {
    const path = file.slice(project + 1);
    return { group: path.startsWith("src/") ? "src/ (the project)" : "bench/", detail: path };
  }
  return { group: "other JavaScript", detail: file.replace(/^file:\/\//, "") };
}

/** Named stacks counted inclusively: a main-thread sample counts if any frame matches. */
const NAMED_STACKS: { name: string; match: (sym: string) => boolean }[] = [
  {
    name: "writes: the `write`/`writev` system calls (`__GI___libc_write`, `__GI___writev`; on the main thread the sockets', under `LibuvStreamWrap::DoTryWrite`)",
    match: (s) =>
      s === "write" ||
      s === "__GI___libc_write" ||
      s === "__libc_write" ||
      s === "writev" ||
      s === "__GI___writev" ||
      s === "__writev" ||
      s === "ksys_write" ||
      s === "do_writev" ||
      s === "__x64_sys_write" ||
      s === "__x64_sys_writev",
  },
  {
    name: "reads: the `read` system call (`read`, `__GI___libc_read`)",
    match: (s) =>
      s === "read" ||
      s === "__GI___libc_read" ||
      s === "__libc_read" ||
      s === "ksys_read" ||
      s === "__x64_sys_read",
  },
  {
    name: "everything under `uv__read`: the read and what its callback runs synchronously (parsing, the JS handling the data, the writes it makes)",
    match: (s) => s === "uv__read",
  },
  {
    name: "GC, all (`Scavenge*`, `MarkCompact*`, `Heap::CollectGarbage`, incremental marking, sweeping)",
    match: (s) =>
      s.includes("Scaveng") ||
      s.includes("MarkCompact") ||
      s.includes("Heap::CollectGarbage") ||
      s.includes("IncrementalMarking") ||
      s.includes("Sweeper::"),
  },
  { name: "— young generation (`Scavenger`, `Scavenge*`)", match: (s) => s.includes("Scaveng") },
  { name: "— full (`MarkCompact*`)", match: (s) => s.includes("MarkCompact") },
  {
    name: "event loop's poll (`epoll_pwait`/`epoll_wait` on the CPU, not the wait)",
    match: (s) =>
      s === "epoll_pwait" ||
      s === "epoll_wait" ||
      s === "do_epoll_pwait" ||
      s === "do_epoll_wait" ||
      s === "__x64_sys_epoll_pwait" ||
      s === "__x64_sys_epoll_wait",
  },
];

interface Tally {
  total: number;
  idle: number;
  byPid: Map<number, number>;
  byTid: Map<number, number>;
  commByTid: Map<number, string>;
  otherByComm: Map<string, number>;
  firstTime: number;
  lastTime: number;
  /** Per tid of the server: counts by where, JS origin, symbol, named stack. */
  serverThreads: Map<number, ThreadTally>;
}

interface ThreadTally {
  byWhere: Map<Where, number>;
  byOrigin: Map<string, Map<string, number>>;
  bySymbol: Map<string, { where: Where; n: number }>;
  byDso: Map<string, number>;
  named: number[];
  /** What the thread is, from marker frames on its stacks (Node 20 names every thread `node`). */
  roles: Map<string, number>;
  /** The file of the innermost JavaScript frame of each sample that has one. */
  jsFiles: Map<string, number>;
}

/** Frames that tell what a thread of node is. */
const THREAD_ROLES: { role: string; match: (sym: string) => boolean }[] = [
  { role: "worker_threads Worker", match: (s) => s.startsWith("node::worker::Worker::") },
  {
    role: "V8 platform worker (GC, compiler tasks)",
    match: (s) => s.includes("PlatformWorkerThread") || s.includes("WorkerThreadsTaskRunner"),
  },
  {
    role: "libuv thread pool (fs, dns, crypto)",
    match: (s) => s === "worker",
  },
  { role: "inspector", match: (s) => s.startsWith("node::inspector::") },
];

const bump = <K>(map: Map<K, number>, key: K, n = 1) => map.set(key, (map.get(key) ?? 0) + n);

async function tallyRecording(
  file: string,
  serverPid: number,
  knownPids: Record<string, string>,
): Promise<Tally> {
  const tally: Tally = {
    total: 0,
    idle: 0,
    byPid: new Map(),
    byTid: new Map(),
    commByTid: new Map(),
    otherByComm: new Map(),
    firstTime: Number.NaN,
    lastTime: Number.NaN,
    serverThreads: new Map(),
  };
  const child = spawn(
    "perf",
    ["script", "-i", file, "-F", "comm,pid,tid,time,ip,sym,dso", "--no-inline"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve(code));
  });
  let header: { pid: number; tid: number } | null = null;
  let frames: Frame[] = [];
  const finish = () => {
    if (header) addSample(tally, serverPid, knownPids, header.pid, header.tid, frames);
    header = null;
    frames = [];
  };
  const lines = createInterface({ input: child.stdout, crlfDelay: Number.POSITIVE_INFINITY });
  for await (const line of lines) {
    if (line.trim() === "") {
      finish();
      continue;
    }
    const frame = /^\s+[0-9a-f]+\s+(.*) \(([^()]*)\)$/.exec(line);
    if (frame && header) {
      frames.push({ sym: frame[1]!, dso: frame[2]! });
      continue;
    }
    const head = /^\s*(.+?)\s+(-?\d+)\/(-?\d+)\s+([\d.]+):/.exec(line);
    if (head) {
      finish();
      const [, comm, pid, tid, time] = head;
      header = { pid: Number(pid), tid: Number(tid) };
      tally.commByTid.set(header.tid, comm!);
      const t = Number(time);
      if (!(t >= tally.firstTime)) tally.firstTime = t;
      if (!(t <= tally.lastTime)) tally.lastTime = t;
    }
  }
  finish();
  const code = await exited;
  if (code !== 0) throw new Error(`perf script exited with ${code}: ${stderr.slice(-500)}`);
  return tally;
}

function addSample(
  tally: Tally,
  serverPid: number,
  knownPids: Record<string, string>,
  pid: number,
  tid: number,
  frames: Frame[],
) {
  tally.total++;
  bump(tally.byPid, pid);
  bump(tally.byTid, tid);
  if (pid === 0) {
    tally.idle++;
    return;
  }
  if (pid !== serverPid) {
    const comm = tally.commByTid.get(tid) ?? "?";
    // perf names a thread `:<tid>` when it saw no name for it (it came and went meanwhile).
    bump(
      tally.otherByComm,
      knownPids[String(pid)] ??
        (comm.startsWith(":") ? "threads perf has no name for (short-lived)" : `\`${comm}\``),
    );
    return;
  }
  let thread = tally.serverThreads.get(tid);
  if (!thread) {
    thread = {
      byWhere: new Map(),
      byOrigin: new Map(),
      bySymbol: new Map(),
      byDso: new Map(),
      named: NAMED_STACKS.map(() => 0),
      roles: new Map(),
      jsFiles: new Map(),
    };
    tally.serverThreads.set(tid, thread);
  }
  const leaf = frames[0] ?? { sym: "[unknown]", dso: "[unknown]" };
  const where = whereOf(leaf);
  bump(thread.byWhere, where);
  if (where === "other-so" || where === "libc") bump(thread.byDso, basename(leaf.dso));
  if (where === "js") {
    const { group, detail } = jsOrigin(leaf.sym);
    const details = thread.byOrigin.get(group) ?? new Map<string, number>();
    bump(details, detail);
    thread.byOrigin.set(group, details);
  }
  const symbol = leaf.sym === "[unknown]" ? `[unknown] in ${basename(leaf.dso)}` : leaf.sym;
  const entry = thread.bySymbol.get(symbol) ?? { where, n: 0 };
  entry.n++;
  thread.bySymbol.set(symbol, entry);
  NAMED_STACKS.forEach((stack, i) => {
    if (frames.some((f) => stack.match(f.sym))) thread.named[i]!++;
  });
  const role = THREAD_ROLES.find(({ match }) => frames.some((f) => match(f.sym)));
  if (role) bump(thread.roles, role.role);
  const js = frames.find((f) => whereOf(f) === "js");
  if (js) {
    const { group, detail } = jsOrigin(js.sym);
    bump(thread.jsFiles, detail || group);
  }
}

/** A markdown table cell: pipes escaped, long C++ names cut, the repo's path dropped. */
function cell(text: string, max = 140): string {
  const short = text.replace(/file:\/\/\/\S*?\/(src|bench|node_modules)\//g, "$1/");
  const cut = short.length > max ? `${short.slice(0, max - 1)}…` : short;
  return `\`${cut.replaceAll("`", "'")}\``.replaceAll("|", "\\|");
}

/** The markdown summary of one recording. */
export async function summarizePerf(run: PerfRun, top = 25): Promise<string> {
  const t = await tallyRecording(run.file, run.serverPid, run.knownPids ?? {});
  const callSeconds = run.calls * run.windowS;
  const share = (n: number) => (t.total > 0 ? `${((100 * n) / t.total).toFixed(1)}%` : "–");
  const ms = (n: number) => ((n * MS_PER_SAMPLE) / callSeconds).toFixed(3);
  const row = (what: string, n: number) => `| ${what} | ${n} | ${share(n)} | ${ms(n)} |`;
  const serverTids = [...t.serverThreads.keys()];
  const serverSamples = serverTids.reduce((a, tid) => a + (t.byTid.get(tid) ?? 0), 0);
  // The event loop: the server's busiest thread (its tid is the pid).
  const mainTid = serverTids.sort((a, b) => (t.byTid.get(b) ?? 0) - (t.byTid.get(a) ?? 0))[0];
  const nameOf = (tid: number) => run.threads[String(tid)] ?? t.commByTid.get(tid) ?? "?";
  /** The thread's name, and what its stacks say it is (its role, the JS it ran most). */
  const describe = (tid: number) => {
    const thread = t.serverThreads.get(tid);
    const most = (map: Map<string, number> | undefined) =>
      [...(map ?? [])].sort((a, b) => b[1] - a[1])[0]?.[0];
    const role = most(thread?.roles);
    const file = most(thread?.jsFiles);
    const notes = [role, file ? `JS mostly \`${file}\`` : ""].filter(Boolean).join(", ");
    return `\`${nameOf(tid)}\`${notes ? `: ${notes}` : ""}`;
  };
  const main = mainTid === undefined ? undefined : t.serverThreads.get(mainTid);
  const mainSamples = mainTid === undefined ? 0 : (t.byTid.get(mainTid) ?? 0);
  const others = serverTids.filter((tid) => tid !== mainTid);
  const otherProcesses = t.total - t.idle - serverSamples;
  const spanS = t.lastTime - t.firstTime;
  const lines = [
    `##### ${run.label}`,
    "",
    `\`${run.file}\`: ${t.total} samples of CPU 1 (${(t.total / PERF_HZ).toFixed(1)} s at ${PERF_HZ} Hz; first to last sample ${Number.isFinite(spanS) ? spanS.toFixed(1) : "–"} s) for a ${run.windowS.toFixed(1)} s window of ${run.calls} calls. The server's process by perf: ${ms(serverSamples)} ms / call-s; by /proc (the bench's figure, this run): ${run.serverCpuMsPerCallS.toFixed(3)}.`,
    "",
    "| CPU 1 | samples | % of CPU 1 | ms / call-s |",
    "|---|---:|---:|---:|",
    row("idle (`swapper`)", t.idle),
    row(
      `server, main thread (tid ${mainTid ?? "–"}${mainTid === run.serverPid ? " = pid" : ""}, \`${mainTid === undefined ? "–" : nameOf(mainTid)}\`)`,
      mainSamples,
    ),
    row(`server, other threads (${others.length})`, serverSamples - mainSamples),
    ...others
      .sort((a, b) => (t.byTid.get(b) ?? 0) - (t.byTid.get(a) ?? 0))
      .slice(0, 8)
      .map((tid) => row(`— tid ${tid} ${describe(tid)}`, t.byTid.get(tid) ?? 0)),
    row("other processes", otherProcesses),
    ...[...t.otherByComm]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 5)
      .map(([who, n]) => row(`— ${who}`, n)),
    "",
  ];
  if (!main) return [...lines, "No sample of the server's threads.", ""].join("\n");
  const w = (where: Where) => main.byWhere.get(where) ?? 0;
  const sum = (list: Where[]) => list.reduce((a, where) => a + w(where), 0);
  const origins = [...main.byOrigin].sort(
    (a, b) => total(b[1].values()) - total(a[1].values()) || a[0].localeCompare(b[0]),
  );
  lines.push(
    "Main thread, by where the sampled instruction was (self):",
    "",
    "| main thread | samples | % of CPU 1 | ms / call-s |",
    "|---|---:|---:|---:|",
    row("**all**", mainSamples),
    row(WHERE_LABEL.kernel, w("kernel")),
    row("V8 / Node native", sum(NATIVE)),
    ...NATIVE.map((where) => row(`— ${WHERE_LABEL[where]}`, w(where))),
    ...[...main.byDso]
      .sort((a, b) => b[1] - a[1])
      .filter(([dso]) => !/^libc[.-]/.test(dso))
      .slice(0, 4)
      .map(([dso, n]) => row(`—— \`${dso}\``, n)),
    row("JIT code", sum(JIT)),
    row(`— ${WHERE_LABEL.js}`, w("js")),
    ...origins.flatMap(([group, details]) => [
      row(`—— ${group}`, total(details.values())),
      ...(group !== "node_modules/ws" && group !== "other JavaScript (no file)"
        ? [...details]
            .sort((a, b) => b[1] - a[1])
            .slice(0, group === "src/ (the project)" ? 20 : 6)
            .map(([detail, n]) => row(`——— \`${detail}\``, n))
        : []),
    ]),
    row(`— ${WHERE_LABEL.wasm}`, w("wasm")),
    row(`— ${WHERE_LABEL["jit-other"]}`, w("jit-other")),
    row(WHERE_LABEL.unknown, w("unknown")),
    "",
    `Main thread, top ${top} symbols by self samples:`,
    "",
    "| # | symbol | where | samples | % of CPU 1 | ms / call-s |",
    "|---:|---|---|---:|---:|---:|",
    ...[...main.bySymbol]
      .sort((a, b) => b[1].n - a[1].n)
      .slice(0, top)
      .map(
        ([symbol, { where, n }], i) =>
          `| ${i + 1} | ${cell(symbol)} | ${where} | ${n} | ${share(n)} | ${ms(n)} |`,
      ),
    "",
    "Main thread, inclusive (samples whose stack contains the named frames):",
    "",
    "| stack | samples | % of CPU 1 | ms / call-s |",
    "|---|---:|---:|---:|",
    ...NAMED_STACKS.map((stack, i) => row(stack.name, main.named[i]!)),
    "",
  );
  return lines.join("\n");
}

function total(values: Iterable<number>): number {
  let n = 0;
  for (const v of values) n += v;
  return n;
}

/** The section's heading and how to read it. */
export function perfSectionHeading(dir: string): string[] {
  return [
    "#### perf: where CPU 1 (the server's core) went",
    "",
    `How to read this: \`perf record -e cpu-clock -F ${PERF_HZ} -g -C 1\` over each run's measured window (perf itself on CPU 0, the server with \`--perf-basic-prof\` so JIT code is named), one sample ≈ ${MS_PER_SAMPLE.toFixed(3)} ms of CPU 1 whoever ran; "% of CPU 1" is of all samples, idle included, and "ms / call-s" = samples × ${MS_PER_SAMPLE.toFixed(3)} ms ÷ (calls × window s), comparable with the bench's server CPU (perf's own sampling interrupts are charged to the server too); self = the sampled instruction, inclusive = anywhere on its stack; cpu-clock cannot sample while interrupts are off, so that time shows on the kernel's \`_raw_spin_unlock_irq*\`; interpreted (not yet compiled) JavaScript shows as V8's interpreter, not by file. Data files in \`${dir}\` (each with <file>.json and <file>.map; \`npx tsx bench/load/perf.ts FILE\` summarises one again).`,
    "",
  ];
}

if (process.argv[1]?.endsWith("perf.ts")) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: npx tsx bench/load/perf.ts FILE.perf.data [--top 25]\n");
    process.exit(2);
  }
  const topAt = process.argv.indexOf("--top");
  const top = topAt > 0 ? Number(process.argv[topAt + 1]) : 25;
  const run = JSON.parse(readFileSync(`${file}.json`, "utf8")) as PerfRun;
  // perf looks for the JIT names at /tmp/perf-<pid>.map; put the kept copy there while it reads.
  const map = `/tmp/perf-${run.serverPid}.map`;
  const placed = !existsSync(map) && existsSync(`${file}.map`);
  if (placed) copyFileSync(`${file}.map`, map);
  summarizePerf({ ...run, file }, top)
    .then((markdown) => process.stdout.write(`${markdown}\n`))
    .finally(() => {
      if (placed) rmSync(map, { force: true });
    })
    .catch((error: unknown) => {
      process.stderr.write(`${error instanceof Error ? error.stack : error}\n`);
      process.exit(1);
    });
}
