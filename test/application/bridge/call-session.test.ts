import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DomainError } from "../../../src/domain/errors.ts";
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

/** The error `run` throws synchronously (a test fails if it returns instead). */
function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error("expected a synchronous throw");
}

const HIGH_WATER = 512 * 1024;

describe("CallSession.start", () => {
  it("refuses a second session for a live stream synchronously, leaving the first call alone", async () => {
    const first = h.session();
    await first.start();
    first.speech(5);

    const second = h.session();
    const error = thrownBy(() => second.start());
    expect(error).toBeInstanceOf(DomainError);
    expect(error).toMatchObject({ code: "conflict" });
    // The refused session takes no frames and its stop ends nothing.
    second.speech(7);
    await second.session.stop("socket_closed");
    expect(second.metrics.framesIn).toBe(0);
    expect(second.model.connectAttempts).toBe(0);
    expect(await first.call()).toMatchObject({ status: "active" });

    first.speech(5);
    await first.session.stop("stop");
    expect(first.callerTrack()).toHaveLength(10 * CALLER_TRACK_SAMPLES_PER_FRAME);
  });

  it("refuses a stream that has ended, synchronously", async () => {
    const first = h.session();
    await first.start();
    await first.session.stop("stop");

    const again = h.session();
    expect(thrownBy(() => again.start())).toMatchObject({ code: "conflict" });
    expect(h.repository.rowCount("calls")).toBe(1);
  });

  it("rejects when the call cannot be stored, discards its recordings and ignores later frames", async () => {
    h.repository.failNext("createCall");
    const s = h.session();
    const started = s.start();
    // Frames that come while the row is being written are taken, then thrown away with it.
    s.speech(3);
    await expect(started).rejects.toMatchObject({ code: "storage_unavailable" });

    s.speech(5);
    await s.session.stop("stop");
    expect(s.metrics.framesIn).toBe(3);
    expect(h.store.finishedKeys()).toEqual([]);
    expect(h.store.partialKeys()).toEqual([]);
    expect(h.store.writers.map((w) => [w.spec.track, w.state])).toEqual([
      ["caller", "finished"],
      ["conversation", "finished"],
    ]);
    expect(s.connection.closedBySession).toBe(true);
    expect(h.manager.activeCount).toBe(0);
    expect(h.repository.rowCount("calls")).toBe(0);
  });

  it("stores the stream's custom parameters as metadata", async () => {
    const s = h.session();
    await s.start({ caller: "+15551230000", customParameters: { campaign: "spring" } });
    expect(await s.call()).toMatchObject({ caller: "+15551230000", callSid: "CA1" });
    expect((await s.metadata())?.customData).toEqual({ campaign: "spring" });
  });

  it("records the caller without a model when none is configured", async () => {
    const s = h.session({ withModel: false });
    await s.start();
    s.speech(10);
    await s.session.stop("stop");
    expect(s.model.connectAttempts).toBe(0);
    expect(s.callerTrack()).toHaveLength(10 * CALLER_TRACK_SAMPLES_PER_FRAME);
  });
});

describe("CallSession.stop", () => {
  it("returns the same promise when called again and ends the call once", async () => {
    const s = h.session();
    await s.start();
    s.speech(4);
    const first = s.session.stop("stop");
    const second = s.session.stop("socket_closed");
    expect(second).toBe(first);
    await first;
    expect(h.repository.callsTo("updateCall")).toHaveLength(1);
    expect(await s.call()).toMatchObject({ status: "completed" });
    expect(h.repository.rowCount("recordings")).toBe(2);
    // A Twilio `stop` leaves the socket to Twilio.
    expect(s.output.closed).toBe(false);
  });

  it("ignores frames after stop and flushes the caller resampler's tail", async () => {
    const s = h.session();
    await s.start();
    s.speech(37);
    // Before the end, the 8 → 16 kHz resampler still holds its look-ahead.
    expect(h.store.writerOf(s.streamSid, "caller")!.bytesWritten).toBeLessThan(37 * 320 * 2);
    const stopping = s.session.stop("stop");
    s.speech(5);
    s.session.dtmf("1");
    await stopping;

    expect(s.metrics.framesIn).toBe(37);
    expect(s.callerTrack()).toHaveLength(37 * CALLER_TRACK_SAMPLES_PER_FRAME);
    expect(h.store.writerOf(s.streamSid, "caller")!.droppedBytes).toBe(0);
    expect((await s.metadata())?.customData).toEqual({
      network: { frames: 37, jitterMs: 0, gaps: 0, missingMs: 0, filledGaps: 0, filledMs: 0 },
      endReason: "stop",
    });
  });

  it("closes the model connection", async () => {
    const s = h.session();
    await s.start();
    await s.session.stop("socket_closed");
    expect(s.connection.closedBySession).toBe(true);
  });
});

