import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../../src/adapters/sqlite/database.ts";
import { migrateDatabase } from "../../../src/adapters/sqlite/migrate.ts";
import { ThreadedCallRepository } from "../../../src/adapters/sqlite/threaded-call-repository.ts";
import { aCall, aTranscript, MIGRATIONS } from "./sqlite-test-world.ts";

/**
 * WORKERS=N runs N processes, each with its own writer thread, on one SQLite file. What one
 * process guaranteed by having a single writer (every row stored, each transcript indexed for
 * search exactly once, the index's progress mark never behind a row it holds) must hold with two
 * writers racing: write-behind batches, deferred index catch-ups scheduled every millisecond on
 * both sides, searches that force catch-ups, heard-text updates that re-index, and deletes.
 * SQLite locks connections of one process against each other as it locks processes, so two
 * repositories here are two workers' writers for the purpose.
 */

const CALLS = 12;
const TURNS = 40;

let dir = "";
let path = "";
let writers: ThreadedCallRepository[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "callbridge-two-writers-"));
  path = join(dir, "calls.db");
  // As the cluster primary does: migrate once, before any worker opens the file.
  const opened = openDatabase(path);
  migrateDatabase(opened.sqlite, MIGRATIONS);
  opened.sqlite.close();
});

afterEach(async () => {
  await Promise.all(writers.map((writer) => writer.close()));
  writers = [];
  rmSync(dir, { recursive: true, force: true });
});

const openWorkerRepository = () =>
  ThreadedCallRepository.open({
    databaseUrl: path,
    migrationsPath: undefined,
    readers: 1,
    searchIndexDelayMs: 1,
  });

/** One worker's share: calls with turns written behind, heard-text cuts, searches, a delete. */
async function placeCalls(repository: ThreadedCallRepository, name: string): Promise<void> {
  for (let c = 0; c < CALLS; c++) {
    const callId = `${name}-c${c}`;
    await repository.createCall(aCall(callId, { streamSid: `MZ${callId}` }));
    const turns = Array.from({ length: TURNS }, (_, t) =>
      repository.createTranscript(
        aTranscript(`${callId}-t${t}`, callId, `${name}word${c} shared turn ${t}`),
      ),
    );
    await Promise.all(turns);
    // Re-indexes the row (if indexed yet) by what the caller heard: the update trigger's path.
    await repository.markTranscriptInterrupted(`${callId}-t0`, {
      heardText: `${name}heard${c}`,
      heardMs: 100,
      generatedMs: 200,
    });
    if (c % 3 === 0) await repository.searchTranscripts({ q: "shared", limit: 5 });
  }
  // Its rows may or may not be indexed yet: the delete trigger must take out exactly those.
  await repository.deleteCall(`${name}-c${CALLS - 1}`);
}

function count(sqlite: Database.Database, sql: string): number {
  return (sqlite.prepare(sql).get() as { n: number }).n;
}

