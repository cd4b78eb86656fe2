import { type ChildProcess, fork, spawn } from "node:child_process";
import { appendFileSync } from "node:fs";
import { createServer } from "node:net";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { metric, scrapeMetrics } from "../lib/server-metrics.ts";
import type { GeneratorMessage, RunRequest } from "./protocol.ts";
import { MONITOR_PREFIX, type MonitoredProcess, STALL_PREFIX, type Stall } from "./stalls.ts";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Asks the kernel for a free loopback port (the server is told it through PORT). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** `taskset -c CPU <command>` when pinning, else the command itself. */
function pinned(cpu: string | null, command: string, args: string[]): [string, string[]] {
  return cpu === null ? [command, args] : ["taskset", ["-c", cpu, command, ...args]];
}

export interface ServerProcess {
  readonly pid: number;
  readonly baseUrl: string;
  readonly mediaStreamUrl: string;
  /** Lines the server wrote (LOG_LEVEL=warn: warnings and errors only). */
  readonly logLines: string[];
  /** Its event-loop stalls, from bench/load/stall-monitor.ts (with WORKERS=N: every process's). */
  readonly stalls: Stall[];
  /** The processes the stall monitor announced itself in (the primary and each worker). */
  readonly monitored: MonitoredProcess[];
  stop(): Promise<number | null>;
}

export interface ServerOptions {
  fakeUrl: string;
  dataDir: string;
  cpu: string | null;
  /** Writes a V8 CPU profile into this folder when the server exits. */
  cpuProfileDir?: string;
  /** Runs the server of another checkout (before/after comparisons); default this one. */
  root?: string;
  /** The script to serve with, instead of src/main.ts (the reference forwarder). */
  entry?: string;
  /** Variables that replace the defaults below (another storage backend). */
  env?: Record<string, string>;
  /**
   * Started with WORKERS=<n> (src/composition/cluster.ts); unset: WORKERS is not set at all.
   * With n > 1 the server counts as started once the primary reports all n workers serving.
   */
  workers?: number;
}

