import { describe, expect, it } from "vitest";
import { NetworkQuality } from "../../../src/application/bridge/network-quality.ts";

/**
 * `frames` 20 ms frames whose arrival wobbles by ±`wobbleMs` around the ideal, each timestamp
 * on time, except that the timestamp jumps by `gapStepMs` (instead of 20) once, at frame 50.
 */
function stream(frames: number, { wobbleMs = 0, gapStepMs = 20 } = {}): NetworkQuality {
  const quality = new NetworkQuality();
  let timestamp = 0;
  for (let i = 0; i < frames; i++) {
    if (i > 0) timestamp += i === 50 ? gapStepMs : 20;
    const wobble = i % 2 === 0 ? -wobbleMs : wobbleMs;
    quality.frame(timestamp + wobble, timestamp);
  }
  return quality;
}

describe("NetworkQuality", () => {
  it("says nothing before ten frames, then calls a steady stream good", () => {
    expect(stream(9).label).toBeNull();
    const steady = stream(10);
    expect(steady.label).toBe("good");
    expect(steady.summary()).toEqual({
      frames: 10,
      jitterMs: 0,
      gaps: 0,
      missingMs: 0,
      filledGaps: 0,
      filledMs: 0,
    });
  });

  it("smooths interarrival jitter as RFC 3550 does (1/16 of each difference)", () => {
    const quality = new NetworkQuality();
    quality.frame(1000, 0);
    quality.frame(1030, 20); // 10 ms late: J = 10/16
    quality.frame(1050, 40); // on time again: J = 0.625 - 0.625/16
    expect(quality.summary().jitterMs).toBe(0.6);
    const converged = stream(400, { wobbleMs: 15 }); // every difference is 30 ms
    expect(converged.summary().jitterMs).toBe(30);
  });

  it("counts a timestamp step over 1.5 frames as a gap of the frames it skipped", () => {
    const quality = new NetworkQuality();
    for (const timestamp of [0, 20, 50, 70, 101, 161]) quality.frame(timestamp, timestamp);
    // 20 → 50 is 1.5 frames: late, not lost. 70 → 101 and 101 → 161 skip 11 and 40 ms.
    expect(quality.summary()).toMatchObject({ frames: 6, gaps: 2, missingMs: 51, jitterMs: 0 });
  });

  it("counts frames without a usable timestamp but leaves timing to the others", () => {
    const quality = new NetworkQuality();
    quality.frame(0, 0);
    quality.frame(500, null);
    quality.frame(700, Number.NaN);
    quality.frame(20, 20);
    expect(quality.summary()).toMatchObject({ frames: 4, jitterMs: 0, gaps: 0, missingMs: 0 });
  });

  it.each([
    ["good", { wobbleMs: 5 }],
    ["fair", { wobbleMs: 15 }],
    ["poor", { wobbleMs: 30 }],
  ] as const)("labels jittery arrival %s", (label, shape) => {
    expect(stream(200, shape).label).toBe(label);
  });

  it.each([
    ["good", 100, 35], // 15 ms lost of 2015: under 1%
    ["fair", 99, 40], // 20 ms lost of exactly 2000: 1% is no longer good
    ["fair", 100, 80], // 60 of 2060: under 5%
    ["poor", 100, 300], // 280 of 2280
  ] as const)("labels a loss %s (%d frames, one step of %d ms)", (label, frames, gapStepMs) => {
    expect(stream(frames, { gapStepMs }).label).toBe(label);
  });
});
