import { describe, expect, it } from "vitest";
import { InProcessJobLock } from "../../src/adapters/system/in-process-job-lock.ts";
import {
  ExpiredLeaseSweep,
  failedWithinMs,
  InstanceLease,
  isOrphaned,
} from "../../src/application/call-leases.ts";
import { CallManager } from "../../src/application/call-manager.ts";
import type { CallEvent, Logger } from "../../src/application/ports/index.ts";
import { type Call, startCall } from "../../src/domain/call.ts";
import { SettableClock, sequentialIds } from "../support/fake-clock.ts";
import { InMemoryCallRepository } from "../support/in-memory-call-repository.ts";
import { InMemoryRecordingStore } from "../support/in-memory-recording-store.ts";

const LEASE_MS = 15_000;
const T0 = Date.parse("2026-01-01T10:00:00.000Z");

const quiet: Logger = {
  debug() {},
  info() {},
  warn() {},
  error() {},
  child: () => quiet,
};

function world() {
  const clock = new SettableClock(T0);
  const calls = new InMemoryCallRepository();
  const recordings = new InMemoryRecordingStore();
  const events: CallEvent[] = [];
  const lease = (instanceId: string) =>
    new InstanceLease({ calls, clock, logger: quiet, instanceId, leaseMs: LEASE_MS });
  const sweep = (instanceId: string) =>
    new ExpiredLeaseSweep({
      calls,
      recordings,
      clock,
      logger: quiet,
      instanceId,
      lock: new InProcessJobLock(),
      events: { publish: (event) => events.push(event) },
    });
  const liveCall = async (id: string, owner: string | null, startedAtMs = T0): Promise<Call> => {
    const call = startCall({ id, streamSid: `MZ${id}`, startedAt: new Date(startedAtMs) });
    await (owner === null ? calls.createCall(call) : calls.createCall(call, owner));
    return call;
  };
  return { clock, calls, recordings, events, lease, sweep, liveCall };
}

describe("instance leases and the expired-lease sweep (issue 19)", () => {
  it("never fails the calls of an instance whose lease is current, however long they run", async () => {
    const w = world();
    const a = w.lease("a");
    await a.renew();
    await w.liveCall("c1", "a");
    for (let i = 0; i < 20; i++) {
      w.clock.advance(a.renewEveryMs);
      await a.renew();
      expect(await w.sweep("b").run()).toEqual({ failed: 0 });
    }
    expect((await w.calls.getCallById("c1"))?.status).toBe("active");
  });

  it("fails a dead owner's calls once its lease has run out, ending them at its last renewal", async () => {
    const w = world();
    const a = w.lease("a");
    await a.renew();
    await w.liveCall("c1", "a");
    await w.liveCall("c2", "a");
    w.clock.advance(5000);
    await a.renew();
    const lastRenewal = w.clock.now();
    // A dies here. Just before its lease ends, nothing happens.
    w.clock.advance(LEASE_MS - 1);
    expect(await w.sweep("b").run()).toEqual({ failed: 0 });
    w.clock.advance(1);
    expect(await w.sweep("b").run()).toEqual({ failed: 2 });
    for (const id of ["c1", "c2"]) {
      const call = await w.calls.getCallById(id);
      expect(call).toMatchObject({
        status: "failed",
        endedAt: lastRenewal,
        durationSeconds: 5,
        endReason: "server_crash",
      });
    }
    expect(w.events.map((e) => e.type)).toEqual(["call.ended", "call.ended"]);
    expect(w.recordings.sidecar("MZc1", T0, "metadata")).toContain('"status": "failed"');
    // The next sweep finds nothing left to do.
    expect(await w.sweep("b").run()).toEqual({ failed: 0 });
  });

  it("leaves its own calls and unowned calls to recovery at start", async () => {
    const w = world();
    await w.liveCall("own", "b");
    await w.liveCall("legacy", null);
    w.clock.advance(10 * LEASE_MS);
    expect(await w.sweep("b").run()).toEqual({ failed: 0 });
  });

  it("treats an owner without a lease row (released, or never renewed) as gone", async () => {
    const w = world();
    const a = w.lease("a");
    await a.renew();
    await w.liveCall("c1", "a");
    await a.release();
    expect(await w.sweep("b").run()).toEqual({ failed: 1 });
    // Without a renewal to go by, the call ends when the sweep found it.
    expect((await w.calls.getCallById("c1"))?.endedAt).toEqual(w.clock.now());
  });

  it("of two instances sweeping at once, exactly one fails each call", async () => {
    const w = world();
    await w.lease("a").renew();
    for (let i = 0; i < 10; i++) await w.liveCall(`c${i}`, "a");
    w.clock.advance(LEASE_MS);
    const [b, c] = await Promise.all([w.sweep("b").run(), w.sweep("c").run()]);
    expect(b.failed + c.failed).toBe(10);
    expect(w.events).toHaveLength(10);
  });

  it("a sweep skipped because another holds the job lock does nothing", async () => {
    const w = world();
    await w.lease("a").renew();
    await w.liveCall("c1", "a");
    w.clock.advance(LEASE_MS);
    const lock = new InProcessJobLock();
    const sweeper = new ExpiredLeaseSweep({
      calls: w.calls,
      recordings: w.recordings,
      clock: w.clock,
      logger: quiet,
      instanceId: "b",
      lock,
    });
    await lock.runExclusive("lease-sweep", async () => {
      expect(await sweeper.run()).toEqual({ failed: 0, skipped: true });
    });
    expect((await w.calls.getCallById("c1"))?.status).toBe("active");
  });

  it("bounds the time from a crash to the failed status: 20 s with the default 15 s lease", () => {
    expect(failedWithinMs(15_000)).toBe(20_000);
    expect(failedWithinMs(3_000)).toBe(4_000);
  });

  it("isOrphaned: only another owner's expired or missing lease", () => {
    const call = startCall({ id: "c", streamSid: "MZc", startedAt: new Date(T0) });
    const now = new Date(T0 + 1000);
    const owned = (owner: string | null, expires: number | null) => ({
      call,
      owner,
      renewedAt: expires === null ? null : new Date(expires - LEASE_MS),
      leaseExpiresAt: expires === null ? null : new Date(expires),
    });
    expect(isOrphaned(owned("a", T0 + 1001), "b", now)).toBe(false);
    expect(isOrphaned(owned("a", T0 + 1000), "b", now)).toBe(true);
    expect(isOrphaned(owned("a", null), "b", now)).toBe(true);
    expect(isOrphaned(owned("b", null), "b", now)).toBe(false);
    expect(isOrphaned(owned(null, null), "b", now)).toBe(false);
  });
});

