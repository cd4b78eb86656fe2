import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Resampler, resample } from "../../../src/domain/audio/index.ts";
import { polyphaseFilter } from "../../../src/domain/audio/polyphase-filter.ts";
import { db, fitTone, rms, tone } from "./signal-analysis.ts";

const RATES = [8000, 16000, 24000] as const;
const PAIRS = RATES.flatMap((from) => RATES.map((to) => [from, to] as const));
const CHANGING = PAIRS.filter(([from, to]) => from !== to);
const PRIMES = [
  2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97,
];

/** Deterministic speech-like test signal: tones, noise, and full-scale bursts that saturate. */
function testSignal(rate: number, seconds: number): Int16Array {
  const n = Math.round(rate * seconds);
  const out = new Int16Array(n);
  let seed = 12345;
  const random = () => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed / 2 ** 32 - 0.5;
  };
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const v =
      6000 * Math.sin(2 * Math.PI * 220 * t) +
      4000 * Math.sin(2 * Math.PI * 1330 * t + 1) +
      2500 * Math.sin(2 * Math.PI * 3100 * t) +
      3000 * random() +
      (Math.floor(t * 7) % 3 === 0 ? 40000 * Math.sign(Math.sin(2 * Math.PI * 150 * t)) : 0);
    out[i] = Math.max(-32768, Math.min(32767, Math.round(v)));
  }
  return out;
}

/** Feeds `signal` in chunks of the given sizes (cycled) and concatenates process()* + flush(). */
function stream(
  signal: Int16Array,
  from: number,
  to: number,
  sizes: readonly number[],
): Int16Array {
  const resampler = new Resampler(from, to);
  const parts: Int16Array[] = [];
  for (let at = 0, i = 0; at < signal.length; i++) {
    const size = Math.min(sizes[i % sizes.length]!, signal.length - at);
    parts.push(resampler.process(signal.subarray(at, at + size)));
    at += size;
  }
  parts.push(resampler.flush());
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

function maxLsbDifference(a: Int16Array, b: Int16Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

describe("Resampler output length and timing", () => {
  it.each(PAIRS)("%i → %i Hz yields round(n · to / from) samples for any n", (from, to) => {
    for (const n of [0, 1, 2, 3, 5, 159, 160, 161, 319, 320, 479, 480, 481, 4097]) {
      expect(resample(new Int16Array(n), from, to).length).toBe(Math.round((n * to) / from));
    }
  });

  it.each(CHANGING)(
    "%i → %i Hz puts output sample k at time k / to (delay compensated)",
    (from, to) => {
      // A 1 kHz sine with phase 0 at t = 0 must come out with phase 0 at output sample 0.
      const input = tone(1000, from, from, 16000);
      const output = resample(input, from, to);
      const fit = fitTone(output, 1000, to, to / 4, to / 2);
      expect(Math.abs(fit.phase)).toBeLessThan(1e-3);
    },
  );

  it.each(CHANGING)(
    "%i → %i Hz passes a constant through unchanged away from the ends",
    (from, to) => {
      const output = resample(new Int16Array(from).fill(-12345), from, to);
      const middle = output.subarray(to / 10, output.length - to / 10);
      expect(new Set(middle)).toEqual(new Set([-12345]));
    },
  );

  it.each(CHANGING)(
    "%i → %i Hz holds back only its look-ahead (≤ 2 ms) on the first 20 ms chunk",
    (from, to) => {
      const resampler = new Resampler(from, to);
      const frame = from / 50;
      expect((resampler.lookahead / from) * 1000).toBeLessThanOrEqual(2);
      expect(resampler.process(new Int16Array(frame)).length).toBe(
        Math.ceil(((frame - resampler.lookahead) * to) / from),
      );
      // From then on every 20 ms chunk yields exactly 20 ms of output.
      expect(resampler.process(new Int16Array(frame)).length).toBe(to / 50);
    },
  );

  it("copies the signal unchanged when the rates are equal", () => {
    const signal = testSignal(16000, 0.1);
    expect(resample(signal, 16000, 16000)).toEqual(signal);
    const resampler = new Resampler(16000, 16000);
    expect(resampler.process(signal.subarray(0, 7))).toEqual(signal.subarray(0, 7));
    expect(resampler.flush().length).toBe(0);
  });
});

describe("Resampler streaming equals one-shot resampling exactly", () => {
  const chunkings: [string, (from: number) => number[]][] = [
    ["20 ms chunks", (from) => [from / 50]],
    ["1-sample chunks", () => [1]],
    ["7-sample chunks", () => [7]],
    ["prime-sized chunks", () => PRIMES],
    ["one chunk larger than the working block", () => [10_007]],
    ["uneven chunks", () => [1, 480, 3, 2049, 160, 0, 5]],
  ];

  for (const [name, sizes] of chunkings) {
    it.each(PAIRS)(`%i → %i Hz in ${name}: 0 LSB difference`, (from, to) => {
      const signal = testSignal(from, 0.75);
      const whole = resample(signal, from, to);
      expect(maxLsbDifference(stream(signal, from, to, sizes(from)), whole)).toBe(0);
    });
  }

  it("holds for random signals, rate pairs and chunk sizes", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...PAIRS),
        fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 3000 }),
        fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 12 }),
        ([from, to], samples, sizes) => {
          const signal = Int16Array.from(samples);
          const chunks = sizes.some((s) => s > 0) ? sizes : [1];
          expect(
            maxLsbDifference(stream(signal, from, to, chunks), resample(signal, from, to)),
          ).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it.each(PAIRS)(
    "%i → %i Hz: processInto/flushInto into reused buffers give the same samples",
    (from, to) => {
      const signal = testSignal(from, 0.5);
      const resampler = new Resampler(from, to);
      const frame = from / 50;
      const scratch = new Int16Array(resampler.maxOutputLength(frame) + 3);
      const collected: number[] = [];
      for (let at = 0; at < signal.length; at += frame) {
        const chunk = signal.subarray(at, at + frame);
        const expected = resampler.outputLength(chunk.length);
        expect(expected).toBeLessThanOrEqual(resampler.maxOutputLength(chunk.length));
        const n = resampler.processInto(chunk, scratch, 3);
        expect(n).toBe(expected);
        collected.push(...scratch.subarray(3, 3 + n));
      }
      const tail = new Int16Array(resampler.maxFlushLength);
      expect(resampler.pendingFlushLength).toBeLessThanOrEqual(resampler.maxFlushLength);
      const n = resampler.flushInto(tail);
      collected.push(...tail.subarray(0, n));
      expect(Int16Array.from(collected)).toEqual(resample(signal, from, to));
    },
  );

  it.each(CHANGING)(
    "%i → %i Hz starts afresh after flush, so a second stream matches too",
    (from, to) => {
      const first = testSignal(from, 0.2);
      const second = tone(700, from, from / 5, 9000);
      const resampler = new Resampler(from, to);
      resampler.process(first);
      resampler.flush();
      const again = [...resampler.process(second), ...resampler.flush()];
      expect(Int16Array.from(again)).toEqual(resample(second, from, to));
    },
  );
});

