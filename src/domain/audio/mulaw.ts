import { invalidArgument } from "../errors.ts";

/*
 * ITU-T G.711 mu-law, bit-exact with the ITU-T G.191 STL reference (g711.c ulaw_compress /
 * ulaw_expand). The reference takes 16-bit samples as 14-bit left-justified values and folds
 * negatives with a ONE's complement (~x >> 2), so -1..-4 land in the "-0" code 0x7F. The popular
 * Sun/CCITT variant (BIAS 0x84 applied to -x) differs from it on some negative inputs; see the tests.
 */

/** Quantized linear value for each of the 256 codes, in 16-bit scale (e.g. 0x00 → -32124). */
function buildDecodeTable(): Int16Array {
  const table = new Int16Array(256);
  for (let code = 0; code < 256; code++) {
    const sign = code < 0x80 ? -1 : 1;
    const inverted = ~code;
    const exponent = (inverted >> 4) & 0x07;
    const mantissa = inverted & 0x0f;
    const step = 4 << (exponent + 1);
    table[code] = sign * ((0x80 << exponent) + step * mantissa + (step >> 1) - 4 * 33);
  }
  return table;
}

function compressOne(sample: number): number {
  // The reference looks only at sample >> 2 (two's complement floor) and at the sign,
  // which is why a 16384-entry table indexed by the 14-bit value reproduces it exactly.
  let absno = (sample < 0 ? ~sample >> 2 : sample >> 2) + 33;
  if (absno > 0x1fff) absno = 0x1fff;
  let segno = 1;
  for (let i = absno >> 6; i !== 0; i >>= 1) segno++;
  const high = 8 - segno;
  const low = 0x0f - ((absno >> segno) & 0x0f);
  const code = (high << 4) | low;
  return sample >= 0 ? code | 0x80 : code;
}

/** Indexed by (sample >> 2) & 0x3fff, i.e. the 14-bit two's complement value. */
function buildEncodeTable(): Uint8Array {
  const table = new Uint8Array(16384);
  for (let v14 = -8192; v14 < 8192; v14++) {
    table[v14 & 0x3fff] = compressOne(v14 * 4);
  }
  return table;
}

const DECODE = buildDecodeTable();
const ENCODE = buildEncodeTable();

/** Decodes mu-law bytes into `out` starting at `outOffset`; returns the number of samples written. */
export function decodeMuLawInto(bytes: Uint8Array, out: Int16Array, outOffset = 0): number {
  const n = bytes.length;
  if (outOffset < 0 || outOffset + n > out.length) {
    throw invalidArgument(
      `decodeMuLawInto: output has room for ${Math.max(0, out.length - outOffset)} samples, needs ${n}`,
    );
  }
  for (let i = 0; i < n; i++) out[outOffset + i] = DECODE[bytes[i]!]!;
  return n;
}

/** Encodes PCM16 samples into `out` starting at `outOffset`; returns the number of bytes written. */
export function encodeMuLawInto(samples: Int16Array, out: Uint8Array, outOffset = 0): number {
  const n = samples.length;
  if (outOffset < 0 || outOffset + n > out.length) {
    throw invalidArgument(
      `encodeMuLawInto: output has room for ${Math.max(0, out.length - outOffset)} bytes, needs ${n}`,
    );
  }
  for (let i = 0; i < n; i++) out[outOffset + i] = ENCODE[(samples[i]! >> 2) & 0x3fff]!;
  return n;
}

export function decodeMuLaw(bytes: Uint8Array): Int16Array {
  const out = new Int16Array(bytes.length);
  decodeMuLawInto(bytes, out);
  return out;
}

export function encodeMuLaw(samples: Int16Array): Uint8Array {
  const out = new Uint8Array(samples.length);
  encodeMuLawInto(samples, out);
  return out;
}

/** Single-sample forms, for callers that work sample by sample (e.g. silence detection). */
export const decodeMuLawSample = (code: number): number => DECODE[code & 0xff]!;
export const encodeMuLawSample = (sample: number): number => ENCODE[(sample >> 2) & 0x3fff]!;
