import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { type Call, endCall, startCall as newCall } from "../../src/domain/call.ts";
import { createTranscript } from "../../src/domain/transcript.ts";
import { SessionHarness, START_TIME } from "../support/session-harness.ts";

let h: SessionHarness;

beforeEach(() => {
  vi.useFakeTimers({ now: START_TIME });
  h = new SessionHarness();
});

afterEach(() => {
  vi.useRealTimers();
});

const HOUR_MS = 3_600_000;

/** Whether a call has both sidecar files. */
const hasSidecars = (streamSid: string, startedAtMs: number) =>
  h.store.sidecar(streamSid, startedAtMs, "transcript") !== undefined &&
  h.store.sidecar(streamSid, startedAtMs, "metadata") !== undefined;

/** A call row as a dead process left it: active, with one caller turn stored. */
async function storedCall(id: string, streamSid: string, startedAtMs: number): Promise<Call> {
  const call = await h.repository.createCall(
    newCall({ id, streamSid, caller: "+15551234567", startedAt: new Date(startedAtMs) }),
  );
  await h.repository.createTranscript(
    createTranscript({
      id: `${id}-t1`,
      callId: id,
      speaker: "caller",
      text: "I need a refund",
      confidence: null,
      offsetMs: 1200,
      interrupted: false,
      cut: null,
      failed: false,
      createdAt: new Date(startedAtMs + 2000),
    }),
  );
  return call;
}

/** A call whose end a crash cut between its status update and its sidecar writes. */
async function endedWithoutSidecars(
  id: string,
  streamSid: string,
  startedAtMs: number,
  durationMs: number,
): Promise<Call> {
  const call = await storedCall(id, streamSid, startedAtMs);
  const writer = h.store.create({
    streamSid,
    startedAtMs,
    track: "caller",
    sampleRate: 16_000,
    channels: 1,
  });
  writer.append(new Int16Array(1600));
  const finished = await writer.finalize();
  await h.repository.createRecording({
    id: `${id}-r1`,
    callId: id,
    track: "caller",
    format: "wav",
    codec: "pcm_s16le",
    sampleRate: finished.sampleRate,
    channels: finished.channels,
    sizeBytes: finished.sizeBytes,
    durationSeconds: finished.durationSeconds,
    fileKey: finished.fileKey,
    cloudUrl: null,
    createdAt: new Date(startedAtMs + durationMs),
  });
  return h.repository.updateCall(endCall(call, "completed", new Date(startedAtMs + durationMs)));
}

describe("recoverInterruptedCalls writes the sidecar files", () => {
  it("of a call it recovers from `active`, with its transcript and its failed status", async () => {
    const startedAtMs = START_TIME - 60_000;
    await storedCall("stale-1", "MZstale", startedAtMs);
    h.store.addPartial(
      { streamSid: "MZstale", startedAtMs, track: "caller", sampleRate: 16_000, channels: 1 },
      new Int16Array(32_000),
    );

    await h.manager.recoverInterruptedCalls();

    expect(h.store.sidecar("MZstale", startedAtMs, "transcript")).toBe(
      "[00:01.200] caller: I need a refund\n",
    );
    const json: unknown = JSON.parse(h.store.sidecar("MZstale", startedAtMs, "metadata") ?? "");
    expect(json).toMatchObject({
      call: { id: "stale-1", status: "failed", durationSeconds: 2, caller: "+15551234567" },
      metadata: null,
    });
  });

  it("of an ended call a crash left without them, and of one left with only the first", async () => {
    const first = START_TIME - 10 * 60_000;
    await endedWithoutSidecars("done-1", "MZdone", first, 30_000);
    const second = START_TIME - 5 * 60_000;
    const half = await endedWithoutSidecars("done-2", "MZhalf", second, 30_000);
    await h.store.writeSidecar("MZhalf", second, "transcript", "stale\n");

    await h.manager.recoverInterruptedCalls();

    expect(h.store.sidecar("MZdone", first, "transcript")).toContain("caller: I need a refund");
    expect(hasSidecars("MZdone", first)).toBe(true);
    expect(h.store.sidecar("MZhalf", second, "transcript")).toContain("I need a refund");
    const json: unknown = JSON.parse(h.store.sidecar("MZhalf", second, "metadata") ?? "");
    expect(json).toMatchObject({ call: { id: half.id, status: "completed" } });
  });

  it("of an ended call however long ago it ended, since the folder says what is missing", async () => {
    const old = START_TIME - 30 * 24 * HOUR_MS;
    await endedWithoutSidecars("old-1", "MZold", old, 60_000);
    await h.manager.recoverInterruptedCalls();
    expect(hasSidecars("MZold", old)).toBe(true);
  });

  it("leaves alone calls that have their files, lost their recordings, or are live", async () => {
    // Retention deleted its recording and sidecars; its row stays, and so does the absence.
    const retained = START_TIME - 2 * 60_000;
    const kept = await storedCall("kept-1", "MZkept", retained);
    await h.repository.updateCall(endCall(kept, "completed", new Date(retained + 30_000)));
    // Ended normally, files written.
    const fine = START_TIME - 60_000;
    await endedWithoutSidecars("fine-1", "MZfine", fine, 10_000);
    await h.store.writeSidecar("MZfine", fine, "transcript", "kept\n");
    await h.store.writeSidecar("MZfine", fine, "metadata", "{}\n");
    // Live in this process, its recording finished and its files not yet written: its own end
    // writes them.
    const live = h.manager.startCall({ streamSid: "MZlive" });
    await live.stored;
    const writer = h.store.writerOf("MZlive", "caller");
    await writer?.finalize();

    await h.manager.recoverInterruptedCalls();

    expect(hasSidecars("MZkept", retained)).toBe(false);
    expect(h.store.sidecar("MZfine", fine, "transcript")).toBe("kept\n");
    expect(hasSidecars("MZlive", START_TIME)).toBe(false);
    expect(h.logger.withMessage("recovered calls interrupted by a previous crash")).toEqual([]);
  });

  it("goes on when one call's files cannot be written, and still serves", async () => {
    const a = START_TIME - 60_000;
    await storedCall("stale-a", "MZa", a);
    const b = START_TIME - 30_000;
    await storedCall("stale-b", "MZb", b);
    h.store.failNext("writeSidecar");

    await expect(h.manager.recoverInterruptedCalls()).resolves.toEqual({
      calls: 2,
      recordings: 0,
    });
    // The first call's transcript write failed; the second call still got both files.
    expect(hasSidecars("MZb", b)).toBe(true);
    expect(h.logger.withMessage("sidecar files of a recovered call could not be written")).toEqual([
      expect.objectContaining({ level: "error" }),
    ]);
  });
});
