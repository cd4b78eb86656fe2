import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../../src/adapters/sqlite/database.ts";
import {
  DrizzleCallRepository,
  type DrizzleCallRepositoryOptions,
} from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import { aCall, aTranscript, createSqliteWorld, type SqliteWorld } from "./sqlite-test-world.ts";

let world: SqliteWorld;
beforeEach(async () => {
  world = createSqliteWorld();
  await world.repository.createCall(aCall("c1"));
  await world.repository.createCall(aCall("c2"));
  // Cancels the world repository's own catch-up: each test schedules the index itself.
  world.repository.flush();
});
afterEach(() => world.close());

const NEVER = 3_600_000;

/** A second repository on the world's connection, with its own index schedule. */
const repositoryWith = (options: DrizzleCallRepositoryOptions) =>
  new DrizzleCallRepository(world.db, world.sqlite, options);

const indexedThrough = (): number =>
  (
    world.sqlite.prepare("SELECT indexed_through AS n FROM transcripts_fts_progress").get() as {
      n: number;
    }
  ).n;

const maxSeq = (): number =>
  (
    world.sqlite.prepare("SELECT coalesce(max(seq), 0) AS n FROM transcripts").get() as {
      n: number;
    }
  ).n;

/** Rows the full-text index itself finds, without the catch-up a search would run first. */
const indexHits = (word: string): number =>
  (
    world.sqlite
      .prepare("SELECT count(*) AS n FROM transcripts_fts WHERE transcripts_fts MATCH ?")
      .get(`"${word}"`) as { n: number }
  ).n;

const ftsIntegrityCheck = (): void => {
  world.sqlite
    .prepare("INSERT INTO transcripts_fts(transcripts_fts, rank) VALUES ('integrity-check', 1)")
    .run();
};

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("transcripts are indexed for search in batches", () => {
  it("commits a transcript without indexing it, and a search indexes it first", async () => {
    const repository = repositoryWith({ searchIndexDelayMs: NEVER });
    await repository.createTranscript(aTranscript("t1", "c1", "where is my parcel"));
    expect(indexHits("parcel")).toBe(0);
    expect(indexedThrough()).toBeLessThan(maxSeq());
    const hits = await repository.searchTranscripts({ q: "parcel", limit: 20, offset: 0 });
    expect(hits.map((h) => h.transcriptId)).toEqual(["t1"]);
    expect(indexedThrough()).toBe(maxSeq());
  });

  it("indexes waiting transcripts on its own once the delay has passed", async () => {
    const repository = repositoryWith({ searchIndexDelayMs: 50 });
    await repository.createTranscript(aTranscript("t1", "c1", "where is my parcel"));
    expect(indexHits("parcel")).toBe(0);
    await until(() => indexHits("parcel") === 1);
    expect(indexedThrough()).toBe(maxSeq());
    ftsIntegrityCheck();
  });

  it("indexes at once when a batch's worth of rows is waiting, without waiting for the delay", async () => {
    const repository = repositoryWith({ searchIndexDelayMs: NEVER });
    await Promise.all(
      Array.from({ length: 2_000 }, (_, i) =>
        repository.createTranscript(aTranscript(`t${i}`, i % 2 ? "c1" : "c2", `turn number${i}`)),
      ),
    );
    await until(() => indexedThrough() === maxSeq());
    expect(indexHits("turn")).toBe(2_000);
    ftsIntegrityCheck();
  });

  it("keeps the index consistent when rows it never held are deleted or edited", async () => {
    const repository = repositoryWith({ searchIndexDelayMs: NEVER });
    await repository.createTranscript(aTranscript("old", "c1", "indexed refund"));
    repository.flush();
    await repository.createTranscript(aTranscript("new1", "c1", "waiting refund"));
    await repository.createTranscript(aTranscript("new2", "c2", "first draft"));
    world.sqlite.prepare("UPDATE transcripts SET text = 'final wording' WHERE id = 'new2'").run();
    world.sqlite.prepare("UPDATE transcripts SET text = 'indexed invoice' WHERE id = 'old'").run();
    expect(await repository.deleteCall("c1")).toMatchObject({ deleted: true });
    repository.flush();
    ftsIntegrityCheck();
    const ids = async (q: string) =>
      (await repository.searchTranscripts({ q, limit: 20, offset: 0 })).map((h) => h.transcriptId);
    expect(await ids("refund")).toEqual([]);
    expect(await ids("invoice")).toEqual([]);
    expect(await ids("draft")).toEqual([]);
    expect(await ids("wording")).toEqual(["new2"]);
  });

  it("indexes after a restart the rows a process committed but did not index", async () => {
    const before = repositoryWith({ searchIndexDelayMs: NEVER });
    await before.createTranscript(aTranscript("t1", "c1", "left behind by a crash"));
    before.flush(); // leaves no trace of the repository: only a new one can index the next row
    await before.createTranscript(aTranscript("t2", "c1", "also left behind"));
    // The process dies here: t2 is committed, not indexed. A new process opens the file.
    const reopened = openDatabase(`file:${world.path}`);
    try {
      const after = new DrizzleCallRepository(reopened.db, reopened.sqlite, {
        searchIndexDelayMs: 20,
      });
      await until(() => indexHits("also") === 1);
      expect(indexedThrough()).toBe(maxSeq());
      after.flush();
    } finally {
      reopened.sqlite.close();
    }
  });

  it("reports a background catch-up that fails and tries it again", async () => {
    const errors: unknown[] = [];
    const repository = repositoryWith({
      searchIndexDelayMs: 20,
      onSearchIndexError: (error) => errors.push(error),
    });
    world.sqlite.exec("ALTER TABLE transcripts_fts_progress RENAME TO progress_away");
    await repository.createTranscript(aTranscript("t1", "c1", "retried later"));
    await until(() => errors.length >= 2);
    expect(String(errors[0])).toMatch(/transcripts_fts_progress/);
    world.sqlite.exec("ALTER TABLE progress_away RENAME TO transcripts_fts_progress");
    await until(() => indexHits("retried") === 1);
    repository.flush();
    ftsIntegrityCheck();
  });

  it("a search after a failed catch-up fails with a clear storage error, and the data stays", async () => {
    const repository = repositoryWith({ searchIndexDelayMs: NEVER });
    await repository.createTranscript(aTranscript("t1", "c1", "still here"));
    world.sqlite.exec("ALTER TABLE transcripts_fts_progress RENAME TO progress_away");
    await expect(
      repository.searchTranscripts({ q: "still", limit: 20, offset: 0 }),
    ).rejects.toMatchObject({ code: "storage_unavailable" });
    world.sqlite.exec("ALTER TABLE progress_away RENAME TO transcripts_fts_progress");
    expect((await repository.getTranscriptsByCallId("c1")).map((t) => t.id)).toEqual(["t1"]);
    expect(
      (await repository.searchTranscripts({ q: "still", limit: 20, offset: 0 })).map(
        (h) => h.transcriptId,
      ),
    ).toEqual(["t1"]);
  });
});
