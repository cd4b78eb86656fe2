import Database from "better-sqlite3";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { searchTokens } from "../../../src/adapters/sqlite/bm25.ts";
import {
  foldsAlike,
  type IndexedTermsStartingWith,
  MAX_PREFIX_TERMS,
  pastTermsStartingWith,
  toFtsMatchExpression,
  toFtsQuery,
} from "../../../src/adapters/sqlite/fts-query.ts";
import type { TranscriptSearchQuery } from "../../../src/application/ports/index.ts";
import { aCall, aTranscript, createSqliteWorld, type SqliteWorld } from "./sqlite-test-world.ts";

/**
 * How SQLite matches a prefix word (fts-query.ts, toFtsQuery): as an OR of the indexed words
 * its stem starts, looked up in search_terms (migration 0008), which every catch-up of the index
 * keeps holding every token the index holds. The search contract
 * (drizzle-call-repository-search) holds every backend to the same hits.
 */

/** A lookup over a fixed vocabulary, as search_terms answers it. */
const lookupIn =
  (vocabulary: readonly string[]): IndexedTermsStartingWith =>
  (stem, limit) =>
    [...new Set(vocabulary)]
      .filter((term) => term >= stem && term < pastTermsStartingWith(stem))
      .sort()
      .slice(0, limit);

describe("toFtsQuery", () => {
  const vocabulary = ["e", "mail", "mails", "my", "refund", "refunded", "refunds", "refusal"];

  it("asks a prefix word as an OR of the indexed words its stem starts, the others whole", () => {
    const query = toFtsQuery(["Refunds", "my", "e-mails"], lookupIn(vocabulary));
    expect(query?.match).toBe(
      '"my" AND ("refund" OR "refunded" OR "refunds") AND ("e mail" OR "e mails")',
    );
    expect(query?.termMatches).toEqual(
      new Map([
        ["refund*", '("refund" OR "refunded" OR "refunds")'],
        ["my", '"my"'],
        ["e mail*", '("e mail" OR "e mails")'],
      ]),
    );
  });

  it("asks each term once, one indexed word without parentheses", () => {
    const query = toFtsQuery(["refunds", "REFUNDED", "refund", "my", "MY"], lookupIn(["refund"]));
    expect(query?.match).toBe('"refund" "my"');
    expect(toFtsQuery(["my", "the", "12"], lookupIn([]))?.match).toBe('"my" "the" "12"');
  });

  it("leaves out a word with no token, and matches nothing when a stem starts no word", () => {
    expect(toFtsQuery(["!!!", "refunds"], lookupIn(vocabulary))?.match).toBe(
      '("refund" OR "refunded" OR "refunds")',
    );
    expect(toFtsQuery(["!!!", "..."], lookupIn(vocabulary))).toBeNull();
    expect(toFtsQuery(["my", "parcels"], lookupIn(vocabulary))).toBeNull();
  });

  it("keeps FTS5's prefix query past MAX_PREFIX_TERMS words", () => {
    const many = Array.from({ length: MAX_PREFIX_TERMS + 1 }, (_, i) => `order${"abc"[i % 3]}${i}`);
    expect(toFtsQuery(["orders"], lookupIn(many))?.match).toBe('"order"*');
    expect(toFtsQuery(["orders"], lookupIn(many))?.termMatches.get("order*")).toBe('"order"*');
    const enough = many.slice(0, MAX_PREFIX_TERMS);
    expect(toFtsQuery(["orders"], lookupIn(enough))?.match.split(" OR ")).toHaveLength(
      MAX_PREFIX_TERMS,
    );
  });

  it("keeps FTS5's prefix query for a word only FTS5 knows how to fold", () => {
    const asked: string[] = [];
    const lookup: IndexedTermsStartingWith = (stem, limit) => {
      asked.push(stem);
      return lookupIn(["cafe", "cafes", "заказ"])(stem, limit);
    };
    expect(toFtsQuery(["заказы"], lookup)?.match).toBe('"заказы"*');
    expect(toFtsQuery(["Cafés"], lookup)?.match).toBe('("cafe" OR "cafes")');
    expect(asked).toEqual(["cafe"]);
    expect(foldsAlike("Ærøskøbing-Straße")).toBe(true);
    expect(foldsAlike("ǽ")).toBe(false);
  });

  it("never lets a character of a word or an indexed token out of its literal", () => {
    const fts = new Database(":memory:");
    fts.exec(
      `CREATE VIRTUAL TABLE f USING fts5(text, tokenize='unicode61 remove_diacritics 2');
       INSERT INTO f(rowid, text) VALUES (1, 'refund "or" (near) and');`,
    );
    const match = fts.prepare("SELECT rowid FROM f WHERE f MATCH ?").pluck();
    const word = fc.oneof(
      fc.string({ unit: "grapheme", maxLength: 12 }),
      fc.constantFrom("refunds", "OR", "NEAR(", '"', "*", "refun*", "AND", ")"),
    );
    const token = fc.oneof(fc.string({ maxLength: 8 }), fc.constantFrom('"', "*", ") OR (", "NOT"));
    fc.assert(
      fc.property(fc.array(word, { maxLength: 4 }), fc.array(token), (words, tokens) => {
        // Whatever the table holds, a lookup returns tokens that start with the stem.
        const lookup: IndexedTermsStartingWith = (stem, limit) =>
          [stem, ...tokens.map((t) => `${stem}${t}`)].slice(0, limit);
        const query = toFtsQuery(words, lookup);
        if (query) expect(() => match.all(query.match)).not.toThrow();
      }),
      { numRuns: 1_000 },
    );
    fts.close();
  });
});

