import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it } from "vitest";
import { migratePostgres } from "../../../src/adapters/postgres/migrate.ts";
import { PostgresCallRepository } from "../../../src/adapters/postgres/postgres-call-repository.ts";
import { createTestDatabase, describePostgres, type TestDatabase } from "../../support/postgres.ts";
import { aCall, anAnalytics, aRecording, aTranscript, at } from "../sqlite/sqlite-test-world.ts";
import { PG_MIGRATIONS } from "./postgres-test-world.ts";

const TABLES = ["calls", "recordings", "transcripts", "analytics", "call_metadata"] as const;
type Counts = Record<(typeof TABLES)[number], number>;
const EXPECTED: Counts = {
  calls: 3,
  recordings: 6,
  transcripts: 12,
  analytics: 6,
  call_metadata: 3,
};

interface Journal {
  entries: Array<{ idx: number; version: string; when: number; tag: string; breakpoints: boolean }>;
}

/**
 * A later migration as drizzle-kit writes one (statement breakpoints, a journal entry) that
 * alters `calls`, the parent of every other table, in place: a new column, a column made NOT
 * NULL, a new index.
 */
const LATER_MIGRATION = [
  'ALTER TABLE "calls" ADD COLUMN "region" text;',
  'ALTER TABLE "calls" ALTER COLUMN "call_sid" SET NOT NULL;',
  'CREATE INDEX "calls_region_started_at_idx" ON "calls" USING btree ("region","started_at");',
].join("--> statement-breakpoint\n");
const LATER_TAG = "9999_calls_region";

let dir: string;
let scratch: string;

