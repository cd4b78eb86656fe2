import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { Resampler } from "../../../src/domain/audio/index.ts";
import {
  CALLER_TRACK_SAMPLES_PER_FRAME,
  flush,
  SessionHarness,
  type SessionUnderTest,
  SPEECH_FRAME,
  START_TIME,
} from "../../support/session-harness.ts";

/**
 * Twilio leaves out the silent frames of some calls: the next frame it sends carries the true
 * media timestamp (openai-agents-js pads them in its Twilio transport,
 * packages/agents-extensions/src/TwilioRealtimeTransport.ts; Phonic-Co/phonic-node#32). The
 * bridge fills the time they would have taken with silence, so the caller track, the timeline
 * and the model all keep the call's real length.
 */

let h: SessionHarness;

beforeEach(() => {
  vi.useFakeTimers({ now: START_TIME });
  h = new SessionHarness();
});

afterEach(() => {
  vi.useRealTimers();
});

const SAMPLES_PER_MS_16K = 16;
/** 24 kHz samples the model has been sent once `ms` of caller audio went through (look-ahead held). */
const modelSamples = (ms: number) => new Resampler(8000, 24000).outputLength(ms * 8);
const MODEL_LOOKAHEAD = 24 * 1000 - modelSamples(1000);
/** Milliseconds of caller audio the model has been sent. */
const modelMs = (s: SessionUnderTest) => (s.connection.appendedSamples + MODEL_LOOKAHEAD) / 24;

async function networkOf(s: SessionUnderTest): Promise<Record<string, unknown>> {
  return (await s.metadata())?.customData?.network as Record<string, unknown>;
}

/**
 * The caller track is silent from `fromMs` for `ms`, but for 10 ms at either end, where the
 * resampler's filter spreads the speech next to it.
 */
function silentStretch(track: Int16Array, fromMs: number, ms: number): boolean {
  const edge = 10 * SAMPLES_PER_MS_16K;
  const from = fromMs * SAMPLES_PER_MS_16K;
  return track.subarray(from + edge, from + ms * SAMPLES_PER_MS_16K - edge).every((v) => v === 0);
}

describe("CallerAudio: frames Twilio did not send", () => {
  it("fills a 1 s jump in the media timestamps with silence, everywhere the caller goes", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(50);
    // The next frame says 2000 ms: Twilio sent nothing for the second in between.
    s.speech(50, 1000);
    s.session.dtmf("7");
    s.answer("out1", 200);
    s.connection.audioDone("out1").assistantTranscript("out1", "Yes?");
    s.silence(10);
    await s.session.stop("stop");

    // 110 frames sent, 3200 ms of call.
    expect(s.callerTrack()).toHaveLength(110 * CALLER_TRACK_SAMPLES_PER_FRAME + 1000 * 16);
    expect(silentStretch(s.callerTrack(), 1000, 1000)).toBe(true);
    expect(h.store.samplesOf(s.streamSid, "conversation")).toHaveLength(3200 * 16 * 2);
    expect(modelMs(s)).toBe(3200);
    // The timeline: the key and the answer come after the filled second, not a second early.
    expect((await s.metadata())?.customData?.dtmf).toEqual([{ digit: "7", offsetMs: 3000 }]);
    expect(await s.transcripts()).toMatchObject([{ speaker: "assistant", offsetMs: 3000 }]);
    expect((await s.analytics())[0]?.customMetrics).toMatchObject({ timelineMs: 3200 });
    expect(await networkOf(s)).toMatchObject({
      frames: 110,
      gaps: 1,
      missingMs: 1000,
      filledGaps: 1,
      filledMs: 1000,
    });
  });

  it("fills at most 10 s of one gap", async () => {
    const s = h.session();
    await s.start();
    s.speech(10);
    s.speech(10, 60_000);
    await s.session.stop("stop");

    expect(s.callerTrack()).toHaveLength(20 * CALLER_TRACK_SAMPLES_PER_FRAME + 10_000 * 16);
    expect(modelMs(s)).toBe(400 + 10_000);
    expect(await networkOf(s)).toMatchObject({
      gaps: 1,
      missingMs: 60_000,
      filledGaps: 1,
      filledMs: 10_000,
    });
  });

  it("fills nothing for a step under one frame, a repeated or a backward timestamp", async () => {
    const s = h.session();
    await s.start();
    s.speech(10);
    // 10 ms late is jitter in the stamps, not a frame missing.
    s.speech(10, 10);
    s.twilioMs -= 100;
    s.speech(10);
    s.twilioMs -= 20;
    s.speech(1);
    await s.session.stop("stop");

    expect(s.callerTrack()).toHaveLength(31 * CALLER_TRACK_SAMPLES_PER_FRAME);
    expect(await networkOf(s)).toMatchObject({ frames: 31, filledGaps: 0, filledMs: 0 });
  });

  it("fills nothing when the frames carry no timestamp", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    for (let i = 0; i < 20; i++) {
      s.session.callerAudio(SPEECH_FRAME, null);
      // Arrival still jumps a second between the two halves.
      s.arrivalMs += i === 9 ? 1000 : 20;
    }
    await s.session.stop("stop");

    expect(s.callerTrack()).toHaveLength(20 * CALLER_TRACK_SAMPLES_PER_FRAME);
    expect(modelMs(s)).toBe(400);
    expect(await networkOf(s)).toMatchObject({ frames: 20, filledGaps: 0, filledMs: 0 });
  });
});

