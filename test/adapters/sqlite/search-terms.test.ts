import Database from "better-sqlite3";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { snippetOf } from "../../../src/adapters/postgres/search-snippet.ts";
import { wordQuery } from "../../../src/adapters/postgres/search-tsquery.ts";
import {
  MIN_PREFIX_LENGTH,
  searchTerm,
  stemOf,
  toFtsMatch,
  toFtsMatchExpression,
  toFtsPhrase,
  toFtsTermPhrase,
} from "../../../src/adapters/sqlite/fts-query.ts";

/**
 * How a query word becomes what both backends match: its stem, whether it is a prefix, and the
 * FTS5 and tsquery text it is searched by. The search contract (drizzle-call-repository-search)
 * holds the repositories to it on every backend.
 */

describe("stemOf", () => {
  it.each([
    // Plurals and inflections of one word share one stem.
    ["refund", "refund"],
    ["refunds", "refund"],
    ["refunded", "refund"],
    ["refunding", "refund"],
    ["orders", "order"],
    ["ordered", "order"],
    // es after s, x, z, ch, sh; s alone after anything else.
    ["boxes", "box"],
    ["taxes", "tax"],
    ["classes", "class"],
    ["addresses", "address"],
    ["matches", "match"],
    ["wishes", "wish"],
    ["prices", "price"],
    ["cases", "case"],
    ["uses", "use"],
    ["days", "day"],
    // y and ies, when five letters remain.
    ["delivery", "deliver"],
    ["deliveries", "deliver"],
    ["companies", "compan"],
    ["replies", "replie"],
    ["party", "party"],
    ["monday", "monday"],
    // ed and ing: a doubled consonant undone, ll only when five letters remain.
    ["shipping", "ship"],
    ["stopped", "stop"],
    ["getting", "get"],
    ["cancelled", "cancel"],
    ["canceled", "cancel"],
    ["called", "call"],
    ["billing", "bill"],
    ["missed", "miss"],
    ["added", "add"],
    ["priced", "pric"],
    ["agreed", "agree"],
    ["need", "nee"],
    // Nothing is cut that would leave fewer than three letters, or no vowel.
    ["this", "this"],
    ["status", "status"],
    ["address", "address"],
    ["being", "being"],
    ["string", "string"],
    ["used", "used"],
    ["axes", "axe"],
    // Not an ASCII word: left as it is.
    ["日本語です", "日本語です"],
    ["a1s", "a1s"],
  ])("%s → %s", (word, stem) => {
    expect(stemOf(word)).toBe(stem);
    // Matched as a prefix, the stem always finds the word it came from.
    expect(word.startsWith(stem)).toBe(true);
  });
});

describe("searchTerm", () => {
  it("matches a word of four letters or more by the prefix of its stem", () => {
    expect(searchTerm("Refunds")).toEqual({ tokens: ["refund"], prefix: true });
    expect(searchTerm("refun")).toEqual({ tokens: ["refun"], prefix: true });
    expect(searchTerm("CAFÉS")).toEqual({ tokens: ["cafe"], prefix: true });
    expect(searchTerm("日本語の")).toEqual({ tokens: ["日本語の"], prefix: true });
    expect(MIN_PREFIX_LENGTH).toBe(4);
  });

  it("matches shorter words, and any token with a digit, whole", () => {
    expect(searchTerm("the")).toEqual({ tokens: ["the"], prefix: false });
    expect(searchTerm("can")).toEqual({ tokens: ["can"], prefix: false });
    expect(searchTerm("日本語")).toEqual({ tokens: ["日本語"], prefix: false });
    expect(searchTerm("12345")).toEqual({ tokens: ["12345"], prefix: false });
    expect(searchTerm("order42s")).toEqual({ tokens: ["order42s"], prefix: false });
    expect(searchTerm("!!!")).toEqual({ tokens: [], prefix: false });
  });

  it("cuts and widens only the last token of a word that is several", () => {
    expect(searchTerm("e-mails")).toEqual({ tokens: ["e", "mail"], prefix: true });
    expect(searchTerm("refunds.pdf")).toEqual({ tokens: ["refunds", "pdf"], prefix: false });
    expect(searchTerm("john.doe@example.com")).toEqual({
      tokens: ["john", "doe", "example", "com"],
      prefix: false,
    });
  });
});

