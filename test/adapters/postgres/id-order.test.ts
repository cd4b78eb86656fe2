import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { migratePostgres } from "../../../src/adapters/postgres/migrate.ts";
import { PostgresCallRepository } from "../../../src/adapters/postgres/postgres-call-repository.ts";
import type { CallListQuery } from "../../../src/application/ports/index.ts";
import { describePostgres, TEST_POSTGRES_URL } from "../../support/postgres.ts";
import { aCall, aRecording, at } from "../sqlite/sqlite-test-world.ts";
import { onServer, PG_MIGRATIONS } from "./postgres-test-world.ts";

// Ids that a natural-language collation orders unlike bytes: case, punctuation, and digits.
const IDS = ["a", "B", "_z", "Z", "b", "A-1", "a1", "a-2", "0", "-x"];
const byteOrder = (ids: string[]) =>
  [...ids].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));

/**
 * On a database whose collation is a natural-language one (ICU en-US), ids still order as
 * SQLite orders them (bytes), and the page query is still served by its index.
 */
describePostgres("PostgresCallRepository id order on an en-US database", () => {
  const name = `cb_icu_${process.pid}_${Date.now()}`;
  const url = (() => {
    const u = new URL(TEST_POSTGRES_URL || "postgres://unset/");
    u.pathname = `/${name}`;
    return u.toString();
  })();
  let repository: PostgresCallRepository;

  beforeAll(async () => {
    await onServer(
      `CREATE DATABASE ${name} TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE 'en-US' LOCALE 'C.UTF-8'`,
    );
    await migratePostgres(url, PG_MIGRATIONS);
    repository = await PostgresCallRepository.open({ url, migrationsPath: PG_MIGRATIONS });
    for (const id of IDS) {
      await repository.createCall(aCall(id, { startedAt: at("2026-01-01T10:00:00Z") }));
    }
    await repository.createCall(aCall("old", { startedAt: at("2025-01-01T10:00:00Z") }));
    for (const id of IDS) {
      await repository.createRecording(aRecording(`r${id}`, "old", { fileKey: `${id}.wav` }));
    }
  }, 60_000);
  afterAll(async () => {
    await repository?.close();
    await onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  });

  const query = async <T>(statement: string): Promise<T[]> => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await client.query("SET enable_seqscan = off");
      return (await client.query(statement)).rows as T[];
    } finally {
      await client.end();
    }
  };

  it("is a database where the collation orders these ids unlike bytes", async () => {
    const rows = await query<{ id: string }>(
      `SELECT id FROM calls WHERE id <> 'old' ORDER BY id COLLATE "default"`,
    );
    expect(rows.map((r) => r.id)).not.toEqual(byteOrder(IDS));
  });

  it("pages calls of the same start time in byte order of their ids", async () => {
    for (const limit of [1, 3, 50]) {
      const ids: string[] = [];
      let after: CallListQuery["after"];
      for (let page = 0; page < 20; page++) {
        const result = await repository.getAllCalls({
          limit,
          since: at("2026-01-01T00:00:00Z"),
          after,
        });
        ids.push(...result.data.map((c) => c.id));
        if (!result.next) break;
        after = result.next;
      }
      expect(ids).toEqual(byteOrder(IDS).reverse());
    }
  });

  it("lists recordings of old calls in byte order of their ids", async () => {
    const recordings = await repository.getRecordingsOfCallsStartedBefore(
      at("2025-06-01T00:00:00Z"),
      100,
    );
    expect(recordings.map((r) => r.id)).toEqual(byteOrder(IDS.map((id) => `r${id}`)));
  });

  it("serves the page query from calls_started_at_id_caller_idx, without a sort", async () => {
    // A table of some size: on a nearly empty one PostgreSQL's guess of its rows depends on the
    // row width, and a sort of its few guessed rows may look cheaper than the index.
    await query(
      `INSERT INTO calls (id, stream_sid, status, started_at, created_at, updated_at)
       SELECT 'g' || n, 'MZg' || n, 'completed', now(), now(), now() FROM generate_series(1, 2000) n`,
    );
    // With statistics, as autovacuum keeps them on a real table: without, the guess of the rows
    // shrinks as the row widens (issue 20 added 13 columns) until a sort looks cheaper.
    await query("ANALYZE calls");
    const plan = (
      await query<{ "QUERY PLAN": string }>(
        `EXPLAIN SELECT * FROM calls WHERE (started_at, id) < (now(), 'x')
         ORDER BY started_at DESC, id DESC LIMIT 51`,
      )
    )
      .map((row) => row["QUERY PLAN"])
      .join("\n");
    expect(plan).toMatch(/Index Scan Backward using calls_started_at_id_caller_idx/);
    expect(plan).not.toMatch(/Sort/);
  });
});
