import { describe, expect, it } from "vitest";
import { endCall, isValidStreamSid, startCall } from "../../src/domain/call.ts";
import { DomainError } from "../../src/domain/errors.ts";

const t0 = new Date("2026-01-01T10:00:00.000Z");
const newCall = () =>
  startCall({ id: "c1", streamSid: "MZ123", caller: "+15551234567", startedAt: t0 });

describe("Call", () => {
  it("starts active with no end and no duration", () => {
    const call = newCall();
    expect(call.status).toBe("active");
    expect(call.endedAt).toBeNull();
    expect(call.durationSeconds).toBeNull();
    expect(call.callSid).toBeNull();
  });

  it("derives the duration from startedAt and endedAt when it completes", () => {
    const ended = endCall(newCall(), "completed", new Date(t0.getTime() + 65_250));
    expect(ended.status).toBe("completed");
    expect(ended.durationSeconds).toBe(65.25);
    expect(ended.updatedAt).toEqual(ended.endedAt);
  });

  it("moves from active to failed", () => {
    expect(endCall(newCall(), "failed", t0).status).toBe("failed");
  });

  it("refuses to end a call twice", () => {
    const ended = endCall(newCall(), "completed", t0);
    expect(() => endCall(ended, "failed", t0)).toThrow(DomainError);
    expect(() => endCall(ended, "completed", t0)).toThrow(/already completed/);
  });

  it("refuses an end before the start", () => {
    expect(() => endCall(newCall(), "completed", new Date(t0.getTime() - 1))).toThrow(
      /endedAt must not be before startedAt/,
    );
  });

  it.each(["", "../etc", "a/b", "x".repeat(65), "MZ 1", "MZ\u0000", "é"])(
    "refuses the hostile streamSid %j",
    (sid) => {
      expect(isValidStreamSid(sid)).toBe(false);
      expect(() => startCall({ id: "c", streamSid: sid, startedAt: t0 })).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
    },
  );

  it("accepts Twilio-shaped stream sids", () => {
    expect(isValidStreamSid("MZ18ad3ab5a668481ce02b83e7395059f0")).toBe(true);
    expect(isValidStreamSid("x".repeat(64))).toBe(true);
  });
});
