import { describe, expect, it } from "vitest";
import { createTranscript, estimateHeardText, spokenText } from "../../src/domain/transcript.ts";

const ANSWER = "We open at nine and close at five."; // 34 characters

describe("estimateHeardText", () => {
  it("takes the share of the text the heard share of the audio is, cut back to a whole word", () => {
    // 38 % of 34 = 12.92 → 13 characters, "We open at ni": "ni" was not heard whole.
    expect(estimateHeardText(ANSWER, 380, 1000)).toBe("We open at");
    // 50 % → 17 characters, "We open at nine a".
    expect(estimateHeardText(ANSWER, 500, 1000)).toBe("We open at nine");
  });

  it("keeps a word the cut lands just after", () => {
    // 15 of 34 characters end exactly at "nine".
    expect(estimateHeardText(ANSWER, 15, 34)).toBe("We open at nine");
    // 16 characters end on the space after it.
    expect(estimateHeardText(ANSWER, 16, 34)).toBe("We open at nine");
  });

  it("is all of the text once everything generated was heard, and none of it for nothing", () => {
    expect(estimateHeardText(ANSWER, 1000, 1000)).toBe(ANSWER);
    expect(estimateHeardText(ANSWER, 1200, 1000)).toBe(ANSWER);
    expect(estimateHeardText(ANSWER, 0, 1000)).toBe("");
    // Less than the first word.
    expect(estimateHeardText(ANSWER, 30, 1000)).toBe("");
  });

  it("keeps the whole text when no audio length is known", () => {
    expect(estimateHeardText(ANSWER, 100, 0)).toBe(ANSWER);
  });

  it("cuts a text written without spaces at the character, never inside a surrogate pair", () => {
    expect(estimateHeardText("九時に開きます", 300, 700)).toBe("九時に");
    // 3 of 6 code units ends inside the second emoji: it is left out whole.
    expect(estimateHeardText("😀😀😀", 500, 1000)).toBe("😀");
  });
});

describe("Transcript cut", () => {
  const base = {
    id: "t1",
    callId: "c1",
    speaker: "assistant",
    text: ANSWER,
    createdAt: new Date(0),
  };

  it("has no heard part unless it was cut", () => {
    expect(createTranscript(base)).toMatchObject({
      interrupted: false,
      heardText: null,
      heardMs: null,
      generatedMs: null,
    });
  });

  it("is interrupted when cut, with the lengths rounded to whole milliseconds", () => {
    const t = createTranscript({
      ...base,
      cut: { heardMs: 380.4, generatedMs: 999.6, heardText: "We open at" },
    });
    expect(t).toMatchObject({
      text: ANSWER,
      interrupted: true,
      heardText: "We open at",
      heardMs: 380,
      generatedMs: 1000,
    });
    expect(spokenText(t)).toBe("We open at");
    expect(spokenText(createTranscript(base))).toBe(ANSWER);
  });

  it.each([
    [{ heardMs: -1, generatedMs: 10, heardText: "" }, /heardMs/],
    [{ heardMs: 1, generatedMs: Number.NaN, heardText: "" }, /generatedMs/],
  ])("refuses the cut %j", (cut, message) => {
    expect(() => createTranscript({ ...base, cut })).toThrow(message);
  });
});
