import { type ChildProcess, spawn } from "node:child_process";
import { readFile } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

/** The repository root, where `node --import tsx src/main.ts` finds its migrations and tsx. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

export interface ChildServerOptions {
  databasePath: string;
  recordingsDir: string;
  /** Extra environment (over PORT=0, HOST=127.0.0.1, LOG_LEVEL=info). */
  env?: Record<string, string>;
  /** How long start-up (tsx compile, migrations, crash recovery) may take. */
  startTimeoutMs?: number;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export type LogLine = Record<string, unknown>;

const MAX_STDERR_CHARS = 1 << 20;

/**
 * The real server as `npm start` runs it, in its own process: a SIGKILL kills the server and
 * nothing else, /proc/<pid> describes the server alone, and an uncaught error really ends it.
 * Used by the memory bench, the crash-recovery and crash-loop tests and the HTTP fuzz test.
 */
export interface ChildServer {
  readonly pid: number;
  readonly port: number;
  readonly baseUrl: string;
  readonly mediaStreamUrl: string;
  /** Every JSON log line so far, parsed. */
  readonly logs: LogLine[];
  /** Everything the process wrote to stderr so far (up to its last 1 MiB). */
  stderr(): string;
  /** Whether the process is still running. */
  readonly alive: boolean;
  readonly exited: Promise<ChildExit>;
  /** Sends a signal and waits for the process to exit. */
  kill(signal: NodeJS.Signals): Promise<ChildExit>;
  /** SIGTERM (graceful shutdown), with SIGKILL if it does not exit in time. */
  stop(timeoutMs?: number): Promise<ChildExit>;
}

/**
 * Only what node and tsx need: the server's own settings (OPENAI_API_KEY, API_KEY, ...) are not
 * inherited, so a bench or crash test never reaches the real OpenAI nor depends on the shell.
 */
function baseEnvironment(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["PATH", "HOME", "TMPDIR", "LANG", "TZ"]) {
    const value = process.env[key];
    if (value !== undefined) env[key] = value;
  }
  return env;
}

function waitForExit(child: ChildProcess): Promise<ChildExit> {
  return new Promise((resolveExit) => {
    if (child.exitCode !== null || child.signalCode !== null) {
      resolveExit({ code: child.exitCode, signal: child.signalCode });
      return;
    }
    child.once("exit", (code, signal) => resolveExit({ code, signal }));
  });
}

export async function spawnServer(options: ChildServerOptions): Promise<ChildServer> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: REPO_ROOT,
    env: {
      ...baseEnvironment(),
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: options.databasePath,
      RECORDING_STORAGE_PATH: options.recordingsDir,
      LOG_LEVEL: "info",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = waitForExit(child);
  let running = true;
  void exited.then(() => {
    running = false;
  });
  const logs: LogLine[] = [];
  let stderr = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    // Bounded: a crash-looping or fuzzed server must not grow the test's memory without limit.
    stderr = (stderr + chunk).slice(-MAX_STDERR_CHARS);
  });

  const port = await new Promise<number>((resolvePort, reject) => {
    const timeoutMs = options.startTimeoutMs ?? 30_000;
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(
        new Error(`server did not listen within ${timeoutMs} ms; stderr: ${stderr.slice(-2000)}`),
      );
    }, timeoutMs);
    // Every stdout line must be read even after start, or a chatty server blocks on a full pipe.
    const lines = createInterface({ input: child.stdout! });
    lines.on("line", (line) => {
      let parsed: unknown;
      try {
        parsed = JSON.parse(line);
      } catch {
        return;
      }
      if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return;
      const entry = parsed as LogLine;
      logs.push(entry);
      if (typeof entry.port === "number" && String(entry.msg ?? "").includes("listening")) {
        clearTimeout(timer);
        resolvePort(entry.port);
      }
    });
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(
        new Error(
          `server exited before listening (code ${exit.code}, signal ${exit.signal}); stderr: ${stderr.slice(-2000)}`,
        ),
      );
    });
  });

  const pid = child.pid;
  if (pid === undefined) throw new Error("server process has no pid");
  const kill = async (signal: NodeJS.Signals) => {
    child.kill(signal);
    return exited;
  };
  return {
    pid,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    mediaStreamUrl: `ws://127.0.0.1:${port}/twilio/media-stream`,
    logs,
    stderr: () => stderr,
    get alive() {
      return running;
    },
    exited,
    kill,
    async stop(timeoutMs = 15_000) {
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
      const exit = await exited;
      clearTimeout(force);
      return exit;
    },
  };
}

/** Resident set size of a process in bytes, from /proc/<pid>/status (Linux only). */
export async function readRssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}
