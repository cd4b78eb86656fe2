import { readdirSync, readFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { decodeWav } from "../../src/domain/audio/index.ts";
import { type FuzzFrame, frameArbitrary, oversizedData } from "../support/fuzz-frames.ts";
import { liveCall } from "../support/live-call.ts";
import { watchProcessFaults } from "../support/process-faults.ts";
import { metricValue, parsePrometheus } from "../support/prometheus-text.ts";
import { concat, silence, speechLike, tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { playCall, randomSid } from "../support/twilio-simulator.ts";

const LONG = process.env.FUZZ_LONG === "1";
/** Frames sent by the fuzzing connections (the raw-protocol lane comes on top). */
const TOTAL_FRAMES = LONG ? 100_000 : 10_000;
const LANES = 8;
const RAW_SESSIONS = LONG ? 1000 : 120;
/** The fuzz is spread over about this long, so that it runs beside the whole clean call. */
const FUZZ_SPREAD_MS = LONG ? 40_000 : 4000;

/** 4.5 s: voice-like audio, a tone and silence (225 frames), played in real time. */
const CLEAN_SIGNAL = concat(
  speechLike(2000, 8000),
  tone(440, 1500, 8000, 0.3),
  silence(1000, 8000),
);
const CLEAN_FRAMES = 225;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

const processFaults = watchProcessFaults();
let reference: Int16Array;

async function endedCallRecording(s: TestServer, streamSid: string): Promise<Int16Array> {
  const call = await eventually(
    async () => {
      const c = await s.running.composition.calls.getCallByStreamSid(streamSid);
      return c && c.status !== "active" ? c : undefined;
    },
    15_000,
    `call ${streamSid} to end`,
  );
  expect(call.status).toBe("completed");
  const recordings = await s.running.composition.calls.getRecordingsByCallId(call.id);
  const caller = recordings.filter((r) => r.track === "caller");
  expect(caller).toHaveLength(1);
  const wav = decodeWav(new Uint8Array(readFileSync(join(s.recordingsDir, caller[0]!.fileKey))));
  expect([wav.sampleRate, wav.channels]).toEqual([16000, 1]);
  return wav.samples;
}

beforeAll(async () => {
  // The clean call alone, on a server of its own: what its recording must be.
  const alone = await startTestServer();
  try {
    const streamSid = randomSid("MZclean");
    const summary = await playCall({
      url: alone.mediaStreamUrl,
      samples8k: CLEAN_SIGNAL,
      streamSid,
    });
    expect(summary.framesSent).toBe(CLEAN_FRAMES);
    reference = await endedCallRecording(alone, streamSid);
    expect(reference.length).toBe(CLEAN_FRAMES * 320);
  } finally {
    await alone.stop();
  }
}, 60_000);

/** Shared pacing and counts across the fuzzing lanes. */
class Budget {
  sent = 0;
  sessions = 0;
  closedByServer = new Map<number, number>();
  private readonly startedAt = performance.now();

  get done(): boolean {
    return this.sent >= TOTAL_FRAMES;
  }

  /** Waits until the schedule allows one more frame. */
  async next(): Promise<boolean> {
    for (;;) {
      if (this.done) return false;
      const allowed = (TOTAL_FRAMES * (performance.now() - this.startedAt)) / FUZZ_SPREAD_MS + 50;
      if (this.sent < allowed) {
        this.sent++;
        return true;
      }
      await sleep(2);
    }
  }
}

async function openSocket(url: string): Promise<WebSocket | null> {
  const ws = new WebSocket(url);
  ws.on("error", () => {
    // Oversized and hostile frames end in a server close; 'close' is what counts.
  });
  return new Promise((resolve) => {
    ws.once("open", () => resolve(ws));
    ws.once("close", () => resolve(null));
  });
}

/** One lane: connection after connection, each sending a random run of frames. */
async function fuzzLane(url: string, lane: number, budget: Budget, victim: () => string | null) {
  let session = 0;
  while (!budget.done) {
    session++;
    budget.sessions++;
    const ws = await openSocket(url);
    if (ws === null) continue;
    const closed = new Promise<number>((resolve) => ws.once("close", (code) => resolve(code)));
    const ctx = { ownSid: `MZfuzz${lane}x${session}`, victimSid: victim() };
    const seed = lane * 1_000_003 + session;
    const [length, ending] = fc.sample(fc.tuple(fc.integer({ min: 1, max: 250 }), fc.nat(3)), {
      numRuns: 1,
      seed,
    })[0]!;
    const frames: FuzzFrame[] = fc.sample(frameArbitrary(ctx), { numRuns: length, seed });
    for (const frame of frames) {
      if (ws.readyState !== WebSocket.OPEN) break;
      if (!(await budget.next())) break;
      if (frame.kind === "oversized") ws.send(oversizedData(frame, ctx.ownSid));
      else ws.send(frame.data);
      // Let the socket drain now and then, so the lanes interleave.
      if (ws.bufferedAmount > 256 * 1024) await sleep(1);
    }
    if (ending === 0) ws.terminate();
    else if (ending === 1 && ws.readyState === WebSocket.OPEN) ws.close(1000);
    else if (ending === 2 && ws.readyState === WebSocket.OPEN) ws.close(4000 + lane, "fuzz");
    else if (ws.readyState === WebSocket.OPEN) {
      // Left open a moment; then closed.
      await sleep(5);
      ws.close();
    }
    const code = await Promise.race([closed, sleep(5000).then(() => -1)]);
    if (code === -1) ws.terminate();
    budget.closedByServer.set(code, (budget.closedByServer.get(code) ?? 0) + 1);
  }
}

/** A WebSocket frame built by hand, so it can break the protocol itself. */
function wsFrame(
  opcode: number,
  payload: Buffer,
  opts: { fin?: boolean; mask?: boolean; rsv1?: boolean } = {},
): Buffer {
  const head: number[] = [(opts.fin === false ? 0 : 0x80) | (opts.rsv1 ? 0x40 : 0) | opcode];
  const mask = opts.mask !== false;
  const len = payload.length;
  if (len < 126) head.push((mask ? 0x80 : 0) | len);
  else head.push((mask ? 0x80 : 0) | 126, len >> 8, len & 0xff);
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = Buffer.from([1, 2, 3, 4]);
  const masked = Buffer.from(payload.map((b, i) => b ^ key[i % 4]!));
  return Buffer.concat([Buffer.from(head), key, masked]);
}

const PROTOCOL_VIOLATIONS: Buffer[] = [
  wsFrame(0x1, Buffer.from([0xff, 0xfe, 0xfd])), // text that is not UTF-8
  wsFrame(0x1, Buffer.from('{"event":"connected"}'), { mask: false }), // unmasked client frame
  wsFrame(0x3, Buffer.from("x")), // reserved opcode
  wsFrame(0x1, Buffer.from("x"), { rsv1: true }), // RSV1 without an extension
  wsFrame(0x9, Buffer.from("ping"), { fin: false }), // fragmented control frame
  wsFrame(0x9, Buffer.alloc(200)), // control frame over 125 bytes
  wsFrame(0x8, Buffer.from([0x03, 0xed])), // close code 1005, never valid on the wire
  wsFrame(0x8, Buffer.from([0x00, 0x01])), // close code 1
  wsFrame(0x0, Buffer.from("orphan continuation")),
  Buffer.concat([
    wsFrame(0x1, Buffer.from('{"ev'), { fin: false }),
    wsFrame(0x2, Buffer.from("x")),
  ]),
];

/** Raw TCP: a real handshake, then bytes that break WebSocket framing itself. */
async function rawLane(port: number, sessions: number): Promise<number> {
  let answered = 0;
  for (let i = 0; i < sessions; i++) {
    const socket = net.connect(port, "127.0.0.1");
    socket.on("error", () => undefined);
    const upgraded = new Promise<boolean>((resolve) => {
      let text = "";
      socket.on("data", (d: Buffer) => {
        text += d.toString("latin1");
        if (text.includes("\r\n\r\n")) resolve(text.startsWith("HTTP/1.1 101"));
      });
      socket.on("close", () => resolve(false));
    });
    const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
    socket.write(
      "GET /twilio/media-stream HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n" +
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
        "Sec-WebSocket-Version: 13\r\n\r\n",
    );
    if (await upgraded) {
      answered++;
      const violation =
        i % 3 === 0
          ? Buffer.from(
              fc.sample(fc.uint8Array({ minLength: 1, maxLength: 64 }), {
                numRuns: 1,
                seed: i,
              })[0]!,
            )
          : PROTOCOL_VIOLATIONS[i % PROTOCOL_VIOLATIONS.length]!;
      socket.write(violation);
    }
    await Promise.race([closed, sleep(500)]);
    socket.destroy();
  }
  return answered;
}

describe("a media stream fuzzed with 10,000 hostile frames", () => {
  let server: TestServer | null = null;
  afterAll(async () => {
    await server?.stop();
  });

  it("stays up, and a clean call beside the fuzzing records exactly what it does alone", async () => {
    server = await startTestServer();
    const s = server;
    const cleanSid = randomSid("MZclean");
    let victim: string | null = null;
    const clean = playCall({ url: s.mediaStreamUrl, samples8k: CLEAN_SIGNAL, streamSid: cleanSid });
    // Once the clean call is live, fuzz frames may claim its streamSid too.
    void eventually(() => liveCall(s, cleanSid)).then(
      () => {
        victim = cleanSid;
      },
      () => undefined,
    );

    const budget = new Budget();
    const [summary, , rawAnswered] = await Promise.all([
      clean,
      Promise.all(
        Array.from({ length: LANES }, (_, lane) =>
          fuzzLane(s.mediaStreamUrl, lane, budget, () => victim),
        ),
      ),
      rawLane(s.running.port, RAW_SESSIONS),
    ]);
    expect(budget.sent).toBe(TOTAL_FRAMES);
    expect(rawAnswered).toBe(RAW_SESSIONS);

    // The server is up and every fuzzing call has been ended.
    expect(processFaults).toEqual([]);
    const health = await eventually(
      async () => {
        const res = await fetch(`${s.baseUrl}/healthz`);
        const body = (await res.json()) as { status: string; activeCalls: number };
        return res.status === 200 && body.activeCalls === 0 ? body : undefined;
      },
      15_000,
      "every fuzzing call to end",
    );
    expect(health.status).toBe("ok");

    // The clean call: whole, and sample for sample what it recorded alone.
    expect(summary.framesSent).toBe(CLEAN_FRAMES);
    expect(summary.close.code).toBe(1000);
    const recorded = await endedCallRecording(s, cleanSid);
    expect(recorded.length).toBe(reference.length);
    expect(Buffer.from(recorded.buffer).equals(Buffer.from(reference.buffer))).toBe(true);

    // Every kind of bad frame was seen and counted, none silently.
    const metrics = parsePrometheus(await (await fetch(`${s.baseUrl}/metrics`)).text());
    for (const kind of [
      "malformed_json",
      "invalid_frame",
      "unknown_event",
      "binary_frame",
      "oversized_frame",
      "out_of_order",
      "invalid_audio",
    ]) {
      expect(
        metricValue(metrics, "callbridge_errors_total", { kind: `frame_${kind}` }),
        kind,
      ).toBeGreaterThan(0);
    }

    // Calls the fuzzers started are ended, and every recording on disk is a valid WAV.
    const list = (await (await fetch(`${s.baseUrl}/api/calls?limit=200&status=active`)).json()) as {
      data: unknown[];
    };
    expect(list.data).toEqual([]);
    const wavs = readdirSync(s.recordingsDir).filter((f) => f.endsWith(".wav"));
    expect(wavs.length).toBeGreaterThan(1);
    for (const name of wavs) {
      expect(
        () => decodeWav(new Uint8Array(readFileSync(join(s.recordingsDir, name)))),
        name,
      ).not.toThrow();
    }
    expect(readdirSync(s.recordingsDir).filter((f) => f.endsWith(".part"))).toEqual([]);
  }, 120_000);
});