describe("CallSession MAX_CALL_SECONDS", () => {
  it("ends the call, the stream and the model connection when the limit is reached", async () => {
    const s = h.session({ maxCallSeconds: 2 });
    await s.start();
    s.connection.ready();

    await vi.advanceTimersByTimeAsync(1999);
    expect(await s.call()).toMatchObject({ status: "active" });
    expect(s.output.closed).toBe(false);

    await vi.advanceTimersByTimeAsync(1);
    await flush();
    expect(await s.call()).toMatchObject({ status: "completed", durationSeconds: 2 });
    expect(s.output.closed).toBe(true);
    expect(s.connection.closedBySession).toBe(true);
    expect(h.manager.isCallActive((await s.call()).id)).toBe(false);
    expect(h.logger.withMessage("call reached MAX_CALL_SECONDS")).toHaveLength(1);
  });

  it("is cancelled by an earlier stop", async () => {
    const s = h.session({ maxCallSeconds: 2 });
    await s.start();
    await s.session.stop("stop");
    await vi.advanceTimersByTimeAsync(5000);
    expect(s.output.closed).toBe(false);
    expect(h.logger.withMessage("call reached MAX_CALL_SECONDS")).toEqual([]);
  });
});

describe("CallSession DTMF", () => {
  it("stores each digit at its offset on the caller's timeline, accumulating", async () => {
    const s = h.session();
    await s.start({ customParameters: { campaign: "spring" } });
    s.silence(50);
    s.session.dtmf("5");
    await flush();
    expect((await s.metadata())?.customData).toEqual({
      campaign: "spring",
      dtmf: [{ digit: "5", offsetMs: 1000 }],
    });

    s.speech(10);
    s.session.dtmf("#");
    await flush();
    expect((await s.metadata())?.customData).toEqual({
      campaign: "spring",
      dtmf: [
        { digit: "5", offsetMs: 1000 },
        { digit: "#", offsetMs: 1200 },
      ],
    });
  });

  it("keeps both digits pressed in the same turn", async () => {
    const s = h.session();
    await s.start();
    s.silence(5);
    s.session.dtmf("1");
    s.session.dtmf("2");
    await s.session.stop("stop");
    expect((await s.metadata())?.customData?.dtmf).toEqual([
      { digit: "1", offsetMs: 100 },
      { digit: "2", offsetMs: 100 },
    ]);
  });
});

describe("CallSession outbound backpressure", () => {
  it("drops the model's audio while Twilio's socket is backed up past 512 KiB", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.output.backlogBytes = HIGH_WATER + 1;
    s.answer("out1", 300);
    expect(s.output.messages).toEqual([]);
    // Three 100 ms deltas are 15 frames of 20 ms.
    expect(s.metrics.outboundDroppedFrames).toBe(15);

    s.output.backlogBytes = HIGH_WATER;
    s.answer("out1", 100);
    expect(s.output.summary()).toEqual([
      "audio:160",
      "audio:160",
      "audio:160",
      "audio:160",
      "mark:cb-1",
    ]);
    expect(s.metrics.outboundDroppedFrames).toBe(15);
  });
});
