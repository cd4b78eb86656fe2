import { describe, expect, it } from "vitest";
import {
  type SignedCall,
  SignedCalls,
  STREAM_TOKEN,
} from "../../../src/adapters/twilio/signed-calls.ts";

const AUTH_TOKEN = "twilio-auth-token";

function withClock(ttlMs: number, maxEntries: number, authToken = AUTH_TOKEN) {
  const clock = { now: 1_000_000 };
  return { clock, calls: new SignedCalls(authToken, ttlMs, maxEntries, () => clock.now) };
}

const call = (callSid: string): SignedCall => ({
  callSid,
  caller: "+15551230000",
  parameters: { caller: "+15551230000", callSid, FromCountry: "US" },
});

/** What the `start` frame of `c`'s stream carries: its CallSid and our TwiML's parameters. */
const take = (calls: SignedCalls, token: string, c: SignedCall = call("CA1")) =>
  calls.take(token, c.callSid, c.parameters);

describe("SignedCalls", () => {
  it("issues a distinct URL-safe token per webhook, each good for one stream", () => {
    const { clock, calls } = withClock(60_000, 10);
    const first = calls.issue(call("CA1"));
    clock.now += 1;
    const second = calls.issue(call("CA2"));
    expect(first).toMatch(STREAM_TOKEN);
    expect(second).not.toBe(first);
    expect(calls.has(first)).toBe(true);
    expect(calls.has("A".repeat(24))).toBe(false);

    expect(take(calls, first)).toEqual(call("CA1"));
    expect(calls.has(first)).toBe(false);
    expect(take(calls, first)).toBeNull();
    expect(take(calls, second, call("CA2"))?.callSid).toBe("CA2");
  });

  it("is accepted by another instance that shares the auth token (issue 19), and by no other", () => {
    const { clock, calls: webhookInstance } = withClock(60_000, 10);
    const streamInstance = new SignedCalls(AUTH_TOKEN, 60_000, 10, () => clock.now);
    const stranger = new SignedCalls("another-account", 60_000, 10, () => clock.now);
    const token = webhookInstance.issue(call("CA1"));
    expect(take(stranger, token)).toBeNull();
    expect(take(streamInstance, token)).toEqual(call("CA1"));
    expect(take(streamInstance, token)).toBeNull();
  });

  it("refuses a token whose stream claims other parameters than the TwiML gave it", () => {
    const { calls } = withClock(60_000, 10);
    const token = calls.issue(call("CA1"));
    const forged = { ...call("CA1").parameters, caller: "+15559999999" };
    expect(calls.take(token, "CA1", forged)).toBeNull();
    expect(calls.take(token, "CA1", { ...call("CA1").parameters, extra: "x" })).toBeNull();
    // Refused attempts leave it to its own call.
    expect(take(calls, token)).toEqual(call("CA1"));
  });

  it("refuses a forged or altered token", () => {
    const { calls } = withClock(60_000, 10);
    const token = calls.issue(call("CA1"));
    const [stamp, mac] = token.split(".") as [string, string];
    const flipped = `${mac.slice(0, -1)}${mac.endsWith("A") ? "B" : "A"}`;
    expect(take(calls, `${stamp}.${flipped}`)).toBeNull();
    // Moving its time forward to outlive the TTL breaks the MAC too.
    expect(take(calls, `${(Number.parseInt(stamp, 36) + 1).toString(36)}.${mac}`)).toBeNull();
    for (const bad of ["", "x", `${stamp}.`, `.${mac}`, `${stamp}.${mac}=`, "A".repeat(24)]) {
      expect(take(calls, bad)).toBeNull();
    }
  });

  it("gives one stream per CallSid, whichever of its tokens comes first", () => {
    const { clock, calls } = withClock(60_000, 10);
    const first = calls.issue(call("CA1"));
    clock.now += 1;
    const second = calls.issue(call("CA1"));
    expect(take(calls, second)?.callSid).toBe("CA1");
    expect(take(calls, first)).toBeNull();
    // A webhook for the same call later (a retry) gets a token, but no second stream.
    clock.now += 59_000;
    const late = calls.issue(call("CA1"));
    clock.now += 59_000;
    expect(calls.has(late)).toBe(true);
    expect(take(calls, late)).toBeNull();
  });

  it("refuses a token for another CallSid, and leaves it to its own call", () => {
    const { calls } = withClock(60_000, 10);
    const token = calls.issue(call("CA1"));
    expect(calls.take(token, "CA2", call("CA1").parameters)).toBeNull();
    expect(calls.has(token)).toBe(true);
    expect(take(calls, token)).toEqual(call("CA1"));
    expect(take(calls, token)).toBeNull();
  });

  it("expires a token after its time to live", () => {
    const { clock, calls } = withClock(60_000, 10);
    const token = calls.issue(call("CA1"));
    clock.now += 60_000;
    expect(calls.has(token)).toBe(true);
    clock.now += 1;
    expect(calls.has(token)).toBe(false);
    expect(take(calls, token)).toBeNull();
  });

  it("keeps what was used bounded by age and count, so memory does not grow with old calls", () => {
    const { clock, calls } = withClock(1000, 1_000_000);
    for (let i = 0; i < 100; i++) {
      expect(take(calls, calls.issue(call(`CA${i}`)), call(`CA${i}`))).not.toBeNull();
      clock.now += 100;
    }
    const sizes = calls as unknown as { used: Map<string, number>; streamed: Map<string, number> };
    // Only the last ~10 (1000 ms / 100 ms) of each can still be there.
    expect(sizes.used.size).toBeLessThanOrEqual(11);
    expect(sizes.streamed.size).toBeLessThanOrEqual(11);
    const { calls: small } = withClock(60_000, 3);
    for (let i = 0; i < 10; i++) take(small, small.issue(call(`CA${i}`)), call(`CA${i}`));
    const smallSizes = small as unknown as { used: Map<string, number> };
    expect(smallSizes.used.size).toBeLessThanOrEqual(3);
  });
});