describe("two writer threads of two workers on one SQLite file", () => {
  it("store every row and index each transcript once while both write, index and search", async () => {
    writers = await Promise.all([openWorkerRepository(), openWorkerRepository()]);
    const [alpha, bravo] = writers as [ThreadedCallRepository, ThreadedCallRepository];
    let writing = true;
    // Searches on both sides throughout: each asks its own writer to catch the index up.
    const searching = (async () => {
      let searches = 0;
      while (writing) {
        await Promise.all([
          alpha.searchTranscripts({ q: "bravoword1", limit: 5 }),
          bravo.searchTranscripts({ q: "alphaword1", limit: 5 }),
        ]);
        searches++;
      }
      return searches;
    })();
    await Promise.all([placeCalls(alpha, "alpha"), placeCalls(bravo, "bravo")]);
    writing = false;
    expect(await searching).toBeGreaterThan(0);

    // Each side finds the other's turns, by the words indexed for them.
    for (const [repository, other] of [
      [alpha, "bravo"],
      [bravo, "alpha"],
    ] as const) {
      for (let c = 0; c < CALLS - 1; c++) {
        const spoken = await repository.searchTranscripts({ q: `${other}word${c}`, limit: 100 });
        expect(spoken).toHaveLength(TURNS - 1);
        expect(new Set(spoken.map((hit) => hit.transcriptId)).size).toBe(TURNS - 1);
        const heard = await repository.searchTranscripts({ q: `${other}heard${c}`, limit: 100 });
        expect(heard.map((hit) => hit.transcriptId)).toEqual([`${other}-c${c}-t0`]);
      }
      const deleted = await repository.searchTranscripts({
        q: `${other}word${CALLS - 1}`,
        limit: 100,
      });
      expect(deleted).toEqual([]);
    }

    // Not read-only: FTS5 runs its integrity check as a write to the table.
    const sqlite = new Database(path);
    try {
      const kept = 2 * (CALLS - 1);
      expect(count(sqlite, "SELECT count(*) AS n FROM calls")).toBe(kept);
      expect(count(sqlite, "SELECT count(*) AS n FROM transcripts")).toBe(kept * TURNS);
      // One index entry per stored turn: none twice, none of a deleted call left behind.
      expect(count(sqlite, "SELECT count(*) AS n FROM transcripts_fts_docsize")).toBe(kept * TURNS);
      expect(
        count(
          sqlite,
          "SELECT count(*) AS n FROM transcripts_fts WHERE transcripts_fts MATCH 'shared'",
        ),
      ).toBe(kept * (TURNS - 1));
      expect(
        count(
          sqlite,
          `SELECT count(*) AS n FROM transcripts_fts_progress
           WHERE indexed_through >= (SELECT max(seq) FROM transcripts)`,
        ),
      ).toBe(1);
      // FTS5 compares its index with the content it was built from, term by term.
      expect(() =>
        sqlite.exec(
          "INSERT INTO transcripts_fts(transcripts_fts, rank) VALUES ('integrity-check', 1)",
        ),
      ).not.toThrow();
      expect(sqlite.pragma("integrity_check", { simple: true })).toBe("ok");
    } finally {
      sqlite.close();
    }
  });

  it("a search waits for the other process's write lock instead of failing at once", async () => {
    // No background catch-up: t1 is still waiting for the index when the search comes.
    const repository = await ThreadedCallRepository.open({
      databaseUrl: path,
      migrationsPath: undefined,
      readers: 1,
      searchIndexDelayMs: 60_000,
    });
    writers = [repository];
    await repository.createCall(aCall("c1"));
    await repository.createTranscript(aTranscript("t1", "c1", "waiting for the lock"));
    // Another worker's writer in the middle of a transaction (its write-behind batch, say).
    const other = new Database(path);
    try {
      other.pragma("busy_timeout = 5000");
      other.exec("BEGIN IMMEDIATE");
      const released = new Promise<void>((resolve) =>
        setTimeout(() => {
          other.exec("COMMIT");
          resolve();
        }, 300),
      );
      // The search's catch-up indexes t1 under the write lock: it must wait for it (busy_timeout).
      const hits = await repository.searchTranscripts({ q: "lock", limit: 10 });
      await released;
      expect(hits.map((hit) => hit.transcriptId)).toEqual(["t1"]);
    } finally {
      if (other.inTransaction) other.exec("ROLLBACK");
      other.close();
    }
  });

  it("a worker's writer, given no migrations, leaves the schema as it finds it", async () => {
    // On a file nobody migrated the tables stay missing: the writer applied nothing itself.
    const fresh = join(dir, "unmigrated.db");
    const repository = await ThreadedCallRepository.open({
      databaseUrl: fresh,
      migrationsPath: undefined,
      readers: 0,
    });
    writers = [repository];
    await repository.ping();
    await expect(repository.createCall(aCall("c1"))).rejects.toMatchObject({
      code: "storage_unavailable",
    });
    const sqlite = new Database(fresh, { readonly: true });
    try {
      expect(count(sqlite, "SELECT count(*) AS n FROM sqlite_master WHERE type = 'table'")).toBe(0);
    } finally {
      sqlite.close();
    }
  });
});
