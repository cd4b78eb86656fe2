import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import { decodeWav } from "../../../src/domain/audio/index.ts";
import { tone } from "../../support/signals.ts";
import { eventually } from "../../support/test-server.ts";
import { TwilioSimulator } from "../../support/twilio-simulator.ts";

const ROOT = resolve(import.meta.dirname, "../../..");

interface ServerProcess {
  child: ChildProcess;
  port: number;
  dir: string;
  databasePath: string;
  recordingsDir: string;
  stdout: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

let running: ServerProcess | null = null;
afterEach(() => {
  if (running && running.child.exitCode === null && running.child.signalCode === null) {
    running.child.kill("SIGKILL");
  }
  if (running) rmSync(running.dir, { recursive: true, force: true });
  running = null;
});

/** `node --import tsx src/main.ts`, as a deployment runs it, on a free port. */
async function spawnServer(): Promise<ServerProcess> {
  const dir = mkdtempSync(join(tmpdir(), "callbridge-shutdown-"));
  const databasePath = join(dir, "calls.db");
  const recordingsDir = join(dir, "recordings");
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts"], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: databasePath,
      RECORDING_STORAGE_PATH: recordingsDir,
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    out += chunk;
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    err += chunk;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((done) =>
    child.once("exit", (code, signal) => done({ code, signal })),
  );
  const port = await eventually(
    () => {
      if (child.exitCode !== null) throw new Error(`server exited early: ${err}`);
      for (const line of out.split("\n")) {
        if (!line.startsWith("{")) continue;
        const parsed = JSON.parse(line) as { port?: unknown };
        if (typeof parsed.port === "number") return parsed.port;
      }
      return undefined;
    },
    30_000,
    "the server to log its port",
  );
  running = { child, port, dir, databasePath, recordingsDir, stdout: () => out, exit };
  return running;
}

async function activeCalls(port: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${port}/healthz`);
  return ((await res.json()) as { activeCalls: number }).activeCalls;
}

/** Sends the signal and measures the time to exit (the one wall-clock requirement: < 10 s). */
async function signalAndWait(server: ServerProcess, signal: NodeJS.Signals) {
  const sentAt = performance.now();
  server.child.kill(signal);
  const exited = await server.exit;
  return { ...exited, seconds: (performance.now() - sentAt) / 1000 };
}

describe("graceful shutdown", () => {
  it("on SIGTERM finalizes every live call, closes the database and exits 0 within 10 s", async () => {
    const server = await spawnServer();
    const url = `ws://127.0.0.1:${server.port}/twilio/media-stream`;
    const sims = await Promise.all([
      TwilioSimulator.connect({ url, caller: "+15550000001" }),
      TwilioSimulator.connect({ url, caller: "+15550000002" }),
    ]);
    // Twenty seconds of audio each, in real time: both calls are mid-way at the signal.
    const playing = sims.map((sim) => sim.play(tone(440, 20_000, 8000, 0.3)));
    await eventually(
      async () => ((await activeCalls(server.port)) === 2 ? true : undefined),
      10_000,
      "both calls to be active",
    );
    await eventually(
      () => (sims.every((sim) => sim.framesSent >= 25) ? true : undefined),
      10_000,
      "half a second of audio on each call",
    );

    const exited = await signalAndWait(server, "SIGTERM");

    expect(exited).toMatchObject({ code: 0, signal: null });
    expect(exited.seconds).toBeLessThan(10);
    // The server closed the media sockets itself, cleanly; the callers never hung up.
    const closes = await Promise.all(sims.map((sim) => sim.finished));
    for (const close of closes) expect(close.code).toBe(1000);
    await Promise.all(playing);
    expect(server.stdout()).toContain('"msg":"shutdown complete"');

    const database = openDatabase(server.databasePath);
    try {
      const calls = new DrizzleCallRepository(database.db, database.sqlite);
      for (const sim of sims) {
        const call = await calls.getCallByStreamSid(sim.streamSid);
        expect(call).toMatchObject({ status: "completed" });
        expect(call!.endedAt).not.toBeNull();
        const recordings = await calls.getRecordingsByCallId(call!.id);
        const recording = recordings.find((r) => r.track === "caller");
        expect(recording).toMatchObject({ format: "wav", sampleRate: 16_000, channels: 1 });
        for (const r of recordings) {
          const bytes = readFileSync(join(server.recordingsDir, r.fileKey));
          const wav = decodeWav(new Uint8Array(bytes));
          expect(wav).toMatchObject({ sampleRate: r.sampleRate, channels: r.channels });
          expect(bytes.length).toBe(r.sizeBytes);
          expect(wav.samples.length).toBe(Math.round(r.durationSeconds * 16_000) * r.channels);
        }
        // The caller's audio up to the signal: at least the half second waited for.
        const callerSeconds = recording!.durationSeconds;
        expect(callerSeconds).toBeGreaterThanOrEqual(0.5);
        expect(callerSeconds).toBeLessThanOrEqual(sim.framesSent * 0.02);
        const stem = recording!.fileKey.replace(/\.wav$/, "");
        expect(existsSync(join(server.recordingsDir, `${stem}_transcript.txt`))).toBe(true);
        expect(existsSync(join(server.recordingsDir, `${stem}_metadata.json`))).toBe(true);
      }
      expect(await calls.getActiveCalls()).toEqual([]);
    } finally {
      database.sqlite.close();
    }
    expect(readdirSync(server.recordingsDir).filter((f) => f.endsWith(".part"))).toEqual([]);
  });

  it("on SIGINT exits 0 within 10 s, idle keep-alive connections and all", async () => {
    const server = await spawnServer();
    // fetch keeps its connection alive: node's server.close() alone would wait for it.
    expect(await activeCalls(server.port)).toBe(0);
    expect((await fetch(`http://127.0.0.1:${server.port}/metrics`)).status).toBe(200);

    const exited = await signalAndWait(server, "SIGINT");

    expect(exited).toMatchObject({ code: 0, signal: null });
    expect(exited.seconds).toBeLessThan(10);
    // The database was closed cleanly: nothing is left for WAL recovery to do.
    expect(existsSync(`${server.databasePath}-wal`)).toBe(false);
  });
});
