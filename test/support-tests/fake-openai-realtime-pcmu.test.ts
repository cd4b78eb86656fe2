/**
 * The fake OpenAI Realtime server's G.711 mu-law format (audio/pcmu, 8 kHz, one byte a sample),
 * set per connection by session.update as openai-node's RealtimeAudioFormats describes.
 */
import { afterEach, describe, expect, it } from "vitest";
import { decodeMuLaw, encodeMuLaw, resample } from "../../src/domain/audio/index.ts";
import {
  FakeRealtimeServer,
  PCMU_RATE,
  REALTIME_RATE,
  type StartOptions,
} from "../support/fake-openai-realtime.ts";
import {
  base64ToPcm16,
  concat,
  pcm16ToBase64,
  silence,
  tone,
  toneLevel,
} from "../support/signals.ts";
import { RealtimeTestClient } from "./realtime-client.ts";

const KEY = "sk-test-fake";
const PCMU_SESSION = {
  type: "realtime",
  audio: {
    input: {
      format: { type: "audio/pcmu" },
      turn_detection: { type: "server_vad" },
      transcription: { model: "gpt-4o-mini-transcribe" },
    },
    output: { format: { type: "audio/pcmu" }, voice: "verse" },
  },
};
const PCM_SESSION = {
  type: "realtime",
  audio: {
    input: { format: { type: "audio/pcm", rate: 24000 }, turn_detection: { type: "server_vad" } },
    output: { format: { type: "audio/pcm", rate: 24000 } },
  },
};

const servers: FakeRealtimeServer[] = [];
const clients: RealtimeTestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

async function startServer(opts: StartOptions = {}): Promise<FakeRealtimeServer> {
  const s = await FakeRealtimeServer.start(opts);
  servers.push(s);
  return s;
}

async function configured(server: FakeRealtimeServer, session: object = PCMU_SESSION) {
  const c = await RealtimeTestClient.connect(server.url, KEY);
  clients.push(c);
  c.send({ type: "session.update", session });
  await c.waitFor("session.updated");
  return c;
}

/** Appends mu-law bytes in 20 ms chunks (160 bytes at 8 kHz), like a Twilio passthrough would. */
function appendMuLaw(c: RealtimeTestClient, bytes: Uint8Array, chunkMs = 20): void {
  const per = (PCMU_RATE * chunkMs) / 1000;
  for (let i = 0; i < bytes.length; i += per) {
    const part = bytes.subarray(i, i + per);
    c.send({
      type: "input_audio_buffer.append",
      audio: Buffer.from(part.buffer, part.byteOffset, part.length).toString("base64"),
    });
  }
}

/** mu-law digital silence: 0xFF decodes to 0. */
const muLawSilence = (ms: number): Uint8Array => new Uint8Array((PCMU_RATE * ms) / 1000).fill(0xff);

const deltaBytes = (c: RealtimeTestClient): Buffer[] =>
  c.ofType("response.output_audio.delta").map((d) => Buffer.from(String(d.delta), "base64"));

