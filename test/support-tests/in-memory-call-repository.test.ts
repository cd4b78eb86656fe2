import { afterEach, describe, expect, it, vi } from "vitest";
import { tokensWithOffsets } from "../../src/adapters/postgres/search-snippet.ts";
import { searchTokens } from "../../src/adapters/sqlite/bm25.ts";
import { DomainError } from "../../src/domain/errors.ts";
import { aCall, anAnalytics, aTranscript, at } from "../adapters/sqlite/sqlite-test-world.ts";
import { InMemoryCallRepository } from "../support/in-memory-call-repository.ts";
import { snippetOf } from "../support/in-memory-search.ts";

// What the adapter does is held by in-memory-call-repository-vs-sqlite.test.ts; these are the
// test controls the adapter does not have.

afterEach(() => {
  vi.useRealTimers();
});

const code = (promise: Promise<unknown>) =>
  promise.then(
    () => "resolved",
    (error: unknown) => (error instanceof DomainError ? error.code : String(error)),
  );

describe("InMemoryCallRepository", () => {
  it("fails the next call of a method once, writing nothing, then works again", async () => {
    const repository = new InMemoryCallRepository();
    repository.failNext("createCall");
    repository.failNext("createTranscript", new Error("disk on fire"));
    expect(await code(repository.createCall(aCall("c1")))).toBe("storage_unavailable");
    expect(await repository.getCallById("c1")).toBeNull();
    await repository.createCall(aCall("c1"));
    await expect(repository.createTranscript(aTranscript("t1", "c1", "hi"))).rejects.toThrow(
      "disk on fire",
    );
    await repository.createTranscript(aTranscript("t1", "c1", "hi"));
    expect(await repository.countTranscriptsByCallId("c1")).toBe(1);
  });

  it("holds a call until released, applying it then, or fails it", async () => {
    const repository = new InMemoryCallRepository();
    const held = repository.holdNext("createCall");
    const created = repository.createCall(aCall("c1"));
    await held.reached;
    expect(await repository.getCallById("c1")).toBeNull();
    held.release();
    await created;
    expect(await repository.getCallById("c1")).not.toBeNull();

    const refused = repository.holdNext("updateCall");
    const update = repository.updateCall(aCall("c1", { caller: "+1" }));
    refused.fail();
    expect(await code(update)).toBe("storage_unavailable");
    expect((await repository.getCallById("c1"))?.caller).toBe("+15550001111");
  });

  it("rejects everything with storage_unavailable while unavailable", async () => {
    const repository = new InMemoryCallRepository();
    await repository.createCall(aCall("c1"));
    repository.unavailable = true;
    expect(await code(repository.ping())).toBe("storage_unavailable");
    expect(await code(repository.getCallById("c1"))).toBe("storage_unavailable");
    repository.unavailable = false;
    expect(await repository.getCallById("c1")).not.toBeNull();
  });

  it("never lets a test change stored rows through what it wrote or read", async () => {
    const repository = new InMemoryCallRepository();
    await repository.createCall(aCall("c1"));
    const metrics = { turns: 1 };
    await repository.createAnalytics(anAnalytics("a1", "c1", { customMetrics: metrics }));
    metrics.turns = 99;
    const [read] = await repository.getAnalyticsByCallId("c1");
    expect(read?.customMetrics).toEqual({ turns: 1 });
    (read?.customMetrics as { turns: number }).turns = 42;
    read?.createdAt.setTime(0);
    const [again] = await repository.getAnalyticsByCallId("c1");
    expect(again?.customMetrics).toEqual({ turns: 1 });
    expect(again?.createdAt).toEqual(at("2026-01-01T10:02:00.000Z"));
  });

  it("settles without timers, so fake timers never hold a write up", async () => {
    vi.useFakeTimers();
    const repository = new InMemoryCallRepository();
    await repository.createCall(aCall("c1"));
    await repository.createTranscript(aTranscript("t1", "c1", "hello"));
    expect(await repository.countTranscriptsByCallId("c1")).toBe(1);
  });

  it("logs every call with its arguments and counts rows per table", async () => {
    const repository = new InMemoryCallRepository();
    await repository.createCall(aCall("c1"));
    await repository.createTranscript(aTranscript("t1", "c1", "one"));
    await repository.createTranscript(aTranscript("t2", "c1", "two"));
    await code(repository.createTranscript(aTranscript("t3", "ghost", "three")));
    expect(repository.callsTo("createTranscript").map(([t]) => t.id)).toEqual(["t1", "t2", "t3"]);
    expect(repository.log.map((entry) => entry.method)).toEqual([
      "createCall",
      "createTranscript",
      "createTranscript",
      "createTranscript",
    ]);
    expect(repository.rowCount("transcripts", "c1")).toBe(2);
    expect(repository.rowCount("calls")).toBe(1);
    await repository.deleteCall("c1");
    expect(repository.rowCount("transcripts")).toBe(0);
  });

  it("highlights matches in a snippet as FTS5 does", () => {
    expect(snippetOf("Refund, refund!", [["refund"]])).toBe("[Refund], [refund]!");
    expect(snippetOf("my e-mail is", [["e", "mail"]])).toBe("my [e-mail] is");
    const long = Array.from({ length: 30 }, (_, i) => (i === 15 ? "invoice" : `w${i}`)).join(" ");
    const snippet = snippetOf(long, [["invoice"]]);
    expect(snippet).toMatch(/^….*\[invoice\].*…$/);
    expect(snippet.split(" ")).toHaveLength(12);
  });

  it("tokenizes with offsets exactly as the adapter's searchTokens", () => {
    for (const text of ["Café Zoë, naïve", "e-mail 42x", "日本語 テスト", "cafe\u0301 ok.", ""]) {
      const tokens = tokensWithOffsets(text);
      expect(tokens.map((t) => t.text)).toEqual(searchTokens(text));
      for (const t of tokens) expect(searchTokens(text.slice(t.start, t.end))).toEqual([t.text]);
    }
  });
});
