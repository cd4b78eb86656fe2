import { mulaw as oracle } from "alawmulaw";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeMuLaw,
  decodeMuLawInto,
  encodeMuLaw,
  encodeMuLawInto,
} from "../../../src/domain/audio/index.ts";

/*
 * Reference: ITU-T G.191 STL g711.c, ulaw_compress / ulaw_expand, transcribed line by line.
 * The input is a 16-bit sample taken as 14-bit left justified; negative samples are folded with
 * a ONE's complement ((~x) >> 2), and 33 (= BIAS 0x84 / 4) is added before the segment search.
 */
function ulawCompress(linear: number): number {
  let absno = linear < 0 ? (~linear >> 2) + 33 : (linear >> 2) + 33;
  if (absno > 0x1fff) absno = 0x1fff;
  let i = absno >> 6;
  let segno = 1;
  while (i !== 0) {
    segno++;
    i >>= 1;
  }
  const highNibble = 0x0008 - segno;
  let lowNibble = (absno >> segno) & 0x000f;
  lowNibble = 0x000f - lowNibble;
  let log = (highNibble << 4) | lowNibble;
  if (linear >= 0) log |= 0x0080;
  return log;
}

function ulawExpand(log: number): number {
  const sign = log < 0x0080 ? -1 : 1;
  let mantissa = ~log;
  const exponent = (mantissa >> 4) & 0x0007;
  const segment = exponent + 1;
  mantissa &= 0x000f;
  const step = 4 << segment;
  return sign * ((0x0080 << exponent) + step * mantissa + Math.trunc(step / 2) - 4 * 33);
}

const ALL_CODES = Uint8Array.from({ length: 256 }, (_, i) => i);
const ALL_SAMPLES = Int16Array.from({ length: 65536 }, (_, i) => i - 32768);

describe("G.711 mu-law against the ITU-T G.191 reference", () => {
  it("decodes all 256 codes exactly as ulaw_expand", () => {
    const decoded = decodeMuLaw(ALL_CODES);
    const mismatches = [...ALL_CODES].filter((code) => decoded[code] !== ulawExpand(code));
    expect(mismatches).toEqual([]);
    // Spot values of the standard table: full scale, the two zeros, the smallest steps.
    expect([decoded[0x00], decoded[0x80], decoded[0x7f], decoded[0xff], decoded[0xfe]]).toEqual([
      -32124, 32124, 0, 0, 8,
    ]);
  });

  it("encodes all 65,536 int16 inputs exactly as ulaw_compress", () => {
    const encoded = encodeMuLaw(ALL_SAMPLES);
    let mismatches = 0;
    for (let i = 0; i < ALL_SAMPLES.length; i++) {
      if (encoded[i] !== ulawCompress(ALL_SAMPLES[i]!)) mismatches++;
    }
    expect(mismatches).toBe(0);
  });

  it("re-encodes every decoded code to itself except the negative zero 0x7F, which becomes 0xFF", () => {
    const again = encodeMuLaw(decodeMuLaw(ALL_CODES));
    const changed = [...ALL_CODES].filter((code) => again[code] !== code);
    expect(changed).toEqual([0x7f]);
    expect(again[0x7f]).toBe(0xff);
  });

  it("encodes every input within half a step of its code's segment (2-LSB truncation aside) and clips beyond ±32635", () => {
    const codes = encodeMuLaw(ALL_SAMPLES);
    const decoded = decodeMuLaw(codes);
    const outliers: number[] = [];
    for (let i = 0; i < ALL_SAMPLES.length; i++) {
      const x = ALL_SAMPLES[i]!;
      const exponent = (~codes[i]! >> 4) & 0x07;
      const halfStep = 4 << exponent;
      const ok =
        Math.abs(x) > 32635
          ? decoded[i] === Math.sign(x) * 32124
          : Math.abs(decoded[i]! - x) <= halfStep + 4;
      if (!ok) outliers.push(x);
    }
    expect(outliers).toEqual([]);
  });
});

describe("G.711 mu-law against the alawmulaw package (independent oracle)", () => {
  it("decodes all 256 codes identically", () => {
    expect(Array.from(decodeMuLaw(ALL_CODES))).toEqual(Array.from(oracle.decode(ALL_CODES)));
  });

  /*
   * alawmulaw implements the classic Sun/CCITT routine: it takes the magnitude of a negative
   * sample as -x, while G.191 takes the one's complement -x - 1 (so that -1 is "minus zero"
   * rather than "minus one"). The two therefore agree on every non-negative input, and on a
   * negative input x alawmulaw gives what G.191 gives for x - 1; they differ only where that
   * one-LSB shift crosses a decision level.
   */
  it("encodes every input identically except negatives one LSB from a decision level, where it matches G.191 at x - 1", () => {
    const ours = encodeMuLaw(ALL_SAMPLES);
    const theirs = oracle.encode(ALL_SAMPLES);
    const differing: number[] = [];
    for (let i = 0; i < ALL_SAMPLES.length; i++) {
      const x = ALL_SAMPLES[i]!;
      if (ours[i] === theirs[i]) continue;
      differing.push(x);
      expect(x).toBeLessThan(0);
      expect(theirs[i]).toBe(ulawCompress(x - 1));
    }
    // Exactly one input per decision level between the 128 negative codes (127 of them): the
    // input sitting right on the level, e.g. -4 (G.191: "-0" 0x7F; alawmulaw: 0x7E).
    expect(differing.length).toBe(127);
    expect(differing.slice(-2)).toEqual([-12, -4]);
    expect(differing.every((x) => (ours[x + 32768]! & 0x80) === 0)).toBe(true);
  });
});

describe("allocation-free mu-law variants", () => {
  it("decodes into a caller's buffer at an offset and reports the count", () => {
    const out = new Int16Array(6).fill(7);
    expect(decodeMuLawInto(Uint8Array.of(0x00, 0x80, 0xff), out, 2)).toBe(3);
    expect(Array.from(out)).toEqual([7, 7, -32124, 32124, 0, 7]);
  });

  it("encodes into a caller's buffer at an offset and reports the count", () => {
    const out = new Uint8Array(5);
    expect(encodeMuLawInto(Int16Array.of(0, -32768, 32767), out, 1)).toBe(3);
    expect(Array.from(out)).toEqual([0, 0xff, 0x00, 0x80, 0]);
  });

  it("refuses an output buffer that is too small instead of writing past it", () => {
    expect(() => decodeMuLawInto(new Uint8Array(160), new Int16Array(159))).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
    expect(() => encodeMuLawInto(new Int16Array(4), new Uint8Array(4), 1)).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
  });

  it("gives the same bytes through the Into variants as through the allocating ones", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 400 }), (xs) => {
        const samples = Int16Array.from(xs);
        const bytes = new Uint8Array(samples.length);
        encodeMuLawInto(samples, bytes);
        const back = new Int16Array(samples.length);
        decodeMuLawInto(bytes, back);
        expect(bytes).toEqual(encodeMuLaw(samples));
        expect(back).toEqual(decodeMuLaw(bytes));
      }),
    );
  });
});
