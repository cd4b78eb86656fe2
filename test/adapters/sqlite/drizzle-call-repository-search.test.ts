import fc from "fast-check";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { migratePostgres } from "../../../src/adapters/postgres/migrate.ts";
import { PostgresCallRepository } from "../../../src/adapters/postgres/postgres-call-repository.ts";
import { measureRow, phraseFrequency, searchTokens } from "../../../src/adapters/sqlite/bm25.ts";
import { DrizzleCallRepository } from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import { toFtsMatchExpression } from "../../../src/adapters/sqlite/fts-query.ts";
import type {
  CallRepository,
  TranscriptHit,
  TranscriptSearchPosition,
  TranscriptSearchQuery,
} from "../../../src/application/ports/index.ts";
import type { Call } from "../../../src/domain/call.ts";
import type { Transcript, TranscriptCut } from "../../../src/domain/transcript.ts";
import { createTestDatabase, describePostgres, type TestDatabase } from "../../support/postgres.ts";
import { PG_MIGRATIONS } from "../postgres/postgres-test-world.ts";
import { describeEachWorld, type RepositoryWorld } from "../repository-worlds.ts";
import {
  aCall,
  aTranscript,
  at,
  createSqliteWorld,
  type SqliteWorld,
} from "./sqlite-test-world.ts";

/**
 * The search contract, run against every CallRepository world. The reference for ranking is
 * FTS5's own bm25() over the same rows, in a SQLite database of the test's own (`oracle`) that
 * every write of the test also goes to: so a PostgreSQL world is held to what SQLite answers.
 */

/** Writes go to the world's repository and to the oracle, the same rows in the same order. */
interface Stored {
  createCall(call: Call): Promise<void>;
  createTranscript(transcript: Transcript): Promise<void>;
  markTranscriptInterrupted(id: string, cut?: TranscriptCut): Promise<void>;
  deleteCall(id: string): Promise<void>;
}

