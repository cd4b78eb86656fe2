import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { audioMessage } from "../../../src/adapters/ws/audio-message.ts";

const prefix = Buffer.from('{"audio":"', "latin1");
const suffix = Buffer.from('"}', "latin1");

describe("audioMessage", () => {
  it("is the JSON text a string template would give, for any bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), (bytes) => {
        const message = audioMessage(prefix, bytes, suffix);
        const expected = `{"audio":"${Buffer.from(bytes).toString("base64")}"}`;
        expect(message.toString("latin1")).toBe(expected);
        expect(JSON.parse(message.toString("utf8"))).toEqual({
          audio: Buffer.from(bytes).toString("base64"),
        });
      }),
    );
  });

  it("encodes only the view's own bytes (a subarray of a larger sample buffer)", () => {
    const samples = Int16Array.from({ length: 64 }, (_, i) => i * 1000 - 30000);
    const view = samples.subarray(5, 17);
    const message = audioMessage(prefix, view, suffix);
    const base64 = JSON.parse(message.toString()).audio as string;
    const decoded = Buffer.from(base64, "base64");
    expect(new Int16Array(decoded.buffer, decoded.byteOffset, decoded.length / 2)).toEqual(view);
  });

  it("makes a new buffer every time, so a message still queued is never overwritten", () => {
    const a = audioMessage(prefix, new Uint8Array([1, 2, 3]), suffix);
    const b = audioMessage(prefix, new Uint8Array([4, 5, 6]), suffix);
    expect(a.toString()).toBe('{"audio":"AQID"}');
    expect(b.toString()).toBe('{"audio":"BAUG"}');
  });
});
