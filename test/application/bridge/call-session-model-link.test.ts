import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  CALLER_TRACK_SAMPLES_PER_FRAME,
  flush,
  SessionHarness,
  START_TIME,
} from "../../support/session-harness.ts";

let h: SessionHarness;

beforeEach(() => {
  vi.useFakeTimers({ now: START_TIME });
  h = new SessionHarness();
});

afterEach(() => {
  vi.useRealTimers();
});

const RECORD_ONLY = "assistant model unavailable; the call goes on in record-only mode";

describe("CallSession model link", () => {
  it("after three failed reconnects goes on record-only, keeping every caller frame", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(10);
    s.model.failNextConnects(3);
    s.connection.drop("dropped", "closed with 1006");

    // Each attempt waits its own delay (250, 1000, 2000 ms); frames go on meanwhile.
    for (const delay of [250, 1000, 2000]) {
      const before = s.model.connectAttempts;
      s.speech(5);
      await vi.advanceTimersByTimeAsync(delay - 1);
      expect(s.model.connectAttempts).toBe(before);
      await vi.advanceTimersByTimeAsync(1);
      expect(s.model.connectAttempts).toBe(before + 1);
    }
    expect(s.model.connectAttempts).toBe(4);
    expect(h.logger.withMessage(RECORD_ONLY)).toHaveLength(1);

    s.silence(20);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.model.connectAttempts).toBe(4);
    expect(s.model.connections).toHaveLength(1);

    await s.session.stop("stop");
    expect(s.framesSent).toBe(45);
    expect(s.callerTrack()).toHaveLength(45 * CALLER_TRACK_SAMPLES_PER_FRAME);
    expect(await s.call()).toMatchObject({ status: "completed" });
    expect(s.metrics.upstreamErrors).toEqual([
      "dropped",
      "connect_failed",
      "connect_failed",
      "connect_failed",
    ]);
  });

  it("starts counting attempts afresh once a reconnected session is ready", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.connection.drop("dropped", "closed with 1006");
    await vi.advanceTimersByTimeAsync(250);
    expect(s.model.connectAttempts).toBe(2);

    s.connection.ready();
    s.connection.drop("dropped", "closed with 1006");
    // Ready reset the count: the first delay again, not the second.
    await vi.advanceTimersByTimeAsync(249);
    expect(s.model.connectAttempts).toBe(2);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.model.connectAttempts).toBe(3);

    // Connections that never become ready count on: 1000, then 2000, then record-only.
    s.connection.timeout();
    await vi.advanceTimersByTimeAsync(999);
    expect(s.model.connectAttempts).toBe(3);
    await vi.advanceTimersByTimeAsync(1);
    expect(s.model.connectAttempts).toBe(4);
    s.connection.refuse(503);
    await vi.advanceTimersByTimeAsync(2000);
    expect(s.model.connectAttempts).toBe(5);
    s.connection.drop("dropped", "closed with 1006");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.model.connectAttempts).toBe(5);
    expect(h.logger.withMessage(RECORD_ONLY)).toHaveLength(1);
  });

  it("sends the caller's audio to the new connection only, once reconnected", async () => {
    const s = h.session();
    await s.start();
    const first = s.connection.ready();
    s.speech(3);
    first.drop("dropped", "closed with 1006");
    s.speech(4);
    await vi.advanceTimersByTimeAsync(250);
    const second = s.connection;
    s.speech(2);
    expect(second).not.toBe(first);
    expect(first.appended).toHaveLength(3);
    // Audio while no connection is open is recorded but not queued for the model.
    expect(second.appended).toHaveLength(2);
  });

  it("honours configured reconnect delays", async () => {
    const s = h.session({ reconnectDelaysMs: [10] });
    await s.start();
    s.model.failNextConnects(1);
    s.connection.drop("dropped", "closed with 1006");
    await vi.advanceTimersByTimeAsync(10);
    expect(s.model.connectAttempts).toBe(2);
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.model.connectAttempts).toBe(2);
    expect(h.logger.withMessage(RECORD_ONLY)).toHaveLength(1);
  });

  it("does not reconnect once the call has stopped", async () => {
    const s = h.session();
    await s.start();
    s.connection.drop("dropped", "closed with 1006");
    await s.session.stop("stop");
    await vi.advanceTimersByTimeAsync(60_000);
    expect(s.model.connectAttempts).toBe(1);
  });
});

describe("CallSession transcript offsets", () => {
  it("places caller turns on the caller's timeline across a reconnect", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.speech(100);
    s.connection.speechStarted("in1", 500).callerTranscript("in1", "Hello there");
    s.connection.drop("dropped", "closed with 1006");
    // 200 ms of caller audio arrive while the model is away: the new connection's clock
    // starts at 0 where the timeline then is, 2200 ms.
    s.silence(10);
    await vi.advanceTimersByTimeAsync(250);
    s.connection.ready();
    s.speech(30);
    s.connection.speechStarted("in2", 340).callerTranscript("in2", "I'd like to book a table");
    await flush();

    expect((await s.transcripts()).map((t) => [t.speaker, t.offsetMs, t.text])).toEqual([
      ["caller", 500, "Hello there"],
      ["caller", 2540, "I'd like to book a table"],
    ]);
  });

  it("stores a caller turn without a speech start at an unknown offset", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready().callerTranscript("in9", "mm-hm");
    await flush();
    expect(await s.transcripts()).toMatchObject([{ speaker: "caller", offsetMs: null }]);
  });

  it("starts an answer where its first audio plays: after what the mix still has queued", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.silence(50);
    s.answer("out1", 500);
    s.connection.audioDone("out1");
    expect(s.output.frames()).toHaveLength(25);
    // 200 ms of it play while 10 caller frames arrive; 300 ms are still queued at 1200 ms.
    s.silence(10);
    s.answer("out2", 100);
    s.connection.assistantTranscript("out1", "Good morning.");
    s.connection.assistantTranscript("out2", "How can I help?");
    await flush();

    expect((await s.transcripts()).map((t) => [t.text, t.offsetMs])).toEqual([
      ["Good morning.", 1000],
      ["How can I help?", 1500],
    ]);
  });

  it("without the stereo mix, estimates what is queued from the marks Twilio echoed", async () => {
    const s = h.session({ recordConversation: false });
    await s.start();
    s.connection.ready();
    s.silence(50);
    s.answer("out1", 500);
    s.connection.audioDone("out1");
    // 500 ms sent; the second mark proves 180 ms played, so 320 ms are queued at 1200 ms.
    s.session.mark(s.output.marks()[1]!);
    s.silence(10);
    s.answer("out2", 100);
    s.connection.assistantTranscript("out2", "How can I help?");
    await flush();

    expect(await s.transcripts()).toMatchObject([{ text: "How can I help?", offsetMs: 1520 }]);
  });
});
