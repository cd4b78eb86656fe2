import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it, type TestContext } from "vitest";
import { decodeWav } from "../../src/domain/audio/index.ts";
import {
  type FakeRealtimeConnection,
  FakeRealtimeServer,
  REALTIME_RATE,
  type RealtimeFault,
} from "../support/fake-openai-realtime.ts";
import { watchProcessFaults } from "../support/process-faults.ts";
import { parsePrometheus } from "../support/prometheus-text.ts";
import { concat, silence, speechLike } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * OpenAI misbehaving in every way the fake can: the call must go on recording every frame, the
 * server must stay up and healthy, and each fault must be counted in /metrics.
 */

const processFaults = watchProcessFaults();

/** A fake upstream with `fault` and a server using it, both stopped when the test ends. */
async function bridgeWith(fault: RealtimeFault, { onTestFinished }: TestContext) {
  const fake = await FakeRealtimeServer.start({ fault, keepAudio: false });
  const server = await startTestServer({
    OPENAI_API_KEY: "sk-test-fake",
    OPENAI_REALTIME_URL: fake.url,
  });
  onTestFinished(async () => {
    await server.stop();
    await fake.close();
  });
  return { fake, server };
}

/** A caller turn the fake's VAD hears as speech, then enough silence to end it. */
const turn = (speechMs: number, silenceMs: number) =>
  concat(speechLike(speechMs, 8000), silence(silenceMs, 8000));

interface CallOutcome {
  sim: TwilioSimulator;
  status: string;
  /** Samples in the caller recording (16 kHz). */
  recordedSamples: number;
  recordingDuration: number;
  errors: Record<string, number>;
  health: number;
}

/** Plays `audio` in real time as one call, hangs up, and gathers what the server kept. */
async function runCall(
  server: TestServer,
  audio: Int16Array,
  during?: (sim: TwilioSimulator) => Promise<void>,
): Promise<CallOutcome> {
  const sim = await TwilioSimulator.connect({ url: server.mediaStreamUrl });
  await Promise.all([sim.play(audio), during?.(sim)]);
  await sim.hangUp();
  const calls = server.running.composition.calls;
  const call = await eventually(
    async () => {
      const c = await calls.getCallByStreamSid(sim.streamSid);
      return c && c.status !== "active" ? c : undefined;
    },
    15_000,
    "the call to end",
  );
  const [recording] = (await calls.getRecordingsByCallId(call.id)).filter(
    (r) => r.track === "caller",
  );
  expect(recording).toBeDefined();
  const wav = decodeWav(
    new Uint8Array(readFileSync(join(server.recordingsDir, recording!.fileKey))),
  );
  const metrics = parsePrometheus(await (await fetch(`${server.baseUrl}/metrics`)).text());
  const errors: Record<string, number> = {};
  for (const sample of metrics) {
    if (sample.name === "callbridge_errors_total") errors[sample.labels.kind ?? ""] = sample.value;
  }
  const health = (await fetch(`${server.baseUrl}/healthz`)).status;
  return {
    sim,
    status: call.status,
    recordedSamples: wav.samples.length,
    recordingDuration: recording!.durationSeconds,
    errors,
    health,
  };
}

/** Every frame the caller sent is in the recording, exactly; the server is up and healthy. */
function expectRecordedWhole(outcome: CallOutcome): void {
  expect(outcome.status).toBe("completed");
  expect(outcome.recordedSamples).toBe(outcome.sim.framesSent * 320);
  expect(outcome.recordingDuration).toBeCloseTo(outcome.sim.framesSent * 0.02, 6);
  expect(outcome.health).toBe(200);
  expect(processFaults).toEqual([]);
}

