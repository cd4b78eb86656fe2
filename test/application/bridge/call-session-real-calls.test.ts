import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { flush, SessionHarness, START_TIME } from "../../support/session-harness.ts";

/**
 * What real calls do (issue 16), played into a session event by event. ScriptedConnection
 * behaves as the real client does (see test/support/scripted-realtime-model.ts).
 */

let h: SessionHarness;

beforeEach(() => {
  vi.useFakeTimers({ now: START_TIME });
  h = new SessionHarness();
});

afterEach(() => {
  vi.useRealTimers();
});

describe("the end of a call drains the model", () => {
  it("stores the caller's last turn, transcribed after the hang-up, and ends the call at the hang-up", async () => {
    const s = h.session({ modelDrainMs: 3000 });
    await s.start();
    s.connection.ready();
    s.speech(50);
    s.connection.speechStarted("in1", 200);
    const stopping = s.session.stop("stop");
    expect(s.connection.drains).toEqual([3000]);
    // The commit's transcription comes 800 ms later; the call's end is still the hang-up.
    await vi.advanceTimersByTimeAsync(800);
    s.connection.callerTranscript("in1", "thanks, bye", { type: "duration", seconds: 1 });
    s.connection.drained();
    await stopping;
    expect(await s.transcripts()).toMatchObject([
      { speaker: "caller", text: "thanks, bye", offsetMs: 200 },
    ]);
    const call = await s.call();
    expect(call).toMatchObject({ status: "completed", durationSeconds: 0 });
    expect(call.endedAt?.getTime()).toBe(START_TIME);
    expect((await s.metadata())?.customData?.transcriptionUsage).toEqual({ seconds: 1 });
  });

  it("waits for an answer still generating and keeps its transcript and usage", async () => {
    const s = h.session({ modelDrainMs: 3000 });
    await s.start();
    s.connection.ready();
    s.speech(10);
    s.answer("out1", 300);
    const stopping = s.session.stop("stop");
    await vi.advanceTimersByTimeAsync(500);
    s.connection.assistantTranscript("out1", "We open at nine.");
    s.connection.usage({ total_tokens: 120 });
    s.connection.responseDone({
      status: "completed",
      reason: null,
      errorCode: null,
      itemIds: ["out1"],
    });
    s.connection.drained();
    await stopping;
    expect(await s.transcripts()).toMatchObject([
      { speaker: "assistant", text: "We open at nine." },
    ]);
    expect((await s.metadata())?.customData?.tokenUsage).toMatchObject({ total_tokens: 120 });
  });

  it("gives up waiting after the drain time and ends the call anyway", async () => {
    const s = h.session({ modelDrainMs: 3000 });
    await s.start();
    s.connection.ready();
    s.speech(10);
    let ended = false;
    void s.session.stop("stop").then(() => {
      ended = true;
    });
    await vi.advanceTimersByTimeAsync(2999);
    expect(ended).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(ended).toBe(true);
    expect(s.connection.closedBySession).toBe(true);
    expect((await s.call()).status).toBe("completed");
  });

  it("closes the stream at once when the call is cut (duration limit), before the model drains", async () => {
    const s = h.session({ modelDrainMs: 3000, maxCallSeconds: 1 });
    await s.start();
    s.connection.ready();
    s.speech(10);
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.output.closed).toBe(true);
    expect(s.connection.drains).toEqual([3000]);
    s.connection.drained();
    await flush();
    expect((await s.call()).status).toBe("completed");
  });
});

