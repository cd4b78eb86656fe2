import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { compileFirKernels } from "../../../scripts/build-fir-kernels.ts";
import { FIR_KERNELS_WASM_BASE64 } from "../../../src/domain/audio/fir-kernels-wasm.ts";
import { polyphaseFilter } from "../../../src/domain/audio/polyphase-filter.ts";
import { interpolateBy2, interpolateBy3 } from "../../../src/domain/audio/resampler.ts";
import { simdInterpolator } from "../../../src/domain/audio/simd-kernels.ts";

const SENTINEL = 0x5a5a;

/** Both kernels on the same input; returns [javascript, webassembly] output buffers. */
function runBoth(
  up: 2 | 3,
  x: Float64Array,
  s: number,
  blocks: number,
  c: Float64Array,
  taps: number,
  centreBack: number,
  o = 5,
): [Int16Array, Int16Array, boolean] {
  const length = o + 4 * up * blocks + 5;
  const js = new Int16Array(length).fill(SENTINEL);
  const wasm = new Int16Array(length).fill(SENTINEL);
  (up === 3 ? interpolateBy3 : interpolateBy2)(x, s, blocks, js, o, c, taps, centreBack);
  const ran = simdInterpolator!.interpolate(up, x, s, blocks, wasm, o, c, taps, centreBack);
  return [js, wasm, ran];
}

/** The interpolation filters the server uses, and others of the same kinds. */
const FILTERS = [
  [8000, 24000],
  [8000, 16000],
  [16000, 48000],
  [11025, 22050],
  [12000, 24000],
].map(([from, to]) => polyphaseFilter(from!, to!));

describe("WebAssembly SIMD interpolation kernels", () => {
  it("run on this Node (else every call pays for the JavaScript loops)", () => {
    expect(simdInterpolator).not.toBeNull();
  });

  it("give exactly the JavaScript kernels' samples, and write nothing outside their range", () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...FILTERS),
        fc.integer({ min: 1, max: 128 }),
        fc.integer({ min: 0, max: 40 }),
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.constantFrom("noise", "full-scale", "sparse"),
        (filter, blocks, s, seed, shape) => {
          const { taps, up, coefficients, delay } = filter;
          const x = new Float64Array(s + 4 * blocks + taps + 3);
          let state = seed;
          for (let i = 0; i < x.length; i++) {
            state = (Math.imul(state, 1103515245) + 12345) >>> 0;
            const r = (state >>> 16) - 32768;
            x[i] =
              shape === "noise"
                ? r
                : shape === "full-scale"
                  ? r < 0
                    ? -32768
                    : 32767
                  : r % 7 === 0
                    ? r
                    : 0;
          }
          const [js, wasm, ran] = runBoth(
            up as 2 | 3,
            x,
            s,
            blocks,
            coefficients,
            taps,
            taps - 1 - delay / up,
          );
          expect(ran).toBe(true);
          expect(wasm).toEqual(js);
        },
      ),
      { numRuns: 300 },
    );
  });

  it("round halves toward +infinity and saturate exactly as toInt16 does", () => {
    // One tap of 0.5 on odd inputs makes every phase land on a half; big inputs saturate.
    const taps = 1;
    const c = Float64Array.of(1, 0.5, -0.5);
    const x = Float64Array.from([1, -1, 3, -3, 65535, -65537, 65534, -65536, 0.0001, 7]);
    for (const up of [2, 3] as const) {
      const [js, wasm, ran] = runBoth(up, x, 0, 2, c, taps, 0);
      expect(ran).toBe(true);
      expect(wasm).toEqual(js);
    }
    const [js] = runBoth(3, x, 0, 2, c, taps, 0, 0);
    // index 0 (x = 1): phase 1 rounds 0.5 up to 1, phase 2 rounds -0.5 up to 0.
    expect(Array.from(js.subarray(0, 3))).toEqual([1, 1, 0]);
  });

  it("declines work larger than its memory, writing nothing, so the loops take it", () => {
    const filter = polyphaseFilter(8000, 24000);
    const blocks = 2_000;
    const x = new Float64Array(4 * blocks + filter.taps + 3);
    const out = new Int16Array(4 * 3 * blocks).fill(SENTINEL);
    const ran = simdInterpolator!.interpolate(
      3,
      x,
      0,
      blocks,
      out,
      0,
      filter.coefficients,
      filter.taps,
      0,
    );
    expect(ran).toBe(false);
    expect(out.every((v) => v === SENTINEL)).toBe(true);
    // A window running past the end of the input is declined too, never read past it.
    const short = new Float64Array(4 * 10 + filter.taps - 2);
    const shortOut = new Int16Array(120).fill(SENTINEL);
    expect(
      simdInterpolator!.interpolate(
        3,
        short,
        0,
        10,
        shortOut,
        0,
        filter.coefficients,
        filter.taps,
        0,
      ),
    ).toBe(false);
    expect(shortOut.every((v) => v === SENTINEL)).toBe(true);
  });

  it("are the compiled fir-kernels.wat (run npm run build:kernels after editing it)", async () => {
    const compiled = Buffer.from(await compileFirKernels()).toString("base64");
    expect(FIR_KERNELS_WASM_BASE64).toBe(compiled);
  });
});