describe("FOLDS_ALIKE", () => {
  it("holds the characters FTS5 cuts and folds exactly as searchTokens() does", () => {
    const fts = new Database(":memory:");
    fts.exec(
      `CREATE VIRTUAL TABLE f USING fts5(text, tokenize='unicode61 remove_diacritics 2');
       CREATE VIRTUAL TABLE v USING fts5vocab(f, 'instance');`,
    );
    const insert = fts.prepare("INSERT INTO f(rowid, text) VALUES (?, ?)");
    const texts = new Map<number, string>();
    for (let code = 0x20; code <= 0x2ff; code++) {
      const char = String.fromCodePoint(code);
      if (!foldsAlike(char)) continue;
      // Alone, inside a word, at its ends, doubled, and upper or lower case around it.
      texts.set(code, `${char} x${char}y ${char}${char}Ab Zz${char}`);
    }
    fts.transaction(() => {
      for (const [code, text] of texts) insert.run(code, text);
    })();
    const tokens = new Map<number, string[]>();
    for (const { term, doc } of fts
      .prepare("SELECT term, doc FROM v ORDER BY doc, offset")
      .all() as Array<{ term: string; doc: number }>) {
      tokens.set(doc, [...(tokens.get(doc) ?? []), term]);
    }
    const differing = [...texts].filter(
      ([code, text]) => (tokens.get(code) ?? []).join(" ") !== searchTokens(text).join(" "),
    );
    expect(differing).toEqual([]);
    // Every printable ASCII character, and À to ž (× and ÷ among them, which both split on).
    expect(texts.size).toBe(95 + (0x17e - 0xc0 + 1));
    fts.close();
  });
});

