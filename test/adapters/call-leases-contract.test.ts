import { afterEach, beforeEach, expect, it } from "vitest";
import { endCall } from "../../src/domain/call.ts";
import { describeEachWorld, type RepositoryWorld } from "./repository-worlds.ts";
import { aCall } from "./sqlite/sqlite-test-world.ts";

const t = (ms: number): Date => new Date(Date.UTC(2026, 0, 1) + ms);

/** Issue 19: call owners, instance leases, and the conditional failure the sweep relies on. */
let world: RepositoryWorld;

describeEachWorld("call owners and leases", (makeWorld) => {
  beforeEach(async () => {
    world = await makeWorld();
  });
  afterEach(() => world.close());

  it("lists active calls with their owner and the owner's lease; ended calls are not listed", async () => {
    const repo = world.repository;
    await repo.renewLease("a", t(1000), t(16_000));
    await repo.createCall(aCall("c1", { startedAt: t(2000) }), "a");
    await repo.createCall(aCall("c2", { startedAt: t(3000) }), "b");
    await repo.createCall(aCall("c3", { startedAt: t(4000) }));
    const ended = aCall("c4", { startedAt: t(1500) });
    await repo.createCall(ended, "a");
    await repo.updateCall(endCall(ended, "completed", t(5000)));
    const owned = await repo.getOwnedActiveCalls();
    expect(owned.map((o) => [o.call.id, o.owner])).toEqual([
      ["c1", "a"],
      ["c2", "b"],
      ["c3", null],
    ]);
    expect(owned[0]).toMatchObject({ renewedAt: t(1000), leaseExpiresAt: t(16_000) });
    // No lease row: an owner that never renewed, or released its lease.
    expect(owned[1]).toMatchObject({ renewedAt: null, leaseExpiresAt: null });
    expect(owned[0]?.call).toEqual(aCall("c1", { startedAt: t(2000) }));
  });

  it("renewing moves the lease forward; releasing removes it", async () => {
    const repo = world.repository;
    await repo.createCall(aCall("c1"), "a");
    await repo.renewLease("a", t(1000), t(16_000));
    await repo.renewLease("a", t(6000), t(21_000));
    expect((await repo.getOwnedActiveCalls())[0]).toMatchObject({
      renewedAt: t(6000),
      leaseExpiresAt: t(21_000),
    });
    await repo.releaseLease("a");
    expect((await repo.getOwnedActiveCalls())[0]).toMatchObject({ leaseExpiresAt: null });
  });

  it("fails a call only while it is active and owned by the given owner, once", async () => {
    const repo = world.repository;
    const call = aCall("c1", { startedAt: t(1000) });
    await repo.createCall(call, "a");
    const failed = endCall(call, "failed", t(9000));
    expect(await repo.failCallIfOwnedBy(failed, "b")).toBe(false);
    expect(await repo.failCallIfOwnedBy(failed, null)).toBe(false);
    expect((await repo.getCallById("c1"))?.status).toBe("active");
    const racing = await Promise.all([
      repo.failCallIfOwnedBy(failed, "a"),
      repo.failCallIfOwnedBy(failed, "a"),
    ]);
    expect(racing.filter(Boolean)).toHaveLength(1);
    expect(await repo.getCallById("c1")).toEqual(failed);
    expect(await repo.getOwnedActiveCalls()).toEqual([]);
  });

  it("fails an unowned call only when asked for the unowned owner", async () => {
    const repo = world.repository;
    const call = aCall("c1", { startedAt: t(1000) });
    await repo.createCall(call);
    const failed = endCall(call, "failed", t(2000));
    expect(await repo.failCallIfOwnedBy(failed, "a")).toBe(false);
    expect(await repo.failCallIfOwnedBy(failed, null)).toBe(true);
  });

  it("an update at the call's end keeps its owner", async () => {
    const repo = world.repository;
    const call = aCall("c1", { startedAt: t(1000) });
    await repo.createCall(call, "a");
    await repo.updateCall({ ...call, caller: "+15550001111" });
    expect((await repo.getOwnedActiveCalls())[0]?.owner).toBe("a");
  });
});
