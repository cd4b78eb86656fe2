import { describe, expect, it } from "vitest";
import {
  base64ToPcm16,
  concat,
  naiveResample,
  pcm16ToBase64,
  rms,
  silence,
  speakWithEspeak,
  speechLike,
  tone,
  toneLevel,
} from "../support/signals.ts";

describe("signals", () => {
  it("makes a tone of the requested length, level and frequency", () => {
    const t = tone(440, 250, 8000, 0.5);
    expect(t).toHaveLength(2000);
    expect(rms(t)).toBeCloseTo((0.5 * 32767) / Math.SQRT2, -1);
    expect(toneLevel(t, 440, 8000)).toBeGreaterThan(0.2);
    expect(toneLevel(t, 1000, 8000)).toBeLessThan(0.01);
  });

  it("makes silence and concatenates parts in order", () => {
    const s = silence(20, 24000);
    expect(s).toHaveLength(480);
    expect(rms(s)).toBe(0);
    const joined = concat(Int16Array.of(1, 2), Int16Array.of(), Int16Array.of(3));
    expect(joined).toEqual(Int16Array.of(1, 2, 3));
  });

  it("makes speech-like audio that stays loud in every 10 ms frame yet varies in level", () => {
    const rate = 8000;
    const s = speechLike(2000, rate);
    const frame = rate / 100;
    const levels: number[] = [];
    for (let i = 0; i + frame <= s.length; i += frame) levels.push(rms(s, i, i + frame));
    expect(Math.min(...levels)).toBeGreaterThan(800);
    expect(Math.max(...levels) / Math.min(...levels)).toBeGreaterThan(1.8);
  });

  it("resamples by integer ratios and round-trips PCM16 through base64", () => {
    const x = Int16Array.of(1, -2, 3);
    const up = naiveResample(x, 8000, 24000);
    expect(up).toEqual(Int16Array.of(1, 1, 1, -2, -2, -2, 3, 3, 3));
    expect(naiveResample(up, 24000, 8000)).toEqual(x);
    expect(base64ToPcm16(pcm16ToBase64(up))).toEqual(up);
    expect(() => naiveResample(x, 8000, 11025)).toThrow("integer ratio");
  });

  it("speaks text with espeak-ng at the requested sample rate", async () => {
    const at8k = await speakWithEspeak("hello, I would like to book a table", 8000);
    const at24k = await speakWithEspeak("hello, I would like to book a table", 24000);
    expect(at8k.length / 8000).toBeGreaterThan(1);
    expect(at24k.length / at8k.length).toBeCloseTo(3, 1);
    expect(rms(at8k)).toBeGreaterThan(500);
  });
});