/** The committed migrations plus the later one, in a folder of the test's own. */
function scratchMigrations(): string {
  const folder = join(dir, "migrations");
  cpSync(PG_MIGRATIONS, folder, { recursive: true });
  const journalPath = join(folder, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as Journal;
  const last = journal.entries.at(-1);
  if (!last) throw new Error("no committed migration");
  journal.entries.push({ ...last, idx: last.idx + 1, when: last.when + 1000, tag: LATER_TAG });
  writeFileSync(journalPath, JSON.stringify(journal, null, 2));
  writeFileSync(join(folder, `${LATER_TAG}.sql`), LATER_MIGRATION);
  return folder;
}

/** A drizzle-kit config of its own: the scratch folder, and the database from DATABASE_URL. */
function drizzleKitConfig(): string {
  const path = join(dir, "drizzle.config.ts");
  writeFileSync(
    path,
    `export default { dialect: "postgresql", out: ${JSON.stringify(scratch)}, dbCredentials: { url: process.env.DATABASE_URL } };\n`,
  );
  return path;
}

function drizzleKitMigrate(databaseUrl: string): { status: number | null; output: string } {
  const result = spawnSync("npx", ["drizzle-kit", "migrate", "--config", drizzleKitConfig()], {
    cwd: process.cwd(),
    env: { ...process.env, DATABASE_URL: databaseUrl, NO_COLOR: "1" },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

async function query<T>(url: string, statement: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(statement)).rows as T[];
  } finally {
    await client.end();
  }
}

async function counts(url: string): Promise<Counts> {
  const [row] = await query<Counts>(
    url,
    `SELECT ${TABLES.map((t) => `(SELECT count(*)::int FROM ${t}) AS ${t}`).join(", ")}`,
  );
  if (!row) throw new Error("no counts");
  return row;
}

const appliedMigrations = async (url: string): Promise<number> =>
  (
    await query<{ n: number }>(url, "SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations")
  )[0]?.n ?? 0;

/** The committed migrations up to `tag`, in a folder of the test's own. */
function migrationsUpTo(tag: string): string {
  const folder = join(dir, `migrations-${tag}`);
  cpSync(PG_MIGRATIONS, folder, { recursive: true });
  const journalPath = join(folder, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as Journal;
  const last = journal.entries.findIndex((entry) => entry.tag === tag);
  if (last < 0) throw new Error(`no migration ${tag}`);
  journal.entries = journal.entries.slice(0, last + 1);
  writeFileSync(journalPath, JSON.stringify(journal, null, 2));
  return folder;
}

/**
 * A database at the committed migrations (or those of `migrationsPath`), with calls that have
 * rows in every child table.
 */
async function populatedDatabase(migrationsPath = PG_MIGRATIONS): Promise<TestDatabase> {
  const database = await createTestDatabase("cb_migr");
  const repository = await PostgresCallRepository.open({ url: database.url, migrationsPath });
  try {
    for (const [n, callId] of ["c1", "c2", "c3"].entries()) {
      // As the schema of 0000 holds a call (the repository's insert names columns added later).
      const call = aCall(callId, { startedAt: at(`2026-01-0${n + 1}T10:00:00Z`) });
      await query(
        database.url,
        `INSERT INTO calls (id, stream_sid, call_sid, caller, status, started_at, created_at, updated_at)
         VALUES ('${call.id}', '${call.streamSid}', '${call.callSid}', '${call.caller}', 'active',
                 '${call.startedAt.toISOString()}', '${call.createdAt.toISOString()}', '${call.updatedAt.toISOString()}')`,
      );
      await repository.createRecording(aRecording(`${callId}-r1`, callId));
      await repository.createRecording(
        aRecording(`${callId}-r2`, callId, { track: "conversation", fileKey: `${callId}-2.wav` }),
      );
      await Promise.all([
        ...[1, 2, 3, 4].map((i) =>
          repository.createTranscript(aTranscript(`${callId}-t${i}`, callId, `turn ${i}`)),
        ),
        repository.createAnalytics(anAnalytics(`${callId}-a1`, callId)),
        repository.createAnalytics(anAnalytics(`${callId}-a2`, callId)),
      ]);
      await repository.createOrUpdateMetadata({
        callId,
        language: "en",
        region: null,
        deviceType: null,
        networkQuality: null,
        customData: { n },
        updatedAt: at("2026-01-01T10:00:01Z"),
      });
    }
  } finally {
    await repository.close();
  }
  expect(await counts(database.url)).toEqual(EXPECTED);
  return database;
}

/** What the later migration did to `calls`, read from the catalog. */
async function callsShape(url: string) {
  const columns = await query<{ column_name: string; is_nullable: string }>(
    url,
    `SELECT column_name, is_nullable FROM information_schema.columns
     WHERE table_name = 'calls' AND column_name IN ('region', 'call_sid') ORDER BY column_name`,
  );
  const indexes = await query<{ indexname: string }>(
    url,
    "SELECT indexname FROM pg_indexes WHERE tablename = 'calls' AND indexname = 'calls_region_started_at_idx'",
  );
  return { columns, indexes: indexes.map((i) => i.indexname) };
}

const MIGRATED_SHAPE = {
  columns: [
    { column_name: "call_sid", is_nullable: "NO" },
    { column_name: "region", is_nullable: "YES" },
  ],
  indexes: ["calls_region_started_at_idx"],
};

describePostgres("PostgreSQL migrations on a populated database", () => {
  const databases: TestDatabase[] = [];
  let committed: number;

  beforeAll(() => {
    committed = (
      JSON.parse(readFileSync(join(PG_MIGRATIONS, "meta", "_journal.json"), "utf8")) as Journal
    ).entries.length;
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "callbridge-pg-migrations-"));
    scratch = scratchMigrations();
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  afterAll(async () => {
    for (const database of databases) await database.drop();
  });

  const populated = async (migrationsPath?: string) => {
    const database = await populatedDatabase(migrationsPath);
    databases.push(database);
    return database;
  };

  it("applies a later migration with drizzle's migrator, keeps every row, and never re-runs one", async () => {
    const { url } = await populated();
    expect(await appliedMigrations(url)).toBe(committed);
    await migratePostgres(url, scratch);
    expect(await callsShape(url)).toEqual(MIGRATED_SHAPE);
    expect(await counts(url)).toEqual(EXPECTED);
    expect(await appliedMigrations(url)).toBe(committed + 1);

    // Applied migrations are recognised: by the migrator again, and by drizzle-kit.
    await migratePostgres(url, scratch);
    const cli = drizzleKitMigrate(url);
    expect(cli.status, cli.output).toBe(0);
    expect(await appliedMigrations(url)).toBe(committed + 1);
    expect(await counts(url)).toEqual(EXPECTED);
  }, 180_000);

  it("applies it with `drizzle-kit migrate`, keeps every row, and never re-runs one", async () => {
    const { url } = await populated();
    const cli = drizzleKitMigrate(url);
    expect(cli.status, cli.output).toBe(0);
    expect(await callsShape(url)).toEqual(MIGRATED_SHAPE);
    expect(await counts(url)).toEqual(EXPECTED);
    expect(await appliedMigrations(url)).toBe(committed + 1);

    const again = drizzleKitMigrate(url);
    expect(again.status, again.output).toBe(0);
    // The server's own migrator, at start-up, finds nothing to do either.
    await migratePostgres(url, scratch);
    const repository = await PostgresCallRepository.open({ url, migrationsPath: scratch });
    try {
      expect(await repository.getTranscriptsByCallId("c2")).toHaveLength(4);
    } finally {
      await repository.close();
    }
    expect(await appliedMigrations(url)).toBe(committed + 1);
    expect(await counts(url)).toEqual(EXPECTED);
  }, 180_000);

  it("fills the search vector of the rows already stored when it is added (0003, 0004)", async () => {
    const { url } = await populated(migrationsUpTo("0002_ids_in_byte_order"));
    expect(await appliedMigrations(url)).toBe(3);
    await migratePostgres(url, PG_MIGRATIONS);
    expect(await appliedMigrations(url)).toBe(committed);
    expect(await counts(url)).toEqual(EXPECTED);
    const vectors = await query<{ id: string; vector: string }>(
      url,
      "SELECT id, search_vector::text AS vector FROM transcripts",
    );
    expect(vectors).toHaveLength(EXPECTED.transcripts);
    for (const { id, vector } of vectors) expect(vector).toBe(`'${id.at(-1)}':2 'turn':1`);
    const [index] = await query<{ indexdef: string }>(
      url,
      "SELECT indexdef FROM pg_indexes WHERE indexname = 'transcripts_search_idx'",
    );
    expect(index?.indexdef).toMatch(/USING gin \(search_vector\)$/);
    const repository = await PostgresCallRepository.open({ url, migrationsPath: PG_MIGRATIONS });
    try {
      const hits = await repository.searchTranscripts({ q: "TURN 3", limit: 20, sort: "recent" });
      expect(hits.map((h) => h.transcriptId).sort()).toEqual(["c1-t3", "c2-t3", "c3-t3"]);
    } finally {
      await repository.close();
    }
  }, 60_000);

  it("adds up the calls stored before the hourly rollup, and indexes their numbers (0007)", async () => {
    const { url } = await populated(migrationsUpTo("0006_call_facts"));
    await query(
      url,
      `UPDATE calls SET status = 'completed', duration_seconds = 90, cost_usd = 0.125,
         avg_response_latency_ms = 400, p95_response_latency_ms = 800, outcome = 'resolved'
       WHERE id = 'c1'`,
    );
    await migratePostgres(url, PG_MIGRATIONS);
    expect(await appliedMigrations(url)).toBe(committed);
    const repository = await PostgresCallRepository.open({ url, migrationsPath: PG_MIGRATIONS });
    try {
      expect(await repository.getCallTotals({})).toMatchObject({
        calls: 3,
        active: 2,
        minutes: 1.5,
        avgResponseLatencyMs: 400,
        p95ResponseLatencyMs: 800,
        costUsd: 0.125,
      });
      expect((await repository.getCallTotals({ outcome: "resolved" })).calls).toBe(1);
      const digits = (await repository.getAllCalls({ limit: 5, callerDigits: "0001111" })).data;
      expect(digits.map((c) => c.id)).toEqual(["c3", "c2", "c1"]);
    } finally {
      await repository.close();
    }
  }, 60_000);

  it("lets instances that start together on an empty database take turns migrating", async () => {
    const database = await createTestDatabase("cb_migr");
    databases.push(database);
    const opening = Array.from({ length: 4 }, () =>
      PostgresCallRepository.open({ url: database.url, migrationsPath: PG_MIGRATIONS }),
    );
    const repositories = await Promise.all(opening);
    try {
      expect(await appliedMigrations(database.url)).toBe(committed);
      for (const [i, repository] of repositories.entries()) {
        await repository.createCall(aCall(`c${i}`));
      }
      expect((await counts(database.url)).calls).toBe(repositories.length);
    } finally {
      await Promise.all(repositories.map((repository) => repository.close()));
    }
  }, 60_000);
});
