import { invalidAudio } from "./errors.ts";

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

/** Decodes `text` into `out` and returns the number of bytes written; throws invalid_audio. */
export function decodeBase64Into(text: string, out: Uint8Array): number {
  const length = base64DecodedLength(text);
  if (length < 0) throw invalidAudio("payload is not valid base64 (bad length)");
  if (length > out.length) throw invalidAudio("payload is larger than a media frame allows");
  const n = text.length;
  const full = length % 3 === 0 ? n : n - 4;
  let o = 0;
  for (let i = 0; i < full; i += 4) {
    const a = DECODE[text.charCodeAt(i) & 0xff]!;
    const b = DECODE[text.charCodeAt(i + 1) & 0xff]!;
    const c = DECODE[text.charCodeAt(i + 2) & 0xff]!;
    const d = DECODE[text.charCodeAt(i + 3) & 0xff]!;
    if ((a | b | c | d) === INVALID || (a | b | c | d) > 63 || hasWideChar(text, i)) {
      throw invalidAudio("payload is not valid base64");
    }
    out[o++] = (a << 2) | (b >> 4);
    out[o++] = ((b & 15) << 4) | (c >> 2);
    out[o++] = ((c & 3) << 6) | d;
  }
  if (full < n) {
    const a = DECODE[text.charCodeAt(full) & 0xff]!;
    const b = DECODE[text.charCodeAt(full + 1) & 0xff]!;
    const rest = length % 3;
    const c = rest === 2 ? DECODE[text.charCodeAt(full + 2) & 0xff]! : 0;
    if (a > 63 || b > 63 || c > 63 || hasWideChar(text, full)) {
      throw invalidAudio("payload is not valid base64");
    }
    out[o++] = (a << 2) | (b >> 4);
    if (rest === 2) out[o++] = ((b & 15) << 4) | (c >> 2);
  }
  return o;
}

function hasWideChar(text: string, at: number): boolean {
  return (
    text.charCodeAt(at) > 127 ||
    text.charCodeAt(at + 1) > 127 ||
    text.charCodeAt(at + 2) > 127 ||
    text.charCodeAt(at + 3) > 127
  );
}

/** Allocating convenience for cold paths and tests. */
export function decodeBase64(text: string): Uint8Array {
  const length = base64DecodedLength(text);
  if (length < 0) throw invalidAudio("payload is not valid base64 (bad length)");
  const out = new Uint8Array(length);
  decodeBase64Into(text, out);
  return out;
}