describe("FakeRealtimeServer audio/pcmu", () => {
  it("hears an 8 kHz mu-law turn and answers in 8 kHz mu-law", async () => {
    const assistantAudio = tone(440, 1000, REALTIME_RATE, 0.5);
    const server = await startServer({ assistantAudio, assistantTranscript: "one two three" });
    const c = await configured(server);
    const updated = c.ofType("session.updated")[0]!.session as typeof PCMU_SESSION;
    expect(updated.audio.input.format).toEqual({ type: "audio/pcmu" });
    expect(updated.audio.output.format).toEqual({ type: "audio/pcmu" });

    const speech = encodeMuLaw(tone(300, 1000, PCMU_RATE, 0.3));
    const quiet = muLawSilence(600);
    appendMuLaw(c, speech);
    appendMuLaw(c, quiet);
    const done = await c.waitFor("response.done");

    const started = c.ofType("input_audio_buffer.speech_started");
    const stopped = c.ofType("input_audio_buffer.speech_stopped");
    expect(started).toHaveLength(1);
    expect(stopped).toHaveLength(1);
    // On the 8 kHz clock: speech from 0, stopped after the 500 ms default silence.
    expect(started[0]!.audio_start_ms).toBe(0);
    expect(stopped[0]!.audio_end_ms).toBe(1500);
    expect(c.ofType("input_audio_buffer.committed")[0]!.item_id).toBe(started[0]!.item_id);

    const deltas = deltaBytes(c);
    expect(deltas).toHaveLength(10);
    for (const d of deltas.slice(0, -1)) expect(d.length).toBe(800);
    const decoded = decodeMuLaw(Buffer.concat(deltas));
    expect(Math.abs(decoded.length - assistantAudio.length / 3)).toBeLessThanOrEqual(4);
    expect(Buffer.concat(deltas)).toEqual(
      Buffer.from(encodeMuLaw(resample(assistantAudio, REALTIME_RATE, PCMU_RATE))),
    );
    // Still the 440 Hz tone when read at 8 kHz (not PCM16 bytes, not 24 kHz samples).
    expect(toneLevel(decoded.subarray(100, -100), 440, PCMU_RATE)).toBeGreaterThan(0.2);

    const conn = server.connections[0]!;
    expect(conn.inputRate).toBe(PCMU_RATE);
    expect(conn.outputRate).toBe(PCMU_RATE);
    expect(conn.audioBytes).toBe(speech.length + quiet.length);
    expect(conn.appendedMs).toBe(1600);
    const heard = conn.audio();
    expect(heard).toHaveLength(12_800);
    expect(heard).toEqual(decodeMuLaw(Buffer.concat([speech, quiet])));
    expect(conn.responses[0]).toMatchObject({
      status: "completed",
      deltasSent: 10,
      audioMsSent: 1000,
      format: "audio/pcmu",
    });
    const usage = (
      done.response as {
        usage: {
          input_token_details: { audio_tokens: number };
          output_token_details: { audio_tokens: number };
        };
      }
    ).usage;
    expect(usage.input_token_details.audio_tokens).toBe(16);
    expect(usage.output_token_details.audio_tokens).toBe(20);
  });

  it("measures truncation against the 8 kHz audio it sent", async () => {
    const server = await startServer();
    const c = await configured(server);
    c.send({ type: "response.create" });
    const done = await c.waitFor("response.done");
    const itemId = (done.response as { output: { id: string }[] }).output[0]!.id;
    c.send({
      type: "conversation.item.truncate",
      event_id: "evt_too_far",
      item_id: itemId,
      content_index: 0,
      audio_end_ms: 1500,
    });
    c.send({
      type: "conversation.item.truncate",
      item_id: itemId,
      content_index: 0,
      audio_end_ms: 900,
    });
    await c.roundTrip();
    expect(c.ofType("error").map((e) => e.error)).toEqual([
      expect.objectContaining({
        code: "invalid_value",
        param: "audio_end_ms",
        event_id: "evt_too_far",
      }),
    ]);
    expect(c.ofType("conversation.item.truncated")).toEqual([
      expect.objectContaining({ item_id: itemId, audio_end_ms: 900 }),
    ]);
  });

  it("cuts the transcript of a cancelled pcmu answer in proportion to the audio sent", async () => {
    // 300 words over 10 s: the proportion must be of 80 000 samples (8 kHz), not 240 000.
    const words300 = Array.from({ length: 300 }, (_, i) => `w${i}`);
    const server = await startServer({
      assistantAudio: tone(440, 10_000, REALTIME_RATE),
      assistantTranscript: words300.join(" "),
      deltaIntervalMs: 100,
    });
    const c = await configured(server);
    c.send({ type: "response.create" });
    await c.waitFor("response.output_audio.delta");
    c.send({ type: "response.cancel" });
    const done = await c.waitFor("response.done");
    expect((done.response as { status: string }).status).toBe("cancelled");
    const sent = deltaBytes(c).reduce((n, d) => n + d.length, 0);
    const rec = server.connections[0]!.responses[0]!;
    expect(rec.audioMsSent).toBe(sent / 8);
    const words = Math.ceil((300 * sent) / 80_000);
    const transcript = c.ofType("response.output_audio_transcript.done")[0]!.transcript;
    expect(transcript).toBe(words300.slice(0, words).join(" "));
    expect(words).toBeLessThan(300);
  });

  it("counts the 100 ms commit minimum in 8 kHz samples", async () => {
    const server = await startServer({ autoRespond: false });
    const c = await configured(server, {
      type: "realtime",
      audio: { input: { format: { type: "audio/pcmu" }, turn_detection: null } },
    });
    appendMuLaw(c, encodeMuLaw(tone(300, 90, PCMU_RATE, 0.3)));
    c.send({ type: "input_audio_buffer.commit" });
    await c.roundTrip();
    expect(c.ofType("error").map((e) => (e.error as { code: string }).code)).toEqual([
      "input_audio_buffer_commit_empty",
    ]);
    appendMuLaw(c, encodeMuLaw(tone(300, 20, PCMU_RATE, 0.3)));
    c.send({ type: "input_audio_buffer.commit" });
    await c.waitFor("input_audio_buffer.committed");
    expect(server.connections[0]!.appendedMs).toBeCloseTo(110, 9);
  });

  it("refuses an unknown format type and audio/pcma, keeping the previous session", async () => {
    const server = await startServer();
    const c = await configured(server);
    const before = server.connections[0]!.session;
    c.send({
      type: "session.update",
      event_id: "evt_opus",
      session: { type: "realtime", audio: { input: { format: { type: "audio/opus" } } } },
    });
    c.send({
      type: "session.update",
      event_id: "evt_alaw",
      session: {
        type: "realtime",
        instructions: "changed",
        audio: { output: { format: { type: "audio/pcma" } } },
      },
    });
    await c.roundTrip();
    const errors = c
      .ofType("error")
      .map((e) => e.error as { code: string; param: string; event_id: string; message: string });
    expect(errors).toEqual([
      expect.objectContaining({
        code: "invalid_value",
        param: "session.audio.input.format.type",
        event_id: "evt_opus",
      }),
      expect.objectContaining({
        code: "invalid_value",
        param: "session.audio.output.format.type",
        event_id: "evt_alaw",
      }),
    ]);
    expect(errors[0]!.message).toContain("audio/opus");
    expect(errors[1]!.message).toMatch(/supports only audio\/pcm and audio\/pcmu/);
    expect(c.ofType("session.updated")).toHaveLength(1);
    const conn = server.connections[0]!;
    expect(conn.session).toEqual(before);
    expect(conn.inputRate).toBe(PCMU_RATE);
    expect(conn.outputRate).toBe(PCMU_RATE);
  });

  it("keeps PCM16 at 24 kHz for a pcm connection on the same server", async () => {
    const assistantAudio = tone(440, 1000, REALTIME_RATE, 0.5);
    const server = await startServer({ assistantAudio, autoRespond: false });
    const mu = await configured(server);
    mu.send({ type: "response.create" });
    await mu.waitFor("response.done");
    const pcm = await configured(server, PCM_SESSION);
    const updated = pcm.ofType("session.updated")[0]!.session as typeof PCM_SESSION;
    expect(updated.audio.input.format).toEqual({ type: "audio/pcm", rate: 24000 });
    const caller = concat(tone(300, 500, REALTIME_RATE, 0.3), silence(700, REALTIME_RATE));
    pcm.send({ type: "input_audio_buffer.append", audio: pcm16ToBase64(caller) });
    const stopped = await pcm.waitFor("input_audio_buffer.speech_stopped");
    expect(stopped.audio_end_ms).toBe(1000);
    pcm.send({ type: "response.create" });
    await pcm.waitFor("response.done");
    const deltas = pcm.ofType("response.output_audio.delta");
    expect(concat(...deltas.map((d) => base64ToPcm16(String(d.delta))))).toEqual(assistantAudio);
    const conn = server.connections[1]!;
    expect(conn.inputRate).toBe(REALTIME_RATE);
    expect(conn.audio()).toEqual(caller);
    expect(conn.appendedMs).toBe(1200);
    expect(conn.responses[0]).toMatchObject({ audioMsSent: 1000, format: "audio/pcm" });
  });
});
