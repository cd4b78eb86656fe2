import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { flush, SessionHarness, START_TIME } from "../../support/session-harness.ts";

let h: SessionHarness;

beforeEach(() => {
  vi.useFakeTimers({ now: START_TIME });
  h = new SessionHarness();
});

afterEach(() => {
  vi.useRealTimers();
});

/**
 * A started call whose model has sent a 1 s answer `out1` in ten 100 ms deltas, each followed by
 * a mark. The 24 → 8 kHz resampler holds back its look-ahead (14 samples) until the next delta,
 * so the marks fall after 4, 9, 14, ... whole frames: the second mark covers 180 ms, not 200.
 */
async function answering() {
  const s = h.session();
  await s.start();
  s.connection.ready();
  s.speech(25);
  s.answer("out1", 1000);
  const marks = s.output.marks();
  expect(marks).toHaveLength(10);
  expect(s.framesBeforeMark(marks[0]!)).toBe(4);
  expect(s.framesBeforeMark(marks[1]!)).toBe(9);
  return { s, marks };
}

describe("CallSession barge-in", () => {
  it("truncates at what Twilio acknowledged and marks the stored answer interrupted afterwards", async () => {
    const { s, marks } = await answering();
    s.connection.assistantTranscript("out1", "We open at nine and close at five.");
    await flush();
    expect((await s.transcripts())[0]).toMatchObject({ speaker: "assistant", interrupted: false });

    s.session.mark(marks[0]!);
    s.session.mark(marks[1]!);
    s.connection.speechStarted("in2", 600);
    await flush();

    // 9 frames of 20 ms were played before the second mark came back; 980 ms had been sent.
    expect(s.connection.truncates).toEqual([{ itemId: "out1", audioEndMs: 180 }]);
    expect(s.output.clears).toBe(1);
    expect(s.output.summary().at(-1)).toBe("clear");
    const [stored] = await s.transcripts();
    expect(stored).toMatchObject({ speaker: "assistant", interrupted: true });
    // 180 ms of 1000 generated: 18 % of the 34 characters is "We ope", cut back to "We".
    const cut = { heardMs: 180, generatedMs: 1000, heardText: "We" };
    expect(h.repository.callsTo("markTranscriptInterrupted")).toEqual([[stored!.id, cut]]);
    expect(stored).toMatchObject({ text: "We open at nine and close at five.", ...cut });
  });

  it("stores an answer whose transcript comes after the barge-in as interrupted at once", async () => {
    const { s, marks } = await answering();
    s.session.mark(marks[1]!);
    s.connection.speechStarted("in2", 600);
    s.connection.assistantTranscript("out1", "We open at nine and close at five.");
    await flush();

    expect(s.connection.truncates).toEqual([{ itemId: "out1", audioEndMs: 180 }]);
    expect(s.output.clears).toBe(1);
    const [created] = h.repository.callsTo("createTranscript");
    const cut = { heardMs: 180, generatedMs: 1000, heardText: "We" };
    expect(created![0]).toMatchObject({ speaker: "assistant", interrupted: true, ...cut });
    expect(h.repository.callsTo("markTranscriptInterrupted")).toEqual([]);
    expect(await s.transcripts()).toMatchObject([
      { interrupted: true, text: "We open at nine and close at five.", ...cut },
    ]);
  });

  it("sends nothing more of the item it cut, though the model still streams it", async () => {
    const { s, marks } = await answering();
    s.session.mark(marks[1]!);
    s.connection.speechStarted("in2", 600);
    const sent = s.output.messages.length;
    s.answer("out1", 300);
    s.connection.audioDone("out1");
    expect(s.output.messages).toHaveLength(sent);
  });

  it("ignores marks echoed after the clear: a second barge-in with nothing playing sends nothing", async () => {
    const { s, marks } = await answering();
    s.session.mark(marks[1]!);
    s.connection.speechStarted("in2", 600);
    // Twilio echoes every pending mark at once when it clears; none of it was played.
    for (const name of marks.slice(2)) s.session.mark(name);
    s.connection.speechStarted("in3", 900);
    await flush();

    expect(s.output.clears).toBe(1);
    expect(s.connection.truncates).toEqual([{ itemId: "out1", audioEndMs: 180 }]);

    // A new answer: the old marks echoed again still count for nothing, its own first one does.
    s.answer("out2", 200);
    const fresh = s.output.marks().slice(marks.length);
    expect(fresh).toHaveLength(2);
    for (const name of marks) s.session.mark(name);
    s.session.mark(fresh[0]!);
    s.connection.speechStarted("in4", 1400);
    expect(s.output.clears).toBe(2);
    expect(s.connection.truncates).toEqual([
      { itemId: "out1", audioEndMs: 180 },
      { itemId: "out2", audioEndMs: 80 },
    ]);

    await s.session.stop("stop");
    expect((await s.analytics()).at(-1)?.interruptions).toBe(2);
  });

  it("does not truncate when the caller speaks and nothing is playing", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.answer("out1", 200);
    s.connection.audioDone("out1");
    // Every mark came back: the whole answer has played.
    for (const name of s.output.marks()) s.session.mark(name);
    s.connection.speechStarted("in1", 300);
    expect(s.connection.truncates).toEqual([]);
    expect(s.output.clears).toBe(0);
  });
});