describe("Resampler frequency response", () => {
  const figures: string[] = [];

  it.each(CHANGING)(
    "%i → %i Hz: passband ripple ≤ 0.1 dB up to its passband edge (3.4 kHz for 8 kHz)",
    (from, to) => {
      const { passbandHz } = polyphaseFilter(from, to);
      let low = 0;
      let high = 0;
      for (let f = 100; f <= passbandHz; f += 100) {
        const input = tone(f, from, from * 1.5, 16000);
        const inputFit = fitTone(input, f, from, from / 4, from);
        const outputFit = fitTone(resample(input, from, to), f, to, to / 4, to);
        const gain = db(outputFit.amplitude / inputFit.amplitude);
        low = Math.min(low, gain);
        high = Math.max(high, gain);
      }
      figures.push(
        `${from}→${to}: passband 0.1–${passbandHz / 1000} kHz gain ${low.toFixed(4)}…+${high.toFixed(4)} dB`,
      );
      expect(high).toBeLessThanOrEqual(0.1);
      expect(low).toBeGreaterThanOrEqual(-0.1);
    },
  );

  it.each(CHANGING)(
    "%i → %i Hz: every passband tone comes out with images and aliases ≥ 60 dB down",
    (from, to) => {
      const { passbandHz } = polyphaseFilter(from, to);
      let worst = Number.NEGATIVE_INFINITY;
      for (let f = 100; f <= passbandHz; f += 100) {
        const output = resample(tone(f, from, from * 1.5, 16000), from, to);
        const fit = fitTone(output, f, to, to / 4, to);
        worst = Math.max(worst, db((fit.residualRms * Math.SQRT2) / fit.amplitude));
      }
      figures.push(`${from}→${to}: worst image/alias of a passband tone ${worst.toFixed(1)} dB`);
      expect(worst).toBeLessThanOrEqual(-60);
    },
  );

  it.each(CHANGING.filter(([from, to]) => from > to))(
    "%i → %i Hz: tones in the stop band (≥ 1.15 × output Nyquist) come out ≥ 60 dB down",
    (from, to) => {
      const { stopbandHz } = polyphaseFilter(from, to);
      let worst = Number.NEGATIVE_INFINITY;
      for (let f = Math.ceil(stopbandHz / 50) * 50; f < from / 2; f += 50) {
        const output = resample(tone(f, from, from * 1.5, 16000), from, to);
        worst = Math.max(worst, db((rms(output, to / 4, to) * Math.SQRT2) / 16000));
      }
      figures.push(
        `${from}→${to}: worst stop-band tone (${stopbandHz / 1000}–${from / 2000} kHz) ${worst.toFixed(1)} dB`,
      );
      expect(worst).toBeLessThanOrEqual(-60);
    },
  );

  it("24 kHz → 8 kHz: a 6 kHz tone is ≥ 60 dB down after decimation", () => {
    const output = resample(tone(6000, 24000, 36000, 16000), 24000, 8000);
    const level = db((rms(output, 2000, 8000) * Math.SQRT2) / 16000);
    figures.push(`24000→8000: 6 kHz tone ${level.toFixed(1)} dB`);
    expect(level).toBeLessThanOrEqual(-60);
  });

  it("8 kHz → 24 kHz: the 7 and 9 kHz (and 15/17 kHz) images of a 1 kHz tone are ≥ 60 dB down", () => {
    const output = resample(tone(1000, 8000, 12000, 16000), 8000, 24000);
    const levels = [7000, 9000, 15000, 17000].map((f) =>
      db(fitTone(output, f, 24000, 6000, 24000).amplitude / 16000),
    );
    figures.push(
      `8000→24000: 1 kHz images at 7/9/15/17 kHz ${levels.map((l) => l.toFixed(1)).join(" / ")} dB`,
    );
    for (const level of levels) expect(level).toBeLessThanOrEqual(-60);
  });

  it("reports the measured figures", () => {
    // Printed so that the figures quoted in docs come from an actual run.
    console.info(`[resampler figures]\n${figures.join("\n")}`);
    expect(figures.length).toBeGreaterThan(0);
  });
});

