/**
 * Reads a Twilio `media` frame straight from the bytes of its WebSocket message, for the 50
 * frames a second per call: no string for the message, no JSON objects, no string for the
 * payload (it is decoded from these bytes). It accepts a strict subset of JSON, the shape
 * Twilio sends:
 *
 *   {"event":"media","sequenceNumber":"4","media":{"track":"inbound","chunk":"2",
 *    "timestamp":"45","payload":"…"},"streamSid":"MZ…"}
 *
 * i.e. an object whose values are strings without escapes, plus one `media` object of such
 * strings, with `event` equal to "media" and a `payload`. Keys are compared as raw bytes and a
 * repeated key counts with its last value, as in JSON.parse. Anything else (an escape, a number,
 * another nesting, malformed JSON) returns null, and the frame goes through JSON.parse and the
 * zod schemas, which accept or word the error: this scanner only ever takes a frame that they
 * would take identically (a property test holds it to that).
 */
export interface ScannedMedia {
  /** The payload's base64 text is bytes[payloadStart, payloadEnd). */
  payloadStart: number;
  payloadEnd: number;
  /** media.timestamp as a number, as the JSON path reads it; null when absent or not numeric. */
  timestampMs: number | null;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const COMMA = 0x2c;
const OPEN = 0x7b;
const CLOSE = 0x7d;

const EVENT = bytesOf("event");
const MEDIA = bytesOf("media");
const PAYLOAD = bytesOf("payload");
const TIMESTAMP = bytesOf("timestamp");

function bytesOf(text: string): Uint8Array {
  return Uint8Array.from(text, (c) => c.charCodeAt(0));
}

const isSpace = (b: number) => b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;

function equals(bytes: Uint8Array, start: number, end: number, word: Uint8Array): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) if (bytes[start + i] !== word[i]) return false;
  return true;
}

/** Scanner state over one message; positions are reused, nothing is allocated per member. */
class Cursor {
  bytes: Uint8Array = new Uint8Array(0);
  at = 0;
  /** The last string read is bytes[from, to); the last key, bytes[keyFrom, keyTo). */
  from = 0;
  to = 0;
  keyFrom = 0;
  keyTo = 0;

  reset(bytes: Uint8Array): void {
    this.bytes = bytes;
    this.at = this.from = this.to = 0;
  }

  skipSpace(): void {
    const bytes = this.bytes;
    while (this.at < bytes.length && isSpace(bytes[this.at]!)) this.at++;
  }

  /** Reads a string with no escapes or control characters; false otherwise. */
  string(): boolean {
    const bytes = this.bytes;
    if (bytes[this.at] !== QUOTE) return false;
    const from = this.at + 1;
    let i = from;
    for (; i < bytes.length; i++) {
      const b = bytes[i]!;
      if (b === QUOTE) break;
      if (b === BACKSLASH || b < 0x20) return false;
    }
    if (i >= bytes.length) return false;
    this.from = from;
    this.to = i;
    this.at = i + 1;
    return true;
  }

  /** Skips whitespace, then expects `byte`. */
  expect(byte: number): boolean {
    this.skipSpace();
    if (this.bytes[this.at] !== byte) return false;
    this.at++;
    return true;
  }

  /**
   * Just after an object's `{` (first = true) or one of its values: reads the next member's key
   * and its colon (KEY, the key in [keyFrom, keyTo), the cursor on the value), or the object's
   * `}` (END); anything else is ERROR.
   */
  nextKey(first: boolean): Step {
    this.skipSpace();
    const b = this.bytes[this.at];
    if (b === CLOSE) {
      this.at++;
      return END;
    }
    if (!first) {
      if (b !== COMMA) return ERROR;
      this.at++;
      this.skipSpace();
    }
    if (!this.string()) return ERROR;
    this.keyFrom = this.from;
    this.keyTo = this.to;
    if (!this.expect(COLON)) return ERROR;
    this.skipSpace();
    return KEY;
  }

  /** Whether the key just read is `word`. */
  keyIs(word: Uint8Array): boolean {
    return equals(this.bytes, this.keyFrom, this.keyTo, word);
  }
}

type Step = 0 | 1 | 2;
const KEY: Step = 0;
const END: Step = 1;
const ERROR: Step = 2;

const cursor = new Cursor();
const scanned: ScannedMedia = { payloadStart: 0, payloadEnd: 0, timestampMs: null };

/** The frame's payload and timestamp, or null. The result is reused: read it before the next call. */
export function scanMediaFrame(bytes: Uint8Array): ScannedMedia | null {
  cursor.reset(bytes);
  let isMedia = false;
  let sawMedia = false;
  let payloadStart = -1;
  let payloadEnd = -1;
  let timestampStart = -1;
  let timestampEnd = -1;

  if (!cursor.expect(OPEN)) return null;
  let step = cursor.nextKey(true);
  for (; step === KEY; step = cursor.nextKey(false)) {
    if (cursor.keyIs(MEDIA)) {
      // A later `media` replaces an earlier one entirely, as in JSON.parse.
      if (!cursor.expect(OPEN)) return null;
      sawMedia = true;
      payloadStart = payloadEnd = timestampStart = timestampEnd = -1;
      let inner = cursor.nextKey(true);
      for (; inner === KEY; inner = cursor.nextKey(false)) {
        if (!cursor.string()) return null;
        if (cursor.keyIs(PAYLOAD)) {
          payloadStart = cursor.from;
          payloadEnd = cursor.to;
        } else if (cursor.keyIs(TIMESTAMP)) {
          timestampStart = cursor.from;
          timestampEnd = cursor.to;
        }
      }
      if (inner === ERROR) return null;
    } else {
      const isEvent = cursor.keyIs(EVENT);
      if (!cursor.string()) return null;
      if (isEvent) isMedia = equals(bytes, cursor.from, cursor.to, MEDIA);
    }
  }
  if (step === ERROR) return null;
  cursor.skipSpace();
  if (cursor.at !== bytes.length) return null;
  if (!isMedia || !sawMedia || payloadStart < 0) return null;
  scanned.payloadStart = payloadStart;
  scanned.payloadEnd = payloadEnd;
  scanned.timestampMs =
    timestampStart < 0 ? null : timestampOf(bytes, timestampStart, timestampEnd);
  // The message stays referenced only by its caller.
  cursor.reset(EMPTY);
  return scanned;
}

const EMPTY = new Uint8Array(0);

/** Number(text), finite or null, like the JSON path; plain digits without making a string. */
function timestampOf(bytes: Uint8Array, start: number, end: number): number | null {
  if (end > start && end - start <= 15) {
    let value = 0;
    let i = start;
    for (; i < end; i++) {
      const digit = bytes[i]! - 0x30;
      if (digit < 0 || digit > 9) break;
      value = value * 10 + digit;
    }
    if (i === end) return value;
  }
  const value = Number(new TextDecoder().decode(bytes.subarray(start, end)));
  return Number.isFinite(value) ? value : null;
}
