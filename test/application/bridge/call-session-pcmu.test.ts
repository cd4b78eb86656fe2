import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { decodeMuLaw, encodeMuLaw } from "../../../src/domain/audio/index.ts";
import { STALE_MULAW_BYTE } from "../../support/scripted-realtime-model.ts";
import {
  CALLER_TRACK_SAMPLES_PER_FRAME,
  flush,
  SessionHarness,
  SPEECH_FRAME,
  START_TIME,
} from "../../support/session-harness.ts";
import { tone } from "../../support/signals.ts";

/**
 * OPENAI_AUDIO_FORMAT=pcmu: the model hears the phone's own mu-law and answers in it, so the
 * bridge passes audio through both ways. Recordings, transcripts, barge-in and analytics must
 * come out as in a pcm16 session.
 */
let h: SessionHarness;

beforeEach(() => {
  vi.useFakeTimers({ now: START_TIME });
  h = new SessionHarness({ audioFormat: "pcmu" });
});

afterEach(() => {
  vi.useRealTimers();
});

const concat = (parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
};

describe("CallSession in a pcmu session", () => {
  it("declares the format to the model and appends the caller's bytes as they came", async () => {
    const s = h.session();
    await s.start();
    expect(s.connection.options.audioFormat).toBe("pcmu");
    s.connection.ready();
    const frames = [SPEECH_FRAME, encodeMuLaw(tone(1000, 20, 8000, 0.5)), SPEECH_FRAME];
    for (const frame of frames) s.send(1, frame);

    expect(s.connection.appended).toEqual([]);
    expect(s.connection.appendedMuLaw).toEqual(frames);
    await s.session.stop("stop");
    // The caller track is the same 16 kHz recording as in a pcm16 session.
    expect(s.callerTrack()).toHaveLength(3 * CALLER_TRACK_SAMPLES_PER_FRAME);
  });

  it("fills a gap in Twilio's timestamps with mu-law silence for the model", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(1);
    // 60 ms of Twilio's clock with no frame: three frames' worth of silence, then the frame.
    s.speech(1, 60);
    const appended = concat(s.connection.appendedMuLaw);
    expect(appended).toHaveLength(160 + 480 + 160);
    expect(appended.subarray(160, 640).every((b) => b === 0xff)).toBe(true);
    await s.session.stop("stop");
    expect(s.callerTrack()).toHaveLength(5 * CALLER_TRACK_SAMPLES_PER_FRAME);
  });

  it("cuts the model's mu-law into 160-byte frames unchanged, each delta followed by a mark", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    const said = encodeMuLaw(tone(300, 500, 8000, 0.3));
    // Deltas that do not fall on frame boundaries: 100 ms, 30 ms, 370 ms.
    s.connection.muLawDelta("out1", said.subarray(0, 800));
    s.connection.muLawDelta("out1", said.subarray(800, 1040));
    s.connection.muLawDelta("out1", said.subarray(1040));
    s.connection.audioDone("out1");

    expect(s.output.summary()).toEqual([
      ...Array(5).fill("audio:160"),
      "mark:cb-1",
      // 240 bytes: one frame, and 80 bytes wait for the next delta.
      "audio:160",
      "mark:cb-2",
      ...Array(19).fill("audio:160"),
      "mark:cb-3",
      // 4000 bytes are 25 whole frames: nothing is left to pad at the end of the item.
    ]);
    expect(s.output.audio()).toEqual(said);
    // The delta's buffer is the client's shared scratch: what was sent is a copy.
    expect(s.output.audio().includes(STALE_MULAW_BYTE)).toBe(false);
    await s.session.stop("stop");
  });

  it("pads the item's last partial frame with mu-law silence and marks it", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    const said = encodeMuLaw(tone(300, 30, 8000, 0.3));
    s.connection.muLawDelta("out1", said);
    s.connection.audioDone("out1");
    expect(s.output.summary()).toEqual(["audio:160", "mark:cb-1", "audio:160", "mark:cb-2"]);
    const second = s.output.frames()[1]!;
    expect(second.subarray(0, 80)).toEqual(said.subarray(160));
    expect(second.subarray(80).every((b) => b === 0xff)).toBe(true);
    await s.session.stop("stop");
  });

  it("truncates a barged-in answer at what Twilio played, on the model's 8 kHz clock", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(25);
    s.answer("out1", 1000);
    const marks = s.output.marks();
    expect(marks).toHaveLength(10);
    // No resampler look-ahead: every 100 ms delta completes five frames.
    expect(s.framesBeforeMark(marks[1]!)).toBe(10);
    s.connection.assistantTranscript("out1", "We open at nine and close at five.");
    await flush();

    s.session.mark(marks[0]!);
    s.session.mark(marks[1]!);
    s.connection.speechStarted("in2", 1200);
    await flush();

    expect(s.connection.truncates).toEqual([{ itemId: "out1", audioEndMs: 200 }]);
    expect(s.output.clears).toBe(1);
    const [stored] = await s.transcripts();
    expect(stored).toMatchObject({
      speaker: "assistant",
      interrupted: true,
      heardMs: 200,
      generatedMs: 1000,
    });
    // The rest of the item is not played.
    const sent = s.output.messages.length;
    s.answer("out1", 200);
    expect(s.output.messages).toHaveLength(sent);
    await s.session.stop("stop");
  });

  it("mixes the assistant into the conversation recording as it was played", async () => {
    const s = h.session({ recordConversation: true });
    await s.start();
    s.connection.ready();
    const said = encodeMuLaw(tone(300, 200, 8000, 0.3));
    s.connection.muLawDelta("out1", said);
    s.connection.audioDone("out1");
    // The caller is silent while the answer plays (10 frames of 20 ms).
    s.silence(10);
    await s.session.stop("stop");

    const stereo = h.store.samplesOf(s.streamSid, "conversation");
    const right = new Int16Array(stereo.length / 2);
    for (let i = 0; i < right.length; i++) right[i] = stereo[2 * i + 1]!;
    const energy = (pcm: Int16Array) => pcm.reduce((sum, v) => sum + v * v, 0) / pcm.length;
    const heard = decodeMuLaw(said);
    // The right channel carries the answer's energy (resampled to 16 kHz), the left none.
    expect(energy(right)).toBeGreaterThan(0.5 * energy(heard));
    for (let i = 0; i < right.length; i++) expect(stereo[2 * i]).toBe(0);
  });

  it("sends nothing to the model's PCM16 path and keeps the call's usual records", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(50);
    s.connection.speechStarted("in1", 0);
    s.connection.speechStopped("in1", 1000);
    s.connection.callerTranscript("in1", "What time do you open?");
    s.answer("out1", 400);
    s.connection.audioDone("out1");
    s.connection.assistantTranscript("out1", "At nine.");
    await flush();
    await s.session.stop("stop");

    expect(s.connection.appended).toEqual([]);
    expect((await s.transcripts()).map((t) => [t.speaker, t.text])).toEqual([
      ["caller", "What time do you open?"],
      ["assistant", "At nine."],
    ]);
    expect(await s.call()).toMatchObject({ status: "completed" });
    expect(s.metrics.framesOut).toBe(20);
  });
});
