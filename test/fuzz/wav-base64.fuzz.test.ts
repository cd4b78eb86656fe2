import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  base64DecodedLength,
  decodeBase64,
  decodeBase64Into,
} from "../../src/adapters/encoding/base64.ts";
import { decodeWav, encodeWav, readWavLayout } from "../../src/domain/audio/index.ts";
import { DomainError } from "../../src/domain/errors.ts";
import { anyString, textuallyMutated } from "../support/fuzz-arbitraries.ts";

/** Runs `fn`; a failure must be the domain's invalid_audio error, nothing else. */
function resultOrInvalidAudio<T>(fn: () => T): T | "invalid_audio" {
  try {
    return fn();
  } catch (error) {
    expect(error).toBeInstanceOf(DomainError);
    expect((error as DomainError).code).toBe("invalid_audio");
    return "invalid_audio";
  }
}

const wavFile = fc
  .tuple(
    fc.integer({ min: 1, max: 4 }),
    fc.constantFrom(8000, 16000, 24000, 44100, 1),
    fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 64 }),
  )
  .map(([channels, rate, values]) => {
    const frames = Math.floor(values.length / channels);
    const samples = Int16Array.from(values.slice(0, frames * channels));
    return { channels, rate, samples, bytes: encodeWav(samples, rate, channels) };
  });

/** Byte-level damage to a file: flips, overwrites of 32-bit fields, cuts and appended junk. */
const damagedWav = wavFile.chain(({ bytes }) =>
  fc
    .array(
      fc.tuple(
        fc.nat(4),
        fc.nat({ max: bytes.length + 8 }),
        fc.constantFrom(0, 1, 0xff, 0x7f, 0x80, 0xfe),
        fc.uint8Array({ maxLength: 24 }),
      ),
      { minLength: 1, maxLength: 4 },
    )
    .map((edits) => {
      let out = Uint8Array.from(bytes);
      for (const [op, at, value, junk] of edits) {
        const i = Math.min(at, Math.max(0, out.length - 1));
        if (op === 0 && out.length > 0) out[i] = value;
        else if (op === 1 && out.length > 0) out[i] = out[i]! ^ (1 << (value & 7));
        else if (op === 2) out = out.slice(0, i);
        else if (op === 3) out = Uint8Array.from([...out, ...junk]);
        else for (let k = 0; k < 4 && i + k < out.length; k++) out[i + k] = value;
      }
      return out;
    }),
);

describe("decodeWav under random and damaged files", () => {
  it("gives back exactly the samples, rate and channels that encodeWav wrote", () => {
    fc.assert(
      fc.property(wavFile, ({ channels, rate, samples, bytes }) => {
        expect(decodeWav(bytes)).toEqual({ samples, sampleRate: rate, channels });
      }),
      { numRuns: 500 },
    );
  });

  it("answers random bytes with samples or invalid_audio, never another error", () => {
    const riffish = fc
      .tuple(fc.constantFrom("RIFF", "RIFX", "RF64", "WAVE", ""), fc.uint8Array({ maxLength: 120 }))
      .map(([magic, rest]) => {
        const head = Uint8Array.from(Buffer.from(magic, "latin1"));
        const out = new Uint8Array(head.length + rest.length);
        out.set(head);
        out.set(rest, head.length);
        if (out.length >= 12) out.set(Buffer.from("WAVE"), 8);
        return out;
      });
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 200 }), riffish), (bytes) => {
        resultOrInvalidAudio(() => decodeWav(bytes));
      }),
      { numRuns: 2000 },
    );
  });

  it("answers damaged files with whole sample frames that lie inside the file, or invalid_audio", () => {
    fc.assert(
      fc.property(damagedWav, (bytes) => {
        const layout = resultOrInvalidAudio(() => readWavLayout(bytes));
        const decoded = resultOrInvalidAudio(() => decodeWav(bytes));
        expect(decoded === "invalid_audio").toBe(layout === "invalid_audio");
        if (layout === "invalid_audio" || decoded === "invalid_audio") return;
        expect(layout.dataOffset + layout.dataBytes).toBeLessThanOrEqual(bytes.length);
        expect(layout.dataBytes % (layout.channels * 2)).toBe(0);
        expect(decoded.samples.length).toBe(layout.dataBytes / 2);
        expect(decoded.channels).toBeGreaterThan(0);
        expect(decoded.sampleRate).toBeGreaterThan(0);
      }),
      { numRuns: 3000 },
    );
  });

  it("decodes a file at any byte offset inside a larger buffer the same way", () => {
    fc.assert(
      fc.property(wavFile, fc.nat(7), ({ bytes }, offset) => {
        const backing = new Uint8Array(bytes.length + offset);
        backing.set(bytes, offset);
        expect(decodeWav(backing.subarray(offset))).toEqual(decodeWav(bytes));
      }),
      { numRuns: 300 },
    );
  });
});

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

describe("strict base64 under random and damaged text", () => {
  it("decodes every canonical encoding back to its bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const text = Buffer.from(bytes).toString("base64");
        expect(base64DecodedLength(text)).toBe(bytes.length);
        expect(decodeBase64(text)).toEqual(bytes);
      }),
      { numRuns: 1000 },
    );
  });

  it("accepts only well-formed base64, agreeing with Node on what it accepts", () => {
    const candidates = fc.oneof(
      anyString(40),
      fc.base64String({ maxLength: 40 }),
      fc
        .uint8Array({ maxLength: 30 })
        .chain((b) => textuallyMutated(Buffer.from(b).toString("base64"))),
      fc.uint8Array({ maxLength: 30 }).map((b) => Buffer.from(b).toString("base64url")),
    );
    fc.assert(
      fc.property(candidates, (text) => {
        const decoded = resultOrInvalidAudio(() => decodeBase64(text));
        if (decoded === "invalid_audio") return;
        expect(text).toMatch(BASE64);
        expect(Buffer.from(decoded)).toEqual(Buffer.from(text, "base64"));
      }),
      { numRuns: 3000 },
    );
  });

  it("never writes past the buffer it is given: a payload too large is invalid_audio", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), fc.nat(64), (bytes, room) => {
        const guard = 0xa5;
        const backing = new Uint8Array(room + 8).fill(guard);
        const out = backing.subarray(0, room);
        const n = resultOrInvalidAudio(() =>
          decodeBase64Into(Buffer.from(bytes).toString("base64"), out),
        );
        expect(n === "invalid_audio").toBe(bytes.length > room);
        expect(backing.subarray(room).every((b) => b === guard)).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });
});