describe("recovery at start is by owner (issue 19)", () => {
  const manager = (w: ReturnType<typeof world>, instanceId: string) =>
    new CallManager({
      calls: w.calls,
      recordings: w.recordings,
      clock: w.clock,
      ids: sequentialIds("r"),
      logger: quiet,
      instanceId,
    });

  it("fails its own and unowned calls, never another live instance's", async () => {
    const w = world();
    await w.lease("a").renew();
    await w.lease("b").renew();
    await w.liveCall("mine", "b");
    await w.liveCall("legacy", null);
    await w.liveCall("theirs", "a");
    w.recordings.addPartial(
      { streamSid: "MZmine", startedAtMs: T0, track: "caller", sampleRate: 16_000, channels: 1 },
      new Int16Array(16_000 * 2),
    );
    w.clock.advance(60_000);
    const result = await manager(w, "b").recoverInterruptedCalls();
    expect(result.recordings).toBe(1);
    expect(await w.calls.getCallById("mine")).toMatchObject({
      status: "failed",
      endedAt: new Date(T0 + 2000),
    });
    expect((await w.calls.getCallById("legacy"))?.status).toBe("failed");
    expect((await w.calls.getCallById("theirs"))?.status).toBe("active");
  });

  it("stores the calls it runs with itself as owner", async () => {
    const w = world();
    const active = manager(w, "b").startCall({ streamSid: "MZnew" });
    await active.stored;
    expect((await w.calls.getOwnedActiveCalls()).map((o) => o.owner)).toEqual(["b"]);
  });

  it("finishes the recordings of a call a sweep failed while its owner was down", async () => {
    const w = world();
    await w.lease("a").renew();
    await w.liveCall("c1", "a");
    w.recordings.addPartial(
      { streamSid: "MZc1", startedAtMs: T0, track: "caller", sampleRate: 16_000, channels: 1 },
      new Int16Array(16_000),
    );
    w.clock.advance(LEASE_MS);
    expect(await w.sweep("b").run()).toEqual({ failed: 1 });
    w.clock.advance(5000);
    // A comes back with its id: its spool is its own to finish.
    await w.lease("a").renew();
    expect((await manager(w, "a").recoverInterruptedCalls()).recordings).toBe(1);
    const [recording] = await w.calls.getRecordingsByCallId("c1");
    expect(recording).toMatchObject({ track: "caller", durationSeconds: 1 });
    expect((await w.calls.getCallById("c1"))?.status).toBe("failed");
  });
});

describe("a call of this instance that lost its end (issue 19)", () => {
  it("is failed by the instance's own sweep once it is no longer live here", async () => {
    const w = world();
    await w.lease("b").renew();
    await w.liveCall("live", "b");
    await w.liveCall("lost", "b");
    const sweeper = new ExpiredLeaseSweep({
      calls: w.calls,
      recordings: w.recordings,
      clock: w.clock,
      logger: quiet,
      instanceId: "b",
      lock: new InProcessJobLock(),
      isLive: (streamSid) => streamSid === "MZlive",
    });
    w.clock.advance(30_000);
    expect(await sweeper.run()).toEqual({ failed: 1 });
    expect(await w.calls.getCallById("lost")).toMatchObject({
      status: "failed",
      endedAt: w.clock.now(),
    });
    expect((await w.calls.getCallById("live"))?.status).toBe("active");
  });
});
