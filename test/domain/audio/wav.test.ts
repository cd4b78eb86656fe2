import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  decodeWav,
  encodeWav,
  patchWavSizes,
  readWavLayout,
  WAV_HEADER_BYTES,
  WAV_UNKNOWN_SIZE,
  wavHeader,
} from "../../../src/domain/audio/index.ts";
import { DomainError } from "../../../src/domain/errors.ts";

/** Independent little RIFF writer for building arbitrary (and broken) files in tests. */
function chunk(id: string, body: Uint8Array, declaredSize = body.length): Uint8Array {
  const pad = body.length % 2;
  const out = new Uint8Array(8 + body.length + pad);
  const view = new DataView(out.buffer);
  for (let i = 0; i < 4; i++) out[i] = id.charCodeAt(i);
  view.setUint32(4, declaredSize, true);
  out.set(body, 8);
  return out;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function riff(chunks: Uint8Array[], magic = "RIFF", form = "WAVE"): Uint8Array {
  const body = concat(...chunks);
  const head = new Uint8Array(12);
  const view = new DataView(head.buffer);
  for (let i = 0; i < 4; i++) {
    head[i] = magic.charCodeAt(i);
    head[8 + i] = form.charCodeAt(i);
  }
  view.setUint32(4, 4 + body.length, true);
  return concat(head, body);
}

interface FmtOptions {
  tag?: number;
  channels?: number;
  rate?: number;
  bits?: number;
  blockAlign?: number;
  extra?: Uint8Array;
}

function fmt(o: FmtOptions = {}): Uint8Array {
  const channels = o.channels ?? 1;
  const bits = o.bits ?? 16;
  const rate = o.rate ?? 16000;
  const blockAlign = o.blockAlign ?? (channels * bits) / 8;
  const body = new Uint8Array(16 + (o.extra?.length ?? 0));
  const view = new DataView(body.buffer);
  view.setUint16(0, o.tag ?? 1, true);
  view.setUint16(2, channels, true);
  view.setUint32(4, rate, true);
  view.setUint32(8, rate * blockAlign, true);
  view.setUint16(12, blockAlign, true);
  view.setUint16(14, bits, true);
  if (o.extra) body.set(o.extra, 16);
  return chunk("fmt ", body);
}

function pcm(samples: number[]): Uint8Array {
  const out = new Uint8Array(samples.length * 2);
  const view = new DataView(out.buffer);
  samples.forEach((s, i) => {
    view.setInt16(i * 2, s, true);
  });
  return out;
}

/** WAVE_FORMAT_EXTENSIBLE tail: cbSize 22, valid bits, channel mask, sub-format GUID. */
function extensible(subFormat: number): Uint8Array {
  const out = new Uint8Array(24);
  const view = new DataView(out.buffer);
  view.setUint16(0, 22, true);
  view.setUint16(2, 16, true);
  view.setUint32(4, 4, true);
  view.setUint16(8, subFormat, true);
  out.set([0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71], 10);
  return out;
}

const invalidAudio = (message: RegExp) =>
  expect.objectContaining({
    name: "DomainError",
    code: "invalid_audio",
    message: expect.stringMatching(message),
  });

describe("encodeWav / decodeWav round trips", () => {
  it("round-trips mono PCM16 at 16 kHz, including the extreme sample values", () => {
    const samples = Int16Array.of(0, 1, -1, 32767, -32768, 12345, -12345);
    const decoded = decodeWav(encodeWav(samples, 16000, 1));
    expect(decoded).toEqual({ samples, sampleRate: 16000, channels: 1 });
  });

  it("round-trips interleaved stereo (left, right, left, right …)", () => {
    const samples = Int16Array.of(100, -100, 200, -200, 300, -300);
    const bytes = encodeWav(samples, 16000, 2);
    expect(bytes.length).toBe(WAV_HEADER_BYTES + 12);
    expect(decodeWav(bytes)).toEqual({ samples, sampleRate: 16000, channels: 2 });
  });

  it("round-trips any samples, rate and channel count", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 192000 }),
        fc.array(fc.integer({ min: -32768, max: 32767 }), { maxLength: 64 }),
        (channels, sampleRate, values) => {
          const samples = Int16Array.from(
            values.slice(0, values.length - (values.length % channels)),
          );
          expect(decodeWav(encodeWav(samples, sampleRate, channels))).toEqual({
            samples,
            sampleRate,
            channels,
          });
        },
      ),
    );
  });

  it("decodes an empty recording to no samples", () => {
    expect(decodeWav(encodeWav(new Int16Array(0), 8000, 1)).samples.length).toBe(0);
  });

  it("decodes samples from a Uint8Array view at an odd offset into a larger buffer", () => {
    const file = encodeWav(Int16Array.of(-2, 3, 32767), 8000, 1);
    const backing = new Uint8Array(file.length + 1);
    backing.set(file, 1);
    expect(Array.from(decodeWav(backing.subarray(1)).samples)).toEqual([-2, 3, 32767]);
  });

  it("refuses to encode samples that are not whole frames, or a zero rate or channel count", () => {
    const bad = expect.objectContaining({ code: "invalid_argument" });
    expect(() => encodeWav(new Int16Array(3), 16000, 2)).toThrow(bad);
    expect(() => encodeWav(new Int16Array(2), 0, 1)).toThrow(bad);
    expect(() => encodeWav(new Int16Array(2), 16000, 0)).toThrow(bad);
  });
});

