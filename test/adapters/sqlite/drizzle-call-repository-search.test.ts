import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { toFtsMatchExpression } from "../../../src/adapters/sqlite/fts-query.ts";
import type { TranscriptSearchQuery } from "../../../src/application/ports.ts";
import {
  aCall,
  aTranscript,
  at,
  createSqliteWorld,
  type SqliteWorld,
} from "./sqlite-test-world.ts";

let world: SqliteWorld;
beforeEach(async () => {
  world = createSqliteWorld();
  await world.repository.createCall(aCall("c1", { startedAt: at("2026-03-01T09:00:00.000Z") }));
  await world.repository.createCall(aCall("c2", { startedAt: at("2026-03-02T09:00:00.000Z") }));
});
afterEach(() => world.close());

const search = (q: string, extra: Partial<TranscriptSearchQuery> = {}) =>
  world.repository.searchTranscripts({ q, limit: 20, offset: 0, ...extra });

const hitIds = async (q: string, extra: Partial<TranscriptSearchQuery> = {}) =>
  (await search(q, extra)).map((h) => h.transcriptId);

/**
 * FTS5's own check that the index matches the transcripts table row for row, once the
 * transcripts waiting for the index (see DeferredFtsIndex) are indexed.
 */
const ftsIsConsistent = (): void => {
  world.repository.flush();
  world.sqlite
    .prepare("INSERT INTO transcripts_fts(transcripts_fts, rank) VALUES ('integrity-check', 1)")
    .run();
};

