import { afterAll, beforeAll, expect, it } from "vitest";
import { PostgresCallRepository } from "../../../src/adapters/postgres/postgres-call-repository.ts";
import type { TranscriptHit, TranscriptSearchQuery } from "../../../src/application/ports/index.ts";
import { createTestDatabase, describePostgres, type TestDatabase } from "../../support/postgres.ts";
import {
  aCall,
  aTranscript,
  createSqliteWorld,
  type SqliteWorld,
} from "../sqlite/sqlite-test-world.ts";
import { PG_MIGRATIONS } from "./postgres-test-world.ts";

/**
 * transcripts.search_vector (callbridge_search_text, migration 0003) against SQLite's unicode61
 * tokenizer, text by text: diacritics, addresses, numbers, other scripts, punctuation only.
 * PostgreSQL's own parser would keep "john.doe@example.com" or "3.14" whole and "Café" accented.
 */
describePostgres("transcript search tokens as SQLite's", () => {
  let database: TestDatabase;
  let repository: PostgresCallRepository;
  let oracle: SqliteWorld;

  const texts = [
    "Meet me at the Café Zoë, naïve as it sounds",
    "the cafe of zoe",
    "write to john.doe@example.com or pay 3.14 on example.org",
    "my e-mail: order@shop.example. Refund, please!",
    "ORDER number 42x arrived late; the parcel was torn",
    "an order, an order. Another order: refund the order",
    "日本語 テスト order",
    "snake_case and https://example.org/a?b=c",
    "",
  ];

  beforeAll(async () => {
    database = await createTestDatabase();
    repository = await PostgresCallRepository.open({
      url: database.url,
      migrationsPath: PG_MIGRATIONS,
    });
    oracle = createSqliteWorld();
    for (const target of [repository, oracle.repository]) {
      await target.createCall(aCall("c1"));
      for (let i = 0; i < 45; i++) {
        const text = texts[i % texts.length]!;
        await target.createTranscript(
          aTranscript(`t${i}`, "c1", text, { speaker: i % 3 === 0 ? "assistant" : "caller" }),
        );
      }
    }
    await repository.flush();
  }, 60_000);

  afterAll(async () => {
    await repository?.close();
    oracle?.close();
    await database?.drop();
  });

  const described = (hits: TranscriptHit[]) =>
    hits.map((h) => ({
      ...h,
      next: h.next?.sort === "relevance" ? { ...h.next, anchor: "any" } : h.next,
    }));

  it.each([
    "cafe zoe",
    "CAFÉ",
    "naive",
    "example",
    "john.doe@example.com",
    "3.14",
    "14",
    "e-mail refund",
    "order",
    "the order",
    "order late 42X",
    "日本語",
    "snake",
    "snake_case",
    "org/a",
    "-",
    // Prefixes and plurals: the last token of a word, cut to its stem, begins the tokens found.
    "cafes",
    "NAÏV",
    "exampl",
    "john.doe@exampl",
    "e-mails",
    "orders refunds",
    "ORDER:*",
    "orde*",
    "日本語テ",
    "snake_cases",
    "arriv",
  ])("answers %s as SQLite does, in both sorts and on the next page", async (q) => {
    for (const sort of ["relevance", "recent"] as const) {
      const query: TranscriptSearchQuery = { q, limit: 4, sort };
      const expected = await oracle.repository.searchTranscripts(query);
      expect(described(await repository.searchTranscripts(query)), sort).toEqual(
        described(expected),
      );
      const after = expected.at(-1)?.next;
      if (after) {
        expect(
          described(await repository.searchTranscripts({ ...query, after })),
          `${sort}, page 2`,
        ).toEqual(described(await oracle.repository.searchTranscripts({ ...query, after })));
      }
    }
  });
});
