import { describe, expect, it } from "vitest";
import { SignedCalls } from "../../../src/adapters/twilio/signed-calls.ts";

function withClock(ttlMs: number, maxEntries: number) {
  const clock = { now: 1_000_000 };
  return { clock, calls: new SignedCalls(ttlMs, maxEntries, () => clock.now) };
}

describe("SignedCalls", () => {
  it("knows a callSid once it has been added, and no other", () => {
    const { calls } = withClock(60_000, 10);
    calls.add("CA1");
    expect(calls.has("CA1")).toBe(true);
    expect(calls.has("CA2")).toBe(false);
  });

  it("forgets a callSid older than its time to live", () => {
    const { clock, calls } = withClock(60_000, 10);
    calls.add("CA1");
    clock.now += 60_000;
    expect(calls.has("CA1")).toBe(true);
    clock.now += 1;
    expect(calls.has("CA1")).toBe(false);
  });

  it("keeps at most maxEntries, dropping the oldest first", () => {
    const { clock, calls } = withClock(60_000, 3);
    for (const sid of ["CA1", "CA2", "CA3", "CA4"]) {
      calls.add(sid);
      clock.now += 1;
    }
    expect(["CA1", "CA2", "CA3", "CA4"].map((sid) => calls.has(sid))).toEqual([
      false,
      true,
      true,
      true,
    ]);
  });

  it("refreshes a callSid added again, so it is not the oldest any more", () => {
    const { clock, calls } = withClock(60_000, 2);
    calls.add("CA1");
    clock.now += 1;
    calls.add("CA2");
    clock.now += 1;
    calls.add("CA1");
    clock.now += 1;
    calls.add("CA3");
    expect([calls.has("CA1"), calls.has("CA2"), calls.has("CA3")]).toEqual([true, false, true]);
  });

  it("prunes expired entries when new ones arrive, so memory does not grow with old calls", () => {
    const { clock, calls } = withClock(1000, 1_000_000);
    for (let i = 0; i < 100; i++) {
      calls.add(`CA${i}`);
      clock.now += 100;
    }
    // Only the last ~10 (1000 ms / 100 ms) can still be there.
    const alive = Array.from({ length: 100 }, (_, i) => calls.has(`CA${i}`)).filter(Boolean);
    expect(alive.length).toBeLessThanOrEqual(11);
    expect((calls as unknown as { seen: Map<string, number> }).seen.size).toBeLessThanOrEqual(11);
  });
});
