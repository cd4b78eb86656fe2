import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { measureRow, phraseFrequency, searchTokens } from "../../../src/adapters/sqlite/bm25.ts";
import { DrizzleCallRepository } from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import { toFtsMatchExpression } from "../../../src/adapters/sqlite/fts-query.ts";
import type {
  CallRepository,
  TranscriptSearchPosition,
  TranscriptSearchQuery,
} from "../../../src/application/ports/index.ts";
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
    const { next, ...first } = hits[0]!;
    expect(next).toMatchObject({ sort: "relevance", offset: 1 });
    expect(first).toEqual({
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

/** A small deterministic generator, so that a corpus is the same on every run. */
function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

const VOCABULARY = ["order", "the", "refund", "my", "e-mail", "Café", "late", "parcel", "ORDER"];

/** `count` transcripts of 1 to 12 words, alternating speakers, oldest first. */
async function storeCorpus(count: number, seed = 1): Promise<string[]> {
  const random = prng(seed);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const words = Array.from(
      { length: 1 + Math.floor(random() * 12) },
      () => VOCABULARY[Math.floor(random() * VOCABULARY.length)]!,
    );
    const id = `k${i}`;
    await world.repository.createTranscript(
      aTranscript(id, i % 3 === 0 ? "c2" : "c1", words.join(i % 4 === 0 ? ", " : " "), {
        speaker: i % 2 === 0 ? "caller" : "assistant",
      }),
    );
    ids.push(id);
  }
  return ids;
}

/** Follows `next` from page to page until a page comes back short; `between` runs in between. */
async function allPages(
  repository: CallRepository,
  query: Omit<TranscriptSearchQuery, "after">,
  between: (page: number) => Promise<void> = async () => {},
): Promise<string[][]> {
  const pages: string[][] = [];
  let after: TranscriptSearchPosition | undefined;
  for (let page = 0; page < 50; page++) {
    const hits = await repository.searchTranscripts({ ...query, after });
    pages.push(hits.map((h) => h.transcriptId));
    if (hits.length < query.limit) return pages;
    after = hits.at(-1)?.next;
    expect(after?.sort).toBe(query.sort ?? "relevance");
    await between(page);
  }
  throw new Error("paging did not end");
}

/** FTS5's own bm25() over every match (what relevance meant before it was bounded). */
function fts5Ranking(q: string): Array<{ id: string; score: number }> {
  world.repository.flush(); // indexes what waits for the index
  return world.sqlite
    .prepare(
      `SELECT t.id AS id, bm25(transcripts_fts) AS score
       FROM transcripts_fts JOIN transcripts t ON t.seq = transcripts_fts.rowid
       WHERE transcripts_fts MATCH ? ORDER BY score, t.seq DESC`,
    )
    .all(toFtsMatchExpression(q)) as Array<{ id: string; score: number }>;
}

/** A second repository on the world's connection, ranking at most `candidates` matches. */
const cappedRepository = (candidates: number) =>
  new DrizzleCallRepository(world.db, world.sqlite, { searchCandidates: candidates });

describe("searchTranscripts, sort=recent", () => {
  it("lists matches newest first and pages by position, unmoved by rows stored in between", async () => {
    const ids = await storeCorpus(40);
    await world.repository.createTranscript(aTranscript("unrelated", "c1", "nothing here"));
    const expected = fts5Ranking("order")
      .map((hit) => hit.id)
      .sort((a, b) => Number(b.slice(1)) - Number(a.slice(1)));
    expect(expected.length).toBeGreaterThan(10);
    let added = 0;
    const pages = await allPages(world.repository, { q: "order", limit: 4, sort: "recent" }, () =>
      world.repository
        .createTranscript(aTranscript(`late${added++}`, "c1", "order order order"))
        .then(() => undefined),
    );
    expect(added).toBeGreaterThan(2);
    // Every match stored before the first page exactly once, newest first; none of the later.
    expect(pages.flat()).toEqual(expected);
    expect(ids).toEqual(expect.arrayContaining(expected));
  });

  it("keeps to one speaker", async () => {
    await storeCorpus(30);
    const hits = await world.repository.searchTranscripts({
      q: "refund",
      limit: 100,
      sort: "recent",
      speaker: "assistant",
    });
    expect(hits.length).toBeGreaterThan(2);
    expect(new Set(hits.map((h) => h.speaker))).toEqual(new Set(["assistant"]));
    const all = await world.repository.searchTranscripts({
      q: "refund",
      limit: 100,
      sort: "recent",
    });
    expect(hits.map((h) => h.transcriptId)).toEqual(
      all.filter((h) => h.speaker === "assistant").map((h) => h.transcriptId),
    );
    const paged = await allPages(world.repository, {
      q: "refund",
      limit: 2,
      sort: "recent",
      speaker: "assistant",
    });
    expect(paged.flat()).toEqual(hits.map((h) => h.transcriptId));
  });

  it("ignores the relevance cap: every match is listed", async () => {
    await storeCorpus(30);
    const capped = cappedRepository(2);
    const pages = await allPages(capped, { q: "order", limit: 3, sort: "recent" });
    expect(pages.flat()).toHaveLength(fts5Ranking("order").length);
  });

  it("refuses a position issued for the other sort", async () => {
    await storeCorpus(5);
    const refused = world.repository.searchTranscripts({
      q: "order",
      limit: 5,
      sort: "recent",
      after: { sort: "relevance", anchor: 10, offset: 2 },
    });
    await expect(refused).rejects.toMatchObject({ code: "invalid_argument" });
  });
});

describe("searchTranscripts, sort=relevance", () => {
  it.each([
    "order",
    "refund",
    "order refund",
    "the order the",
    "e-mail",
    "cafe parcel",
    "late !!! my",
  ])("ranks every match as FTS5's bm25() does while under the cap (%s)", async (q) => {
    await storeCorpus(80);
    const hits = await world.repository.searchTranscripts({ q, limit: 100, sort: "relevance" });
    const oracle = fts5Ranking(q);
    expect(oracle.length).toBeGreaterThan(0);
    expect(hits.map((h) => h.transcriptId).sort()).toEqual(oracle.map((h) => h.id).sort());
    // The same order; rows whose scores differ only in the last bits may swap.
    const score = new Map(oracle.map((h) => [h.id, h.score]));
    const scores = hits.map((h) => score.get(h.transcriptId)!);
    for (let i = 1; i < scores.length; i++) {
      expect(scores[i]! - scores[i - 1]!).toBeGreaterThanOrEqual(-1e-12 * Math.abs(scores[i]!));
    }
  });

  it("ranks only the newest matches above the cap, and pages end with them", async () => {
    await world.repository.createTranscript(aTranscript("best", "c1", "refund refund refund"));
    for (let i = 0; i < 6; i++) {
      const filler = Array.from({ length: 6 - i }, () => "filler").join(" ");
      await world.repository.createTranscript(aTranscript(`r${i}`, "c1", `refund ${filler}`));
    }
    const capped = cappedRepository(3);
    const hits = await capped.searchTranscripts({ q: "refund", limit: 10 });
    // r3..r5 are the three newest; shorter is better, so r5 (one filler word) leads.
    expect(hits.map((h) => h.transcriptId)).toEqual(["r5", "r4", "r3"]);
    expect(await allPages(capped, { q: "refund", limit: 2 })).toEqual([["r5", "r4"], ["r3"]]);
    // Below the cap the same search is complete, and the best match leads.
    const all = await world.repository.searchTranscripts({ q: "refund", limit: 10 });
    expect(all.map((h) => h.transcriptId)).toEqual(["best", "r5", "r4", "r3", "r2", "r1", "r0"]);
  });

  it("takes the cap's newest matches among the speaker's own", async () => {
    for (let i = 0; i < 8; i++) {
      await world.repository.createTranscript(
        aTranscript(`s${i}`, "c1", "billing question", {
          speaker: i % 2 === 0 ? "caller" : "assistant",
        }),
      );
    }
    const capped = cappedRepository(3);
    const hits = await capped.searchTranscripts({ q: "billing", limit: 10, speaker: "caller" });
    // Equal scores: the newer first.
    expect(hits.map((h) => h.transcriptId)).toEqual(["s6", "s4", "s2"]);
  });

  it("pages through one fixed ranking while better matches are stored in between", async () => {
    await storeCorpus(60);
    const expected = fts5Ranking("parcel").map((h) => h.id);
    expect(expected.length).toBeGreaterThan(8);
    let added = 0;
    const pages = await allPages(world.repository, { q: "parcel", limit: 4 }, () =>
      world.repository
        .createTranscript(aTranscript(`new${added++}`, "c1", "parcel parcel"))
        .then(() => undefined),
    );
    expect(added).toBeGreaterThan(1);
    const seen = pages.flat();
    expect(new Set(seen).size).toBe(seen.length);
    expect(seen.sort()).toEqual([...expected].sort());
  });

  it("follows the offset of an older caller when no position is given", async () => {
    await storeCorpus(40);
    const all = await world.repository.searchTranscripts({ q: "order", limit: 100 });
    const skipped = await world.repository.searchTranscripts({ q: "order", limit: 5, offset: 5 });
    expect(skipped.map((h) => h.transcriptId)).toEqual(all.slice(5, 10).map((h) => h.transcriptId));
  });
});

describe("searchTokens and phraseFrequency", () => {
  it("fold case and diacritics and split on anything but letters and digits", () => {
    expect(searchTokens("  Café, E-MAIL! naïve Zoë 42x ")).toEqual([
      "cafe",
      "e",
      "mail",
      "naive",
      "zoe",
      "42x",
    ]);
    expect(searchTokens("日本語 テスト")).toEqual(["日本語", "テスト"]);
    expect(searchTokens(" ... ")).toEqual([]);
  });

  it("measure a row as counting its tokens would, on the fast path or not", () => {
    const text = fc.stringMatching(/^[a-zA-Z0-9 ,.!'é-]{0,40}$/);
    const word = fc.constantFrom("a", "b", "ab", "e", "x1", "é", "e-a");
    fc.assert(
      fc.property(text, fc.array(word, { minLength: 1, maxLength: 3 }), (row, words) => {
        const phrases = words.map(searchTokens).filter((phrase) => phrase.length > 0);
        const tokens = searchTokens(row);
        expect(measureRow(row, phrases)).toEqual({
          length: tokens.length,
          frequencies: phrases.map((phrase) => phraseFrequency(tokens, phrase)),
        });
      }),
      { numRuns: 500 },
    );
  });

  it("count a phrase's occurrences, overlapping ones included", () => {
    expect(phraseFrequency(["a", "a", "a", "b"], ["a", "a"])).toBe(2);
    expect(phraseFrequency(["e", "mail", "e", "mail"], ["e", "mail"])).toBe(2);
    expect(phraseFrequency(["a"], [])).toBe(0);
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
