import { execFileSync } from "node:child_process";
import { join } from "node:path";
import { spawnServer } from "../lib/child-server.ts";
import { cpuMs } from "./proc.ts";

/**
 * Instance B of `--backend postgres-s3-pair`: a second callbridge on the same database and
 * bucket that runs no call of its own, with one live feed of every call (`GET /api/events`)
 * read here for the whole run. It renews its lease and sweeps expired ones as any member does,
 * and each of instance A's NOTIFYs is loaded back from the database and sent down its feed.
 */
export interface SecondInstance {
  readonly pid: number;
  /** CPU ms used so far by B's process (every thread); NaN once it has exited. */
  cpuMs(): number;
  /** Events (frames with data, not heartbeats) B's feed delivered so far. */
  feedFrames(): number;
  /** B's warning and error log lines (JSON), and a line if B or its feed ended early. */
  problems(): string[];
  close(): Promise<void>;
}

export async function startSecondInstance(options: {
  /** The storage variables instance A is started with (database, bucket, credentials). */
  env: Record<string, string>;
  dataDir: string;
  /** Pinned to this CPU (with every thread) once listening, like PostgreSQL; null: unpinned. */
  cpu: string | null;
}): Promise<SecondInstance> {
  const server = await spawnServer({
    databasePath: options.env.DATABASE_URL ?? "",
    recordingsDir: join(options.dataDir, "recordings-b"),
    // No OPENAI_API_KEY: B runs no call. INSTANCE_LEASE_SECONDS is not set for A either (the
    // load bench's server does not inherit the shell), so both use the same default.
    env: { ...options.env, INSTANCE_ID: "bench-b" },
    // tsx compiles the whole server first, and B may apply the migrations.
    startTimeoutMs: 60_000,
  });
  try {
    if (options.cpu !== null) {
      execFileSync("taskset", ["-a", "-p", "-c", options.cpu, String(server.pid)], {
        stdio: "ignore",
      });
    }
    const feed = await openFeed(server.baseUrl);
    let closing = false;
    return {
      pid: server.pid,
      cpuMs: () => (server.alive ? safeCpuMs(server.pid) : Number.NaN),
      feedFrames: () => feed.frames(),
      problems() {
        const lines = server.logs
          .filter((entry) => entry.level === "warn" || entry.level === "error")
          .map((entry) => `instance B: ${JSON.stringify(entry)}`);
        if (!closing && !server.alive) lines.push("instance B: exited during the run");
        if (!closing && feed.ended()) {
          lines.push(`instance B: its feed ended during the run (${feed.error() ?? "closed"})`);
        }
        return lines;
      },
      async close() {
        closing = true;
        await feed.close();
        await server.stop();
      },
    };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

interface Feed {
  frames(): number;
  ended(): boolean;
  error(): string | null;
  close(): Promise<void>;
}

/** An SSE client of `GET /api/events` that reads every frame and counts the events. */
async function openFeed(baseUrl: string): Promise<Feed> {
  const abort = new AbortController();
  // B's hub has subscribed this feed by the time the headers arrive (event-routes.ts).
  const response = await fetch(`${baseUrl}/api/events`, {
    signal: abort.signal,
    headers: { accept: "text/event-stream" },
  });
  if (!response.ok || !response.body) {
    abort.abort();
    throw new Error(`instance B answered GET /api/events with ${response.status}`);
  }
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let frames = 0;
  let ended = false;
  let failure: string | null = null;
  let pending = "";
  const reading = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        pending += value;
        for (let end = pending.indexOf("\n\n"); end >= 0; end = pending.indexOf("\n\n")) {
          // Comments (`: heartbeat`, `: connected`) and `retry:` carry no data line.
          if (/^data:/m.test(pending.slice(0, end))) frames++;
          pending = pending.slice(end + 2);
        }
      }
    } catch (error) {
      if (!abort.signal.aborted) failure = error instanceof Error ? error.message : String(error);
    } finally {
      ended = true;
    }
  })();
  return {
    frames: () => frames,
    ended: () => ended,
    error: () => failure,
    async close() {
      abort.abort();
      await reading;
    },
  };
}

function safeCpuMs(pid: number): number {
  try {
    return cpuMs(pid);
  } catch {
    return Number.NaN;
  }
}
