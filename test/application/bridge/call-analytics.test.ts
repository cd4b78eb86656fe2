import { describe, expect, it } from "vitest";
import {
  CALLER_VAD_RMS,
  CallAnalytics,
  percentile,
} from "../../../src/application/bridge/call-analytics.ts";

type Analyzer = NonNullable<ConstructorParameters<typeof CallAnalytics>[0]>;

/** 20 ms of 8 kHz caller audio at a constant level (its RMS is `level`). */
const chunk = (level: number, samples = 160) => new Int16Array(samples).fill(level);
const SPEECH = chunk(1000);
const QUIET = chunk(40);

/** Feeds `count` chunks, during each of which `assistantPlayed` samples of the assistant played. */
function feed(analytics: CallAnalytics, pcm: Int16Array, count: number, assistantPlayed = 0) {
  for (let i = 0; i < count; i++) analytics.callerChunk(pcm, assistantPlayed);
}

/** An analyzer that answers what it is given and remembers what it was asked. */
function stubAnalyzer(score: number, comparative: number) {
  const asked: string[] = [];
  const analyzer: Analyzer = {
    analyze(text) {
      asked.push(text);
      return { score, comparative };
    },
  };
  return { analyzer, asked };
}

describe("CallAnalytics", () => {
  it("splits a scripted call into caller talk, assistant talk and silence on one timeline", () => {
    const analytics = new CallAnalytics();
    feed(analytics, SPEECH, 10); // caller speaks 200 ms
    feed(analytics, QUIET, 5); // 100 ms of silence
    analytics.responseStarted();
    feed(analytics, QUIET, 5, 160); // the assistant plays the whole of 100 ms
    feed(analytics, QUIET, 2, 80); // then half of 40 ms
    feed(analytics, SPEECH, 3, 160); // both talk at once for 60 ms
    const snapshot = analytics.snapshot();
    expect(snapshot).toMatchObject({
      callerTalkMs: 260,
      assistantTalkMs: 180,
      silenceMs: 120,
      avgResponseLatencyMs: 100,
      p95ResponseLatencyMs: 100,
      interruptions: 0,
    });
    expect(snapshot.customMetrics).toEqual({ responseLatenciesMs: [100], timelineMs: 500 });
  });

  it("counts a chunk as speech only above the VAD level", () => {
    const analytics = new CallAnalytics();
    analytics.callerChunk(chunk(CALLER_VAD_RMS), 0);
    analytics.callerChunk(chunk(CALLER_VAD_RMS + 1), 0);
    analytics.callerChunk(new Int16Array(0), 0);
    expect(analytics.snapshot()).toMatchObject({ callerTalkMs: 20, silenceMs: 20 });
  });

  it("never counts more assistant audio than the chunk lasted", () => {
    const analytics = new CallAnalytics();
    feed(analytics, QUIET, 1, 10_000);
    expect(analytics.snapshot()).toMatchObject({ assistantTalkMs: 20, silenceMs: 0 });
  });

  it("measures latency from the end of caller speech to the answer, once per turn", () => {
    const analytics = new CallAnalytics();
    analytics.responseStarted(); // a greeting: nobody spoke yet
    feed(analytics, SPEECH, 5);
    feed(analytics, QUIET, 10);
    analytics.responseStarted();
    analytics.responseStarted(); // the same turn's second response
    feed(analytics, SPEECH, 5);
    feed(analytics, QUIET, 25);
    analytics.responseStarted();
    expect(analytics.snapshot()).toMatchObject({
      avgResponseLatencyMs: 350,
      p95ResponseLatencyMs: 500,
      customMetrics: { responseLatenciesMs: [200, 500] },
    });
  });

  it("takes the 95th percentile by nearest rank over sorted latencies", () => {
    const analytics = new CallAnalytics();
    // 20 turns with latencies 20, 40, ..., 400 ms, given out of order.
    for (const quietChunks of [
      7, 3, 20, 1, 15, 9, 12, 2, 18, 5, 11, 4, 19, 6, 14, 8, 16, 10, 17, 13,
    ]) {
      feed(analytics, SPEECH, 1);
      feed(analytics, QUIET, quietChunks);
      analytics.responseStarted();
    }
    expect(analytics.snapshot()).toMatchObject({
      p95ResponseLatencyMs: 380,
      avgResponseLatencyMs: 210,
    });
  });

  it("counts barge-ins", () => {
    const analytics = new CallAnalytics();
    analytics.bargeIn();
    analytics.bargeIn();
    expect(analytics.snapshot().interruptions).toBe(2);
  });

  it("rates the sentiment of everything the caller said, in one text", () => {
    const { analyzer, asked } = stubAnalyzer(3, 0.4567);
    const analytics = new CallAnalytics(analyzer);
    analytics.callerSaid("I love it");
    analytics.callerSaid("great service");
    expect(analytics.snapshot()).toMatchObject({ sentiment: "positive", sentimentScore: 0.457 });
    expect(asked).toEqual(["I love it great service"]);
  });

  it.each([
    [-2, -0.25, "negative"],
    [0, 0, "neutral"],
  ] as const)("labels a score of %d as %s", (score, comparative, label) => {
    const analytics = new CallAnalytics(stubAnalyzer(score, comparative).analyzer);
    analytics.callerSaid("whatever");
    expect(analytics.snapshot()).toMatchObject({ sentiment: label, sentimentScore: comparative });
  });

  it("leaves sentiment empty without an analyzer or without caller words", () => {
    const { analyzer, asked } = stubAnalyzer(5, 1);
    const silent = new CallAnalytics(analyzer);
    silent.callerSaid("   ");
    expect(silent.snapshot()).toMatchObject({ sentiment: null, sentimentScore: null });
    expect(asked).toEqual([]);
    const unrated = new CallAnalytics();
    unrated.callerSaid("hello");
    expect(unrated.snapshot()).toMatchObject({ sentiment: null, sentimentScore: null });
  });

  it("reports no latency before any turn, and merges extra custom metrics", () => {
    const snapshot = new CallAnalytics().snapshot({ model: "gpt", turns: 0 });
    expect(snapshot).toMatchObject({ avgResponseLatencyMs: null, p95ResponseLatencyMs: null });
    expect(snapshot.customMetrics).toEqual({
      responseLatenciesMs: [],
      timelineMs: 0,
      model: "gpt",
      turns: 0,
    });
  });
});

describe("percentile", () => {
  it("takes the nearest rank, clamped to the list", () => {
    const oneToTwenty = Array.from({ length: 20 }, (_, i) => i + 1);
    expect(percentile(oneToTwenty, 95)).toBe(19);
    expect(percentile(oneToTwenty, 50)).toBe(10);
    expect(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 95)).toBe(10);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([1, 2, 3], 0)).toBe(1);
    expect(percentile([1, 2, 3], 100)).toBe(3);
    expect(percentile([], 95)).toBeNull();
  });
});
