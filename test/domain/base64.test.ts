import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  base64EncodedLength,
  decodeBase64,
  decodeBase64Into,
  encodeBase64Into,
} from "../../src/domain/base64.ts";

describe("strict base64", () => {
  it("decodes exactly what Node encodes, for any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (bytes) => {
        const text = Buffer.from(bytes).toString("base64");
        expect(decodeBase64(text)).toEqual(bytes);
      }),
    );
  });

  it.each(["abc", "ab=c", "a===", "YW Jj", "YWJj\n", "YW*j", "Y\u00c1Jj", "====", "YWJ\u0100"])(
    "rejects %j with a typed error",
    (text) => {
      expect(() => decodeBase64(text)).toThrow(expect.objectContaining({ code: "invalid_audio" }));
    },
  );

  it("never throws anything but a typed error on random strings", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 64 }), (text) => {
        try {
          decodeBase64(text);
        } catch (error) {
          expect(error).toMatchObject({ code: "invalid_audio" });
        }
      }),
    );
  });

  it("refuses a payload larger than the destination", () => {
    const out = new Uint8Array(2);
    expect(() => decodeBase64Into("YWJj", out)).toThrow(/larger than a media frame/);
  });
});

describe("base64 encoding into bytes", () => {
  it("writes exactly Node's base64 for any bytes, at any offset, touching nothing else", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 1000 }), fc.nat(7), (bytes, offset) => {
        const out = new Uint8Array(offset + base64EncodedLength(bytes.length) + 3).fill(7);
        const end = encodeBase64Into(bytes, out, offset);
        const expected = Buffer.from(bytes).toString("base64");
        expect(end - offset).toBe(expected.length);
        expect(Buffer.from(out.subarray(offset, end)).toString("latin1")).toBe(expected);
        expect([...out.subarray(0, offset), ...out.subarray(end)].every((b) => b === 7)).toBe(true);
      }),
    );
  });

  it("refuses to write past the end of its output", () => {
    expect(() => encodeBase64Into(new Uint8Array(3), new Uint8Array(5), 2)).toThrow(RangeError);
  });
});