// Each case has its own fake and server, and most of their time is real-time audio: they run
// side by side.
describe.concurrent("a call whose OpenAI upstream fails", () => {
  it.for([500, 401])(
    "keeps recording when the upgrade is refused with %i, retries, then goes on without AI",
    { timeout: 20_000 },
    async (status, context) => {
      const { fake, server } = await bridgeWith({ kind: "refuse-upgrade", status }, context);
      // Long enough for the first attempt and its three retries (250 + 1000 + 2000 ms).
      const outcome = await runCall(server, turn(1500, 3000), async () => {
        await fake.waitFor(() => (fake.rejectedUpgrades.length >= 4 ? true : undefined), 10_000);
      });
      expectRecordedWhole(outcome);
      expect(fake.rejectedUpgrades.map((r) => r.status)).toEqual([status, status, status, status]);
      expect(outcome.errors.upstream_refused).toBe(4);
      expect(outcome.sim.mediaReceived).toBe(0);
    },
  );

  it("keeps recording when the upstream drops mid-call, and reconnects", async (context) => {
    const { fake, server } = await bridgeWith(
      { kind: "close-after-ms", ms: 700, code: 1011 },
      context,
    );
    const outcome = await runCall(server, turn(2500, 1500), async () => {
      await fake.waitForConnection(1, 10_000);
    });
    expectRecordedWhole(outcome);
    // 1011 is the server's internal error: classified apart from a plain drop.
    expect(outcome.errors.upstream_server_error).toBeGreaterThanOrEqual(1);
  }, 20_000);

  it("keeps recording through a 10 s stall, then times the upstream out and reconnects", async (context) => {
    const { fake, server } = await bridgeWith({ kind: "silent" }, context);
    let stalled: FakeRealtimeConnection | null = null;
    const outcome = await runCall(
      server,
      concat(turn(1500, 9500), turn(1200, 1500)),
      async (sim) => {
        stalled = await fake.waitForConnection(0);
        // Later connections answer normally; the first one stays silent.
        fake.setOptions({ fault: { kind: "none" } });
        const next = await fake.waitForConnection(1, 15_000);
        await next.waitForEvent("session.update");
        // The assistant answers the turn after the stall.
        await sim.waitForMedia(10, 10_000);
      },
    );
    expectRecordedWhole(outcome);
    expect(stalled).not.toBeNull();
    expect(stalled!.sent).toEqual([]);
    expect(outcome.errors.upstream_timeout).toBe(1);
    expect(outcome.sim.mediaReceived).toBeGreaterThanOrEqual(10);
  }, 30_000);

  it("keeps recording and talking while the upstream sends garbage between real events", async (context) => {
    const { server } = await bridgeWith({ kind: "garbage", everyAppends: 10 }, context);
    const outcome = await runCall(server, turn(1500, 1500), (sim) =>
      sim.waitForMedia(10, 10_000).then(() => undefined),
    );
    expectRecordedWhole(outcome);
    expect(outcome.errors.upstream_malformed_event).toBeGreaterThanOrEqual(4);
    expect(outcome.sim.mediaReceived).toBeGreaterThanOrEqual(10);
  }, 20_000);

  it("keeps recording when upstream events are hostile in shape and size", async (context) => {
    const { fake, server } = await bridgeWith({ kind: "none" }, context);
    const outcome = await runCall(server, turn(1000, 2500), async () => {
      const conn = await fake.waitForConnection(0);
      await conn.waitForEvent("session.update");
      const deep = 50_000;
      const hostile = [
        // Valid by the schema, but nested far deeper than any stack: usage is copied as JSON.
        `{"type":"response.done","response":{"usage":{"x":${"[".repeat(deep)}${"]".repeat(deep)}}}}`,
        JSON.stringify({
          type: "error",
          error: { code: "x".repeat(100_000), message: "m".repeat(1_000_000) },
        }),
        JSON.stringify({ type: "response.output_audio.delta", item_id: "i1", delta: "AAA" }),
        JSON.stringify({
          type: "response.output_audio.delta",
          item_id: "i1",
          delta: "!!!!not base64",
        }),
        JSON.stringify({
          type: "response.output_audio.delta",
          item_id: "x".repeat(10_000),
          delta: Buffer.alloc(REALTIME_RATE * 4).toString("base64"),
        }),
        JSON.stringify({ type: "response.output_audio.done", item_id: "never-started" }),
        JSON.stringify({
          type: "response.output_audio_transcript.done",
          item_id: "ghost",
          transcript: "t".repeat(200_000),
        }),
        JSON.stringify({
          type: "conversation.item.input_audio_transcription.completed",
          item_id: "ghost",
          transcript: "\u0000\uD800",
        }),
        JSON.stringify({
          type: "input_audio_buffer.speech_started",
          audio_start_ms: 1e300,
          item_id: null,
        }),
        JSON.stringify({ type: "input_audio_buffer.speech_stopped", audio_end_ms: -1 }),
        JSON.stringify({
          type: "response.done",
          response: {
            usage: { total_tokens: 1e308, input_token_details: { a: [1, { b: null }] } },
          },
        }),
        JSON.stringify({ type: "session.updated", session: null }),
        "null",
        "[]",
        '{"type":null}',
        '{"type":"response.done"}',
      ];
      for (const text of hostile) conn.sendRaw(text);
      await new Promise((r) => setTimeout(r, 200));
    });
    expectRecordedWhole(outcome);
    expect(outcome.errors.upstream_invalid_event).toBeGreaterThanOrEqual(3);
    expect(outcome.errors.upstream_malformed_event).toBeGreaterThanOrEqual(3);
  }, 20_000);
});
