import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { CallOwner } from "../../src/application/active-call.ts";
import type { StopReason } from "../../src/application/ports/index.ts";
import { startCall as newCall } from "../../src/domain/call.ts";
import { appendCallerMuLaw } from "../support/caller-audio.ts";
import {
  CALLER_TRACK_SAMPLES_PER_FRAME,
  SessionHarness,
  SPEECH_FRAME,
  START_TIME,
} from "../support/session-harness.ts";

let h: SessionHarness;

beforeEach(() => {
  vi.useFakeTimers({ now: START_TIME });
  h = new SessionHarness();
});

afterEach(() => {
  vi.useRealTimers();
});

/** An owner that writes down what it was asked and ends nothing itself. */
function recordingOwner(): CallOwner & { reasons: StopReason[] } {
  const reasons: StopReason[] = [];
  return {
    reasons,
    hangUp: async (reason) => {
      reasons.push(reason);
    },
  };
}

describe("CallManager.startCall", () => {
  it("hands out a live call at once and refuses its streamSid while live and after its end", async () => {
    const active = h.manager.startCall({ streamSid: "MZlive" });
    expect(h.manager.activeCount).toBe(1);
    expect(h.manager.isCallActive(active.call.id)).toBe(true);
    expect(() => h.manager.startCall({ streamSid: "MZlive" })).toThrow(
      expect.objectContaining({ code: "conflict" }),
    );
    await active.stored;
    await active.end();
    expect(() => h.manager.startCall({ streamSid: "MZlive" })).toThrow(
      expect.objectContaining({ code: "conflict" }),
    );
    expect(h.repository.rowCount("calls")).toBe(1);
  });

  it("lets a stream whose row could not be stored start again", async () => {
    h.repository.failNext("createCall");
    const failed = h.manager.startCall({ streamSid: "MZretry" });
    await expect(failed.stored).rejects.toMatchObject({ code: "storage_unavailable" });
    expect(h.manager.activeCount).toBe(0);
    const retried = h.manager.startCall({ streamSid: "MZretry" });
    await expect(retried.stored).resolves.toMatchObject({ streamSid: "MZretry" });
  });
});

describe("ActiveCall.end", () => {
  it("returns the same call when called twice, with the first outcome", async () => {
    const active = h.manager.startCall({ streamSid: "MZend" });
    await active.stored;
    vi.advanceTimersByTime(1500);
    const first = active.end("completed");
    const second = active.end("failed");
    expect(second).toBe(first);
    const ended = await second;
    expect(ended).toMatchObject({ status: "completed", durationSeconds: 1.5 });
    expect(h.repository.callsTo("updateCall")).toHaveLength(1);
  });

  it("stays active until its sidecar files are written", async () => {
    const active = h.manager.startCall({ streamSid: "MZside" });
    await active.stored;
    appendCallerMuLaw(active, SPEECH_FRAME);
    const held = h.repository.holdNext("getTranscriptsByCallId");
    const ending = active.end();
    await held.reached;

    // The row already says completed, but a DELETE now would race the sidecar files.
    expect((await h.callOf("MZside")).status).toBe("completed");
    expect(h.manager.isCallActive(active.call.id)).toBe(true);
    expect(h.manager.activeCount).toBe(1);
    expect(() => active.appendCaller(new Int16Array(320))).toThrow(/has ended/);
    const startedAtMs = active.call.startedAt.getTime();
    expect(h.store.sidecar("MZside", startedAtMs, "metadata")).toBeUndefined();

    held.release();
    await ending;
    expect(h.store.sidecar("MZside", startedAtMs, "transcript")).toBe("");
    expect(JSON.parse(h.store.sidecar("MZside", startedAtMs, "metadata")!)).toMatchObject({
      call: { id: active.call.id, status: "completed" },
      metadata: null,
    });
    expect(h.manager.isCallActive(active.call.id)).toBe(false);
    expect(h.manager.activeCount).toBe(0);
  });

  it("refuses caller audio once ending", async () => {
    const active = h.manager.startCall({ streamSid: "MZlate" });
    await active.stored;
    void active.end();
    expect(() => active.appendCaller(new Int16Array(320))).toThrow(
      expect.objectContaining({ code: "invalid_state" }),
    );
  });
});

