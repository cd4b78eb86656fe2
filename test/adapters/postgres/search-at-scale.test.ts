import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { PostgresCallRepository } from "../../../src/adapters/postgres/postgres-call-repository.ts";
import {
  candidatePlan,
  FETCH_BUDGET_MATCHES,
  lexemeShares,
  WALK_BUDGET_ROWS,
} from "../../../src/adapters/postgres/search-budget.ts";
import type { TranscriptHit, TranscriptSearchQuery } from "../../../src/application/ports/index.ts";
import { createTestDatabase, describePostgres, type TestDatabase } from "../../support/postgres.ts";
import { aCall } from "../sqlite/sqlite-test-world.ts";
import { PG_MIGRATIONS } from "./postgres-test-world.ts";

it("reads rare words from the index over every transcript, and walks the newest for common ones", () => {
  const rows = 1_000_000;
  // A word in 0.1% of the transcripts: its 1,000 matches are fetched wherever they are.
  expect(candidatePlan([0.001], rows + 1)).toEqual({ from: 0, indexed: [true] });
  // In 4%: 40,000 matches; the newest WALK_BUDGET_ROWS transcripts are walked instead.
  expect(candidatePlan([0.04], rows + 1).from).toBe(rows + 1 - WALK_BUDGET_ROWS);
  // A rare word beside two common ones: only the rare one is read from the index.
  expect(candidatePlan([0.5, 0.002, 0.45], rows + 1)).toEqual({
    from: 0,
    indexed: [false, true, false],
  });
  // Two words of 4% each: together in about 1,600, which the index finds all of.
  expect(candidatePlan([0.04, 0.04], rows + 1)).toEqual({ from: 0, indexed: [true, true] });
  // Every word common: the rarest is the one read from the index, then the walk is bounded.
  expect(candidatePlan([0.5, 0.4], rows + 1)).toEqual({
    from: rows + 1 - WALK_BUDGET_ROWS,
    indexed: [false, true],
  });
  // Few transcripts: everything is read.
  expect(candidatePlan([0.9], FETCH_BUDGET_MATCHES).from).toBe(0);
  expect(candidatePlan([], rows)).toEqual({ from: 0, indexed: [] });
});

it("reads the planner's lexeme statistics, and none before the table is analysed", () => {
  expect(lexemeShares(null, null)).toBeNull();
  expect(lexemeShares([], [])).toBeNull();
  expect(lexemeShares(["a", "b"], [0.5])).toBeNull();
  const shares = lexemeShares(["order", "cancel"], [0.5, 0.05, 0.05, 0.5, 0]);
  expect(shares?.shares.get("order")).toBe(0.5);
  expect(shares?.shares.get("cancel")).toBe(0.05);
  // The trailing lowest, highest (and empty-vector) figures are not lexemes.
  expect(shares?.shares.size).toBe(2);
});

/**
 * Relevance search above EXACT_TOTALS_ROWS, where PostgreSQL weighs words by the planner's
 * statistics and bounds how it finds candidates (search-budget.ts): 100,000 transcripts, every
 * one with `order`, one in 20 with `cancel`, one in 1,000 with `seldom`.
 */
describePostgres("transcript search at 100,000 transcripts", () => {
  const TOTAL = 100_000;
  let database: TestDatabase;
  let repository: PostgresCallRepository;

  beforeAll(async () => {
    database = await createTestDatabase();
    repository = await PostgresCallRepository.open({
      url: database.url,
      migrationsPath: PG_MIGRATIONS,
    });
    await repository.createCall(aCall("c1"));
    await repository.flush();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO transcripts (id, call_id, speaker, text, offset_ms, created_at)
         SELECT 't' || i, 'c1', CASE WHEN i % 2 = 0 THEN 'caller' ELSE 'assistant' END,
                'order' || CASE WHEN i % 20 = 0 THEN ' cancel' ELSE '' END
                        || CASE WHEN i % 1000 = 7 THEN ' seldom' ELSE '' END || ' w' || (i % 500),
                i, now()
         FROM generate_series(1, $1::int) AS i ORDER BY i`,
        [TOTAL],
      );
      await client.query("ANALYZE transcripts");
    } finally {
      await client.end();
    }
  }, 120_000);

  afterAll(async () => {
    await repository?.close();
    await database?.drop();
  });

  async function everyHit(query: Omit<TranscriptSearchQuery, "limit">): Promise<TranscriptHit[]> {
    const hits: TranscriptHit[] = [];
    let after: TranscriptHit["next"];
    for (;;) {
      const page = await repository.searchTranscripts({ ...query, limit: 500, after });
      hits.push(...page);
      if (page.length < 500) return hits;
      after = page.at(-1)?.next;
    }
  }
  const numberOf = (hit: TranscriptHit) => Number(hit.transcriptId.slice(1));

  it("finds every transcript of a rare word beside a common one, the oldest included", async () => {
    const hits = await everyHit({ q: "order seldom" });
    const expected = Array.from({ length: TOTAL / 1000 }, (_, i) => i * 1000 + 7);
    expect(hits.map(numberOf).sort((a, b) => a - b)).toEqual(expected);
    for (const hit of hits) expect(hit.snippet).toContain("[seldom]");
  }, 30_000);

  it("ranks a word in 5% of the transcripts among the newest ones the walk reaches", async () => {
    const hits = await everyHit({ q: "cancel order" });
    const numbers = hits.map(numberOf);
    // Its 5,000 matches are more than the index path fetches: the newest WALK_BUDGET_ROWS
    // transcripts are walked, and every match in them (one in 20) is ranked, no other.
    expect(numbers.every((n) => n % 20 === 0 && n > TOTAL - WALK_BUDGET_ROWS)).toBe(true);
    expect(new Set(numbers).size).toBe(WALK_BUDGET_ROWS / 20);
  }, 30_000);

  it("keeps the speaker filter and every word under both ways of finding candidates", async () => {
    const assistant = await everyHit({ q: "seldom order", speaker: "assistant" });
    expect(assistant.length).toBe(TOTAL / 1000);
    expect(assistant.every((hit) => hit.speaker === "assistant")).toBe(true);
    expect(await everyHit({ q: "seldom cancel" })).toEqual([]);
    const recent = await repository.searchTranscripts({ q: "cancel", sort: "recent", limit: 3 });
    expect(recent.map(numberOf)).toEqual([TOTAL, TOTAL - 20, TOTAL - 40]);
  }, 30_000);
});
