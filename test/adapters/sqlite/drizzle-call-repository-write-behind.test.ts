import { readFileSync } from "node:fs";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { analytics, transcripts } from "../../../drizzle/schema.ts";
import { openDatabase } from "../../../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import { analyticsToRow, transcriptToRow } from "../../../src/adapters/sqlite/row-mapping.ts";
import type { Analytics } from "../../../src/domain/analytics.ts";
import { DomainError } from "../../../src/domain/errors.ts";
import type { Transcript } from "../../../src/domain/transcript.ts";
import {
  aCall,
  anAnalytics,
  aTranscript,
  createSqliteWorld,
  type SqliteWorld,
} from "./sqlite-test-world.ts";

let world: SqliteWorld;
beforeEach(async () => {
  world = createSqliteWorld();
  // No checkpoint may reset the WAL file while a test counts the commits in it.
  world.sqlite.pragma("wal_autocheckpoint = 0");
  await world.repository.createCall(aCall("c1"));
  await world.repository.createCall(aCall("c2"));
});
afterEach(() => world.close());

/**
 * Transactions committed to the database file so far, read from the WAL file itself: each
 * commit ends with one frame whose header carries the database size (zero in other frames).
 * Frames with other salts are left over from an earlier generation of the WAL.
 */
function walCommits(): number {
  const wal = readFileSync(`${world.path}-wal`);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salts = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salts[0] || wal.readUInt32BE(at + 12) !== salts[1]) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

const rowCount = (table: string): number =>
  (world.sqlite.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n;

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => "resolved",
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

describe("DrizzleCallRepository write-behind of transcripts and analytics", () => {
  it("commits every row created in one event-loop turn in one transaction", async () => {
    const before = walCommits();
    const created = Array.from({ length: 50 }, (_, i) => [
      world.repository.createTranscript(aTranscript(`t${i}`, i % 2 ? "c1" : "c2", `turn ${i}`)),
      world.repository.createAnalytics(anAnalytics(`a${i}`, i % 2 ? "c1" : "c2")),
    ]).flat();
    // Nothing is written until the turn ends.
    expect(rowCount("transcripts") + rowCount("analytics")).toBe(0);
    await Promise.all(created);
    expect(rowCount("transcripts")).toBe(50);
    expect(rowCount("analytics")).toBe(50);
    expect(walCommits() - before).toBe(1);

    // The control: rows awaited one at a time are one commit each.
    for (const i of [50, 51, 52]) {
      await world.repository.createTranscript(aTranscript(`t${i}`, "c1", `turn ${i}`));
    }
    expect(walCommits() - before).toBe(4);
  });

  it("settles each promise only after the commit that holds its row", async () => {
    const seen: number[] = [];
    const created = world.repository
      .createTranscript(aTranscript("t1", "c1", "hello"))
      .then(() => seen.push(rowCount("transcripts")));
    await created;
    expect(seen).toEqual([1]);
  });

  it("rejects only the bad rows of a batch, with the same errors as before, and stores the rest", async () => {
    const before = walCommits();
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
    expect((await world.repository.getAnalyticsByCallId("c2")).map((a) => a.id)).toEqual(["a1"]);
    expect(walCommits() - before).toBe(3);
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
        customMetrics: { turns: 4, ratio: 0.25, tags: ["a", "ü"], nested: { ok: true, no: null } },
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
    // the same SQLite types.
    for (const t of transcriptsCreated) {
      world.db
        .insert(transcripts)
        .values(transcriptToRow({ ...t, id: `drizzle-${t.id}`, callId: "c2" }))
        .run();
    }
    for (const a of analyticsCreated) {
      world.db
        .insert(analytics)
        .values(analyticsToRow({ ...a, id: `drizzle-${a.id}`, callId: "c2" }))
        .run();
    }
    const stored = (table: string, callId: string, order: string) => {
      const columns = (world.sqlite.pragma(`table_info(${table})`) as Array<{ name: string }>)
        .map((c) => c.name)
        .filter((name) => !["id", "call_id", "seq"].includes(name));
      const select = columns.map((c) => `typeof(${c}) || ':' || quote(${c}) AS ${c}`).join(", ");
      return world.sqlite
        .prepare(`SELECT ${select} FROM ${table} WHERE call_id = ? ORDER BY ${order}`)
        .all(callId);
    };
    expect(stored("transcripts", "c1", "seq")).toEqual(stored("transcripts", "c2", "seq"));
    expect(stored("analytics", "c1", "rowid")).toEqual(stored("analytics", "c2", "rowid"));
    expect(stored("analytics", "c1", "rowid")[0]).toMatchObject({
      custom_metrics: `text:'{"turns":4,"ratio":0.25,"tags":["a","ü"],"nested":{"ok":true,"no":null}}'`,
    });
  });
});

describe("DrizzleCallRepository reads see the rows still pending", () => {
  // Each read is called in the same turn as the create, before the batch would commit.
  it("lists, counts and searches a transcript created without awaiting", async () => {
    const created = world.repository.createTranscript(
      aTranscript("t1", "c1", "I need a refund", { offsetMs: 10 }),
    );
    expect(rowCount("transcripts")).toBe(0);
    expect((await world.repository.getTranscriptsByCallId("c1")).map((t) => t.id)).toEqual(["t1"]);
    await created;

    world.repository.createTranscript(aTranscript("t2", "c1", "the refund of my order"));
    expect(await world.repository.countTranscriptsByCallId("c1")).toBe(2);

    world.repository.createTranscript(aTranscript("t3", "c2", "a warranty question"));
    const hits = await world.repository.searchTranscripts({ q: "warranty", limit: 10, offset: 0 });
    expect(hits.map((h) => h.transcriptId)).toEqual(["t3"]);
  });

  it("marks a transcript interrupted that is still pending", async () => {
    const created = world.repository.createTranscript(aTranscript("t1", "c1", "let me explain"));
    await world.repository.markTranscriptInterrupted("t1");
    await created;
    expect((await world.repository.getTranscriptsByCallId("c1"))[0]?.interrupted).toBe(true);
  });

  it("lists and counts analytics created without awaiting", async () => {
    world.repository.createAnalytics(anAnalytics("a1", "c1"));
    expect((await world.repository.getAnalyticsByCallId("c1")).map((a) => a.id)).toEqual(["a1"]);
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
    expect(rowCount("transcripts")).toBe(1);
  });
});

describe("DrizzleCallRepository.flush before the connection closes", () => {
  it("commits the pending rows, so closing right after loses none", async () => {
    const created = [
      world.repository.createTranscript(aTranscript("t1", "c1", "last words")),
      world.repository.createAnalytics(anAnalytics("a1", "c1")),
    ];
    world.repository.flush();
    world.sqlite.close();
    await Promise.all(created);

    const reopened = openDatabase(`file:${world.path}`);
    try {
      const repository = new DrizzleCallRepository(reopened.db, reopened.sqlite);
      expect((await repository.getTranscriptsByCallId("c1")).map((t) => t.text)).toEqual([
        "last words",
      ]);
      expect(await repository.countAnalyticsByCallId("c1")).toBe(1);
    } finally {
      reopened.sqlite.close();
    }
  });

  it("without it, a row pending at close is refused as storage_unavailable, never lost silently", async () => {
    const created = world.repository.createTranscript(aTranscript("t1", "c1", "too late"));
    world.sqlite.close();
    expect((await rejection(created)).code).toBe("storage_unavailable");
  });
});