function mirrored(repository: CallRepository, oracle: SqliteWorld): Stored {
  return {
    async createCall(call) {
      await repository.createCall(call);
      await oracle.repository.createCall(call);
    },
    async createTranscript(transcript) {
      await repository.createTranscript(transcript);
      await oracle.repository.createTranscript(transcript);
    },
    async markTranscriptInterrupted(id, cut) {
      await repository.markTranscriptInterrupted(id, cut);
      await oracle.repository.markTranscriptInterrupted(id, cut);
    },
    async deleteCall(id) {
      await repository.deleteCall(id);
      await oracle.repository.deleteCall(id);
    },
  };
}

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
async function storeCorpus(store: Stored, count: number, seed = 1): Promise<string[]> {
  const random = prng(seed);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const words = Array.from(
      { length: 1 + Math.floor(random() * 12) },
      () => VOCABULARY[Math.floor(random() * VOCABULARY.length)]!,
    );
    const id = `k${i}`;
    await store.createTranscript(
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
  repository: Pick<CallRepository, "searchTranscripts">,
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

/** FTS5's own bm25() over every match of the oracle (what relevance means under the cap). */
function fts5Ranking(oracle: SqliteWorld, q: string): Array<{ id: string; score: number }> {
  oracle.repository.flush(); // indexes what waits for the index
  return oracle.sqlite
    .prepare(
      `SELECT t.id AS id, bm25(transcripts_fts) AS score
       FROM transcripts_fts JOIN transcripts t ON t.seq = transcripts_fts.rowid
       WHERE transcripts_fts MATCH ? ORDER BY score, t.seq DESC`,
    )
    .all(toFtsMatchExpression(q)) as Array<{ id: string; score: number }>;
}

/**
 * Everything a hit says, the cursor included but for a relevance anchor: a seq above every row
 * stored before the first page, which each backend picks its own way.
 */
const described = (hits: TranscriptHit[]) =>
  hits.map((h) => ({
    ...h,
    startedAt: h.startedAt.toISOString(),
    next: h.next?.sort === "relevance" ? { ...h.next, anchor: "any" } : h.next,
  }));

describeEachWorld("searchTranscripts", (open) => {
  let world: RepositoryWorld;
  let oracle: SqliteWorld;
  let store: Stored;
  beforeEach(async () => {
    world = await open();
    oracle = createSqliteWorld();
    store = mirrored(world.repository, oracle);
    await store.createCall(aCall("c1", { startedAt: at("2026-03-01T09:00:00.000Z") }));
    await store.createCall(aCall("c2", { startedAt: at("2026-03-02T09:00:00.000Z") }));
  });
  afterEach(async () => {
    await world.close();
    oracle.close();
  });

  const search = (q: string, extra: Partial<TranscriptSearchQuery> = {}) =>
    world.repository.searchTranscripts({ q, limit: 20, offset: 0, ...extra });

  const hitIds = async (q: string, extra: Partial<TranscriptSearchQuery> = {}) =>
    (await search(q, extra)).map((h) => h.transcriptId);

  describe("matching, snippets and paging", () => {
    it("ranks the denser match first and fills every field of a hit", async () => {
      await store.createTranscript(
        aTranscript(
          "long",
          "c1",
          "I called last week about my order which arrived broken and I would like a refund or a replacement",
          { offsetMs: 4000 },
        ),
      );
      await store.createTranscript(
        aTranscript("dense", "c2", "refund refund refund", { speaker: "assistant", offsetMs: 120 }),
      );
      await store.createTranscript(aTranscript("other", "c1", "thanks, goodbye"));
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
      await store.createTranscript(aTranscript("t", "c1", words.join(" ")));
      const [hit] = await search("invoice");
      expect(hit?.snippet).toBe(
        "…word25 word26 word27 word28 word29 [invoice] word31 word32 word33 word34 word35 word36…",
      );
    });

    it("requires every word and ignores case", async () => {
      await store.createTranscript(aTranscript("cafe", "c1", "Meet me at the Café Zoë"));
      await store.createTranscript(aTranscript("meet", "c1", "meet the team"));
      expect(await hitIds("CAFÉ zoë")).toEqual(["cafe"]);
      expect((await hitIds("MEET")).sort()).toEqual(["cafe", "meet"]);
      expect(await hitIds("meet team café")).toEqual([]);
    });

    it("ignores diacritics", async () => {
      await store.createTranscript(aTranscript("accents", "c1", "Meet me at the Café Zoë"));
      await store.createTranscript(aTranscript("plain", "c1", "the cafe of zoe"));
      expect((await hitIds("café zoë")).sort()).toEqual(["accents", "plain"]);
      expect(await hitIds("cafe zoe")).toEqual(["plain", "accents"]);
      expect(await hitIds("NAÏVE")).toEqual([]);
    });

    it("reads operators in the query as plain words", async () => {
      await store.createTranscript(aTranscript("not", "c1", "this is not a refund"));
      await store.createTranscript(aTranscript("refund", "c1", "a refund was issued"));
      // Parsed as syntax, "NOT refund" would be an error and "refund OR x" would match both.
      expect(await hitIds("NOT refund")).toEqual(["not"]);
      expect(await hitIds("refund OR issued")).toEqual([]);
      expect(await hitIds("refund | nothing")).toEqual([]);
      expect(await hitIds("!refund")).toEqual(["refund", "not"]);
      expect(await hitIds("text:refund")).toEqual([]);
    });

    it("finds an address or a number by the whole of it or by its parts", async () => {
      await store.createTranscript(
        aTranscript("t", "c1", "write to john.doe@example.com, or pay 3.14 on example.org"),
      );
      await store.createTranscript(aTranscript("other", "c1", "doe, a deer; pay 14 or 3"));
      expect(await hitIds("john.doe@example.com")).toEqual(["t"]);
      expect(await hitIds("3.14 EXAMPLE.ORG")).toEqual(["t"]);
      expect(await hitIds("3.15")).toEqual([]);
      expect(await hitIds("example")).toEqual(["t"]);
      expect((await hitIds("doe")).sort()).toEqual(["other", "t"]);
      // A part is found where it is, the whole only where its parts follow each other.
      expect((await hitIds("14")).sort()).toEqual(["other", "t"]);
      expect(await hitIds("3.14")).toEqual(["t"]);
      expect(await hitIds("john@example.com")).toEqual([]);
    });

    it("filters by speaker", async () => {
      await store.createTranscript(aTranscript("c", "c1", "billing question"));
      await store.createTranscript(
        aTranscript("a", "c1", "billing answer", { speaker: "assistant" }),
      );
      expect(await hitIds("billing", { speaker: "assistant" })).toEqual(["a"]);
      expect(await hitIds("billing", { speaker: "caller" })).toEqual(["c"]);
    });

    it("pages with limit and offset through every hit exactly once in rank order", async () => {
      for (let i = 0; i < 9; i++) {
        const filler = Array.from({ length: i }, () => "filler").join(" ");
        await store.createTranscript(aTranscript(`t${i}`, "c1", `order ${filler}`));
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

    it("returns nothing for an empty or blank query, or one with no word in it", async () => {
      await store.createTranscript(aTranscript("t", "c1", "anything - at all !!!"));
      expect(await search("")).toEqual([]);
      expect(await search("  \t\n ")).toEqual([]);
      expect(await search("- !!!")).toEqual([]);
      expect(await search("!!! anything")).toHaveLength(1);
    });

    it("never throws on hostile queries", async () => {
      await store.createTranscript(
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
        "yes & then | !end <-> (x) <2>",
        "yes:*",
        "yes:A",
        "\\",
        "\\'",
        "%_",
        "日本語の検索",
        "🙂 emoji",
        "Ünïcödé",
        "\uD800 lone surrogate",
        "nul\u0000byte",
        "a".repeat(10_240),
        "é".repeat(2_000),
        "a-".repeat(3_000),
        Array.from({ length: 2_000 }, (_, i) => `w${i}`).join(" "),
        '"'.repeat(10_240),
      ];
      for (const q of hostile) {
        for (const sort of ["relevance", "recent"] as const) {
          await expect(search(q, { sort }), q.slice(0, 40)).resolves.toBeInstanceOf(Array);
        }
      }
      expect(await hitIds('"yes"')).toEqual(["t"]);
      expect(await hitIds("NEAR")).toEqual(["t"]);
      expect(await hitIds("yes:*")).toEqual(["t"]);
      // A word longer than any index keeps is in no transcript, so nothing has every word.
      expect(await hitIds(`yes ${"a".repeat(3_000)}`)).toEqual([]);
      expect(await world.repository.getCallById("c1")).not.toBeNull();
    });

    it("searches what was heard of a cut turn, and forgets the transcripts of a deleted call", async () => {
      await store.createTranscript(
        aTranscript("cut", "c1", "your refund is on its way", { speaker: "assistant" }),
      );
      await store.createTranscript(aTranscript("kept", "c2", "where is my refund"));
      await store.markTranscriptInterrupted("cut", {
        heardText: "your refund",
        heardMs: 400,
        generatedMs: 1400,
      });
      expect(await hitIds("way")).toEqual([]);
      expect((await hitIds("refund")).sort()).toEqual(["cut", "kept"]);
      await store.deleteCall("c1");
      expect(await hitIds("refund")).toEqual(["kept"]);
      expect(await hitIds("refund", { sort: "recent" })).toEqual(["kept"]);
    });

    it("answers what SQLite answers: the same hits, snippets and cursors in both sorts", async () => {
      const random = prng(11);
      const words = ["order", "refund", "late", "parcel", "my", "the", "e-mail", "call", "Café"];
      const punctuation = [" ", " ", " ", ", ", ". ", ": ", " - ", "! "];
      for (let i = 0; i < 120; i++) {
        let text = "";
        const length = 1 + Math.floor(random() * 30);
        for (let w = 0; w < length; w++) {
          text += words[Math.floor(random() * words.length)]!;
          if (w < length - 1) text += punctuation[Math.floor(random() * punctuation.length)]!;
        }
        await store.createTranscript(
          aTranscript(`r${i}`, i % 2 === 0 ? "c1" : "c2", text, {
            speaker: i % 3 === 0 ? "assistant" : "caller",
            offsetMs: i * 100,
          }),
        );
      }
      // Rows that are gone count in no total: a deleted call's transcripts weigh nothing.
      await store.createCall(aCall("c3"));
      for (let i = 0; i < 150; i++) {
        await store.createTranscript(aTranscript(`gone${i}`, "c3", "refund refund order"));
      }
      await store.deleteCall("c3");
      const queries = [
        "order",
        "refund late",
        "my the order",
        "e-mail",
        "e mail",
        "café parcel",
        "cafe parcel",
        "PARCEL, late.",
        "call call",
        "order !!! refund",
        "orde",
        "refunds calls",
        "parcels late",
      ];
      for (const q of queries) {
        for (const sort of ["relevance", "recent"] as const) {
          for (const speaker of [undefined, "assistant"] as const) {
            const query = { q, limit: 7, sort, speaker };
            const expected = await oracle.repository.searchTranscripts(query);
            const actual = await world.repository.searchTranscripts(query);
            expect(described(actual), `${q} ${sort} ${speaker}`).toEqual(described(expected));
            const after = expected.at(-1)?.next;
            if (after) {
              const nextPage = { ...query, after };
              expect(
                described(await world.repository.searchTranscripts(nextPage)),
                `${q} ${sort} ${speaker}, page 2`,
              ).toEqual(described(await oracle.repository.searchTranscripts(nextPage)));
            }
          }
        }
      }
    });
  });

  describe("prefixes and plurals", () => {
    const refundTexts = async () => {
      await store.createTranscript(aTranscript("refund", "c1", "I would like a refund"));
      await store.createTranscript(aTranscript("refunds", "c1", "two refunds, one order"));
      await store.createTranscript(aTranscript("refunded", "c2", "it was REFUNDED yesterday"));
      await store.createTranscript(aTranscript("refunding", "c2", "refunding takes a week"));
      await store.createTranscript(aTranscript("other", "c1", "the referee refused"));
    };
    const sorted = async (q: string, extra: Partial<TranscriptSearchQuery> = {}) =>
      (await hitIds(q, extra)).sort();
    const allRefunds = ["refund", "refunded", "refunding", "refunds"];

    it("finds every form of a word by its beginning, its plural or another form", async () => {
      await refundTexts();
      for (const q of ["refun", "refund", "refunds", "Refunded", "REFUNDING", "refunds!"]) {
        for (const sort of ["relevance", "recent"] as const) {
          expect(await sorted(q, { sort }), `${q} ${sort}`).toEqual(allRefunds);
        }
      }
      expect(await hitIds("refunds", { sort: "recent" })).toEqual([
        "refunding",
        "refunded",
        "refunds",
        "refund",
      ]);
      expect(await hitIds("refe")).toEqual(["other"]);
      expect(await hitIds("refuse")).toEqual(["other"]);
      expect(await hitIds("refundable")).toEqual([]);
    });

    it("cuts es, ies, y, a doubled consonant, and a plural's s but not a word's own", async () => {
      await store.createTranscript(aTranscript("box", "c1", "one box"));
      await store.createTranscript(aTranscript("boxes", "c1", "two boxes"));
      await store.createTranscript(aTranscript("delivery", "c1", "a delivery"));
      await store.createTranscript(aTranscript("deliveries", "c1", "no deliveries on sunday"));
      await store.createTranscript(aTranscript("delivered", "c2", "it was delivered"));
      await store.createTranscript(aTranscript("ship", "c2", "we ship daily"));
      await store.createTranscript(aTranscript("shipping", "c2", "free shipping"));
      await store.createTranscript(aTranscript("address", "c2", "my address"));
      await store.createTranscript(aTranscript("addresses", "c2", "both addresses"));
      await store.createTranscript(aTranscript("cancel", "c1", "cancel it"));
      await store.createTranscript(aTranscript("cancelled", "c1", "it was cancelled"));
      expect(await sorted("boxes")).toEqual(["box", "boxes"]);
      expect(await sorted("deliveries")).toEqual(["delivered", "deliveries", "delivery"]);
      expect(await sorted("delivery")).toEqual(["delivered", "deliveries", "delivery"]);
      expect(await sorted("shipping")).toEqual(["ship", "shipping"]);
      expect(await sorted("addresses")).toEqual(["address", "addresses"]);
      expect(await sorted("address")).toEqual(["address", "addresses"]);
      expect(await sorted("cancelled")).toEqual(["cancel", "cancelled"]);
    });

    it("matches words of fewer than four letters, and numbers, whole", async () => {
      await store.createTranscript(aTranscript("the", "c1", "the order"));
      await store.createTranscript(aTranscript("they", "c1", "they ordered there"));
      await store.createTranscript(aTranscript("can", "c2", "you can"));
      await store.createTranscript(aTranscript("cancel", "c2", "please cancel"));
      await store.createTranscript(aTranscript("n12", "c1", "order 12 arrived"));
      await store.createTranscript(aTranscript("n12345", "c1", "order 12345 arrived"));
      expect(await hitIds("the")).toEqual(["the"]);
      expect(await hitIds("can")).toEqual(["can"]);
      expect(await hitIds("12")).toEqual(["n12"]);
      expect(await hitIds("123")).toEqual([]);
      expect(await hitIds("1234")).toEqual([]);
      expect(await sorted("orders")).toEqual(["n12", "n12345", "the", "they"]);
      // Every word must match, prefix words and whole ones alike.
      expect(await sorted("orde the")).toEqual(["the"]);
      expect(await sorted("ordered 12")).toEqual(["n12"]);
    });

    it("widens the last token of a word of several, the others stay whole and in order", async () => {
      await store.createTranscript(aTranscript("email", "c1", "send the e-mails"));
      await store.createTranscript(aTranscript("mail", "c1", "mailed by e post"));
      await store.createTranscript(aTranscript("cafe", "c2", "two Cafés, one café"));
      expect(await hitIds("e-mail")).toEqual(["email"]);
      expect(await hitIds("e-mails")).toEqual(["email"]);
      expect(await hitIds("E-MAILS")).toEqual(["email"]);
      // Its last token is three letters: matched whole, as a word of three would be.
      expect(await hitIds("e-mai")).toEqual([]);
      expect(await sorted("mail")).toEqual(["email", "mail"]);
      expect(await hitIds("cafes")).toEqual(["cafe"]);
      expect(await hitIds("CAFÉ")).toEqual(["cafe"]);
    });

    it("reads * and :* in the query as text: the same words, never an operator", async () => {
      await refundTexts();
      await store.createTranscript(aTranscript("star", "c1", "a star * and refund: yes"));
      const refundsAndStar = [...allRefunds, "star"].sort();
      for (const q of ["refun*", "refun:*", "'refun':*", '"refun"*', "(refun)*"]) {
        for (const sort of ["relevance", "recent"] as const) {
          expect(await sorted(q, { sort }), `${q} ${sort}`).toEqual(refundsAndStar);
        }
      }
      // Not FTS5's "re*" or PostgreSQL's "re:*", which would find every word beginning so.
      expect(await hitIds("re*")).toEqual([]);
      expect(await hitIds("re:*")).toEqual([]);
      expect(await hitIds("*")).toEqual([]);
      // The last token of "refun*:A" is "a", one letter: the phrase "refun a", whole.
      expect(await hitIds("refun*:A")).toEqual([]);
      expect(await hitIds("refun* | referee")).toEqual([]);
      expect(await hitIds("refun & referee")).toEqual([]);
      expect(await hitIds("refun OR referee")).toEqual([]);
      expect(await hitIds("NEAR(refun referee)")).toEqual([]);
      expect(await hitIds("star*")).toEqual(["star"]);
    });

    it("finds a word cut short in what was heard of a turn indexed already", async () => {
      await store.createTranscript(
        aTranscript("cut", "c1", "your refund is on its way", { speaker: "assistant" }),
      );
      await store.createTranscript(aTranscript("other", "c2", "a refusal"));
      // The search indexes both first; what was heard of "cut" re-indexes it.
      expect(await sorted("refu")).toEqual(["cut", "other"]);
      await store.markTranscriptInterrupted("cut", {
        heardText: "your refu",
        heardMs: 300,
        generatedMs: 1400,
      });
      for (const sort of ["relevance", "recent"] as const) {
        expect(await hitIds("refu", { sort }), sort).toEqual(["other", "cut"]);
        expect(await hitIds("refund", { sort }), sort).toEqual([]);
      }
      const [hit] = await search("refu", { sort: "recent", speaker: "assistant" });
      expect(hit?.snippet).toBe("your [refu]");
    });

    it("marks each matched word whole in the snippet", async () => {
      await store.createTranscript(
        aTranscript("t", "c1", "Two refunds were refunded, no refusal. The referee agreed."),
      );
      const [hit] = await search("refun agree");
      expect(hit?.snippet).toBe("Two [refunds] were [refunded], no refusal. The referee [agreed].");
      const [recent] = await search("refunds", { sort: "recent" });
      expect(recent?.snippet).toBe(
        "Two [refunds] were [refunded], no refusal. The referee agreed.",
      );
    });

    it("ranks by BM25 as FTS5's bm25() ranks the prefix phrases, and as SQLite on every backend", async () => {
      const random = prng(5);
      const words = [
        "refund",
        "refunds",
        "refunded",
        "order",
        "orders",
        "ordering",
        "delivery",
        "deliveries",
        "the",
        "they",
        "e-mails",
        "Cafés",
      ];
      for (let i = 0; i < 60; i++) {
        const text = Array.from(
          { length: 1 + Math.floor(random() * 14) },
          () => words[Math.floor(random() * words.length)]!,
        ).join(i % 3 === 0 ? ", " : " ");
        await store.createTranscript(
          aTranscript(`p${i}`, i % 2 === 0 ? "c1" : "c2", text, {
            speaker: i % 3 === 0 ? "assistant" : "caller",
          }),
        );
      }
      for (const q of ["refun", "orders", "refunds orders", "deliveries the", "e-mail cafe"]) {
        const hits = await world.repository.searchTranscripts({ q, limit: 100 });
        const oracleHits = fts5Ranking(oracle, q);
        expect(oracleHits.length, q).toBeGreaterThan(0);
        expect(hits.map((h) => h.transcriptId).sort(), q).toEqual(
          oracleHits.map((h) => h.id).sort(),
        );
        const score = new Map(oracleHits.map((h) => [h.id, h.score]));
        const scores = hits.map((h) => score.get(h.transcriptId)!);
        for (let i = 1; i < scores.length; i++) {
          expect(scores[i]! - scores[i - 1]!, q).toBeGreaterThanOrEqual(
            -1e-12 * Math.abs(scores[i]!),
          );
        }
        for (const sort of ["relevance", "recent"] as const) {
          for (const speaker of [undefined, "assistant"] as const) {
            const query = { q, limit: 7, sort, speaker };
            expect(
              described(await world.repository.searchTranscripts(query)),
              `${q} ${sort} ${speaker}`,
            ).toEqual(described(await oracle.repository.searchTranscripts(query)));
          }
        }
      }
    });
  });

  describe("sort=recent", () => {
    it("lists matches newest first and pages by position, unmoved by rows stored in between", async () => {
      const ids = await storeCorpus(store, 40);
      await store.createTranscript(aTranscript("unrelated", "c1", "nothing here"));
      const expected = fts5Ranking(oracle, "order")
        .map((hit) => hit.id)
        .sort((a, b) => Number(b.slice(1)) - Number(a.slice(1)));
      expect(expected.length).toBeGreaterThan(10);
      let added = 0;
      const pages = await allPages(world.repository, { q: "order", limit: 4, sort: "recent" }, () =>
        store.createTranscript(aTranscript(`late${added++}`, "c1", "order order order")),
      );
      expect(added).toBeGreaterThan(2);
      // Every match stored before the first page exactly once, newest first; none of the later.
      expect(pages.flat()).toEqual(expected);
      expect(ids).toEqual(expect.arrayContaining(expected));
    });

    it("keeps to one speaker", async () => {
      await storeCorpus(store, 30);
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

    it("refuses a position issued for the other sort", async () => {
      await storeCorpus(store, 5);
      const refused = world.repository.searchTranscripts({
        q: "order",
        limit: 5,
        sort: "recent",
        after: { sort: "relevance", anchor: 10, offset: 2 },
      });
      await expect(refused).rejects.toMatchObject({ code: "invalid_argument" });
    });
  });

  describe("sort=relevance", () => {
    const queries = [
      "order",
      "refund",
      "order refund",
      "the order the",
      "e-mail",
      "café parcel",
      "late !!! my",
      "cafe parcel",
    ];
    it.each(queries)(
      "ranks every match as FTS5's bm25() does while under the cap (%s)",
      async (q) => {
        await storeCorpus(store, 80);
        const hits = await world.repository.searchTranscripts({ q, limit: 100, sort: "relevance" });
        const oracleHits = fts5Ranking(oracle, q);
        expect(oracleHits.length).toBeGreaterThan(0);
        expect(hits.map((h) => h.transcriptId).sort()).toEqual(oracleHits.map((h) => h.id).sort());
        // The same order; rows whose scores differ only in the last bits may swap.
        const score = new Map(oracleHits.map((h) => [h.id, h.score]));
        const scores = hits.map((h) => score.get(h.transcriptId)!);
        for (let i = 1; i < scores.length; i++) {
          expect(scores[i]! - scores[i - 1]!).toBeGreaterThanOrEqual(-1e-12 * Math.abs(scores[i]!));
        }
      },
    );

    it("pages through one fixed ranking while better matches are stored in between", async () => {
      await storeCorpus(store, 60);
      const expected = fts5Ranking(oracle, "parcel").map((h) => h.id);
      expect(expected.length).toBeGreaterThan(8);
      let added = 0;
      const pages = await allPages(world.repository, { q: "parcel", limit: 4 }, () =>
        store.createTranscript(aTranscript(`new${added++}`, "c1", "parcel parcel")),
      );
      expect(added).toBeGreaterThan(1);
      const seen = pages.flat();
      expect(new Set(seen).size).toBe(seen.length);
      expect(seen.sort()).toEqual([...expected].sort());
    });

    it("follows the offset of an older caller when no position is given", async () => {
      await storeCorpus(store, 40);
      const all = await world.repository.searchTranscripts({ q: "order", limit: 100 });
      const skipped = await world.repository.searchTranscripts({ q: "order", limit: 5, offset: 5 });
      expect(skipped.map((h) => h.transcriptId)).toEqual(
        all.slice(5, 10).map((h) => h.transcriptId),
      );
    });
  });
});

/**
 * A repository that ranks at most `candidates` matches per relevance search, next to the
 * world's own on the same database, for each backend.
 */
interface CappedWorld {
  store: Stored;
  repository: CallRepository;
  capped(candidates: number): Promise<CallRepository>;
  oracle: SqliteWorld;
  close(): Promise<void>;
}

const CAPPED_BACKENDS: Array<{
  name: string;
  describe: (name: string, body: () => void) => void;
  setUp?: () => Promise<void>;
  tearDown?: () => Promise<void>;
  open: () => Promise<CappedWorld>;
}> = [
  {
    name: "DrizzleCallRepository",
    describe,
    async open() {
      const sqlite = createSqliteWorld();
      const oracle = createSqliteWorld();
      return {
        store: mirrored(sqlite.repository, oracle),
        repository: sqlite.repository,
        capped: async (candidates) =>
          new DrizzleCallRepository(sqlite.db, sqlite.sqlite, { searchCandidates: candidates }),
        oracle,
        close: async () => {
          sqlite.close();
          oracle.close();
        },
      };
    },
  },
  (() => {
    let database: TestDatabase | undefined;
    return {
      name: "PostgresCallRepository (PostgreSQL)",
      describe: describePostgres,
      async setUp() {
        database = await createTestDatabase();
        await migratePostgres(database.url, PG_MIGRATIONS);
      },
      async tearDown() {
        await database?.drop();
      },
      async open(): Promise<CappedWorld> {
        const url = database!.url;
        const own = new pg.Client({ connectionString: url });
        await own.connect();
        await own.query("TRUNCATE calls, transcripts RESTART IDENTITY CASCADE");
        await own.end();
        const repositories: PostgresCallRepository[] = [];
        const openRepository = async (searchCandidates?: number) => {
          const repository = await PostgresCallRepository.open({
            url,
            migrationsPath: PG_MIGRATIONS,
            searchCandidates,
            poolSize: 2,
          });
          repositories.push(repository);
          return repository;
        };
        const repository = await openRepository();
        await repository.flush();
        const oracle = createSqliteWorld();
        return {
          store: mirrored(repository, oracle),
          repository,
          capped: (candidates) => openRepository(candidates),
          oracle,
          close: async () => {
            for (const r of repositories) await r.close();
            oracle.close();
          },
        };
      },
    };
  })(),
];

for (const backend of CAPPED_BACKENDS) {
  backend.describe(`${backend.name}: searchTranscripts under a relevance cap`, () => {
    if (backend.setUp) beforeAll(() => backend.setUp?.(), 60_000);
    if (backend.tearDown) afterAll(() => backend.tearDown?.(), 60_000);
    let world: CappedWorld;
    beforeEach(async () => {
      world = await backend.open();
      await world.store.createCall(aCall("c1"));
      await world.store.createCall(aCall("c2"));
    });
    afterEach(() => world.close());

    it("ranks only the newest matches above the cap, and pages end with them", async () => {
      await world.store.createTranscript(aTranscript("best", "c1", "refund refund refund"));
      for (let i = 0; i < 6; i++) {
        const filler = Array.from({ length: 6 - i }, () => "filler").join(" ");
        await world.store.createTranscript(aTranscript(`r${i}`, "c1", `refund ${filler}`));
      }
      const capped = await world.capped(3);
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
        await world.store.createTranscript(
          aTranscript(`s${i}`, "c1", "billing question", {
            speaker: i % 2 === 0 ? "caller" : "assistant",
          }),
        );
      }
      const capped = await world.capped(3);
      const hits = await capped.searchTranscripts({ q: "billing", limit: 10, speaker: "caller" });
      // Equal scores: the newer first.
      expect(hits.map((h) => h.transcriptId)).toEqual(["s6", "s4", "s2"]);
    });

    it("ignores the relevance cap in sort=recent: every match is listed", async () => {
      await storeCorpus(world.store, 30);
      const capped = await world.capped(2);
      const pages = await allPages(capped, { q: "order", limit: 3, sort: "recent" });
      expect(pages.flat()).toHaveLength(fts5Ranking(world.oracle, "order").length);
    });
  });
}

describe("DrizzleCallRepository: the FTS5 index", () => {
  let world: SqliteWorld;
  beforeEach(async () => {
    world = createSqliteWorld();
    await world.repository.createCall(aCall("c1"));
    await world.repository.createCall(aCall("c2"));
  });
  afterEach(() => world.close());

  const hitIds = async (q: string) =>
    (await world.repository.searchTranscripts({ q, limit: 20 })).map((h) => h.transcriptId);

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
      fc.property(
        text,
        fc.array(fc.record({ word, prefix: fc.boolean() }), { minLength: 1, maxLength: 3 }),
        (row, words) => {
          const asked = words.filter(({ word }) => searchTokens(word).length > 0);
          const phrases = asked.map(({ word }) => searchTokens(word));
          const prefix = asked.map((w) => w.prefix);
          const tokens = searchTokens(row);
          expect(measureRow(row, phrases, prefix)).toEqual({
            length: tokens.length,
            frequencies: phrases.map((phrase, i) => phraseFrequency(tokens, phrase, prefix[i])),
          });
        },
      ),
      { numRuns: 500 },
    );
  });

  it("count a phrase's occurrences, overlapping ones included", () => {
    expect(phraseFrequency(["a", "a", "a", "b"], ["a", "a"])).toBe(2);
    expect(phraseFrequency(["e", "mail", "e", "mail"], ["e", "mail"])).toBe(2);
    expect(phraseFrequency(["a"], [])).toBe(0);
  });

  it("count every token a prefix starts, in the last place of the phrase only", () => {
    const tokens = ["refund", "refunds", "e", "mails", "refunded", "e", "mail", "mailrefund"];
    expect(phraseFrequency(tokens, ["refund"], true)).toBe(3);
    expect(phraseFrequency(tokens, ["refund"])).toBe(1);
    expect(phraseFrequency(tokens, ["e", "mail"], true)).toBe(2);
    expect(phraseFrequency(tokens, ["e", "mail"])).toBe(1);
    expect(phraseFrequency(["ea", "mail"], ["e", "mail"], true)).toBe(0);
    expect(
      measureRow("Refunds, e-mails; REFUNDED e-mail", [["refund"], ["e", "mail"]], [true, true]),
    ).toEqual({
      length: 6,
      frequencies: [2, 2],
    });
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

  it("asks for a word of four letters or more by the prefix of its stem, * outside the quotes", () => {
    expect(toFtsMatchExpression('refunds "orders" the e-mails 12345')).toBe(
      '"refund"* """order"* "the" "e-mail"* "12345"',
    );
    expect(toFtsMatchExpression("refun* :* *")).toBe('"refun*"* ":*" "*"');
  });
});
