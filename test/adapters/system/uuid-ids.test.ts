import { describe, expect, it } from "vitest";
import { uuidIds, uuidV7 } from "../../../src/adapters/system/uuid-ids.ts";

const V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const millisecondsOf = (id: string): number =>
  Number.parseInt(id.replaceAll("-", "").slice(0, 12), 16);

describe("uuidV7", () => {
  it("is a version 7, variant 10 UUID carrying the time in milliseconds", () => {
    for (const ms of [0, 1, 1_795_656_628_633, 2 ** 48 - 1]) {
      const id = uuidV7(ms);
      expect(id).toMatch(V7);
      expect(millisecondsOf(id)).toBe(ms);
    }
    expect(uuidV7(1_795_656_628_633).slice(0, 13)).toBe("01a21579-b999");
  });

  it("sorts as text in the order of its milliseconds", () => {
    const times = [5, 255, 256, 65_535, 65_536, 1_795_656_628_633, 1_795_656_628_634, 2 ** 47];
    const ids = times.map((ms) => uuidV7(ms));
    expect([...ids].sort()).toEqual(ids);
  });

  it("differs within one millisecond: 74 random bits", () => {
    const ids = new Set(Array.from({ length: 10_000 }, () => uuidV7(42)));
    expect(ids.size).toBe(10_000);
  });

  it("is what the server's id generator hands out, for the current time", () => {
    const before = Date.now();
    const id = uuidIds.newId();
    expect(id).toMatch(V7);
    expect(millisecondsOf(id)).toBeGreaterThanOrEqual(before);
    expect(millisecondsOf(id)).toBeLessThanOrEqual(Date.now());
  });
});
