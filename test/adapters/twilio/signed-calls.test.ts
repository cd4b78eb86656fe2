import { describe, expect, it } from "vitest";
import {
  type SignedCall,
  SignedCalls,
  STREAM_TOKEN,
} from "../../../src/adapters/twilio/signed-calls.ts";

function withClock(ttlMs: number, maxEntries: number) {
  const clock = { now: 1_000_000 };
  return { clock, calls: new SignedCalls(ttlMs, maxEntries, () => clock.now) };
}

const call = (callSid: string): SignedCall => ({
  callSid,
  caller: "+15551230000",
  parameters: { caller: "+15551230000", callSid, FromCountry: "US" },
});

describe("SignedCalls", () => {
  it("issues a distinct URL-safe token per webhook, each good for one stream", () => {
    const { calls } = withClock(60_000, 10);
    const first = calls.issue(call("CA1"));
    const second = calls.issue(call("CA2"));
    expect(first).toMatch(STREAM_TOKEN);
    expect(second).not.toBe(first);
    expect(calls.has(first)).toBe(true);
    expect(calls.has("A".repeat(24))).toBe(false);

    expect(calls.take(first)).toEqual(call("CA1"));
    expect(calls.has(first)).toBe(false);
    expect(calls.take(first)).toBeNull();
    expect(calls.take(second)?.callSid).toBe("CA2");
  });

  it("gives one stream per CallSid, whichever of its tokens comes first", () => {
    const { clock, calls } = withClock(60_000, 10);
    const first = calls.issue(call("CA1"));
    const second = calls.issue(call("CA1"));
    expect(calls.take(second)?.callSid).toBe("CA1");
    expect(calls.take(first)).toBeNull();
    // A webhook for the same call later (a retry) gets a token, but no second stream.
    clock.now += 59_000;
    const late = calls.issue(call("CA1"));
    clock.now += 59_000;
    expect(calls.has(late)).toBe(true);
    expect(calls.take(late)).toBeNull();
  });

  it("refuses a token for another CallSid, and leaves it to its own call", () => {
    const { calls } = withClock(60_000, 10);
    const token = calls.issue(call("CA1"));
    expect(calls.take(token, "CA2")).toBeNull();
    expect(calls.has(token)).toBe(true);
    expect(calls.take(token, "CA1")).toEqual(call("CA1"));
    expect(calls.take(token, "CA1")).toBeNull();
  });

  it("expires a token after its time to live", () => {
    const { clock, calls } = withClock(60_000, 10);
    const token = calls.issue(call("CA1"));
    clock.now += 60_000;
    expect(calls.has(token)).toBe(true);
    clock.now += 1;
    expect(calls.has(token)).toBe(false);
    expect(calls.take(token)).toBeNull();
  });

  it("keeps at most maxEntries tokens, dropping the oldest first", () => {
    const { clock, calls } = withClock(60_000, 3);
    const tokens = ["CA1", "CA2", "CA3", "CA4"].map((sid) => {
      clock.now += 1;
      return calls.issue(call(sid));
    });
    expect(tokens.map((t) => calls.has(t))).toEqual([false, true, true, true]);
  });

  it("prunes expired entries when new ones arrive, so memory does not grow with old calls", () => {
    const { clock, calls } = withClock(1000, 1_000_000);
    for (let i = 0; i < 100; i++) {
      calls.take(calls.issue(call(`CA${i}`)));
      calls.issue(call(`CB${i}`));
      clock.now += 100;
    }
    const sizes = calls as unknown as {
      tokens: Map<string, unknown>;
      streamed: Map<string, number>;
    };
    // Only the last ~10 (1000 ms / 100 ms) of each can still be there.
    expect(sizes.tokens.size).toBeLessThanOrEqual(11);
    expect(sizes.streamed.size).toBeLessThanOrEqual(11);
  });
});
