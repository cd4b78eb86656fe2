import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { flush, SessionHarness, START_TIME } from "../../support/session-harness.ts";

let h: SessionHarness;

beforeEach(() => {
  vi.useFakeTimers({ now: START_TIME });
  h = new SessionHarness();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("CallSession analytics", () => {
  it("stores the talk times, barge-ins, latency, token usage and network quality of a call", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    // 1 s of caller speech, then 100 ms of silence before the answer starts.
    s.speech(50);
    s.silence(5);
    // A 400 ms answer; 200 ms of it play during the next 10 caller frames.
    s.answer("out1", 400);
    s.connection.audioDone("out1");
    s.connection.usage({
      input_tokens: 120,
      output_tokens: 45,
      total_tokens: 165,
      input_token_details: { cached_tokens: 64 },
    });
    s.silence(10);
    // The caller cuts in: the 200 ms still queued are never played.
    s.connection.speechStarted("in2", 1300);
    s.connection.usage({ input_tokens: 200, output_tokens: 30, total_tokens: 230 });
    // Twilio's clock skips 40 ms (two lost frames) before the last 300 ms of silence: filled
    // with silence, so the timeline and the silence count them.
    s.silence(15, 40);
    await s.session.stop("stop");

    const rows = await s.analytics();
    expect(rows).toHaveLength(1);
    // Nested details are summed too: cached input is priced apart (usage-meter.ts).
    const tokenUsage = {
      input_tokens: 320,
      output_tokens: 75,
      total_tokens: 395,
      input_token_details: { cached_tokens: 64 },
    };
    expect(rows[0]).toMatchObject({
      callerTalkMs: 1000,
      assistantTalkMs: 200,
      // 100 ms before the answer, 340 ms after the barge-in; none while it played.
      silenceMs: 440,
      interruptions: 1,
      avgResponseLatencyMs: 100,
      p95ResponseLatencyMs: 100,
      sentiment: null,
    });
    // toEqual, not toMatchObject: nothing but the usage reported joins the snapshot.
    expect(rows[0]?.customMetrics).toEqual({
      responseLatenciesMs: [100],
      timelineMs: 1640,
      tokenUsage,
    });

    // 40 ms missing of 80 frames is 2.4 % loss: "fair" (under 5 %, not under 1 %).
    const metadata = await s.metadata();
    expect(metadata?.networkQuality).toBe("fair");
    expect(metadata?.customData).toEqual({
      network: { frames: 80, jitterMs: 0, gaps: 1, missingMs: 40, filledGaps: 1, filledMs: 40 },
      endReason: "stop",
      tokenUsage,
    });
  });

  it("leaves network quality unknown for fewer than 10 frames and omits usage never reported", async () => {
    const s = h.session();
    await s.start();
    s.speech(9);
    await s.session.stop("stop");
    const metadata = await s.metadata();
    expect(metadata?.networkQuality).toBeNull();
    expect(metadata?.customData).toEqual({
      network: { frames: 9, jitterMs: 0, gaps: 0, missingMs: 0, filledGaps: 0, filledMs: 0 },
      endReason: "stop",
    });
    expect((await s.analytics())[0]?.customMetrics).toEqual({
      responseLatenciesMs: [],
      timelineMs: 180,
    });
  });

  it("stores a snapshot every interval while the call runs, and a last one at the end", async () => {
    const s = h.session({ analyticsIntervalMs: 1000 });
    await s.start();
    s.speech(50);
    await vi.advanceTimersByTimeAsync(1000);
    s.speech(25);
    await vi.advanceTimersByTimeAsync(2000);
    expect((await s.analytics()).map((a) => a.callerTalkMs)).toEqual([1000, 1500, 1500]);

    await s.session.stop("stop");
    await vi.advanceTimersByTimeAsync(5000);
    await flush();
    expect((await s.analytics()).map((a) => a.callerTalkMs)).toEqual([1000, 1500, 1500, 1500]);
  });
});
