import { describe, expect, it } from "vitest";
import { createAnalytics } from "../../src/domain/analytics.ts";
import { mergeMetadata } from "../../src/domain/call-metadata.ts";

describe("Analytics", () => {
  it("fills counters with zero and latencies with null", () => {
    const a = createAnalytics("a1", "c1", {}, new Date(0));
    expect(a).toMatchObject({
      callerTalkMs: 0,
      assistantTalkMs: 0,
      silenceMs: 0,
      interruptions: 0,
      avgResponseLatencyMs: null,
      p95ResponseLatencyMs: null,
      sentiment: null,
      customMetrics: null,
    });
  });

  it("refuses negative or non-finite figures", () => {
    expect(() => createAnalytics("a", "c", { silenceMs: -1 }, new Date(0))).toThrow(/silenceMs/);
    expect(() => createAnalytics("a", "c", { sentimentScore: Number.NaN }, new Date(0))).toThrow(
      /sentimentScore/,
    );
  });
});

describe("CallMetadata", () => {
  it("keeps fields a patch leaves out and merges customData key by key", () => {
    const first = mergeMetadata(
      "c1",
      null,
      { region: "US-CA", customData: { campaign: "spring" } },
      new Date(1),
    );
    const second = mergeMetadata(
      "c1",
      first,
      { language: "en", customData: { agent: "b" } },
      new Date(2),
    );
    expect(second).toEqual({
      callId: "c1",
      language: "en",
      region: "US-CA",
      deviceType: null,
      networkQuality: null,
      customData: { campaign: "spring", agent: "b" },
      updatedAt: new Date(2),
    });
  });

  it("clears a field set to null", () => {
    const first = mergeMetadata("c1", null, { region: "US" }, new Date(1));
    expect(mergeMetadata("c1", first, { region: null }, new Date(2)).region).toBeNull();
  });
});