describe("response.done", () => {
  it("logs, counts and stores a failed response", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(10);
    s.connection.responseDone({
      status: "failed",
      reason: null,
      errorCode: "rate_limit_exceeded",
      itemIds: [],
    });
    await s.session.stop("stop");
    expect(s.metrics.upstreamErrors).toContain("response_failed");
    expect(h.logger.withMessage("the assistant's response failed")).toMatchObject([
      { level: "error", fields: { code: "rate_limit_exceeded" } },
    ]);
    expect((await s.metadata())?.customData?.failedResponses).toEqual({ rate_limit_exceeded: 1 });
  });

  it.each(["cancelled", "incomplete"] as const)(
    "marks the turns of a %s response interrupted, even with nothing queued at Twilio",
    async (status) => {
      const s = h.session();
      await s.start();
      s.connection.ready();
      s.answer("out1", 200);
      s.connection.audioDone("out1");
      // Everything sent was played: a barge-in would find nothing to clear.
      for (const name of s.output.marks()) s.session.mark(name);
      s.connection.assistantTranscript("out1", "Our hours are");
      await flush();
      s.connection.responseDone({
        status,
        reason: "turn_detected",
        errorCode: null,
        itemIds: ["out1"],
      });
      await s.session.stop("stop");
      expect(await s.transcripts()).toMatchObject([{ text: "Our hours are", interrupted: true }]);
    },
  );

  it("stores a transcript that comes after a cancelled response as interrupted", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.connection.responseDone({
      status: "cancelled",
      reason: "client_cancelled",
      errorCode: null,
      itemIds: ["out1"],
    });
    s.connection.assistantTranscript("out1", "Let me");
    await s.session.stop("stop");
    expect(await s.transcripts()).toMatchObject([{ text: "Let me", interrupted: true }]);
  });
});

describe("a failed transcription", () => {
  it("is kept as an empty, failed caller turn at its offset, logged and counted", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(25);
    s.connection.speechStarted("in1", 300);
    s.connection.callerTranscriptFailed("in1", "Audio could not be transcribed.");
    await s.session.stop("stop");
    expect(await s.transcripts()).toMatchObject([
      { speaker: "caller", text: "", failed: true, offsetMs: 300 },
    ]);
    expect(s.metrics.upstreamErrors).toContain("transcription_failed");
  });
});

describe("a rejected session configuration", () => {
  it("goes record-only for the call at once, reports it, and does not reconnect", async () => {
    const rejected: string[] = [];
    const s = h.session({ onModelRejected: (message) => rejected.push(message) });
    await s.start();
    s.connection.drop("rejected", "Invalid value: 'robot'.");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.model.connectAttempts).toBe(1);
    expect(rejected).toEqual(["Invalid value: 'robot'."]);
    s.speech(10);
    await s.session.stop("stop");
    expect(s.callerTrack().length).toBe(10 * 320);
  });
});

describe("a new model session", () => {
  it("replays the conversation so far after a reconnect", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(10);
    s.connection.callerTranscript("in1", "Do you open on Sundays?");
    s.connection.assistantTranscript("out1", "Yes, from ten.");
    s.connection.drop("dropped", "closed with 1006");
    await vi.advanceTimersByTimeAsync(250);
    expect(s.model.connections).toHaveLength(2);
    expect(s.model.connections[0]!.replayed).toEqual([]);
    expect(s.model.connections[1]!.replayed).toEqual([
      [
        { speaker: "caller", text: "Do you open on Sundays?" },
        { speaker: "assistant", text: "Yes, from ten." },
      ],
    ]);
    await s.session.stop("stop");
  });

  it("is renewed a minute before the session limit, with the conversation, without losing audio", async () => {
    const s = h.session({ modelSessionLimitMs: 5 * 60_000 });
    await s.start();
    s.connection.ready();
    s.connection.callerTranscript("in1", "Hello");
    s.speech(5);
    await vi.advanceTimersByTimeAsync(4 * 60_000);
    expect(s.model.connections).toHaveLength(2);
    expect(s.model.connections[0]!.closedBySession).toBe(true);
    expect(s.model.connections[1]!.replayed).toEqual([[{ speaker: "caller", text: "Hello" }]]);
    s.speech(5);
    // The caller's audio goes on where it stopped: 8 → 24 kHz is one stream across sessions.
    expect(s.model.connections[0]!.appendedSamples + s.model.connections[1]!.appendedSamples).toBe(
      10 * 480 - 42,
    );
    expect(s.model.connections[1]!.appendedSamples).toBe(5 * 480);
    await s.session.stop("stop");
  });
});