describe("Resampler saturation and arguments", () => {
  it.each(CHANGING)(
    "%i → %i Hz clips the overshoot of a full-scale square wave instead of wrapping",
    (from, to) => {
      const input = new Int16Array(from / 2);
      const period = from / 100;
      for (let i = 0; i < input.length; i++) input[i] = i % period < period / 2 ? 32767 : -32768;
      const output = resample(input, from, to);
      for (let k = 0; k < output.length; k++) {
        const t = (k * from) / to; // position in input samples
        const phase = t % period;
        const distanceToEdge = Math.min(phase, Math.abs(phase - period / 2), period - phase);
        if (distanceToEdge < 3 || t < 3 || t > input.length - 3) continue;
        const expectedSign = phase < period / 2 ? 1 : -1;
        expect(Math.sign(output[k]!)).toBe(expectedSign);
        expect(Math.abs(output[k]!)).toBeGreaterThan(26000);
      }
    },
  );

  it("refuses rates that are not positive integers", () => {
    for (const [from, to] of [
      [0, 8000],
      [8000, -1],
      [8000.5, 16000],
      [Number.NaN, 8000],
    ] as const) {
      expect(() => new Resampler(from, to)).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
      expect(() => resample(new Int16Array(4), from, to)).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
    }
  });

  it("refuses an output buffer too small for processInto instead of writing past it", () => {
    const resampler = new Resampler(8000, 24000);
    resampler.process(new Int16Array(200));
    expect(() => resampler.processInto(new Int16Array(160), new Int16Array(479))).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
  });

  it("resamples between other common rates too (44.1 kHz, 11.025 kHz, 48 kHz) with exact streaming", () => {
    for (const [from, to] of [
      [44100, 16000],
      [11025, 8000],
      [8000, 48000],
      [48000, 24000],
    ] as const) {
      const signal = testSignal(from, 0.3);
      const whole = resample(signal, from, to);
      expect(whole.length).toBe(Math.round((signal.length * to) / from));
      expect(maxLsbDifference(stream(signal, from, to, [from / 100 + 1]), whole)).toBe(0);
      const fit = fitTone(
        resample(tone(1000, from, from, 16000), from, to),
        1000,
        to,
        to / 4,
        to / 2,
      );
      expect(Math.abs(db(fit.amplitude / 16000))).toBeLessThan(0.1);
    }
  });
});
