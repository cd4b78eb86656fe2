import { base64DecodedLength, decodeBase64Into } from "../base64.ts";
import { FIR_KERNELS_WASM_BASE64 } from "./fir-kernels-wasm.ts";

/**
 * The interpolation kernels of resampler.ts run as WebAssembly SIMD (fir-kernels.wat), about
 * twice as fast and bit-identical. Inputs are copied into the module's one page of memory and
 * outputs copied back, by plain loops: a subarray per call would allocate on the audio path.
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
  return {
    interpolate(up, x, s, blocks, out, o, c, taps, centreBack) {
      const span = 4 * blocks + taps + 3;
      const produced = 4 * up * blocks;
      if (taps > MAX_TAPS || span > MAX_INPUT || produced > MAX_OUTPUT) return false;
      if (rowsOf !== c || rowsUp !== up) {
        for (let j = 0; j < taps; j++) memory64[(COEFFICIENTS >> 3) + j] = c[taps + j]!;
        if (up === 3) for (let j = 0; j < taps; j++) memory64[row2 + j] = c[2 * taps + j]!;
        rowsOf = c;
        rowsUp = up;
      }
      const input = INPUT >> 3;
      for (let i = 0; i < span; i++) memory64[input + i] = x[s + i]!;
      if (up === 3) {
        kernels.interpolateBy3(
          INPUT,
          blocks,
          OUTPUT,
          COEFFICIENTS,
          COEFFICIENTS + MAX_TAPS * 8,
          taps,
          centreBack,
        );
      } else {
        kernels.interpolateBy2(INPUT, blocks, OUTPUT, COEFFICIENTS, taps, centreBack);
      }
      const output = OUTPUT >> 1;
      for (let i = 0; i < produced; i++) out[o + i] = memory16[output + i]!;
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
    const bytes = new Uint8Array(base64DecodedLength(FIR_KERNELS_WASM_BASE64));
    decodeBase64Into(FIR_KERNELS_WASM_BASE64, bytes);
    // Synchronous compile: the module is under 1 KB. Throws where SIMD is not supported.
    const instance = new wasm.Instance(new wasm.Module(bytes), {});
    return createSimdInterpolator(instance.exports as KernelExports);
  } catch {
    return null;
  }
}

/** The kernels, or null where this runtime has no WebAssembly SIMD (the JavaScript loops run). */
export const simdInterpolator: SimdInterpolator | null = instantiate();
