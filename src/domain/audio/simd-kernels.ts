import { FIR_KERNELS_WASM_BASE64 } from "./fir-kernels-wasm.ts";

/**
 * The interpolation kernels of resampler.ts run as WebAssembly SIMD (fir-kernels.wat), about
 * twice as fast and bit-identical. Inputs are copied into the module's one page of memory and
 * outputs copied back, without allocating: a subarray per call would, on the audio path.
 */
export interface SimdInterpolator {
  /**
   * interpolateBy2 / interpolateBy3 of resampler.ts, same arguments; false (nothing written)
   * when the work does not fit the module's memory, and the caller runs its own loop.
   */
  interpolate(
    up: 2 | 3,
    x: Float64Array,
    s: number,
    blocks: number,
    out: Int16Array,
    o: number,
    c: Float64Array,
    taps: number,
    centreBack: number,
  ): boolean;
}

interface KernelExports {
  memory: { buffer: ArrayBuffer };
  interpolateBy3(
    x: number,
    blocks: number,
    out: number,
    c1: number,
    c2: number,
    taps: number,
    centreBack: number,
  ): void;
  interpolateBy2(
    x: number,
    blocks: number,
    out: number,
    c1: number,
    taps: number,
    centreBack: number,
  ): void;
}

// Byte addresses in the module's 64 KiB: two coefficient rows, the input window, the outputs.
const MAX_TAPS = 256;
const COEFFICIENTS = 0;
const INPUT = COEFFICIENTS + 2 * MAX_TAPS * 8;
const MAX_INPUT = 5_120;
const OUTPUT = INPUT + MAX_INPUT * 8;
const MAX_OUTPUT = (65_536 - OUTPUT) / 2;

function createSimdInterpolator(kernels: KernelExports): SimdInterpolator {
  const memory64 = new Float64Array(kernels.memory.buffer);
  const memory16 = new Int16Array(kernels.memory.buffer);
  const row2 = (COEFFICIENTS >> 3) + MAX_TAPS;
  // The rows last copied in: consecutive calls of one resampler skip the copy.
  let rowsOf: Float64Array | null = null;
  let rowsUp = 0;
  // Views of the outputs by length, made once: out.set(view) is a memcpy that allocates
  // nothing. A resampler asks for a handful of lengths (one per frame size).
  const outputViews = new Map<number, Int16Array>();
  const outputView = (length: number): Int16Array | undefined => {
    let view = outputViews.get(length);
    if (view === undefined && outputViews.size < 64) {
      view = memory16.subarray(OUTPUT >> 1, (OUTPUT >> 1) + length);
      outputViews.set(length, view);
    }
    return view;
  };
  return {
    interpolate(up, x, s, blocks, out, o, c, taps, centreBack) {
      const produced = 4 * up * blocks;
      if (taps > MAX_TAPS || x.length > MAX_INPUT || produced > MAX_OUTPUT) return false;
      // The last block reads up to x[s + 4 * blocks + taps - 2].
      if (s < 0 || s + 4 * blocks + taps - 1 > x.length) return false;
      if (rowsOf !== c || rowsUp !== up) {
        for (let j = 0; j < taps; j++) memory64[(COEFFICIENTS >> 3) + j] = c[taps + j]!;
        if (up === 3) for (let j = 0; j < taps; j++) memory64[row2 + j] = c[2 * taps + j]!;
        rowsOf = c;
        rowsUp = up;
      }
      // The whole buffer in one memcpy (a few KB): cheaper than a loop over the window, and a
      // view of just the window would allocate.
      memory64.set(x, INPUT >> 3);
      const window = INPUT + 8 * s;
      if (up === 3) {
        kernels.interpolateBy3(
          window,
          blocks,
          OUTPUT,
          COEFFICIENTS,
          COEFFICIENTS + MAX_TAPS * 8,
          taps,
          centreBack,
        );
      } else {
        kernels.interpolateBy2(window, blocks, OUTPUT, COEFFICIENTS, taps, centreBack);
      }
      const view = outputView(produced);
      if (view !== undefined) {
        out.set(view, o);
      } else {
        const output = OUTPUT >> 1;
        for (let i = 0; i < produced; i++) out[o + i] = memory16[output + i]!;
      }
      return true;
    },
  };
}

/** The part of the WebAssembly global used here (the project's type libraries do not declare it). */
interface WebAssemblyRuntime {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}

function instantiate(): SimdInterpolator | null {
  const wasm = (globalThis as { WebAssembly?: WebAssemblyRuntime }).WebAssembly;
  if (wasm === undefined) return null;
  try {
    // Once, at load: the platform's decoder is enough (the strict one is for untrusted frames).
    const bytes = Uint8Array.from(atob(FIR_KERNELS_WASM_BASE64), (c) => c.charCodeAt(0));
    // Synchronous compile: the module is under 1 KB. Throws where SIMD is not supported.
    const instance = new wasm.Instance(new wasm.Module(bytes), {});
    return createSimdInterpolator(instance.exports as KernelExports);
  } catch {
    return null;
  }
}

/** The kernels, or null where this runtime has no WebAssembly SIMD (the JavaScript loops run). */
export const simdInterpolator: SimdInterpolator | null = instantiate();
