import { afterEach, describe, expect, it } from "vitest";
import { decodeMuLaw, decodeWav, encodeMuLaw } from "../../src/domain/audio/index.ts";
import { callByStreamSid, getJson } from "../support/api-reads.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { concat, rms, silence, tone } from "../support/signals.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";
import { playCall, TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * OPENAI_AUDIO_FORMAT=pcmu through the running server: the Realtime session is declared
 * audio/pcmu both ways, the caller's mu-law reaches the model as Twilio sent it, the model's
 * mu-law reaches the caller as the model sent it, and the call's record (recordings,
 * transcripts, barge-in) is what a pcm16 call leaves.
 */
let server: TestServer | null = null;
let fake: FakeRealtimeServer | null = null;

afterEach(async () => {
  await server?.stop();
  await fake?.close();
  server = null;
  fake = null;
});

async function pcmuServer(options: Parameters<typeof FakeRealtimeServer.start>[0] = {}) {
  fake = await FakeRealtimeServer.start(options);
  server = await startTestServer({
    OPENAI_API_KEY: "sk-test-fake",
    OPENAI_REALTIME_URL: fake.url,
    OPENAI_AUDIO_FORMAT: "pcmu",
  });
  return { fake, server };
}

interface CallBody {
  id: string;
  status: string;
  transcripts: { speaker: string; text: string; offsetMs: number; interrupted: boolean }[];
  recordings: { id: string; track: string; durationSeconds: number; sampleRate: number }[];
}

/** A recording's WAV as the API serves it. */
async function readRecording(s: TestServer, id: string) {
  const response = await fetch(`${s.baseUrl}/api/recordings/${id}/audio`);
  expect(response.status).toBe(200);
  return decodeWav(new Uint8Array(await response.arrayBuffer()));
}

/** The call once the server has ended it, with its transcripts, read through the JSON API. */
async function endedCall(s: TestServer, streamSid: string): Promise<CallBody> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const call = await callByStreamSid<Omit<CallBody, "transcripts">>(s, streamSid);
    if (call.status !== "active" && call.recordings.length === 2) {
      const transcripts = await getJson<{ data: CallBody["transcripts"] }>(
        s,
        `/api/calls/${call.id}/transcripts`,
      );
      return { ...call, transcripts: transcripts.data };
    }
    if (Date.now() > deadline) throw new Error(`call ${streamSid} did not end`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("a call with OPENAI_AUDIO_FORMAT=pcmu", () => {
  it("passes mu-law through both ways and keeps the usual record", async () => {
    const { fake, server: s } = await pcmuServer({
      callerTranscript: "I would like to book a table",
      assistantTranscript: "Sure, for how many people?",
    });
    const signal = concat(tone(300, 1500, 8000, 0.4), silence(700, 8000));
    const summary = await playCall({ url: s.mediaStreamUrl, samples8k: signal, settleMs: 300 });

    const connection = await fake.waitForConnection(0);
    const update = connection.eventsOfType("session.update")[0] as unknown as {
      session: { audio: { input: { format: unknown }; output: { format: unknown } } };
    };
    // openai-node AudioPCMU has no rate field: none is sent.
    expect(update.session.audio.input.format).toEqual({ type: "audio/pcmu" });
    expect(update.session.audio.output.format).toEqual({ type: "audio/pcmu" });
    expect(connection.inputRate).toBe(8000);

    // The model heard the caller's own bytes: the mu-law of the signal, decoded, sample for sample.
    const sent = decodeMuLaw(encodeMuLaw(signal));
    const heardByModel = connection.audio();
    expect(heardByModel.length).toBeGreaterThanOrEqual(sent.length);
    expect(heardByModel.subarray(0, sent.length)).toEqual(sent);

    // The caller heard the model's bytes as it sent them: one second, whole 20 ms frames.
    const deltas = fake.deltaChunks("audio/pcmu");
    const answer = Buffer.concat(deltas.map((d) => Buffer.from(d.b64, "base64")));
    expect(summary.mediaReceived).toBe(Math.ceil(answer.length / 160));
    const heardByCaller = summary.heardAudio;
    expect(heardByCaller.subarray(0, answer.length)).toEqual(decodeMuLaw(answer));
    expect(summary.echoedMarks.length).toBe(summary.marksReceived.length);
    expect(summary.protocolErrors).toEqual([]);

    const call = await endedCall(s, summary.streamSid);
    expect(call.status).toBe("completed");
    expect(call.transcripts.map((t) => [t.speaker, t.text])).toEqual([
      ["caller", "I would like to book a table"],
      ["assistant", "Sure, for how many people?"],
    ]);
    expect(call.transcripts[1]!.offsetMs).toBeGreaterThanOrEqual(1500);
    const caller = call.recordings.find((r) => r.track === "caller")!;
    expect(caller.sampleRate).toBe(16000);
    expect((await readRecording(s, caller.id)).samples.length).toBe(summary.framesSent * 320);
    // The stereo recording's right channel carries the answer the caller heard.
    const conversation = call.recordings.find((r) => r.track === "conversation")!;
    const stereo = (await readRecording(s, conversation.id)).samples;
    const right = new Int16Array(stereo.length / 2);
    for (let i = 0; i < right.length; i++) right[i] = stereo[2 * i + 1]!;
    expect(rms(right)).toBeGreaterThan(0.1 * rms(decodeMuLaw(answer)));
    const metrics = await fetch(`${s.baseUrl}/metrics`).then((r) => r.text());
    expect(metrics).toMatch(/callbridge_frames_out_total \d+/);
    expect(await getJson<{ status: string }>(s, "/healthz")).toMatchObject({ status: "ok" });
  });

  it("truncates a barged-in answer at what the caller heard, in ms of the 8 kHz audio", async () => {
    const { fake, server: s } = await pcmuServer({
      assistantAudio: tone(500, 6000, 24000, 0.4),
      deltaMs: 100,
      deltaIntervalMs: 20,
      assistantTranscript: "A very long answer that the caller will cut short",
    });
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl });
    await sim.play(concat(tone(300, 1000, 8000, 0.4), silence(600, 8000)));
    await sim.waitForMedia(50, 10_000);
    await sim.play(silence(1000, 8000));
    await sim.play(concat(tone(300, 800, 8000, 0.4), silence(600, 8000)));
    await sim.hangUp();

    expect(sim.clearsReceived).toBeGreaterThanOrEqual(1);
    const connection = await fake.waitForConnection(0);
    const truncate = connection.eventsOfType("conversation.item.truncate")[0] as
      | { audio_end_ms: number }
      | undefined;
    expect(truncate).toBeDefined();
    // The fake refuses a truncate past the audio it sent, on its 8 kHz clock: none was refused.
    const refused = connection
      .sentOfType("error")
      .filter((e) => (e.error as { code?: string }).code !== "input_audio_buffer_commit_empty");
    expect(refused).toEqual([]);
    expect(truncate!.audio_end_ms).toBeGreaterThan(500);
    expect(truncate!.audio_end_ms).toBeLessThan(4000);
    expect(truncate!.audio_end_ms).toBeLessThanOrEqual((sim.heardAudio().length / 8000) * 1000 + 1);

    const call = await endedCall(s, sim.streamSid);
    expect(call.transcripts.find((t) => t.speaker === "assistant")?.interrupted).toBe(true);
  });
});
