import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ThreadedCallRepository } from "../../../src/adapters/sqlite/threaded-call-repository.ts";
import { endCall } from "../../../src/domain/call.ts";
import { DomainError } from "../../../src/domain/errors.ts";
import {
  aCall,
  anAnalytics,
  aRecording,
  aTranscript,
  at,
  MIGRATIONS,
} from "./sqlite-test-world.ts";

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

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

describe("ThreadedCallRepository", () => {
  it("stores and reads back a call with every field, Dates included", async () => {
    const call = aCall("c1");
    await repository.createCall(call);
    expect(await repository.getCallById("c1")).toEqual(call);
    expect(await repository.getCallByStreamSid("MZc1")).toEqual(call);
    const ended = endCall(call, "completed", at("2026-01-01T10:10:00.000Z"));
    await repository.updateCall(ended);
    expect(await repository.getCallById("c1")).toEqual(ended);
  });

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

  it("keeps DomainErrors and their codes across the thread boundary", async () => {
    await repository.createCall(aCall("c1"));
    expect((await rejection(repository.createCall(aCall("c1")))).code).toBe("conflict");
    expect((await rejection(repository.updateCall(aCall("nope")))).code).toBe("not_found");
    const orphan = await rejection(repository.createTranscript(aTranscript("t1", "nope", "hi")));
    expect(orphan.code).toBe("not_found");
    expect(orphan.message).toBe("call nope not found");
    // A failed write does not cost its neighbours in the same batch.
    expect(await repository.countTranscriptsByCallId("c1")).toBe(0);
  });

  it("deletes a call with its rows and returns the recordings' file keys", async () => {
    await repository.createCall(aCall("c1"));
    await repository.createRecording(aRecording("r1", "c1"));
    await repository.createTranscript(aTranscript("t1", "c1", "hello"));
    expect(await repository.deleteCall("c1")).toEqual({
      deleted: true,
      fileKeys: ["MZc1_1767261600000.wav"],
    });
    expect(await repository.getCallById("c1")).toBeNull();
    expect(await repository.getRecordingById("r1")).toBeNull();
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
