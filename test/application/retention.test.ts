import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FsRecordingStore } from "../../src/adapters/fs/fs-recording-store.ts";
import { createLogger } from "../../src/adapters/logging/pino-logger.ts";
import { uuidIds } from "../../src/adapters/system/uuid-ids.ts";
import { CallManager } from "../../src/application/call-manager.ts";
import type { Clock } from "../../src/application/ports/index.ts";
import { RecordingRetention } from "../../src/application/retention.ts";
import { encodeMuLaw } from "../../src/domain/audio/index.ts";
import type { Call } from "../../src/domain/call.ts";
import { createSqliteWorld, type SqliteWorld } from "../adapters/sqlite/sqlite-test-world.ts";
import { appendCallerMuLaw } from "../support/caller-audio.ts";
import { tone } from "../support/signals.ts";

class FixedClock implements Clock {
  constructor(private current: Date) {}
  now(): Date {
    return new Date(this.current);
  }
  set(date: Date): void {
    this.current = new Date(date);
  }
}

const DAY = 24 * 60 * 60 * 1000;
const NOW = new Date("2026-06-30T12:00:00.000Z");
const daysAgo = (days: number, extraMs = 0) => new Date(NOW.getTime() - days * DAY - extraMs);
const logger = createLogger("silent");
const oneSecondOfAudio = encodeMuLaw(tone(440, 1000, 8000, 0.3));

let world: SqliteWorld;
let root: string;
let store: FsRecordingStore;
let clock: FixedClock;
let manager: CallManager;
let sequence = 0;

beforeEach(() => {
  world = createSqliteWorld();
  root = join(world.dir, "recordings");
  store = new FsRecordingStore({ root });
  clock = new FixedClock(NOW);
  manager = new CallManager({
    calls: world.repository,
    recordings: store,
    clock,
    ids: uuidIds,
    logger,
  });
});

afterEach(() => world.close());

/** A whole call, as the server records it, started at `startedAt`. */
async function recordedCall(startedAt: Date, withConversation = false): Promise<Call> {
  clock.set(startedAt);
  const streamSid = `MZretention${++sequence}`;
  const active = manager.startCall({ streamSid, caller: "+15550001111", callSid: `CA${sequence}` });
  await active.stored;
  if (withConversation) active.addTrack("conversation", 16_000, 2);
  appendCallerMuLaw(active, oneSecondOfAudio);
  await active.addTranscript({ speaker: "caller", text: "hello there", offsetMs: null });
  clock.set(new Date(startedAt.getTime() + 1000));
  const call = await active.end();
  clock.set(NOW);
  return call;
}

const filesOf = (call: Call) =>
  readdirSync(root)
    .filter((name) => name.startsWith(`${call.streamSid}_`))
    .sort();

function retention(overrides: Partial<ConstructorParameters<typeof RecordingRetention>[0]> = {}) {
  return new RecordingRetention({
    calls: world.repository,
    recordings: store,
    clock,
    logger,
    retentionDays: 30,
    ...overrides,
  });
}

describe("recording retention", () => {
  it("deletes the audio and sidecars of calls older than the period and keeps the rest", async () => {
    const old = await recordedCall(daysAgo(45), true);
    const justOld = await recordedCall(daysAgo(30, 1));
    const recent = await recordedCall(daysAgo(29));
    const today = await recordedCall(daysAgo(0, 60_000));
    expect(filesOf(old)).toHaveLength(4);
    expect(await world.repository.getRecordingsByCallId(old.id)).toHaveLength(2);

    const result = await retention().run();

    expect(result).toEqual({ cutoff: daysAgo(30), deleted: 3, failed: 0 });
    for (const call of [old, justOld]) {
      expect(filesOf(call)).toEqual([]);
      expect(await world.repository.getRecordingsByCallId(call.id)).toEqual([]);
      // The call itself and what was said stay: only the audio goes.
      expect(await world.repository.getCallById(call.id)).toMatchObject({ status: "completed" });
      expect(await world.repository.countTranscriptsByCallId(call.id)).toBe(1);
    }
    for (const call of [recent, today]) {
      const [recording] = await world.repository.getRecordingsByCallId(call.id);
      expect(filesOf(call)).toEqual(
        [
          recording!.fileKey,
          recording!.fileKey.replace(".wav", "_metadata.json"),
          recording!.fileKey.replace(".wav", "_transcript.txt"),
        ].sort(),
      );
    }
  });

  it("keeps a call that started exactly at the cutoff", async () => {
    const atCutoff = await recordedCall(daysAgo(30));
    const result = await retention().run();
    expect(result.deleted).toBe(0);
    expect(filesOf(atCutoff)).toHaveLength(3);
    expect(await world.repository.getRecordingsByCallId(atCutoff.id)).toHaveLength(1);
  });

  it("works through a backlog larger than one batch", async () => {
    const calls: Call[] = [];
    for (let i = 0; i < 5; i++) calls.push(await recordedCall(daysAgo(40 + i)));
    const kept = await recordedCall(daysAgo(1));

    const result = await retention({ batchSize: 2 }).run();

    expect(result.deleted).toBe(5);
    for (const call of calls) expect(filesOf(call)).toEqual([]);
    expect(await world.repository.getRecordingsOfCallsStartedBefore(NOW, 100)).toHaveLength(1);
    expect(filesOf(kept)).toHaveLength(3);
  });

  it("leaves a recording it cannot delete for the next run and still deletes the others", async () => {
    const stuck = await recordedCall(daysAgo(50));
    const others = [await recordedCall(daysAgo(40)), await recordedCall(daysAgo(35))];
    // A folder with content where a sidecar should be: the store cannot remove it.
    const [stuckRecording] = await world.repository.getRecordingsByCallId(stuck.id);
    const blocker = join(root, stuckRecording!.fileKey.replace(".wav", "_transcript.txt"));
    rmSync(blocker);
    mkdirSync(blocker);
    writeFileSync(join(blocker, "inside"), "x");

    const first = await retention({ batchSize: 1 }).run();

    expect(first).toMatchObject({ deleted: 2, failed: 1 });
    for (const call of others) expect(filesOf(call)).toEqual([]);
    expect(await world.repository.getRecordingsByCallId(stuck.id)).toHaveLength(1);

    rmSync(blocker, { recursive: true });
    const second = await retention({ batchSize: 1 }).run();
    expect(second).toMatchObject({ deleted: 1, failed: 0 });
    expect(filesOf(stuck)).toEqual([]);
    expect(await world.repository.getRecordingsByCallId(stuck.id)).toEqual([]);
  });

  it("skips the recordings of a call that is still in progress", async () => {
    const live = await recordedCall(daysAgo(60));
    const ended = await recordedCall(daysAgo(60));

    const result = await retention({ isCallActive: (callId) => callId === live.id }).run();

    expect(result.deleted).toBe(1);
    expect(filesOf(live)).toHaveLength(3);
    expect(filesOf(ended)).toEqual([]);
  });

  it("does nothing to a store with nothing old", async () => {
    const call = await recordedCall(daysAgo(2));
    expect(await retention({ retentionDays: 3 }).run()).toMatchObject({ deleted: 0, failed: 0 });
    expect(existsSync(join(root, filesOf(call)[0]!))).toBe(true);
  });

  it("refuses a retention period that is not a positive number of days", () => {
    expect(() => retention({ retentionDays: 0 })).toThrow(RangeError);
    expect(() => retention({ retentionDays: 1.5 })).toThrow(RangeError);
  });
});
