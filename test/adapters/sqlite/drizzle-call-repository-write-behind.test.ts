import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Analytics } from "../../../src/domain/analytics.ts";
import { DomainError } from "../../../src/domain/errors.ts";
import type { Transcript } from "../../../src/domain/transcript.ts";
import { POSTGRES_WORLD } from "../postgres/postgres-test-world.ts";
import { describeEachWorld, type RepositoryWorld } from "../repository-worlds.ts";
import { aCall, anAnalytics, aTranscript, IN_THREAD_WORLD } from "./sqlite-test-world.ts";

/**
 * The adapters that batch transcripts and analytics on the caller's thread; the threaded one
 * batches in its writer thread and has tests of its own (threaded-call-repository.test.ts).
 */
const WRITE_BEHIND_WORLDS = [IN_THREAD_WORLD, POSTGRES_WORLD];

let world: RepositoryWorld;

const rowCount = (table: string): Promise<number> => world.rowCount(table);
const walCommits = (): Promise<number> => world.commits();

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => "resolved",
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

describeEachWorld(
  "",
  (open) => {
    beforeEach(async () => {
      world = await open();
      await world.repository.createCall(aCall("c1"));
      await world.repository.createCall(aCall("c2"));
    });
    afterEach(() => world.close());

    describe("DrizzleCallRepository write-behind of transcripts and analytics", () => {
      it("commits every row created in one event-loop turn in one transaction", async () => {
        const before = await walCommits();
        const created = Array.from({ length: 50 }, (_, i) => [
          world.repository.createTranscript(aTranscript(`t${i}`, i % 2 ? "c1" : "c2", `turn ${i}`)),
          world.repository.createAnalytics(anAnalytics(`a${i}`, i % 2 ? "c1" : "c2")),
        ]).flat();
        // Nothing is written until the turn ends (the counts are asked for in this turn).
        // One query for both tables: a second one could wait for a connection past the commit.
        const countedInTurn = rowCount(
          "(SELECT id FROM transcripts UNION ALL SELECT id FROM analytics) AS batched",
        );
        await Promise.all(created);
        expect(await countedInTurn).toBe(0);
        expect(await rowCount("transcripts")).toBe(50);
        expect(await rowCount("analytics")).toBe(50);
        expect((await walCommits()) - before).toBe(1);

        // The control: rows awaited one at a time are one commit each.
        for (const i of [50, 51, 52]) {
          await world.repository.createTranscript(aTranscript(`t${i}`, "c1", `turn ${i}`));
        }
        expect((await walCommits()) - before).toBe(4);
      });

      it("commits a turn of more rows than one statement takes in one transaction", async () => {
        const before = await walCommits();
        // PostgreSQL writes a batch 2,000 rows a statement.
        await Promise.all(
          Array.from({ length: 4500 }, (_, i) =>
            world.repository.createTranscript(aTranscript(`t${i}`, i % 2 ? "c1" : "c2", `n${i}`)),
          ),
        );
        expect(await rowCount("transcripts")).toBe(4500);
        expect((await walCommits()) - before).toBe(1);
        const c1 = await world.repository.getTranscriptsByCallId("c1");
        expect(c1.map((t) => t.id).slice(0, 3)).toEqual(["t1", "t3", "t5"]);
      });

      it("settles each promise only after the commit that holds its row", async () => {
        const seen: number[] = [];
        const created = world.repository
          .createTranscript(aTranscript("t1", "c1", "hello"))
          .then(async () => seen.push(await rowCount("transcripts")));
        await created;
        expect(seen).toEqual([1]);
      });

      it("rejects only the bad rows of a batch, with the same errors as before, and stores the rest", async () => {
        const before = await walCommits();
        const results = await Promise.allSettled([
          world.repository.createTranscript(aTranscript("t1", "c1", "first")),
          world.repository.createTranscript(aTranscript("t-ghost", "ghost", "nobody")),
          world.repository.createAnalytics(anAnalytics("a-ghost", "ghost")),
          world.repository.createTranscript(aTranscript("t2", "c1", "second")),
          world.repository.createTranscript(aTranscript("t2", "c2", "same id again")),
          world.repository.createAnalytics(anAnalytics("a1", "c2")),
        ]);
        expect(results.map((r) => r.status)).toEqual([
          "fulfilled",
          "rejected",
          "rejected",
          "fulfilled",
          "rejected",
          "fulfilled",
        ]);
        const errors = results.flatMap((r) =>
          r.status === "rejected" ? [r.reason as DomainError] : [],
        );
        for (const error of errors) expect(error).toBeInstanceOf(DomainError);
        expect(errors.map((e) => [e.code, e.message])).toEqual([
          ["not_found", "call ghost not found"],
          ["not_found", "call ghost not found"],
          ["conflict", "a transcript with this id already exists"],
        ]);
        // The good rows, in the order they were created, one commit each after the failed batch.
        expect((await world.repository.getTranscriptsByCallId("c1")).map((t) => t.text)).toEqual([
          "first",
          "second",
        ]);
        expect(await world.repository.countTranscriptsByCallId("c2")).toBe(0);
        expect((await world.repository.getAnalyticsByCallId("c2")).map((a) => a.id)).toEqual([
          "a1",
        ]);
        expect((await walCommits()) - before).toBe(3);
      });

      it("stores and reads back every field exactly as the Drizzle insert did", async () => {
        const transcriptsCreated: Transcript[] = [
          aTranscript("t-full", "c1", "Grüße, ça va? 👋 \"quoted\" 'single'", {
            speaker: "assistant",
            confidence: 0.93,
            offsetMs: 1520,
            interrupted: true,
          }),
          aTranscript("t-bare", "c1", "", { confidence: null, offsetMs: null, interrupted: false }),
          aTranscript("t-edges", "c1", "x", { confidence: 1, offsetMs: 0 }),
        ];
        const analyticsCreated: Analytics[] = [
          anAnalytics("a-full", "c1", {
            sentiment: "negative",
            sentimentScore: -2.5,
            customMetrics: {
              turns: 4,
              ratio: 0.25,
              tags: ["a", "ü"],
              nested: { ok: true, no: null },
            },
          }),
          anAnalytics("a-bare", "c1", {
            sentiment: null,
            sentimentScore: null,
            avgResponseLatencyMs: null,
            p95ResponseLatencyMs: null,
            customMetrics: null,
          }),
          anAnalytics("a-empty", "c1", { customMetrics: {} }),
        ];
        await Promise.all([
          ...transcriptsCreated.map((t) => world.repository.createTranscript(t)),
          ...analyticsCreated.map((a) => world.repository.createAnalytics(a)),
        ]);
        expect(await world.repository.getTranscriptsByCallId("c1")).toEqual([
          transcriptsCreated[2],
          transcriptsCreated[0],
          transcriptsCreated[1],
        ]);
        expect(await world.repository.getAnalyticsByCallId("c1")).toEqual(analyticsCreated);

        // The same rows through Drizzle's own insert, on the second call, store the same values of
        // the same storage types.
        await world.insertDirectly({
          transcripts: transcriptsCreated.map((t) => ({
            ...t,
            id: `drizzle-${t.id}`,
            callId: "c2",
          })),
          analytics: analyticsCreated.map((a) => ({ ...a, id: `drizzle-${a.id}`, callId: "c2" })),
        });
        const [transcriptsBatched, transcriptsInserted, analyticsBatched, analyticsInserted] =
          await Promise.all([
            world.storedValues("transcripts", "c1"),
            world.storedValues("transcripts", "c2"),
            world.storedValues("analytics", "c1"),
            world.storedValues("analytics", "c2"),
          ]);
        expect(transcriptsBatched).toHaveLength(3);
        expect(transcriptsBatched).toEqual(transcriptsInserted);
        expect(analyticsBatched).toEqual(analyticsInserted);
        // The JSON document is kept as given (key order, number spelling).
        expect(analyticsBatched[0]).toMatchObject({
          custom_metrics: expect.stringMatching(
            /:'{"turns":4,"ratio":0.25,"tags":\["a","ü"\],"nested":{"ok":true,"no":null}}'$/,
          ),
        });
      });
    });

    describe("DrizzleCallRepository reads see the rows still pending", () => {
      // Each read is called in the same turn as the create, before the batch would commit.
      it("lists, counts and searches a transcript created without awaiting", async () => {
        const created = world.repository.createTranscript(
          aTranscript("t1", "c1", "I need a refund", { offsetMs: 10 }),
        );
        const countedInTurn = rowCount("transcripts");
        expect((await world.repository.getTranscriptsByCallId("c1")).map((t) => t.id)).toEqual([
          "t1",
        ]);
        await created;
        expect(await countedInTurn).toBe(0);

        world.repository.createTranscript(aTranscript("t2", "c1", "the refund of my order"));
        expect(await world.repository.countTranscriptsByCallId("c1")).toBe(2);

        world.repository.createTranscript(aTranscript("t3", "c2", "a warranty question"));
        const hits = await world.repository.searchTranscripts({
          q: "warranty",
          limit: 10,
          offset: 0,
        });
        expect(hits.map((h) => h.transcriptId)).toEqual(["t3"]);
      });

      it("waits for a batch that is already being committed", async () => {
        // SQLite commits a batch synchronously: no batch is ever in flight there.
        if (!world.holdWrites) return;
        const release = await world.holdWrites("transcripts");
        const created = world.repository.createTranscript(aTranscript("t1", "c1", "in flight"));
        // The turn ends: the batch holding the row starts, and waits for the lock.
        await new Promise((resolve) => setTimeout(resolve, 50));
        const counted = world.repository.countTranscriptsByCallId("c1");
        await new Promise((resolve) => setTimeout(resolve, 50));
        await release();
        expect(await counted).toBe(1);
        await created;
      });

      it("marks a transcript interrupted that is still pending", async () => {
        const created = world.repository.createTranscript(
          aTranscript("t1", "c1", "let me explain"),
        );
        await world.repository.markTranscriptInterrupted("t1");
        await created;
        expect((await world.repository.getTranscriptsByCallId("c1"))[0]?.interrupted).toBe(true);
      });

      it("lists and counts analytics created without awaiting", async () => {
        world.repository.createAnalytics(anAnalytics("a1", "c1"));
        expect((await world.repository.getAnalyticsByCallId("c1")).map((a) => a.id)).toEqual([
          "a1",
        ]);
        world.repository.createAnalytics(anAnalytics("a2", "c1"));
        expect(await world.repository.countAnalyticsByCallId("c1")).toBe(2);
      });

      it("deletes a call with the rows still pending for it, which are committed first", async () => {
        const created = [
          world.repository.createTranscript(aTranscript("t1", "c1", "bye")),
          world.repository.createAnalytics(anAnalytics("a1", "c1")),
          world.repository.createTranscript(aTranscript("t2", "c2", "stays")),
        ];
        expect(await world.repository.deleteCall("c1")).toEqual({ deleted: true, fileKeys: [] });
        await Promise.all(created);
        expect(await world.repository.countTranscriptsByCallId("c1")).toBe(0);
        expect(await world.repository.countAnalyticsByCallId("c1")).toBe(0);
        expect(await world.repository.countTranscriptsByCallId("c2")).toBe(1);
        // No row was committed after the delete: the batch has nothing left to write.
        await new Promise((resolve) => setImmediate(resolve));
        expect(await rowCount("transcripts")).toBe(1);
      });
    });

    describe("DrizzleCallRepository.flush before the connection closes", () => {
      it("commits the pending rows, so closing right after loses none", async () => {
        const created = [
          world.repository.createTranscript(aTranscript("t1", "c1", "last words")),
          world.repository.createAnalytics(anAnalytics("a1", "c1")),
        ];
        await world.commitAndCloseDatabase();
        await Promise.all(created);

        const { repository, close } = await world.reopen();
        try {
          expect((await repository.getTranscriptsByCallId("c1")).map((t) => t.text)).toEqual([
            "last words",
          ]);
          expect(await repository.countAnalyticsByCallId("c1")).toBe(1);
        } finally {
          await close();
        }
      });

      it("without it, a row pending at close is refused as storage_unavailable, never lost silently", async () => {
        // The database goes away first: closing PostgreSQL's connections takes a round trip, in
        // which a row created before it would be committed. The batch then fails to commit.
        await world.closeDatabase();
        const created = world.repository.createTranscript(aTranscript("t1", "c1", "too late"));
        expect((await rejection(created)).code).toBe("storage_unavailable");
      });
    });
  },
  WRITE_BEHIND_WORLDS,
);
