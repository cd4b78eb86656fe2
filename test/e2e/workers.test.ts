import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildServer, type LogLine, spawnServer } from "../../bench/lib/child-server.ts";
import { metricValue, parsePrometheus, samplesOf } from "../support/prometheus-text.ts";
import { tone } from "../support/signals.ts";
import { eventually } from "../support/test-server.ts";
import { playCall, TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * WORKERS=2, the real thing: `node --import tsx src/main.ts` in its own process, a primary and
 * two worker processes on one port, one SQLite file and one recordings folder. Calls are real
 * WebSockets from the Twilio simulator, checked through the public API, /metrics and /healthz,
 * the processes' own logs (which worker took which call; each worker's pid), and at the end the
 * database file itself.
 */

const CALLS = 40;
const AT_ONCE = 20;

interface ApiCall {
  id: string;
  streamSid: string;
  status: string;
  endedAt: string | null;
  recordings: { id: string; track: string; sizeBytes: number }[];
}

let dir = "";
let databasePath = "";
let recordingsDir = "";
let server: ChildServer | null = null;
const open: TwilioSimulator[] = [];

const report = (line: string) => {
  if (process.env.CALLBRIDGE_REPORT) console.log(line);
};

function logged(message: string, where: (line: LogLine) => boolean = () => true): LogLine[] {
  return server!.logs.filter((line) => line.msg === message && where(line));
}

/** Pid of worker `index` as the primary last started it. */
function workerPid(index: number): number {
  const started = logged("worker started", (line) => line.worker === index);
  const pid = started.at(-1)?.pid;
  if (typeof pid !== "number") throw new Error(`worker ${index} has not started`);
  return pid;
}

/**
 * Which worker took the stream: its session's log lines name both. ("call started" comes once
 * the call's row is stored, which a very short call may not live to see; "call ended" always.)
 */
function workerOf(streamSid: string): number | undefined {
  const line = server!.logs.find(
    (l) => l.streamSid === streamSid && (l.msg === "call started" || l.msg === "call ended"),
  );
  return typeof line?.worker === "number" ? line.worker : undefined;
}

async function getJson<T>(path: string): Promise<T> {
  const response = await fetch(server!.baseUrl + path);
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return (await response.json()) as T;
}