describe("canonical header and patching", () => {
  it("writes the canonical 44-byte PCM16 header field by field", () => {
    const h = wavHeader(16000, 2, 64000);
    const view = new DataView(h.buffer, h.byteOffset, h.length);
    const text = (o: number) => String.fromCharCode(...h.subarray(o, o + 4));
    expect(h.length).toBe(44);
    expect([text(0), text(8), text(12), text(36)]).toEqual(["RIFF", "WAVE", "fmt ", "data"]);
    expect(view.getUint32(4, true)).toBe(36 + 64000);
    expect(view.getUint32(16, true)).toBe(16);
    expect(view.getUint16(20, true)).toBe(1);
    expect(view.getUint16(22, true)).toBe(2);
    expect(view.getUint32(24, true)).toBe(16000);
    expect(view.getUint32(28, true)).toBe(64000);
    expect(view.getUint16(32, true)).toBe(4);
    expect(view.getUint16(34, true)).toBe(16);
    expect(view.getUint32(40, true)).toBe(64000);
  });

  it("lets a streaming writer put a zero-size header first and patch both sizes at the end", () => {
    const samples = Int16Array.of(1, 2, 3, 4, 5, 6);
    const header = wavHeader(8000, 1, 0);
    const data = new Uint8Array(samples.buffer);
    const patched = patchWavSizes(header, data.length);
    expect(patched).toBe(header);
    const file = concat(header, data);
    expect(file).toEqual(encodeWav(samples, 8000, 1));
    expect(readWavLayout(file)).toMatchObject({ dataOffset: 44, dataBytes: 12, sizeKnown: true });
  });

  it("writes 0xFFFFFFFF in both size fields for a streaming header and patches it at the end", () => {
    const header = wavHeader(16000, 1, WAV_UNKNOWN_SIZE);
    const view = new DataView(header.buffer);
    expect([view.getUint32(4, true), view.getUint32(40, true)]).toEqual([0xffffffff, 0xffffffff]);
    patchWavSizes(header, 32);
    expect(header).toEqual(wavHeader(16000, 1, 32));
  });

  it("refuses to patch something that is not a canonical header, or a size that is not whole frames", () => {
    expect(() => patchWavSizes(new Uint8Array(44), 0)).toThrow(invalidAudio(/canonical/));
    expect(() => patchWavSizes(wavHeader(16000, 2, 0), 6)).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
    expect(() => wavHeader(16000, 1, 2 ** 32)).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
  });
});