describe("FTS5 and tsquery text", () => {
  it("puts the prefix operator after the closing quote only", () => {
    expect(toFtsPhrase("refunds")).toBe('"refund"*');
    expect(toFtsPhrase("Refun")).toBe('"refun"*');
    expect(toFtsPhrase("refund*")).toBe('"refund*"*');
    expect(toFtsPhrase("refunds:*")).toBe('"refund"*');
    expect(toFtsPhrase('"refunds"')).toBe('"""refund"*');
    expect(toFtsPhrase("e-mails")).toBe('"e-mail"*');
    expect(toFtsPhrase("Cafés")).toBe('"cafe"*');
    expect(toFtsPhrase("yes*")).toBe('"yes*"');
    expect(toFtsPhrase("*")).toBe('"*"');
    expect(toFtsTermPhrase(searchTerm("e-mails"))).toBe('"e mail"*');
    expect(toFtsMatchExpression('say "hi" NEAR(x')).toBe('"say" """hi""" "NEAR(x"');
    expect(toFtsMatchExpression("NEAR(refunds, 2)")).toBe('"near(refund"* "2)"');
    expect(toFtsMatchExpression("refund AND(deliveries)")).toBe('"refund"* "and(deliver"*');
  });

  it("asks FTS5 once for words that are one phrase", () => {
    expect(toFtsMatch(["Refunds", "refunded", "refund", "REFUND"])).toBe('"refund"*');
    expect(toFtsMatchExpression("refunds refunds")).toBe('"refund"* "refund"*');
  });

  it("quotes every lexeme of a tsquery and puts :* after the quote", () => {
    expect(wordQuery("refunds")?.folded).toBe("'refund':*");
    expect(wordQuery("e-mails")?.folded).toBe("'e' <-> 'mail':*");
    expect(wordQuery("refun:*|!x")?.folded).toBe("'refun' <-> 'x'");
    expect(wordQuery("it's:*")?.folded).toBe("'it' <-> 's'");
    expect(wordQuery("o'reilly's")?.folded).toBe("'o' <-> 'reilly' <-> 's'");
    expect(wordQuery("the")?.folded).toBe("'the'");
    expect(wordQuery("a".repeat(3_000))).toBeNull();
  });

  it("never lets a character of the input out of its literal", () => {
    const literal = /^"(?:[^"]|"")*"\*?$/u;
    const lexemes = /^'[\p{L}\p{N}\p{Co}]+'(?::\*)?(?: <-> '[\p{L}\p{N}\p{Co}]+'(?::\*)?)*$/u;
    fc.assert(
      fc.property(fc.string({ unit: "grapheme", maxLength: 20 }), (word) => {
        expect(toFtsPhrase(word)).toMatch(literal);
        const query = wordQuery(word);
        if (query && query.folded !== "") expect(query.folded).toMatch(lexemes);
      }),
      { numRuns: 2_000 },
    );
  });
});

/**
 * search-snippet.ts is the snippet of both backends: held here to FTS5's own snippet() for the
 * same phrases, prefix phrases included, on random rows.
 */
describe("snippetOf against FTS5's snippet()", () => {
  let sqlite: Database.Database;
  beforeAll(() => {
    sqlite = new Database(":memory:");
    sqlite.exec(
      "CREATE VIRTUAL TABLE t USING fts5(text, tokenize='unicode61 remove_diacritics 2')",
    );
  });
  afterAll(() => sqlite.close());

  const WORDS = [
    "refund",
    "refunds",
    "refunded",
    "order",
    "orders",
    "the",
    "they",
    "e-mail",
    "e-mails",
    "Café",
    "cafés",
    "deliveries",
    "delivery",
    "ok.",
    "note:",
  ];
  const QUERY_WORDS = ["refun", "refunds", "orders", "the", "e-mails", "cafes", "delivery", "ok"];

  it("marks and cuts the same window", () => {
    const insert = sqlite.prepare("INSERT INTO t(rowid, text) VALUES (1, ?)");
    const snippet = sqlite.prepare(
      "SELECT snippet(t, 0, '[', ']', '…', 12) FROM t WHERE t MATCH ? AND rowid = 1",
    );
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(...WORDS), { minLength: 1, maxLength: 40 }),
        fc.uniqueArray(fc.constantFrom(...QUERY_WORDS), { minLength: 1, maxLength: 3 }),
        (words, query) => {
          sqlite.exec("DELETE FROM t");
          const text = words.join(" ");
          insert.run(text);
          const terms = [
            ...new Map(query.map(searchTerm).map((term) => [toFtsTermPhrase(term), term])),
          ];
          // Any one of the words is enough to get a snippet, as a search's AND would.
          const expected = snippet.pluck().get(terms.map(([phrase]) => phrase).join(" OR ")) as
            | string
            | undefined;
          if (expected === undefined) return;
          expect(
            snippetOf(
              text,
              terms.map(([, term]) => term.tokens),
              12,
              terms.map(([, term]) => term.prefix),
            ),
          ).toBe(expected);
        },
      ),
      { numRuns: 500 },
    );
  });
});
