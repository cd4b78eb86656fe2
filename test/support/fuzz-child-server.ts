/**
 * The server as production runs it: `node --import tsx src/main.ts` in a child process, so that
 * crashes are real (Node's default handling of uncaught errors and unhandled rejections ends the
 * process) and SIGKILL is a real SIGKILL.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

export const REPO_ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface ChildServerOptions {
  databasePath: string;
  recordingsDir: string;
  /** Extra environment (OPENAI_API_KEY, OPENAI_REALTIME_URL...). */
  env?: Record<string, string>;
  startTimeoutMs?: number;
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildServer {
  readonly child: ChildProcess;
  readonly port: number;
  readonly baseUrl: string;
  readonly mediaStreamUrl: string;
  /** Resolves when the process has exited, however it ended. */
  readonly exited: Promise<ChildExit>;
  /** Whether the process is still running. */
  readonly alive: boolean;
  /** stdout (pino JSON lines) and stderr so far. */
  output(): { stdout: string; stderr: string };
  /** Parsed pino lines so far. */
  logLines(): Record<string, unknown>[];
  kill(signal: NodeJS.Signals): Promise<ChildExit>;
}

/** Starts the server and resolves once it has logged the port it listens on. */
export async function startChildServer(options: ChildServerOptions): Promise<ChildServer> {
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "/tmp",
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: options.databasePath,
      RECORDING_STORAGE_PATH: options.recordingsDir,
      LOG_LEVEL: "info",
      ...options.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  let running = true;
  const exited = new Promise<ChildExit>((resolve) => {
    child.once("exit", (code, signal) => {
      running = false;
      resolve({ code, signal });
    });
  });
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    stderr += chunk;
  });

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`server did not log its port in time; stderr: ${stderr.slice(-2000)}`));
    }, options.startTimeoutMs ?? 30_000);
    child.stdout?.on("data", (chunk: string) => {
      stdout += chunk;
      const match = /"port":(\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        resolve(Number(match[1]));
      }
    });
    void exited.then((exit) => {
      clearTimeout(timer);
      reject(
        new Error(
          `server exited (${exit.code ?? exit.signal}) before listening; stderr: ${stderr.slice(-2000)}`,
        ),
      );
    });
  });

  return {
    child,
    port,
    baseUrl: `http://127.0.0.1:${port}`,
    mediaStreamUrl: `ws://127.0.0.1:${port}/twilio/media-stream`,
    exited,
    get alive() {
      return running;
    },
    output: () => ({ stdout, stderr }),
    logLines: () =>
      stdout
        .split("\n")
        .filter((line) => line.startsWith("{"))
        .map((line) => JSON.parse(line) as Record<string, unknown>),
    async kill(signal) {
      if (running) child.kill(signal);
      return exited;
    },
  };
}