describe("decodeWav accepts any RIFF/WAVE PCM16 file", () => {
  it("skips LIST and other unknown chunks before and after fmt", () => {
    const list = chunk(
      "LIST",
      new TextEncoder().encode("INFOISFT\x0e\x00\x00\x00Lavf60.16.100\x00"),
    );
    const file = riff([
      chunk("JUNK", new Uint8Array(28)),
      fmt({ rate: 8000 }),
      list,
      chunk("data", pcm([7, -7])),
    ]);
    expect(decodeWav(file)).toEqual({
      samples: Int16Array.of(7, -7),
      sampleRate: 8000,
      channels: 1,
    });
  });

  it("follows odd-sized chunks by their pad byte", () => {
    const odd = chunk("note", new Uint8Array([1, 2, 3])); // 3 bytes + 1 pad
    expect(odd.length).toBe(12);
    const file = riff([fmt(), odd, chunk("data", pcm([5, 6, 7]))]);
    expect(Array.from(decodeWav(file).samples)).toEqual([5, 6, 7]);
  });

  it("accepts an 18-byte fmt chunk (cbSize = 0) and WAVE_FORMAT_EXTENSIBLE with a PCM sub-format", () => {
    const fmt18 = riff([fmt({ extra: new Uint8Array(2) }), chunk("data", pcm([1]))]);
    expect(Array.from(decodeWav(fmt18).samples)).toEqual([1]);
    const ext = riff([
      fmt({ tag: 0xfffe, channels: 2, extra: extensible(1) }),
      chunk("data", pcm([1, 2])),
    ]);
    expect(decodeWav(ext)).toEqual({
      samples: Int16Array.of(1, 2),
      sampleRate: 16000,
      channels: 2,
    });
  });

  it("reads a data chunk followed by trailing chunks, and a data chunk placed before fmt", () => {
    const trailing = riff([fmt(), chunk("data", pcm([3, 4])), chunk("LIST", new Uint8Array(10))]);
    expect(Array.from(decodeWav(trailing).samples)).toEqual([3, 4]);
    const dataFirst = riff([chunk("data", pcm([8, 9])), fmt({ rate: 24000 })]);
    expect(decodeWav(dataFirst)).toEqual({
      samples: Int16Array.of(8, 9),
      sampleRate: 24000,
      channels: 1,
    });
  });

  it.each([0, 0xffffffff])(
    "reads a crash-recovered file whose data size is the placeholder %i to the end of the file, in whole frames",
    (placeholder) => {
      const header = wavHeader(16000, 2, 0);
      const view = new DataView(header.buffer);
      view.setUint32(4, placeholder, true);
      view.setUint32(40, placeholder, true);
      // Three stereo frames and half a sample of a fourth, as a crash mid-write leaves it.
      const file = concat(header, pcm([1, -1, 2, -2, 3, -3]), Uint8Array.of(0x7f));
      expect(decodeWav(file)).toEqual({
        samples: Int16Array.of(1, -1, 2, -2, 3, -3),
        sampleRate: 16000,
        channels: 2,
      });
      expect(readWavLayout(file)).toMatchObject({
        dataOffset: 44,
        dataBytes: 12,
        sizeKnown: false,
      });
    },
  );

  it("reads a genuinely empty data chunk followed by a LIST chunk as no samples", () => {
    const file = riff([fmt(), chunk("data", new Uint8Array(0)), chunk("LIST", new Uint8Array(7))]);
    expect(decodeWav(file).samples.length).toBe(0);
  });

  it("ignores a RIFF size that disagrees with the file length", () => {
    const file = encodeWav(Int16Array.of(1, 2), 8000, 1);
    new DataView(file.buffer).setUint32(4, 12345, true);
    expect(Array.from(decodeWav(file).samples)).toEqual([1, 2]);
  });
});