export async function startServer(options: ServerOptions): Promise<ServerProcess> {
  const port = await freePort();
  const nodeArgs = [
    // On one core, V8's parallel scavenger hands its work to helper threads that can only run
    // when the main thread stops: a young-generation pause took ~3 ms, ~1.6 ms single-threaded.
    // This is the configuration the README recommends for a server pinned to one core.
    ...(options.cpu !== null && process.env.LOAD_PARALLEL_GC !== "1"
      ? ["--single-threaded-gc"]
      : []),
    // What `npm start` runs the server with (package.json); not the reference forwarder.
    ...(options.entry === undefined ? ["--max-semi-space-size=8"] : []),
    ...(options.cpuProfileDir ? ["--cpu-prof", `--cpu-prof-dir=${options.cpuProfileDir}`] : []),
    "--import",
    "tsx",
    // For investigations, e.g. LOAD_SERVER_NODE_ARGS=--trace-gc with LOAD_SERVER_LOG=file.
    ...(process.env.LOAD_SERVER_NODE_ARGS?.split(" ").filter(Boolean) ?? []),
    "--import",
    join(REPO_ROOT, "bench/load/stall-monitor-preload.mjs"),
    options.entry ?? "src/main.ts",
  ];
  const [command, args] = pinned(options.cpu, process.execPath, nodeArgs);
  const root = options.root ?? REPO_ROOT;
  const child = spawn(command, args, {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: join(options.dataDir, "calls.db"),
      RECORDING_STORAGE_PATH: join(options.dataDir, "recordings"),
      MIGRATIONS_PATH: join(root, "migrations"),
      OPENAI_API_KEY: "sk-load-bench",
      OPENAI_REALTIME_URL: options.fakeUrl,
      // The bench measures the audio path; the analysis is network work after the call.
      POST_CALL_ANALYSIS: "off",
      LOG_LEVEL: "warn",
      ...options.env,
      ...(options.workers === undefined ? {} : { WORKERS: String(options.workers) }),
    },
  });
  const logLines: string[] = [];
  const stalls: Stall[] = [];
  const monitored: MonitoredProcess[] = [];
  const parsed = <T>(line: string, prefix: string): T | null => {
    try {
      return JSON.parse(line.slice(prefix.length)) as T;
    } catch {
      return null;
    }
  };
  // One partial line per stream: a line cut across two chunks of stderr must not be joined to
  // what stdout wrote in between (with WORKERS=N both carry several processes' lines).
  const collector = () => {
    let partial = "";
    return (chunk: Buffer) => {
      const lines = (partial + chunk.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        const stall = line.startsWith(STALL_PREFIX) ? parsed<Stall>(line, STALL_PREFIX) : null;
        const monitor = line.startsWith(MONITOR_PREFIX)
          ? parsed<MonitoredProcess>(line, MONITOR_PREFIX)
          : null;
        if (stall) stalls.push(stall);
        else if (monitor) monitored.push(monitor);
        else if (line.trim()) logLines.push(line);
        if (process.env.LOAD_SERVER_LOG) appendFileSync(process.env.LOAD_SERVER_LOG, `${line}\n`);
      }
    };
  };
  child.stdout!.on("data", collector());
  child.stderr!.on("data", collector());
  const exited = new Promise<number | null>((resolveExit) =>
    child.once("exit", (code) => resolveExit(code)),
  );
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = performance.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`the server exited at start: ${logLines.slice(-5).join(" | ")}`);
    }
    try {
      const response = await fetch(`${baseUrl}/healthz`);
      // The first worker answers before the others listen, and the primary would hand the
      // first calls to it alone.
      if (response.ok && (await allWorkersServing(baseUrl, options.workers ?? 1))) break;
    } catch {
      // Not listening yet.
    }
    if (performance.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(
        `the server did not answer /healthz${(options.workers ?? 1) > 1 ? " with every worker serving" : ""} within 30 s`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    pid: child.pid!,
    baseUrl,
    mediaStreamUrl: `ws://127.0.0.1:${port}/twilio/media-stream`,
    logLines,
    stalls,
    monitored,
    async stop() {
      if (child.exitCode !== null) return child.exitCode;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
      const code = await exited;
      clearTimeout(timer);
      return code;
    },
  };
}

/** WORKERS > 1: the primary's count of workers that listen (`callbridge_cluster_workers`). */
async function allWorkersServing(baseUrl: string, workers: number): Promise<boolean> {
  if (workers <= 1) return true;
  return metric(await scrapeMetrics(baseUrl), "callbridge_cluster_workers") >= workers;
}

export interface GeneratorProcess {
  readonly pid: number;
  readonly fakeUrl: string;
  run(request: RunRequest, on: (message: GeneratorMessage) => void): void;
  kill(): void;
}

/** Forks bench/load/generator.ts (pinned when `cpu` is set) and waits for its fake to listen. */
export async function startGenerator(cpu: string | null): Promise<GeneratorProcess> {
  const script = join(REPO_ROOT, "bench/load/generator.ts");
  const [execPath, execArgv] = pinned(cpu, process.execPath, ["--import", "tsx"]);
  const child: ChildProcess = fork(script, [], {
    cwd: REPO_ROOT,
    execPath,
    execArgv,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const fakeUrl = await new Promise<string>((resolveUrl, reject) => {
    const timer = setTimeout(() => reject(new Error("the generator did not start")), 30_000);
    child.once("exit", (code) => reject(new Error(`the generator exited (${code})`)));
    child.once("message", (message: GeneratorMessage) => {
      clearTimeout(timer);
      if (message.type === "ready") resolveUrl(message.fakeUrl);
      else reject(new Error(`unexpected first message ${message.type}`));
    });
  });
  return {
    pid: child.pid!,
    fakeUrl,
    run(request, on) {
      child.on("message", on);
      child.send(request);
    },
    kill() {
      if (child.exitCode === null) child.kill("SIGKILL");
    },
  };
}