/** A request on a connection of its own: the cluster hands each new connection to a worker. */
function healthzOnNewConnection(): Promise<{ worker: number; instance: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${server!.baseUrl}/healthz`, { agent: false }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => resolve(JSON.parse(body) as { worker: number; instance: string }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function callByStreamSid(streamSid: string): Promise<ApiCall | undefined> {
  const page = await getJson<{ data: { id: string }[] }>(
    `/api/calls?streamSid=${encodeURIComponent(streamSid)}`,
  );
  const id = page.data[0]?.id;
  return id === undefined ? undefined : getJson<ApiCall>(`/api/calls/${id}`);
}

/** A call that stays on the line (20 s of tone, in real time) until the test ends it. */
async function openLongCall(): Promise<{ sim: TwilioSimulator; worker: number }> {
  const sim = await TwilioSimulator.connect({
    url: server!.mediaStreamUrl,
    realtime: true,
    recordMessages: false,
  });
  open.push(sim);
  void sim.play(tone(330, 20_000, 8000, 0.3)).catch(() => {});
  const worker = await eventually(() => workerOf(sim.streamSid), 15_000, "the call to start");
  return { sim, worker };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "callbridge-workers-"));
  databasePath = join(dir, "calls.db");
  recordingsDir = join(dir, "recordings");
  server = await spawnServer({
    databasePath,
    recordingsDir,
    env: { WORKERS: "2" },
    // Two workers compile and start side by side: on a busy machine that takes a while.
    startTimeoutMs: 60_000,
  });
  await eventually(() => logged("all workers listening")[0], 60_000, "both workers to listen");
}, 90_000);

afterAll(async () => {
  for (const sim of open) sim.terminate();
  if (server?.alive) await server.kill("SIGKILL");
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("WORKERS=2", () => {
  const streamSids: string[] = [];
  let framesSent = 0;

  it("spreads 40 calls over both workers, and lists and records every one", async () => {
    const samples = tone(440, 600, 8000, 0.3);
    for (let batch = 0; batch < CALLS / AT_ONCE; batch++) {
      const calls = await Promise.all(
        Array.from({ length: AT_ONCE }, () =>
          playCall({ url: server!.mediaStreamUrl, samples8k: samples, realtime: false }),
        ),
      );
      for (const call of calls) {
        streamSids.push(call.streamSid);
        framesSent += call.framesSent;
      }
    }
    const listed = await eventually(
      async () => {
        const page = await getJson<{ data: ApiCall[] }>("/api/calls?limit=200");
        const ours = page.data.filter((c) => streamSids.includes(c.streamSid));
        return ours.length === CALLS && ours.every((c) => c.status !== "active") ? ours : undefined;
      },
      30_000,
      "all 40 calls to be listed as ended",
    );
    expect(listed.map((c) => c.status)).toEqual(Array(CALLS).fill("completed"));
    for (const { streamSid } of listed) {
      const call = (await callByStreamSid(streamSid))!;
      expect(call.recordings.map((r) => r.track).sort()).toEqual(["caller", "conversation"]);
      for (const recording of call.recordings) expect(recording.sizeBytes).toBeGreaterThan(44);
    }
    const byWorker = new Map<number, number>();
    for (const streamSid of streamSids) {
      const worker = await eventually(() => workerOf(streamSid), 5_000, "the call's log line");
      byWorker.set(worker, (byWorker.get(worker) ?? 0) + 1);
    }
    report(`workers: calls per worker ${JSON.stringify([...byWorker.entries()].sort())}`);
    expect([...byWorker.keys()].sort()).toEqual([1, 2]);
  }, 90_000);

  it("answers /metrics with the totals of both workers, and per-process series by worker", async () => {
    const samples = parsePrometheus(await (await fetch(`${server!.baseUrl}/metrics`)).text());
    expect(metricValue(samples, "callbridge_calls_total", { status: "active" })).toBe(CALLS);
    expect(metricValue(samples, "callbridge_calls_total", { status: "completed" })).toBe(CALLS);
    expect(samplesOf(samples, "callbridge_calls_total").every((s) => !("worker" in s.labels))).toBe(
      true,
    );
    expect(metricValue(samples, "callbridge_frames_in_total")).toBe(framesSent);
    for (const worker of ["1", "2"]) {
      expect(metricValue(samples, "callbridge_active_calls", { worker })).toBe(0);
      expect(
        metricValue(samples, "callbridge_process_resident_memory_bytes", { worker }),
      ).toBeGreaterThan(0);
    }
    expect(metricValue(samples, "callbridge_cluster_workers")).toBe(2);
  });

  it("starts a SIGKILLed worker again under its id, keeps serving, and the other worker's calls go on", async () => {
    // Calls on both workers, so that one dies with calls and the other keeps its own.
    const calls: { sim: TwilioSimulator; worker: number }[] = [];
    while (new Set(calls.map((c) => c.worker)).size < 2 && calls.length < 8) {
      calls.push(await openLongCall());
    }
    expect(new Set(calls.map((c) => c.worker)).size).toBe(2);
    const victims = calls.filter((c) => c.worker === 1);
    const survivors = calls.filter((c) => c.worker === 2);
    const before = await healthzUntilWorker(1);
    const deadPid = workerPid(1);
    // Let each call get some audio on disk first.
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    process.kill(deadPid, "SIGKILL");

    await eventually(
      () =>
        logged(
          "worker exited unexpectedly; starting it again",
          (l) => l.worker === 1 && l.pid === deadPid && l.signal === "SIGKILL",
        )[0],
      10_000,
      "the primary to notice the death",
    );
    const newPid = await eventually(
      () => {
        const pid = workerPid(1);
        return pid !== deadPid ? pid : undefined;
      },
      10_000,
      "worker 1 to be started again",
    );
    // The replacement answers (a new process, the same instance id), and so does the server.
    const after = await healthzUntilWorker(1, 60_000);
    expect(after.instance).toBe(before.instance);
    expect(newPid).not.toBe(deadPid);
    const restarts = parsePrometheus(await (await fetch(`${server!.baseUrl}/metrics`)).text());
    expect(metricValue(restarts, "callbridge_cluster_worker_restarts_total", { worker: "1" })).toBe(
      1,
    );
    expect(metricValue(restarts, "callbridge_calls_total", { status: "completed" })).toBe(CALLS);

    // The survivors were never interrupted: they hang up now and end completed, recorded.
    for (const { sim } of survivors) {
      expect(sim.isOpen).toBe(true);
      await sim.hangUp();
    }
    for (const { sim } of survivors) {
      const call = await eventually(
        async () => {
          const c = await callByStreamSid(sim.streamSid);
          return c && c.status !== "active" ? c : undefined;
        },
        15_000,
        "a surviving call to end",
      );
      expect(call.status).toBe("completed");
      expect(call.recordings.map((r) => r.track).sort()).toEqual(["caller", "conversation"]);
    }

    // The dead worker's calls: its replacement (same id) recovers them as a crash restart does.
    for (const { sim } of victims) {
      const call = await eventually(
        async () => {
          const c = await callByStreamSid(sim.streamSid);
          return c && c.status !== "active" ? c : undefined;
        },
        30_000,
        "the dead worker's call to be recovered",
      );
      expect(call.status).toBe("failed");
      expect(call.endedAt).not.toBeNull();
      const caller = call.recordings.find((r) => r.track === "caller");
      expect(caller?.sizeBytes).toBeGreaterThan(44);
      expect(partsLeft().filter((name) => name.includes(sim.streamSid))).toEqual([]);
    }
  }, 120_000);

  it("drains calls in flight at SIGTERM: each ends completed with its recordings, then the primary exits 0", async () => {
    const calls: TwilioSimulator[] = [];
    for (let i = 0; i < 4; i++) calls.push((await openLongCall()).sim);
    await eventually(
      async () => {
        const stored = await Promise.all(calls.map((sim) => callByStreamSid(sim.streamSid)));
        return stored.every((c) => c?.status === "active") ? true : undefined;
      },
      15_000,
      "the calls to be stored as active",
    );
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const startsBefore = logged("worker started").length;
    const exit = await server!.kill("SIGTERM");
    expect(exit).toEqual({ code: 0, signal: null });
    // Each stream was closed by the server as it drained.
    await Promise.all(calls.map((sim) => sim.finished));
    expect(logged("worker stopped").map((l) => l.code)).toEqual([0, 0]);
    // A worker that exits during shutdown is not started again.
    expect(logged("worker started")).toHaveLength(startsBefore);
    // Each worker's own last line made it out through the primary before it exited.
    for (const worker of [1, 2]) {
      expect(logged("shutdown complete", (l) => l.worker === worker)).toHaveLength(1);
    }
    expect(logged("shutdown complete", (l) => l.role === "primary")[0]?.exitCode).toBe(0);

    const sqlite = new Database(databasePath, { readonly: true });
    try {
      for (const sim of calls) {
        const call = sqlite
          .prepare("SELECT id, status, ended_at AS endedAt FROM calls WHERE stream_sid = ?")
          .get(sim.streamSid) as { id: string; status: string; endedAt: number | null };
        expect(call.status).toBe("completed");
        expect(call.endedAt).not.toBeNull();
        const files = sqlite
          .prepare("SELECT track, file_key AS fileKey FROM recordings WHERE call_id = ?")
          .all(call.id) as { track: string; fileKey: string }[];
        expect(files.map((f) => f.track).sort()).toEqual(["caller", "conversation"]);
        for (const { fileKey } of files) {
          expect(statSync(join(recordingsDir, fileKey)).size).toBeGreaterThan(44);
        }
      }
    } finally {
      sqlite.close();
    }
  }, 60_000);
});

/** Unfinished recordings anywhere in the folder, the instances' spool folders included. */
function partsLeft(): string[] {
  return readdirSync(recordingsDir, { recursive: true, encoding: "utf8" }).filter((name) =>
    name.endsWith(".part"),
  );
}

/** /healthz on new connections until worker `index` answers one. */
async function healthzUntilWorker(
  index: number,
  timeoutMs = 15_000,
): Promise<{ worker: number; instance: string }> {
  return eventually(
    async () => {
      const answer = await healthzOnNewConnection().catch(() => undefined);
      return answer?.worker === index ? answer : undefined;
    },
    timeoutMs,
    `worker ${index} to answer /healthz`,
  );
}
