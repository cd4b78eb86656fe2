import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectPostgres, type PgConnection } from "../../../src/adapters/postgres/connection.ts";
import { migratePostgres } from "../../../src/adapters/postgres/migrate.ts";
import { PostgresCallRepository } from "../../../src/adapters/postgres/postgres-call-repository.ts";
import { SEARCH_VECTOR_MIGRATION } from "../../../src/adapters/postgres/search-vector.ts";
import { PostgresTranscriptSearch } from "../../../src/adapters/postgres/transcript-search.ts";
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
 * PostgresTranscriptSearch on the proposed stored search vector (search-vector.ts): the same
 * answers as SQLite, diacritics and addresses included, which the expression index of
 * migration 0000 cannot give (see the contract suite, drizzle-call-repository-search.test.ts).
 */
describePostgres("PostgresTranscriptSearch on a stored search vector", () => {
  let database: TestDatabase;
  let repository: PostgresCallRepository;
  let connection: PgConnection;
  let search: PostgresTranscriptSearch;
  let oracle: SqliteWorld;

  const texts = [
    "Meet me at the Café Zoë, naïve as it sounds",
    "the cafe of zoe",
    "write to john.doe@example.com or pay 3.14 on example.org",
    "my e-mail: order@shop.example. Refund, please!",
    "ORDER number 42x arrived late; the parcel was torn",
    "an order, an order. Another order: refund the order",
    "日本語 テスト order",
    "",
  ];

  beforeAll(async () => {
    database = await createTestDatabase();
    await migratePostgres(database.url, PG_MIGRATIONS);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    for (const statement of SEARCH_VECTOR_MIGRATION) await client.query(statement);
    await client.end();
    repository = await PostgresCallRepository.open({
      url: database.url,
      migrationsPath: PG_MIGRATIONS,
    });
    connection = connectPostgres(database.url, 2);
    search = new PostgresTranscriptSearch(connection.db, { vector: "column" });
    oracle = createSqliteWorld();
    for (const target of [repository, oracle.repository]) {
      await target.createCall(aCall("c1"));
      for (let i = 0; i < 40; i++) {
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
    await connection?.end();
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
    "e-mail refund",
    "order",
    "the order",
    "order late 42X",
    "日本語",
    "-",
  ])("answers %s as SQLite does, in both sorts and on the next page", async (q) => {
    for (const sort of ["relevance", "recent"] as const) {
      const query: TranscriptSearchQuery = { q, limit: 4, sort };
      const expected = await oracle.repository.searchTranscripts(query);
      expect(described(await search.search(query)), sort).toEqual(described(expected));
      const after = expected.at(-1)?.next;
      if (after) {
        expect(described(await search.search({ ...query, after })), `${sort}, page 2`).toEqual(
          described(await oracle.repository.searchTranscripts({ ...query, after })),
        );
      }
    }
  });

  it("finds a plain word in accented text, which the expression index cannot", async () => {
    const expression = new PostgresTranscriptSearch(connection.db);
    const ids = (hits: TranscriptHit[]) => hits.map((h) => h.transcriptId);
    expect(ids(await search.search({ q: "cafe zoe", limit: 100, sort: "recent" }))).toContain("t0");
    expect(
      ids(await expression.search({ q: "cafe zoe", limit: 100, sort: "recent" })),
    ).not.toContain("t0");
  });
});