describe("DrizzleCallRepository.searchTranscripts", () => {
  it("ranks the denser match first and fills every field of a hit", async () => {
    await world.repository.createTranscript(
      aTranscript(
        "long",
        "c1",
        "I called last week about my order which arrived broken and I would like a refund or a replacement",
        { offsetMs: 4000 },
      ),
    );
    await world.repository.createTranscript(
      aTranscript("dense", "c2", "refund refund refund", { speaker: "assistant", offsetMs: 120 }),
    );
    await world.repository.createTranscript(aTranscript("other", "c1", "thanks, goodbye"));
    const hits = await search("refund");
    expect(hits.map((h) => h.transcriptId)).toEqual(["dense", "long"]);
    expect(hits[0]).toEqual({
      callId: "c2",
      transcriptId: "dense",
      speaker: "assistant",
      snippet: "[refund] [refund] [refund]",
      offsetMs: 120,
      startedAt: at("2026-03-02T09:00:00.000Z"),
    });
    expect(hits[1]?.startedAt).toEqual(at("2026-03-01T09:00:00.000Z"));
  });

  it("cuts long texts into a marked snippet of about a dozen words with ellipses", async () => {
    const words = Array.from({ length: 60 }, (_, i) => `word${i}`);
    words[30] = "invoice";
    await world.repository.createTranscript(aTranscript("t", "c1", words.join(" ")));
    const [hit] = await search("invoice");
    expect(hit?.snippet).toContain("[invoice]");
    expect(hit?.snippet.startsWith("…")).toBe(true);
    expect(hit?.snippet.endsWith("…")).toBe(true);
    expect(hit?.snippet.split(" ").length).toBeLessThanOrEqual(12);
    expect(hit?.snippet).not.toContain("word0 ");
  });

  it("requires every word, ignores case and diacritics", async () => {
    await world.repository.createTranscript(aTranscript("cafe", "c1", "Meet me at the Café Zoë"));
    await world.repository.createTranscript(aTranscript("meet", "c1", "meet the team"));
    expect(await hitIds("cafe zoe")).toEqual(["cafe"]);
    expect(await hitIds("CAFÉ")).toEqual(["cafe"]);
    expect((await hitIds("meet")).sort()).toEqual(["cafe", "meet"]);
    expect(await hitIds("meet team cafe")).toEqual([]);
  });

  it("reads operators in the query as plain words", async () => {
    await world.repository.createTranscript(aTranscript("not", "c1", "this is not a refund"));
    await world.repository.createTranscript(aTranscript("refund", "c1", "a refund was issued"));
    // Parsed as FTS5 syntax, "NOT refund" would be an error and "refund OR x" would match both.
    expect(await hitIds("NOT refund")).toEqual(["not"]);
    expect(await hitIds("refund OR issued")).toEqual([]);
    expect(await hitIds("text:refund")).toEqual([]);
  });

  it("filters by speaker", async () => {
    await world.repository.createTranscript(aTranscript("c", "c1", "billing question"));
    await world.repository.createTranscript(
      aTranscript("a", "c1", "billing answer", { speaker: "assistant" }),
    );
    expect(await hitIds("billing", { speaker: "assistant" })).toEqual(["a"]);
    expect(await hitIds("billing", { speaker: "caller" })).toEqual(["c"]);
  });

  it("pages with limit and offset through every hit exactly once in rank order", async () => {
    for (let i = 0; i < 9; i++) {
      const filler = Array.from({ length: i }, () => "filler").join(" ");
      await world.repository.createTranscript(aTranscript(`t${i}`, "c1", `order ${filler}`));
    }
    const all = await hitIds("order", { limit: 100 });
    expect(all).toHaveLength(9);
    const paged: string[] = [];
    for (let offset = 0; offset < 12; offset += 4) {
      paged.push(...(await hitIds("order", { limit: 4, offset })));
    }
    expect(paged).toEqual(all);
    expect(all[0]).toBe("t0");
  });

  it("returns nothing for an empty or blank query", async () => {
    await world.repository.createTranscript(aTranscript("t", "c1", "anything"));
    expect(await search("")).toEqual([]);
    expect(await search("  \t\n ")).toEqual([]);
  });

  it("never throws on hostile queries", async () => {
    await world.repository.createTranscript(
      aTranscript("t", "c1", 'he said "yes" - then: NEAR the end ^ AND'),
    );
    const hostile = [
      '"',
      '""',
      '"unterminated',
      "*",
      "yes*",
      "NEAR(",
      "NEAR(yes then, 2)",
      "AND OR NOT",
      "-",
      "-yes",
      ":",
      "text:",
      "{text}:yes",
      "^",
      "^yes",
      "(",
      ")",
      "')--",
      "'; DROP TABLE calls; --",
      "\\",
      "%_",
      "日本語の検索",
      "🙂 emoji",
      "Ünïcödé",
      "\uD800 lone surrogate",
      "nul\u0000byte",
      "a".repeat(10_240),
      Array.from({ length: 2_000 }, (_, i) => `w${i}`).join(" "),
      '"'.repeat(10_240),
    ];
    for (const q of hostile) {
      await expect(search(q), q.slice(0, 40)).resolves.toBeInstanceOf(Array);
    }
    expect(await hitIds('"yes"')).toEqual(["t"]);
    expect(await hitIds("NEAR")).toEqual(["t"]);
    expect(await world.repository.getCallById("c1")).not.toBeNull();
  });

  it("keeps the index in step when a transcript's text changes or the row goes", async () => {
    await world.repository.createTranscript(aTranscript("t1", "c1", "original wording"));
    await world.repository.createTranscript(aTranscript("t2", "c2", "original too"));
    world.sqlite
      .prepare("UPDATE transcripts SET text = ? WHERE id = ?")
      .run("corrected text", "t1");
    expect(await hitIds("wording")).toEqual([]);
    expect(await hitIds("corrected")).toEqual(["t1"]);
    await world.repository.markTranscriptInterrupted("t1");
    expect(await hitIds("corrected")).toEqual(["t1"]);
    world.sqlite.prepare("DELETE FROM transcripts WHERE id = ?").run("t2");
    expect(await hitIds("original")).toEqual([]);
    await world.repository.deleteCall("c1");
    expect(await hitIds("corrected")).toEqual([]);
    ftsIsConsistent();
  });

  it("the integrity check used above does catch an index out of step", () => {
    world.sqlite
      .prepare(
        `INSERT INTO transcripts (id, call_id, speaker, text, created_at) VALUES ('x', 'c1', 'caller', 'stale', 0)`,
      )
      .run();
    world.repository.flush();
    world.sqlite.exec("DROP TRIGGER transcripts_fts_after_delete");
    world.sqlite.prepare("DELETE FROM transcripts WHERE id = 'x'").run();
    expect(ftsIsConsistent).toThrow();
  });
});

describe("toFtsMatchExpression", () => {
  it("quotes every word as an FTS5 string, doubling inner quotes", () => {
    expect(toFtsMatchExpression('say "hi" NEAR(x')).toBe('"say" """hi""" "NEAR(x"');
  });

  it("turns NUL into a separator, since FTS5 would end its query there", () => {
    expect(toFtsMatchExpression("a\u0000b")).toBe('"a" "b"');
  });

  it("keeps at most 64 words", () => {
    const words = Array.from({ length: 100 }, (_, i) => `w${i}`).join(" ");
    expect(toFtsMatchExpression(words)?.split(" ")).toHaveLength(64);
  });

  it("returns null when no word is left", () => {
    expect(toFtsMatchExpression(" \n\t ")).toBeNull();
  });
});
