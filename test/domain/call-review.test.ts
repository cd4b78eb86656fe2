import { describe, expect, it } from "vitest";
import { endReasonOf } from "../../src/application/end-reason.ts";
import { topicFromCallerTurns } from "../../src/domain/call-review.ts";

describe("topicFromCallerTurns", () => {
  it("joins the first caller turns, trimmed, skipping empty ones", () => {
    expect(topicFromCallerTurns(["  Hello there ", "", "I need help  with   my bill"])).toBe(
      "Hello there I need help with my bill",
    );
  });

  it("is null when the caller said nothing", () => {
    expect(topicFromCallerTurns([])).toBeNull();
    expect(topicFromCallerTurns(["", "   "])).toBeNull();
  });

  it("cuts a long topic at a word boundary with an ellipsis, never over 121 characters", () => {
    const words = "refund ".repeat(40);
    const topic = topicFromCallerTurns([words]) ?? "";
    expect(topic.endsWith("refund…")).toBe(true);
    expect(topic.length).toBeLessThanOrEqual(121);
    const unbroken = "x".repeat(300);
    expect(topicFromCallerTurns([unbroken])).toBe(`${"x".repeat(120)}…`);
  });
});

describe("endReasonOf", () => {
  it.each([
    ["stop", "completed", false, "caller_hung_up"],
    ["socket_closed", "completed", false, "stream_closed"],
    ["socket_closed", "failed", false, "network_drop"],
    ["shutdown", "completed", false, "server_shutdown"],
    ["max_duration", "completed", false, "max_duration"],
    ["assistant_ended", "completed", false, "assistant_ended"],
    ["stop", "completed", true, "model_failure"],
    ["socket_closed", "failed", true, "model_failure"],
    // The server's own reasons stay what they are, whatever the model did.
    ["shutdown", "completed", true, "server_shutdown"],
    ["max_duration", "completed", true, "max_duration"],
    ["assistant_ended", "completed", true, "assistant_ended"],
  ] as const)("%s (%s, model failed: %s) → %s", (reason, outcome, modelFailed, expected) => {
    expect(endReasonOf(reason, outcome, modelFailed)).toBe(expected);
  });
});