describe("search_terms", () => {
  let world: SqliteWorld;
  beforeEach(async () => {
    world = createSqliteWorld();
    await world.repository.createCall(aCall("c1"));
    await world.repository.createCall(aCall("c2"));
  });
  afterEach(() => world.close());

  const search = (q: string, extra: Partial<TranscriptSearchQuery> = {}) =>
    world.repository.searchTranscripts({ q, limit: 100, sort: "recent", ...extra });
  const hitIds = async (q: string, extra: Partial<TranscriptSearchQuery> = {}) =>
    (await search(q, extra)).map((hit) => hit.transcriptId);

  /** Rows FTS5's own prefix query finds for `q`, newest first: what the OR must find. */
  const prefixQueryIds = (q: string): string[] => {
    const match = toFtsMatchExpression(q);
    if (match === null) return [];
    return world.sqlite
      .prepare(
        `SELECT t.id FROM transcripts_fts JOIN transcripts t ON t.seq = transcripts_fts.rowid
         WHERE transcripts_fts MATCH ? ORDER BY transcripts_fts.rowid DESC`,
      )
      .pluck()
      .all(match) as string[];
  };

  const terms = (): string[] =>
    world.sqlite.prepare("SELECT term FROM search_terms ORDER BY term").pluck().all() as string[];

  /** Every token the index holds that does not start with a digit, from FTS5 itself. */
  const indexedTokens = (): string[] => {
    world.sqlite.exec(
      "CREATE VIRTUAL TABLE IF NOT EXISTS temp.vocab USING fts5vocab(main, transcripts_fts, 'row')",
    );
    return (world.sqlite.prepare("SELECT term FROM temp.vocab").pluck().all() as string[]).filter(
      (term) => !/^[0-9]/.test(term),
    );
  };

  const pending = (): number =>
    world.sqlite.prepare("SELECT count(*) FROM search_terms_pending_vocab").pluck().get() as number;

  it("holds every word the index holds once a search has caught it up, numbers aside", async () => {
    await world.repository.createTranscript(aTranscript("a", "c1", "Refunds: order #12345 ok"));
    await world.repository.createTranscript(aTranscript("b", "c2", "Zoë's café, e-mails 4u"));
    expect(await hitIds("refun")).toEqual(["a"]);
    expect(terms()).toEqual(["cafe", "e", "mails", "ok", "order", "refunds", "s", "zoe"]);
    expect(terms()).toEqual(indexedTokens().sort());
    expect(pending()).toBe(0);
  });

  it("finds exactly what FTS5's prefix query finds, whatever is stored, cut or deleted", async () => {
    const words = [
      "refund",
      "refunds",
      "Refunded",
      "refusal",
      "order",
      "orders",
      "ORDERING",
      "café",
      "cafés",
      "e-mails",
      "the",
      "they",
      "12",
      "w42",
    ];
    const text = fc
      .array(fc.constantFrom(...words), { minLength: 1, maxLength: 6 })
      .map((w) => w.join(" "));
    const op = fc.oneof(
      { weight: 5, arbitrary: fc.record({ kind: fc.constant("add" as const), text }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("cut" as const), text }) },
      { weight: 1, arbitrary: fc.record({ kind: fc.constant("edit" as const), text }) },
      { weight: 1, arbitrary: fc.constant({ kind: "delete" as const, text: "" }) },
      { weight: 2, arbitrary: fc.record({ kind: fc.constant("search" as const), text }) },
    );
    const queries = ["refun", "refunds", "orde", "orders my", "cafes", "e-mails", "ref the"];
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        const callId = `p${run++}`;
        await world.repository.createCall(aCall(callId));
        let n = 0;
        let alive: string[] = [];
        for (const { kind, text } of ops) {
          const last = alive.at(-1);
          if (kind === "add") {
            const id = `${callId}-${n++}`;
            await world.repository.createTranscript(aTranscript(id, callId, text));
            alive.push(id);
          } else if (kind === "cut" && last !== undefined) {
            await world.repository.markTranscriptInterrupted(last, {
              heardText: text.slice(0, Math.ceil(text.length / 2)),
              heardMs: 100,
              generatedMs: 200,
            });
          } else if (kind === "edit" && last !== undefined) {
            world.repository.flush();
            world.sqlite.prepare("UPDATE transcripts SET text = ? WHERE id = ?").run(text, last);
          } else if (kind === "delete") {
            await world.repository.deleteCall(callId);
            await world.repository.createCall(aCall(callId));
            alive = [];
          } else if (kind === "search") {
            await search(text);
          }
        }
        for (const q of queries) {
          expect(await hitIds(q), q).toEqual(prefixQueryIds(q));
          expect(await hitIds(q, { sort: "relevance" }).then((ids) => ids.sort()), q).toEqual(
            prefixQueryIds(q).sort(),
          );
        }
        // Words of deleted rows stay; every word the index holds is there.
        expect(terms()).toEqual(expect.arrayContaining(indexedTokens()));
        expect(pending()).toBe(0);
      }),
      { numRuns: 25 },
    );
  });

  it("falls back to FTS5's prefix query when a stem starts more than MAX_PREFIX_TERMS words", async () => {
    const letters = "abcdefghijklmnopqrstuvwxyz";
    const ids: string[] = [];
    for (let i = 0; i <= MAX_PREFIX_TERMS; i++) {
      const word = `order${letters[i % 26]}${letters[Math.floor(i / 26)]}`;
      ids.push(`t${i}`);
      await world.repository.createTranscript(aTranscript(`t${i}`, "c1", `the ${word}`));
    }
    await world.repository.createTranscript(aTranscript("whole", "c2", "an order"));
    ids.push("whole");
    expect(await hitIds("orders")).toEqual(ids.reverse());
    expect(await hitIds("orders")).toEqual(prefixQueryIds("orders"));
    expect((await hitIds("orders the", { sort: "relevance" })).length).toBe(MAX_PREFIX_TERMS + 1);
  });

  it("matches by FTS5's prefix query a word only FTS5 knows how to fold", async () => {
    await world.repository.createTranscript(aTranscript("a", "c1", "Заказ принят"));
    await world.repository.createTranscript(aTranscript("b", "c1", "два заказа"));
    await world.repository.createTranscript(aTranscript("c", "c2", "заказчик ждёт"));
    await world.repository.createTranscript(aTranscript("d", "c2", "ждет"));
    expect(await hitIds("заказ")).toEqual(["c", "b", "a"]);
    expect(await hitIds("ЗАКАЗА")).toEqual(["b"]);
    expect(await hitIds("ждёт")).toEqual(prefixQueryIds("ждёт"));
  });

  it("records the words of rows that any tool indexed by moving the mark", async () => {
    world.repository.flush();
    world.sqlite.exec(`
      INSERT INTO transcripts (id, call_id, speaker, text, created_at)
        VALUES ('raw1', 'c1', 'caller', 'refunded twice', 0), ('raw2', 'c2', 'caller', 'a refund', 0);
      INSERT INTO transcripts_fts(rowid, text)
        SELECT seq, text FROM transcripts
        WHERE seq > (SELECT indexed_through FROM transcripts_fts_progress) ORDER BY seq;
      UPDATE transcripts_fts_progress SET indexed_through = (SELECT max(seq) FROM transcripts);`);
    expect(pending()).toBeGreaterThan(0);
    expect(await hitIds("refunds")).toEqual(["raw2", "raw1"]);
    expect(terms()).toEqual(["a", "refund", "refunded", "twice"]);
    expect(pending()).toBe(0);
  });
});
