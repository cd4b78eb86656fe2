import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeBase64, decodeBase64Into } from "../../../src/adapters/encoding/base64.ts";

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
