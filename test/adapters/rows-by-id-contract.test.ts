import { afterEach, beforeEach, expect, it } from "vitest";
import { describeEachWorld, type RepositoryWorld } from "./repository-worlds.ts";
import { aCall, anAnalytics, aTranscript } from "./sqlite/sqlite-test-world.ts";

/**
 * A transcript or analytics snapshot by its id: what an instance reads back when another
 * instance's NOTIFY names one (issue 19's live feeds), one row whatever the call's length.
 */
let world: RepositoryWorld;

describeEachWorld("rows by id", (makeWorld) => {
  beforeEach(async () => {
    world = await makeWorld();
  });
  afterEach(() => world.close());

  it("reads one transcript and one analytics snapshot by id, written behind or not", async () => {
    const repo = world.repository;
    await repo.createCall(aCall("c1"));
    await repo.createCall(aCall("c2"));
    const turns = [
      aTranscript("t1", "c1", "first"),
      aTranscript("t2", "c1", "second"),
      aTranscript("t3", "c2", "other call"),
    ];
    // Not awaited one by one: the reads must see rows still queued behind them.
    const writes: Promise<unknown>[] = turns.map((t) => repo.createTranscript(t));
    const snapshot = anAnalytics("a1", "c1");
    writes.push(repo.createAnalytics(snapshot));
    expect(await repo.getTranscriptById("t2")).toEqual(
      (await repo.getTranscriptsByCallId("c1")).find((t) => t.id === "t2"),
    );
    expect((await repo.getTranscriptById("t3"))?.text).toBe("other call");
    expect(await repo.getAnalyticsById("a1")).toEqual((await repo.getAnalyticsByCallId("c1"))[0]);
    await Promise.all(writes);
    expect(await repo.getTranscriptById("missing")).toBeNull();
    expect(await repo.getAnalyticsById("missing")).toBeNull();
    await repo.deleteCall("c1");
    expect(await repo.getTranscriptById("t1")).toBeNull();
    expect(await repo.getAnalyticsById("a1")).toBeNull();
  });
});