describe("CallSession barge-in: what the caller heard", () => {
  const ANSWER = "We open at nine and close at five.";

  it("stores the heard part and both lengths with a transcript that came first", async () => {
    const { s, marks } = await answering();
    s.connection.assistantTranscript("out1", ANSWER);
    await flush();
    // 19 frames (380 ms) of the 1000 generated were played: 38 % is 13 characters, "We open at ni".
    s.session.mark(marks[3]!);
    s.connection.speechStarted("in2", 900);
    await flush();

    const cut = { heardMs: 380, generatedMs: 1000, heardText: "We open at" };
    expect(s.connection.truncates).toEqual([{ itemId: "out1", audioEndMs: 380 }]);
    expect(await s.transcripts()).toMatchObject([
      { speaker: "assistant", text: ANSWER, interrupted: true, ...cut },
    ]);
  });

  it("stores the heard part and both lengths with a transcript that came after", async () => {
    const { s, marks } = await answering();
    s.session.mark(marks[3]!);
    s.connection.speechStarted("in2", 900);
    s.connection.assistantTranscript("out1", ANSWER);
    await flush();

    const cut = { heardMs: 380, generatedMs: 1000, heardText: "We open at" };
    const [created] = h.repository.callsTo("createTranscript");
    expect(created![0]).toMatchObject({ text: ANSWER, interrupted: true, ...cut });
    expect(h.repository.callsTo("markTranscriptInterrupted")).toEqual([]);
  });

  it("counts as generated the deltas dropped for a full socket", async () => {
    const { s, marks } = await answering();
    // Twilio's socket backs up: 500 ms more are dropped, not sent, but the server's item has them.
    s.output.backlogBytes = 512 * 1024 + 1;
    s.answer("out1", 500);
    s.output.backlogBytes = 0;
    s.session.mark(marks[1]!);
    s.connection.speechStarted("in2", 600);
    s.connection.assistantTranscript("out1", ANSWER);
    await flush();
    // 180 ms of 1500: 12 % of 34 characters is "We o", cut back to "We".
    expect(await s.transcripts()).toMatchObject([
      { heardMs: 180, generatedMs: 1500, heardText: "We" },
    ]);
  });

  it("measures a transcript that comes after the cut against all the audio generated by then", async () => {
    const { s, marks } = await answering();
    s.session.mark(marks[1]!);
    s.connection.speechStarted("in2", 600);
    // Audio the model sent before it heard of the cut: its transcript covers that too.
    s.answer("out1", 500);
    s.connection.assistantTranscript("out1", ANSWER);
    await flush();
    expect(s.connection.truncates).toEqual([{ itemId: "out1", audioEndMs: 180 }]);
    expect(await s.transcripts()).toMatchObject([
      { heardMs: 180, generatedMs: 1500, heardText: "We" },
    ]);
  });

  it("keeps the truncate 100 ms inside the audio the model generated", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(25);
    // 300 ms of answer: marks after 80, 180 and 280 ms, and the tail's frames behind a fourth.
    s.answer("out1", 300);
    s.connection.audioDone("out1");
    const marks = s.output.marks();
    expect(marks).toHaveLength(4);
    s.session.mark(marks[2]!);
    s.connection.speechStarted("in2", 900);
    s.connection.assistantTranscript("out1", "Hello there.");
    await flush();

    // 280 ms were played, but the server rejects a truncate past its item's end.
    expect(s.connection.truncates).toEqual([{ itemId: "out1", audioEndMs: 200 }]);
    expect(await s.transcripts()).toMatchObject([
      { heardMs: 200, generatedMs: 300, heardText: "Hello" },
    ]);
  });
});