describe("ActiveCall.setMetadata", () => {
  it("keeps every patch of concurrent updates (read-merge-write, one at a time)", async () => {
    const active = h.manager.startCall({
      streamSid: "MZmeta",
      customParameters: { campaign: "spring" },
    });
    const writes = [
      active.setMetadata({ customData: { a: 1 } }),
      active.setMetadata({ customData: { b: 2 } }),
      active.setMetadata({ region: "eu-west" }),
      active.setMetadata({ language: "en", customData: { c: 3 } }),
    ];
    await Promise.all([active.stored, ...writes]);
    const metadata = await h.repository.getMetadataByCallId(active.call.id);
    expect(metadata).toMatchObject({ region: "eu-west", language: "en" });
    expect(metadata?.customData).toEqual({ campaign: "spring", a: 1, b: 2, c: 3 });
  });

  it("goes on with the next patch after one fails", async () => {
    const active = h.manager.startCall({ streamSid: "MZmetafail" });
    await active.stored;
    h.repository.failNext("createOrUpdateMetadata");
    const failed = active.setMetadata({ customData: { a: 1 } });
    const next = active.setMetadata({ customData: { b: 2 } });
    await expect(failed).rejects.toMatchObject({ code: "storage_unavailable" });
    await expect(next).resolves.toMatchObject({ customData: { b: 2 } });
  });
});

describe("CallManager.endAll", () => {
  it("hangs each call up through its owner, ends owner-less calls, and leaves none live", async () => {
    const owner = recordingOwner();
    const owned = h.manager.startCall({ streamSid: "MZowned" }, owner);
    const bare = h.manager.startCall({ streamSid: "MZbare" });
    await Promise.all([owned.stored, bare.stored]);

    await h.manager.endAll("shutdown");
    expect(owner.reasons).toEqual(["shutdown"]);
    expect((await h.callOf("MZowned")).status).toBe("completed");
    expect((await h.callOf("MZbare")).status).toBe("completed");
    expect(h.manager.activeCount).toBe(0);
  });

  it("hangs up live sessions: their stream is closed and their audio kept", async () => {
    const s = h.session();
    await s.start();
    s.speech(12);
    await h.manager.endAll("shutdown");
    expect(s.output.closed).toBe(true);
    expect(s.connection.closedBySession).toBe(true);
    expect(await s.call()).toMatchObject({ status: "completed" });
    expect(s.callerTrack()).toHaveLength(12 * CALLER_TRACK_SAMPLES_PER_FRAME);
    expect(h.manager.activeCount).toBe(0);
  });

  it("ends the other calls when one owner's hang-up fails", async () => {
    const failing: CallOwner = { hangUp: () => Promise.reject(new Error("socket gone")) };
    const broken = h.manager.startCall({ streamSid: "MZbroken" }, failing);
    const bare = h.manager.startCall({ streamSid: "MZfine" });
    await Promise.all([broken.stored, bare.stored]);
    await h.manager.endAll();
    expect((await h.callOf("MZfine")).status).toBe("completed");
  });
});

describe("CallManager.recoverInterruptedCalls", () => {
  it("marks a stale active call failed and gives its partial recording a row", async () => {
    const startedAt = new Date(START_TIME - 60_000);
    const stale = newCall({ id: "stale-1", streamSid: "MZstale", startedAt });
    await h.repository.createCall(stale);
    // A process killed mid-call left 1.5 s of caller audio as a `.part`.
    h.store.addPartial(
      {
        streamSid: "MZstale",
        startedAtMs: startedAt.getTime(),
        track: "caller",
        sampleRate: 16_000,
        channels: 1,
      },
      new Int16Array(24_000),
    );

    const result = await h.manager.recoverInterruptedCalls();
    expect(result).toEqual({ calls: 1, recordings: 1 });
    // It ends when its audio ended, not now.
    expect(await h.callOf("MZstale")).toMatchObject({
      status: "failed",
      endedAt: new Date(startedAt.getTime() + 1500),
      durationSeconds: 1.5,
    });
    expect(await h.repository.getRecordingsByCallId("stale-1")).toMatchObject([
      { track: "caller", durationSeconds: 1.5, sampleRate: 16_000, channels: 1 },
    ]);
    expect(h.store.partialKeys()).toEqual([]);
  });

  it("ends a stale call without audio now, and leaves a live call alone", async () => {
    const live = h.manager.startCall({ streamSid: "MZlive" });
    await live.stored;
    await h.repository.createCall(
      newCall({ id: "stale-2", streamSid: "MZgone", startedAt: new Date(START_TIME - 5000) }),
    );
    vi.advanceTimersByTime(1000);

    await h.manager.recoverInterruptedCalls();
    expect(await h.callOf("MZgone")).toMatchObject({ status: "failed", durationSeconds: 6 });
    expect(await h.callOf("MZlive")).toMatchObject({ status: "active" });
    expect(h.manager.isCallActive(live.call.id)).toBe(true);
  });

  it("keeps a recovered recording whose call has no row on disk, without a row", async () => {
    h.store.addPartial(
      {
        streamSid: "MZorphan",
        startedAtMs: START_TIME,
        track: "caller",
        sampleRate: 16_000,
        channels: 1,
      },
      new Int16Array(1600),
    );
    expect(await h.manager.recoverInterruptedCalls()).toEqual({ calls: 0, recordings: 0 });
    expect(h.store.finishedKeys()).toHaveLength(1);
    expect(h.repository.rowCount("recordings")).toBe(0);
  });
});
