import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decodeWav, resample } from "../../src/domain/audio/index.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { concat, rms, silence, tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { playCall, TwilioSimulator } from "../support/twilio-simulator.ts";

let server: TestServer | null = null;
let fake: FakeRealtimeServer | null = null;

afterEach(async () => {
  await server?.stop();
  await fake?.close();
  server = null;
  fake = null;
});

async function withFakeOpenAi(options: Parameters<typeof FakeRealtimeServer.start>[0] = {}) {
  fake = await FakeRealtimeServer.start(options);
  server = await startTestServer({
    OPENAI_API_KEY: "sk-test-fake",
    OPENAI_REALTIME_URL: fake.url,
  });
  return { fake, server };
}

/** The call once the server has finished ending it (hang-up is handled asynchronously). */
function callByStreamSid(s: TestServer, streamSid: string) {
  return eventually(
    async () => {
      const call = await s.running.composition.calls.getCallByStreamSid(streamSid);
      return call && call.status !== "active" ? call : undefined;
    },
    10_000,
    `call ${streamSid} to end`,
  );
}

function readRecording(s: TestServer, fileKey: string) {
  return decodeWav(new Uint8Array(readFileSync(join(s.recordingsDir, fileKey))));
}

describe("a call through the bridge", () => {
  it("records a whole call in record-only mode, sample for sample", async () => {
    server = await startTestServer();
    const signal = concat(
      tone(440, 1000, 8000, 0.3),
      silence(200, 8000),
      tone(880, 800, 8000, 0.3),
    );
    const summary = await playCall({
      url: server.mediaStreamUrl,
      samples8k: signal,
      realtime: false,
      caller: "+15551230000",
    });

    const call = await callByStreamSid(server, summary.streamSid);
    expect(call).toMatchObject({
      status: "completed",
      caller: "+15551230000",
      callSid: summary.callSid,
    });
    expect(call.durationSeconds).not.toBeNull();
    const [recording] = await server.running.composition.calls.getRecordingsByCallId(call.id);
    expect(recording).toMatchObject({
      track: "caller",
      sampleRate: 16000,
      channels: 1,
      format: "wav",
    });
    const wav = readRecording(server, recording!.fileKey);
    expect(wav.sampleRate).toBe(16000);
    // Every frame sent is in the file: 2 s of audio, exactly, at 16 kHz.
    expect(wav.samples.length).toBe(summary.framesSent * 320);
    expect(recording!.durationSeconds).toBeCloseTo(summary.framesSent * 0.02, 6);
    const expected = resample(signal, 8000, 16000);
    const middle = (x: Int16Array) => x.subarray(4000, 12000);
    // The recording is the mu-law version of the signal: within G.711's quantisation of it.
    const diff = new Int16Array(8000);
    for (let i = 0; i < 8000; i++) diff[i] = middle(wav.samples)[i]! - middle(expected)[i]!;
    expect(rms(diff)).toBeLessThan(rms(middle(expected)) / 30);
  });

  it("talks with the assistant: both transcripts, assistant audio heard, usage kept", async () => {
    const { fake, server: s } = await withFakeOpenAi({
      callerTranscript: "I would like to book a table",
      assistantTranscript: "Sure, for how many people?",
    });
    const summary = await playCall({
      url: s.mediaStreamUrl,
      samples8k: concat(tone(300, 1500, 8000, 0.4), silence(700, 8000)),
      settleMs: 300,
    });

    const connection = await fake.waitForConnection(0);
    const update = connection.eventsOfType("session.update")[0] as unknown as {
      session: {
        audio: { input: { format: unknown; turn_detection: unknown }; output: { voice: string } };
      };
    };
    expect(update.session.audio.input.format).toEqual({ type: "audio/pcm", rate: 24000 });
    expect(update.session.audio.input.turn_detection).toMatchObject({ type: "server_vad" });
    expect(update.session.audio.output.voice).toBe("alloy");

    // The assistant's second of audio reached the caller and every mark came back.
    expect(summary.mediaReceived).toBeGreaterThanOrEqual(50);
    expect(summary.marksReceived.length).toBeGreaterThan(0);
    expect(summary.echoedMarks.length).toBe(summary.marksReceived.length);
    expect(summary.protocolErrors).toEqual([]);

    const call = await callByStreamSid(s, summary.streamSid);
    const transcripts = await s.running.composition.calls.getTranscriptsByCallId(call.id);
    expect(transcripts.map((t) => [t.speaker, t.text])).toEqual([
      ["caller", "I would like to book a table"],
      ["assistant", "Sure, for how many people?"],
    ]);
    expect(transcripts[0]!.offsetMs).toBe(0);
    expect(transcripts[1]!.offsetMs).toBeGreaterThanOrEqual(1500);
    expect(transcripts.every((t) => !t.interrupted)).toBe(true);
    const metadata = await s.running.composition.calls.getMetadataByCallId(call.id);
    expect(metadata?.customData?.tokenUsage).toBeDefined();
  });

  it("stops the assistant on barge-in and truncates it at what the caller heard", async () => {
    const { fake, server: s } = await withFakeOpenAi({
      assistantAudio: tone(500, 6000, 24000, 0.4),
      deltaMs: 100,
      deltaIntervalMs: 20,
      assistantTranscript: "A very long answer that the caller will cut short",
    });
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl });
    await sim.play(concat(tone(300, 1000, 8000, 0.4), silence(600, 8000)));
    await sim.waitForMedia(50, 10_000);
    await sim.play(silence(1000, 8000));
    // The caller talks over the assistant while it is still playing.
    await sim.play(concat(tone(300, 800, 8000, 0.4), silence(600, 8000)));
    await sim.hangUp();

    expect(sim.clearsReceived).toBeGreaterThanOrEqual(1);
    const connection = await fake.waitForConnection(0);
    const truncate = connection.eventsOfType("conversation.item.truncate")[0] as
      | { audio_end_ms: number; item_id: string }
      | undefined;
    expect(truncate).toBeDefined();
    // What Twilio confirmed playing: at least the second of silence before the interruption,
    // never all six seconds that were generated.
    expect(truncate!.audio_end_ms).toBeGreaterThan(500);
    expect(truncate!.audio_end_ms).toBeLessThan(4000);
    const heardMs = (sim.heardAudio().length / 8000) * 1000;
    expect(truncate!.audio_end_ms).toBeLessThanOrEqual(heardMs + 1);

    const call = await callByStreamSid(s, sim.streamSid);
    const transcripts = await s.running.composition.calls.getTranscriptsByCallId(call.id);
    const assistant = transcripts.filter((t) => t.speaker === "assistant");
    expect(assistant[0]?.interrupted).toBe(true);
  });

  it("keeps recording when OpenAI drops mid-call, and reconnects", async () => {
    const { fake, server: s } = await withFakeOpenAi({
      fault: { kind: "close-after-appends", appends: 25, code: 1011 },
    });
    const summary = await playCall({
      url: s.mediaStreamUrl,
      samples8k: tone(300, 3000, 8000, 0.2),
    });
    const call = await callByStreamSid(s, summary.streamSid);
    expect(call.status).toBe("completed");
    const [recording] = await s.running.composition.calls.getRecordingsByCallId(call.id);
    expect(recording!.durationSeconds).toBeCloseTo(3, 2);
    expect(fake.connections.length).toBeGreaterThanOrEqual(2);
    const reconnect = fake.connections[1]!;
    expect(reconnect.eventsOfType("session.update").length).toBe(1);
  });

  it("keeps two concurrent calls apart", async () => {
    const { server: s } = await withFakeOpenAi();
    const [a, b] = await Promise.all([
      playCall({ url: s.mediaStreamUrl, samples8k: tone(400, 1000, 8000, 0.3), caller: "+1000" }),
      playCall({ url: s.mediaStreamUrl, samples8k: tone(600, 1600, 8000, 0.3), caller: "+2000" }),
    ]);
    const callA = await callByStreamSid(s, a.streamSid);
    const callB = await callByStreamSid(s, b.streamSid);
    expect(callA.caller).toBe("+1000");
    expect(callB.caller).toBe("+2000");
    const [recA] = await s.running.composition.calls.getRecordingsByCallId(callA.id);
    const [recB] = await s.running.composition.calls.getRecordingsByCallId(callB.id);
    expect(recA!.durationSeconds).toBeCloseTo(1, 2);
    expect(recB!.durationSeconds).toBeCloseTo(1.6, 2);
  });
});