describe("decodeWav refuses malformed files with invalid_audio and a clear message", () => {
  const valid = encodeWav(Int16Array.of(1, 2, 3, 4), 16000, 1);

  it.each([
    ["empty input", new Uint8Array(0), /not a WAV file/],
    ["a file shorter than the RIFF header", valid.subarray(0, 11), /not a WAV file/],
    ["wrong magic (RIFX)", riff([fmt(), chunk("data", pcm([1]))], "RIFX"), /not a RIFF\/WAVE file/],
    ["RF64", riff([fmt(), chunk("data", pcm([1]))], "RF64"), /RF64 is not supported/],
    [
      "a RIFF form other than WAVE",
      riff([fmt(), chunk("data", pcm([1]))], "RIFF", "AVI "),
      /not a RIFF\/WAVE/,
    ],
    [
      "an Ogg file",
      new TextEncoder().encode("OggS\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00"),
      /not a RIFF\/WAVE/,
    ],
    [
      "IEEE float samples",
      riff([fmt({ tag: 3, bits: 32 }), chunk("data", new Uint8Array(8))]),
      /format tag 3 \(IEEE float\).*16-bit PCM/,
    ],
    [
      "mu-law samples",
      riff([fmt({ tag: 7, bits: 8 }), chunk("data", new Uint8Array(8))]),
      /format tag 7 \(mu-law\)/,
    ],
    [
      "A-law samples",
      riff([fmt({ tag: 6, bits: 8 }), chunk("data", new Uint8Array(8))]),
      /format tag 6 \(A-law\)/,
    ],
    [
      "extensible float",
      riff([
        fmt({ tag: 0xfffe, bits: 32, extra: extensible(3) }),
        chunk("data", new Uint8Array(8)),
      ]),
      /format tag 3/,
    ],
    [
      "8-bit PCM",
      riff([fmt({ bits: 8 }), chunk("data", new Uint8Array(8))]),
      /8-bit PCM; only 16-bit PCM/,
    ],
    ["24-bit PCM", riff([fmt({ bits: 24 }), chunk("data", new Uint8Array(6))]), /24-bit PCM/],
    [
      "zero channels",
      riff([fmt({ channels: 0, blockAlign: 2 }), chunk("data", pcm([1]))]),
      /zero channels/,
    ],
    ["a zero sample rate", riff([fmt({ rate: 0 }), chunk("data", pcm([1]))]), /zero sample rate/],
    [
      "a block align that does not match the channels",
      riff([fmt({ channels: 2, blockAlign: 2 }), chunk("data", pcm([1, 2]))]),
      /block align 2/,
    ],
    [
      "a fmt chunk shorter than 16 bytes",
      riff([chunk("fmt ", new Uint8Array(14)), chunk("data", pcm([1]))]),
      /at least 16/,
    ],
    ["no fmt chunk", riff([chunk("data", pcm([1, 2]))]), /no "fmt " chunk/],
    ["no data chunk", riff([fmt(), chunk("LIST", new Uint8Array(4))]), /no data chunk/],
    [
      "a truncated data chunk",
      valid.subarray(0, valid.length - 2),
      /truncated WAV: data chunk declares 8 bytes but only 6 remain/,
    ],
    [
      "a chunk running past the end before data",
      riff([fmt(), chunk("LIST", new Uint8Array(4), 400)]),
      /truncated WAV: "LIST" chunk/,
    ],
    ["a file cut inside the fmt chunk", valid.subarray(0, 30), /truncated WAV: "fmt " chunk/],
    [
      "a data size that is not whole frames",
      riff([fmt({ channels: 2 }), chunk("data", pcm([1, 2, 3]))]),
      /not a whole number of 4-byte frames/,
    ],
    ["two fmt chunks", riff([fmt(), fmt(), chunk("data", pcm([1]))]), /more than one "fmt "/],
  ])("refuses %s", (_name, bytes, message) => {
    expect(() => decodeWav(bytes)).toThrow(invalidAudio(message));
  });

  it("throws only DomainError(invalid_audio) for arbitrary bytes or corrupted valid files, never a RangeError", () => {
    const outcome = (bytes: Uint8Array): string => {
      try {
        decodeWav(bytes);
        return "ok";
      } catch (error) {
        if (error instanceof DomainError && error.code === "invalid_audio") return "invalid_audio";
        throw error;
      }
    };
    const base = riff([
      fmt({ channels: 2 }),
      chunk("LIST", new Uint8Array(5)),
      chunk("data", pcm([1, 2, 3, 4])),
    ]);
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 80 }),
          fc
            .tuple(fc.nat(base.length - 1), fc.integer({ min: 0, max: 255 }), fc.nat(base.length))
            .map(([at, value, cut]) => {
              const copy = base.slice(0, Math.max(cut, at + 1));
              copy[at] = value;
              return copy;
            }),
        ),
        (bytes) => {
          expect(["ok", "invalid_audio"]).toContain(outcome(bytes));
        },
      ),
      { numRuns: 3000 },
    );
  });
});
