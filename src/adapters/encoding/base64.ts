import { invalidAudio } from "../../domain/errors.ts";

/**
 * Strict RFC 4648 base64 decoding into a caller-owned buffer. Node's Buffer decoder silently
 * skips invalid characters, which would turn a corrupted frame into shifted audio; this one
 * rejects it. It also allocates nothing, which matters at 50 frames a second per call.
 */
const INVALID = 255;
const DECODE = new Uint8Array(256).fill(INVALID);
const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
for (let i = 0; i < ALPHABET.length; i++) DECODE[ALPHABET.charCodeAt(i)] = i;

/** Number of bytes `text` decodes to, or -1 when its length or padding is not valid base64. */
export function base64DecodedLength(text: string): number {
  const n = text.length;
  if (n % 4 !== 0) return -1;
  if (n === 0) return 0;
  let padding = 0;
  if (text.charCodeAt(n - 1) === 61) padding++;
  if (text.charCodeAt(n - 2) === 61) padding++;
  return (n / 4) * 3 - padding;
}

/** base64DecodedLength of the ASCII text in src[start, end). */
export function base64DecodedLengthOfBytes(src: Uint8Array, start: number, end: number): number {
  const n = end - start;
  if (n % 4 !== 0) return -1;
  if (n === 0) return 0;
  let padding = 0;
  if (src[end - 1] === 61) padding++;
  if (src[end - 2] === 61) padding++;
  return (n / 4) * 3 - padding;
}

let charScratch = new Uint8Array(1024);

/** Decodes `text` into `out` and returns the number of bytes written; throws invalid_audio. */
export function decodeBase64Into(text: string, out: Uint8Array): number {
  const n = text.length;
  if (n > charScratch.length) charScratch = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const code = text.charCodeAt(i);
    // Anything outside ASCII is invalid; 0x80 is not in the alphabet, so it stays invalid.
    charScratch[i] = code > 127 ? 0x80 : code;
  }
  return decodeBase64BytesInto(charScratch, 0, n, out);
}

/**
 * Decodes the base64 text in src[start, end) (one byte per character, as it arrives in a
 * WebSocket frame) into `out`; returns the number of bytes written; throws invalid_audio.
 */
export function decodeBase64BytesInto(
  src: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array,
): number {
  const length = base64DecodedLengthOfBytes(src, start, end);
  if (length < 0) throw invalidAudio("payload is not valid base64 (bad length)");
  if (length > out.length) throw invalidAudio("payload is larger than a media frame allows");
  const full = length % 3 === 0 ? end : end - 4;
  let o = 0;
  for (let i = start; i < full; i += 4) {
    const a = DECODE[src[i]!]!;
    const b = DECODE[src[i + 1]!]!;
    const c = DECODE[src[i + 2]!]!;
    const d = DECODE[src[i + 3]!]!;
    if ((a | b | c | d) > 63) throw invalidAudio("payload is not valid base64");
    out[o++] = (a << 2) | (b >> 4);
    out[o++] = ((b & 15) << 4) | (c >> 2);
    out[o++] = ((c & 3) << 6) | d;
  }
  if (full < end) {
    const a = DECODE[src[full]!]!;
    const b = DECODE[src[full + 1]!]!;
    const rest = length % 3;
    const c = rest === 2 ? DECODE[src[full + 2]!]! : 0;
    if (a > 63 || b > 63 || c > 63) throw invalidAudio("payload is not valid base64");
    out[o++] = (a << 2) | (b >> 4);
    if (rest === 2) out[o++] = ((b & 15) << 4) | (c >> 2);
  }
  return o;
}

/** Allocating convenience for cold paths and tests. */
export function decodeBase64(text: string): Uint8Array {
  const length = base64DecodedLength(text);
  if (length < 0) throw invalidAudio("payload is not valid base64 (bad length)");
  const out = new Uint8Array(length);
  decodeBase64Into(text, out);
  return out;
}
