import { describe, expect, it } from "vitest";
import { createTranscript } from "../../src/domain/transcript.ts";

const base = { id: "t1", callId: "c1", text: "hello", createdAt: new Date(0) };

describe("Transcript", () => {
  it("accepts caller and assistant turns and defaults the optional fields", () => {
    const t = createTranscript({ ...base, speaker: "caller" });
    expect(t).toMatchObject({
      speaker: "caller",
      confidence: null,
      offsetMs: null,
      interrupted: false,
    });
    expect(createTranscript({ ...base, speaker: "assistant" }).speaker).toBe("assistant");
  });

  it("refuses any other speaker", () => {
    expect(() => createTranscript({ ...base, speaker: "system" })).toThrow(
      /speaker must be caller or assistant/,
    );
  });

  it.each([-0.01, 1.01, Number.NaN, Number.POSITIVE_INFINITY])(
    "refuses confidence %s",
    (confidence) => {
      expect(() => createTranscript({ ...base, speaker: "caller", confidence })).toThrow(
        /confidence/,
      );
    },
  );

  it("keeps confidence at the bounds 0 and 1", () => {
    expect(createTranscript({ ...base, speaker: "caller", confidence: 0 }).confidence).toBe(0);
    expect(createTranscript({ ...base, speaker: "caller", confidence: 1 }).confidence).toBe(1);
  });

  it("rounds offsetMs and refuses negative offsets", () => {
    expect(createTranscript({ ...base, speaker: "caller", offsetMs: 12.6 }).offsetMs).toBe(13);
    expect(() => createTranscript({ ...base, speaker: "caller", offsetMs: -5 })).toThrow(
      /offsetMs/,
    );
  });
});
