import { describe, expect, it } from "vitest";
import { decideRange } from "../../../../src/adapters/http/api/byte-range.ts";

describe("decideRange", () => {
  it("sends the whole file without a Range header", () => {
    expect(decideRange(undefined, 100)).toEqual({ kind: "full" });
  });

  it.each([
    ["bytes=0-0", 0, 0],
    ["bytes=0-99", 0, 99],
    ["bytes=10-", 10, 99],
    ["bytes=90-500", 90, 99],
    ["bytes=-1", 99, 99],
    ["bytes=-100", 0, 99],
    ["bytes=-1000", 0, 99],
    ["bytes=5-5,", 5, 5],
  ])("reads %s of a 100-byte file as bytes %i-%i", (header, start, end) => {
    expect(decideRange(header, 100)).toEqual({ kind: "partial", start, end });
  });

  it.each(["bytes=100-", "bytes=100-200", "bytes=-0", "bytes=1000000000000000000000-"])(
    "finds %s unsatisfiable for a 100-byte file",
    (header) => {
      expect(decideRange(header, 100)).toEqual({ kind: "unsatisfiable" });
    },
  );

  it("finds every range of an empty file unsatisfiable", () => {
    expect(decideRange("bytes=0-", 0)).toEqual({ kind: "unsatisfiable" });
    expect(decideRange("bytes=-5", 0)).toEqual({ kind: "unsatisfiable" });
  });

  it.each([
    "bytes=9-3",
    "bytes=a-b",
    "bytes=-",
    "bytes=",
    "bytes=,",
    "bytes 0-9",
    "pages=0-9",
    "bytes=0-9,20-29",
    "bytes=0x10-0x20",
    "bytes=+1-2",
    "bytes=1.5-2",
  ])("ignores %s and sends the whole file", (header) => {
    expect(decideRange(header, 100)).toEqual({ kind: "full" });
  });
});