describe("CallerAudio: the caller speaking, and no frame coming", () => {
  it("pads silence once no frame has come for 750 ms while the model hears speech, until the turn ends", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(50);
    // Nobody speaking: a quiet line with no frames is left alone (the next frame fills it).
    await vi.advanceTimersByTimeAsync(2000);
    expect(modelMs(s)).toBe(1000);

    s.speech(50);
    s.connection.speechStarted("in1", 1000);
    await vi.advanceTimersByTimeAsync(700);
    expect(modelMs(s)).toBe(2000);
    await vi.advanceTimersByTimeAsync(300);
    // At least 750 ms of silence, never more than the time that has gone by.
    const padded = modelMs(s) - 2000;
    expect(padded).toBeGreaterThanOrEqual(750);
    expect(padded).toBeLessThanOrEqual(1000);
    expect(
      s.connection.appended
        .at(-1)!
        .subarray(240)
        .every((v) => v === 0),
    ).toBe(true);

    // The model's turn ends: so does the padding.
    s.connection.speechStopped("in1", 2500);
    await vi.advanceTimersByTimeAsync(5000);
    expect(modelMs(s)).toBe(2000 + padded);
    await s.session.stop("stop");
    expect(s.callerTrack()).toHaveLength(100 * CALLER_TRACK_SAMPLES_PER_FRAME + padded * 16);
    expect(await networkOf(s)).toMatchObject({ frames: 100, filledGaps: 1, filledMs: padded });
  });

  it("stops padding when the call ends", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(50);
    s.connection.speechStarted("in1", 0);
    await vi.advanceTimersByTimeAsync(1000);
    const padded = modelMs(s) - 1000;
    expect(padded).toBeGreaterThanOrEqual(750);
    // The model still hears speech, but the call is over.
    await s.session.stop("stop");
    await vi.advanceTimersByTimeAsync(5000);
    await flush();
    expect(s.callerTrack()).toHaveLength(50 * CALLER_TRACK_SAMPLES_PER_FRAME + padded * 16);
    expect(h.store.writerOf(s.streamSid, "caller")!.droppedBytes).toBe(0);
  });

  it("does not fill the padded time again when the next frame comes", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(50);
    s.connection.speechStarted("in1", 0);
    await vi.advanceTimersByTimeAsync(1300);
    const padded = modelMs(s) - 1000;
    expect(padded).toBeGreaterThanOrEqual(750);
    // Twilio's next frame is 1500 ms after where the last one ended.
    s.speech(10, 1500);
    await s.session.stop("stop");

    // The padding and the gap's remainder add up to the 1500 ms Twilio left out, once.
    expect(s.callerTrack()).toHaveLength(60 * CALLER_TRACK_SAMPLES_PER_FRAME + 1500 * 16);
    expect(silentStretch(s.callerTrack(), 1000, 1500)).toBe(true);
    expect(modelMs(s)).toBe(2700);
    expect(await networkOf(s)).toMatchObject({ frames: 60, filledGaps: 1, filledMs: 1500 });
  });
});
