import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";

describe("ASSISTANT_HANG_UP", () => {
  it("is on by default, and takes on or off in any case and spacing", () => {
    expect(loadConfig({}).openai.assistantHangUp).toBe(true);
    expect(loadConfig({ ASSISTANT_HANG_UP: "off" }).openai.assistantHangUp).toBe(false);
    expect(loadConfig({ ASSISTANT_HANG_UP: " OFF " }).openai.assistantHangUp).toBe(false);
    expect(loadConfig({ ASSISTANT_HANG_UP: "On" }).openai.assistantHangUp).toBe(true);
    // Empty is unset, as for every variable.
    expect(loadConfig({ ASSISTANT_HANG_UP: "" }).openai.assistantHangUp).toBe(true);
  });

  it.each(["yes", "true", "0"])("refuses %s with one line naming the variable", (value) => {
    expect(() => loadConfig({ ASSISTANT_HANG_UP: value })).toThrow(
      "Invalid configuration: ASSISTANT_HANG_UP must be on or off",
    );
  });
});
