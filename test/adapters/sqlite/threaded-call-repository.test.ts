import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ThreadedCallRepository } from "../../../src/adapters/sqlite/threaded-call-repository.ts";
import { aCall, anAnalytics, aTranscript, MIGRATIONS } from "./sqlite-test-world.ts";

let dir: string;
let path: string;
let repository: ThreadedCallRepository;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "callbridge-threaded-"));
  path = join(dir, "calls.db");
  repository = await ThreadedCallRepository.open({ databaseUrl: path, migrationsPath: MIGRATIONS });
});
afterEach(async () => {
  await repository.close();
  rmSync(dir, { recursive: true, force: true });
});

// What every adapter must do is in the contract suites (drizzle-call-repository-calls and
// -children run against this one too); here, what only threads could get wrong.
describe("ThreadedCallRepository", () => {
  it("a read issued right after writes, without awaiting them, sees them all", async () => {
    // Writes go to the writer thread and reads to a reader: the read must wait for the writes.
    void repository.createCall(aCall("c1"));
    const writes = Array.from({ length: 50 }, (_, i) =>
      repository.createTranscript(aTranscript(`t${i}`, "c1", `turn ${i} about an order`)),
    );
    void repository.createAnalytics(anAnalytics("a1", "c1"));
    const [transcripts, analytics, hits] = await Promise.all([
      repository.getTranscriptsByCallId("c1"),
      repository.getAnalyticsByCallId("c1"),
      repository.searchTranscripts({ q: "order", limit: 100, offset: 0 }),
    ]);
    await Promise.all(writes);
    expect(transcripts).toHaveLength(50);
    expect(analytics).toHaveLength(1);
    expect(hits).toHaveLength(50);
  });

  it("close() commits the last writes before it ends the threads", async () => {
    await repository.createCall(aCall("c1"));
    const pending = Array.from({ length: 20 }, (_, i) =>
      repository.createTranscript(aTranscript(`t${i}`, "c1", `last words ${i}`)),
    );
    await repository.close();
    await Promise.all(pending);
    const sqlite = new Database(path, { readonly: true });
    try {
      const row = sqlite.prepare("SELECT count(*) AS n FROM transcripts").get() as { n: number };
      expect(row.n).toBe(20);
    } finally {
      sqlite.close();
    }
    await expect(repository.getCallById("c1")).rejects.toMatchObject({
      code: "storage_unavailable",
    });
  });

  it("answers pings and reports a bad database location when it opens", async () => {
    await repository.ping();
    await expect(
      ThreadedCallRepository.open({
        databaseUrl: join(dir, "calls.db", "inside-a-file.db"),
        migrationsPath: MIGRATIONS,
      }),
    ).rejects.toThrow(/cannot open the SQLite database/);
  });

  it("an in-memory database is served by the writer alone", async () => {
    const memory = await ThreadedCallRepository.open({
      databaseUrl: ":memory:",
      migrationsPath: MIGRATIONS,
    });
    try {
      await memory.createCall(aCall("m1"));
      expect((await memory.getCallById("m1"))?.id).toBe("m1");
    } finally {
      await memory.close();
    }
  });
});
