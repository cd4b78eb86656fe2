import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterAll, describe, expect, it } from "vitest";
import { type ChildServer, spawnServer } from "../../bench/lib/child-server.ts";
import { decodeWav } from "../../src/domain/audio/index.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { concat, silence, speechLike, tone } from "../support/signals.ts";
import { eventually, startTestServer } from "../support/test-server.ts";
import { playCall, TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * The production process SIGKILLed at a random moment while calls are running, restarted on the
 * same database and folder, again and again. Whatever the moment, after the last restart: every
 * call is completed or failed, every recording is a valid WAV, no call lost more than a second
 * of audio, and SQLite's integrity check passes.
 *
 * FUZZ_LONG=1 runs 20 cycles; the normal suite runs 3. CRASH_CYCLES overrides both.
 */

const LONG = process.env.FUZZ_LONG === "1";
const CYCLES = Number(process.env.CRASH_CYCLES ?? (LONG ? 20 : 3));
const CALLS_PER_CYCLE = 3;
/** The writer hands audio to the kernel at least once a second. */
const MAX_LOSS_SECONDS = 1;
const FRAME_SECONDS = 0.02;

interface SimulatedCall {
  cycle: number;
  streamSid: string;
  /** Frames sent before the kill (or in all, for a call that hung up first). */
  framesSent: number;
  hungUpBeforeKill: boolean;
}

interface ApiRecording {
  id: string;
  track: string;
  durationSeconds: number;
  sampleRate: number;
  channels: number;
}

interface ApiCall {
  id: string;
  streamSid: string;
  status: string;
  recordings: ApiRecording[];
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Deterministic per run (printed on failure), so a failing sequence can be replayed. */
function randomSource(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/** Caller audio with turns the fake's VAD answers, so transcripts are written while killed. */
function callerAudio(seconds: number, pitch: number): Int16Array {
  const parts: Int16Array[] = [];
  let ms = 0;
  while (ms < seconds * 1000) {
    parts.push(speechLike(700, 8000), silence(600, 8000), tone(pitch, 200, 8000, 0.2));
    ms += 1500;
  }
  return concat(...parts).subarray(0, Math.round(seconds * 8000));
}

async function getJson<T>(server: ChildServer, path: string): Promise<T> {
  const response = await fetch(server.baseUrl + path);
  if (!response.ok) throw new Error(`GET ${path} answered ${response.status}`);
  return (await response.json()) as T;
}

/** Every call through the public API, page by page. */
async function allCalls(server: ChildServer): Promise<ApiCall[]> {
  const calls: ApiCall[] = [];
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const page = await getJson<{ data: { id: string }[]; nextCursor: string | null }>(
      server,
      `/api/calls?limit=200${query}`,
    );
    for (const { id } of page.data) calls.push(await getJson<ApiCall>(server, `/api/calls/${id}`));
    cursor = page.nextCursor;
  } while (cursor !== null);
  return calls;
}

/** One cycle: calls start at staggered moments, and the process is killed in their midst. */
async function crashCycle(
  server: ChildServer,
  cycle: number,
  random: () => number,
): Promise<SimulatedCall[]> {
  const sims: { sim: TwilioSimulator | null; done: boolean; record: SimulatedCall | null }[] = [];
  const runs: Promise<void>[] = [];
  let firstHangUp = () => {};
  const hungUp = new Promise<void>((resolve) => {
    firstHangUp = resolve;
  });
  for (let i = 0; i < CALLS_PER_CYCLE; i++) {
    const entry: (typeof sims)[number] = { sim: null, done: false, record: null };
    sims.push(entry);
    const delayMs = Math.floor(random() * 500);
    const seconds = 0.5 + random() * 3.5;
    runs.push(
      (async () => {
        await sleep(delayMs);
        const sim = await TwilioSimulator.connect({
          url: server.mediaStreamUrl,
          streamSid: `MZcrash${cycle}x${i}`,
          recordMessages: false,
        });
        entry.sim = sim;
        await sim.play(callerAudio(seconds, 300 + 100 * i));
        if (sim.isOpen) {
          const ended = sim.hangUp();
          firstHangUp();
          await ended;
          entry.done = true;
        }
      })().catch(() => {
        // The kill closes every socket; what matters is what was sent before it.
      }),
    );
  }
  // Every other cycle, the kill lands within milliseconds of a hang-up, while the server is
  // finalizing that call: the window between its files and its rows.
  if (cycle % 2 === 1) {
    // If every call is still talking at 4 s, the kill comes then.
    await Promise.race([hungUp, sleep(4000)]);
    await sleep(Math.floor(random() * 25));
  } else {
    await sleep(600 + Math.floor(random() * 3000));
  }
  // Frames counted the instant before the kill: anything later never reached the server.
  for (const entry of sims) {
    if (entry.sim === null) continue;
    entry.record = {
      cycle,
      streamSid: entry.sim.streamSid,
      framesSent: entry.sim.framesSent,
      hungUpBeforeKill: entry.done,
    };
  }
  const exit = await server.kill("SIGKILL");
  expect(exit.signal).toBe("SIGKILL");
  await Promise.all(runs);
  return sims.flatMap((e) => (e.record === null ? [] : [e.record]));
}

describe("a restart after a kill between a recording's rename and its row", () => {
  it("adopts the finished file, so the call keeps its audio", async () => {
    const dir = mkdtempSync(join(tmpdir(), "callbridge-orphan-"));
    const env = {
      DATABASE_URL: join(dir, "calls.db"),
      RECORDING_STORAGE_PATH: join(dir, "recordings"),
    };
    try {
      const first = await startTestServer(env);
      const summary = await playCall({
        url: first.mediaStreamUrl,
        samples8k: tone(440, 1000, 8000, 0.3),
        realtime: false,
      });
      const calls = first.running.composition.calls;
      const call = await eventually(async () => {
        const c = await calls.getCallByStreamSid(summary.streamSid);
        return c && c.status !== "active" ? c : undefined;
      });
      const recordings = await calls.getRecordingsByCallId(call.id);
      await first.running.stop();
      // What the kill leaves: both files final, the call still active, no recording rows.
      const db = new Database(env.DATABASE_URL);
      db.prepare("DELETE FROM recordings WHERE call_id = ?").run(call.id);
      db.prepare(
        "UPDATE calls SET status = 'active', ended_at = NULL, duration_seconds = NULL WHERE id = ?",
      ).run(call.id);
      db.close();

      const second = await startTestServer(env);
      try {
        const after = await second.running.composition.calls.getCallById(call.id);
        expect(after?.status).toBe("failed");
        const adopted = await second.running.composition.calls.getRecordingsByCallId(call.id);
        expect(adopted.map((r) => [r.track, r.fileKey, r.durationSeconds]).sort()).toEqual(
          recordings.map((r) => [r.track, r.fileKey, r.durationSeconds]).sort(),
        );
        // The call ends when its audio did, not when the server came back.
        expect(after!.durationSeconds).toBeCloseTo(1, 2);
      } finally {
        await second.running.stop();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("a crash loop: SIGKILL at random moments during concurrent calls", () => {
  const dir = mkdtempSync(join(tmpdir(), "callbridge-crash-loop-"));
  const databasePath = join(dir, "calls.db");
  const recordingsDir = join(dir, "recordings");
  let fake: FakeRealtimeServer | null = null;
  let server: ChildServer | null = null;

  afterAll(async () => {
    await server?.kill("SIGKILL");
    await fake?.close();
    // CRASH_KEEP=1 keeps the database and recordings for a post-mortem.
    if (process.env.CRASH_KEEP) console.log("crash loop files kept in", dir);
    else rmSync(dir, { recursive: true, force: true });
  });

  it(
    `loses at most a second of any call and nothing else over ${CYCLES} kills`,
    async () => {
      const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
      const random = randomSource(seed);
      fake = await FakeRealtimeServer.start({ keepAudio: false });
      const env = { OPENAI_API_KEY: "sk-test-fake", OPENAI_REALTIME_URL: fake.url };
      const simulated: SimulatedCall[] = [];
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        server = await spawnServer({ databasePath, recordingsDir, env });
        simulated.push(...(await crashCycle(server, cycle, random)));
      }

      // The restart after the last kill recovers whatever that kill interrupted.
      server = await spawnServer({ databasePath, recordingsDir, env });
      const calls = await allCalls(server);
      const byStreamSid = new Map(calls.map((c) => [c.streamSid, c]));
      const context = `seed ${seed} (set FUZZ_SEED to replay)`;

      // Every call ended one way or the other.
      expect(
        calls.filter((c) => c.status !== "completed" && c.status !== "failed"),
        context,
      ).toEqual([]);

      // Loss per call: what the caller sent before the kill minus what its recording holds.
      const losses = simulated.map((sim) => {
        const call = byStreamSid.get(sim.streamSid);
        const caller = call?.recordings.filter((r) => r.track === "caller") ?? [];
        const recorded = caller.reduce((sum, r) => sum + r.durationSeconds, 0);
        return {
          ...sim,
          status: call?.status ?? "none",
          recorded,
          lost: sim.framesSent * FRAME_SECONDS - recorded,
        };
      });
      const tooLossy = losses.filter((l) => l.lost > MAX_LOSS_SECONDS + 1e-9);
      expect(tooLossy, context).toEqual([]);
      // A call that was recorded twice (a recovered part next to a final file) would show here.
      expect(
        losses.filter((l) => l.lost < -FRAME_SECONDS),
        context,
      ).toEqual([]);
      // A call ended by its own hang-up before the kill, and stored as completed, lost nothing.
      for (const l of losses.filter((x) => x.status === "completed")) {
        expect(l.lost, `${context}: ${l.streamSid}`).toBeCloseTo(0, 6);
      }

      // Every recording row points at a valid WAV of the duration it claims.
      for (const call of calls) {
        for (const recording of call.recordings) {
          const response = await fetch(`${server.baseUrl}/api/recordings/${recording.id}/audio`);
          expect(response.status).toBe(200);
          const wav = decodeWav(new Uint8Array(await response.arrayBuffer()));
          expect([wav.sampleRate, wav.channels]).toEqual([
            recording.sampleRate,
            recording.channels,
          ]);
          expect(wav.samples.length / wav.channels / wav.sampleRate).toBeCloseTo(
            recording.durationSeconds,
            6,
          );
        }
      }
      // And every file in the folder is a valid WAV too; nothing is left half-written.
      const files = readdirSync(recordingsDir);
      expect(
        files.filter((f) => f.endsWith(".part") || f.endsWith(".tmp")),
        context,
      ).toEqual([]);
      for (const name of files.filter((f) => f.endsWith(".wav"))) {
        expect(
          () => decodeWav(new Uint8Array(readFileSync(join(recordingsDir, name)))),
          name,
        ).not.toThrow();
        // And each one is reachable: a file without its row is audio the API has lost.
        const [, streamSid, conversation] = /^(.+)_\d+(_conversation)?\.wav$/.exec(name) ?? [];
        const track = conversation ? "conversation" : "caller";
        const owner = byStreamSid.get(streamSid ?? "");
        expect(
          owner?.recordings.some((r) => r.track === track),
          `${context}: ${name}`,
        ).toBe(true);
      }

      const exit = await server.kill("SIGTERM");
      expect(exit.code).toBe(0);
      server = null;
      const db = new Database(databasePath, { readonly: true });
      try {
        expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
        expect(db.pragma("foreign_key_check")).toEqual([]);
      } finally {
        db.close();
      }

      if (LONG || process.env.CALLBRIDGE_REPORT) {
        const killed = losses.filter((l) => !l.hungUpBeforeKill);
        const maxLoss = Math.max(0, ...killed.map((l) => l.lost));
        const meanLoss = killed.reduce((s, l) => s + l.lost, 0) / Math.max(1, killed.length);
        console.log(
          JSON.stringify({
            crashLoop: {
              seed,
              cycles: CYCLES,
              simulatedCalls: simulated.length,
              callsInDatabase: calls.length,
              completed: calls.filter((c) => c.status === "completed").length,
              failed: calls.filter((c) => c.status === "failed").length,
              callsWithoutRow: losses.filter((l) => l.status === "none").length,
              killedMidCall: killed.length,
              maxLossSeconds: Number(maxLoss.toFixed(3)),
              meanLossSeconds: Number(meanLoss.toFixed(3)),
              recordings: calls.reduce((n, c) => n + c.recordings.length, 0),
              wavFiles: files.filter((f) => f.endsWith(".wav")).length,
            },
          }),
        );
      }
    },
    LONG ? 600_000 : 120_000,
  );
});
