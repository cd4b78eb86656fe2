import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { migrate } from "drizzle-orm/better-sqlite3/migrator";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { type OpenedDatabase, openDatabase } from "../../../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import { migrateDatabase } from "../../../src/adapters/sqlite/migrate.ts";
import type { Call } from "../../../src/domain/call.ts";
import type { Transcript } from "../../../src/domain/transcript.ts";
import {
  aCall,
  anAnalytics,
  aRecording,
  aTranscript,
  at,
  MIGRATIONS,
} from "./sqlite-test-world.ts";

const BREAKPOINT = "--> statement-breakpoint";
const TABLES = ["calls", "recordings", "transcripts", "analytics", "call_metadata"] as const;
type Counts = Record<(typeof TABLES)[number] | "searchHits", number>;

interface JournalEntry {
  idx: number;
  version: string;
  when: number;
  tag: string;
  breakpoints: boolean;
}
interface Journal {
  version: string;
  dialect: string;
  entries: JournalEntry[];
}

let dir: string;
let dbPath: string;
let opened: OpenedDatabase | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "callbridge-migrations-"));
  dbPath = join(dir, "calls.db");
});
afterEach(() => {
  if (opened?.sqlite.open) opened.sqlite.close();
  opened = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const readJournal = (folder: string): Journal =>
  JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")) as Journal;

/** A copy of the committed migrations folder, cut to its first `keep` entries. */
function copyMigrations(name: string, keep?: number): string {
  const folder = join(dir, name);
  cpSync(MIGRATIONS, folder, { recursive: true });
  if (keep !== undefined) {
    const journal = readJournal(folder);
    journal.entries = journal.entries.slice(0, keep);
    writeFileSync(join(folder, "meta", "_journal.json"), JSON.stringify(journal, null, 2));
  }
  return folder;
}

/**
 * Appends a migration that rebuilds `calls` exactly as drizzle-kit writes one (its
 * SQLiteRecreateTableConvertor) when a column change cannot be done with ALTER TABLE.
 */
function addCallsRebuildMigration(folder: string): void {
  const init = readFileSync(join(folder, "0000_init.sql"), "utf8")
    .split(BREAKPOINT)
    .map((s) => s.trim());
  const initialCalls = init.find((s) => s.startsWith("CREATE TABLE `calls`"));
  const callIndexes = init.filter((s) => /^CREATE (UNIQUE )?INDEX .* ON `calls`/.test(s));
  if (!initialCalls || callIndexes.length === 0) {
    throw new Error("calls DDL not found in 0000_init");
  }
  // The table as the migrations so far left it: 0000's columns and those added since.
  const added = readJournal(folder)
    .entries.flatMap((entry) => [
      ...readFileSync(join(folder, `${entry.tag}.sql`), "utf8").matchAll(
        /ALTER TABLE `calls` ADD `(\w+)` ([^;]+);/g,
      ),
    ])
    .map((m) => `\t\`${m[1]}\` ${m[2]}`);
  const createCalls = initialCalls.replace(/\n\);?$/, `,\n${added.join(",\n")}\n);`);
  const columns = [...createCalls.matchAll(/^\s*`(\w+)`/gm)].map((m) => `"${m[1]}"`).join(", ");
  const statements = [
    "PRAGMA foreign_keys=OFF;",
    createCalls.replace("CREATE TABLE `calls`", "CREATE TABLE `__new_calls`"),
    `INSERT INTO \`__new_calls\`(${columns}) SELECT ${columns} FROM \`calls\`;`,
    "DROP TABLE `calls`;",
    "ALTER TABLE `__new_calls` RENAME TO `calls`;",
    "PRAGMA foreign_keys=ON;",
    ...callIndexes,
  ];
  const journal = readJournal(folder);
  const last = journal.entries.at(-1)!;
  const tag = `${String(last.idx + 1).padStart(4, "0")}_rebuild_calls`;
  writeFileSync(join(folder, `${tag}.sql`), statements.join(`${BREAKPOINT}\n`));
  journal.entries.push({ ...last, idx: last.idx + 1, when: last.when + 1000, tag });
  writeFileSync(join(folder, "meta", "_journal.json"), JSON.stringify(journal, null, 2));
}

/**
 * A transcript as the schema of 0000_init holds it: the repository's own insert names every
 * column of today's schema, which an older database does not have yet.
 */
function insertOldTranscript(db: OpenedDatabase, t: Transcript): void {
  db.sqlite
    .prepare(
      `INSERT INTO transcripts (id, call_id, speaker, text, confidence, offset_ms, interrupted, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      t.id,
      t.callId,
      t.speaker,
      t.text,
      t.confidence,
      t.offsetMs,
      t.interrupted ? 1 : 0,
      t.createdAt.getTime(),
    );
}

/** A call as the schema of 0000_init holds it (no owner column before 0006). */
function insertOldCall(db: OpenedDatabase, c: Call): void {
  db.sqlite
    .prepare(
      `INSERT INTO calls (id, stream_sid, call_sid, caller, status, started_at, ended_at, duration_seconds, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    )
    .run(
      c.id,
      c.streamSid,
      c.callSid,
      c.caller,
      c.status,
      c.startedAt.getTime(),
      c.endedAt?.getTime() ?? null,
      c.durationSeconds,
      c.createdAt.getTime(),
      c.updatedAt.getTime(),
    );
}

/** Three calls, each with rows in every child table. */
async function populate(db: OpenedDatabase): Promise<DrizzleCallRepository> {
  const repository = new DrizzleCallRepository(db.db, db.sqlite);
  for (const id of ["c1", "c2", "c3"]) {
    insertOldCall(db, aCall(id, { startedAt: at(`2026-02-0${id[1]}T10:00:00Z`) }));
    await repository.createRecording(aRecording(`${id}-r1`, id));
    await repository.createRecording(aRecording(`${id}-r2`, id, { track: "conversation" }));
    insertOldTranscript(db, aTranscript(`${id}-t1`, id, "I want a refund"));
    insertOldTranscript(db, aTranscript(`${id}-t2`, id, "sure", { speaker: "assistant" }));
    await repository.createAnalytics(anAnalytics(`${id}-a1`, id));
    await repository.createOrUpdateMetadata({
      callId: id,
      language: "en",
      region: null,
      deviceType: null,
      networkQuality: null,
      customData: { k: id },
      updatedAt: at("2026-02-01T10:00:00Z"),
    });
  }
  return repository;
}

const EXPECTED: Counts = {
  calls: 3,
  recordings: 6,
  transcripts: 6,
  analytics: 3,
  call_metadata: 3,
  searchHits: 3,
};

function counts(path: string): Counts {
  const sqlite = new Database(path, { readonly: true });
  try {
    const n = (query: string): number => (sqlite.prepare(query).get() as { n: number }).n;
    const result = { searchHits: 0 } as Counts;
    for (const table of TABLES) result[table] = n(`SELECT count(*) AS n FROM ${table}`);
    result.searchHits = n(
      `SELECT count(*) AS n FROM transcripts_fts WHERE transcripts_fts MATCH '"refund"'`,
    );
    return result;
  } finally {
    sqlite.close();
  }
}

function appliedMigrations(path: string): number {
  const sqlite = new Database(path, { readonly: true });
  try {
    return (sqlite.prepare("SELECT count(*) AS n FROM __drizzle_migrations").get() as { n: number })
      .n;
  } finally {
    sqlite.close();
  }
}

/** A populated database with every committed migration applied, closed again. */
async function populatedDatabase(): Promise<void> {
  opened = openDatabase(dbPath);
  migrateDatabase(opened.sqlite, MIGRATIONS);
  // flush(): the transcripts are indexed for search in batches, and counts() searches.
  (await populate(opened)).flush();
  opened.sqlite.close();
  expect(counts(dbPath)).toEqual(EXPECTED);
}

function drizzleKitMigrate(env: NodeJS.ProcessEnv, args: string[] = []) {
  const result = spawnSync("npx", ["drizzle-kit", "migrate", ...args], {
    cwd: process.cwd(),
    env: { ...process.env, ...env, NO_COLOR: "1" },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

/** A drizzle-kit config of its own, so drizzle-kit can be pointed at a temp migrations folder. */
function drizzleKitConfig(out: string): string {
  const path = join(dir, "drizzle.config.json");
  writeFileSync(path, JSON.stringify({ dialect: "sqlite", out, dbCredentials: { url: dbPath } }));
  return path;
}

describe("migrateDatabase", () => {
  it("creates every table, index and full-text trigger on an empty database", () => {
    opened = openDatabase(dbPath);
    migrateDatabase(opened.sqlite, MIGRATIONS);
    const names = (type: string) =>
      (
        opened!.sqlite
          .prepare("SELECT name FROM sqlite_master WHERE type = ? ORDER BY name")
          .all(type) as Array<{ name: string }>
      ).map((r) => r.name);
    expect(names("table")).toEqual(
      expect.arrayContaining([
        ...TABLES,
        "transcripts_fts",
        "transcripts_fts_progress",
        "search_terms",
        "search_terms_pending",
        "search_terms_pending_vocab",
        "call_rollup",
        "callers",
        "callers_fts",
      ]),
    );
    // Transcripts are indexed in batches (DeferredFtsIndex), so no insert trigger for them;
    // calls keep the hourly rollup and the callers' numbers in step as they are written.
    expect(names("trigger")).toEqual([
      "callers_after_insert",
      "calls_callers_after_insert",
      "calls_callers_after_update",
      "calls_rollup_after_delete",
      "calls_rollup_after_insert",
      "calls_rollup_after_update",
      "search_terms_pending_after_indexing",
      "search_terms_pending_after_update",
      "transcripts_fts_after_delete",
      "transcripts_fts_after_update",
    ]);
    expect(names("index")).toEqual(
      expect.arrayContaining([
        "calls_stream_sid_unique",
        "calls_call_sid_idx",
        "calls_started_at_id_caller_idx",
        "calls_status_started_at_id_idx",
        "calls_caller_started_at_id_idx",
        "recordings_call_id_idx",
        "transcripts_id_unique",
        "transcripts_call_id_offset_ms_seq_idx",
        "analytics_call_id_created_at_idx",
      ]),
    );
    expect(opened.sqlite.pragma("foreign_keys", { simple: true })).toBe(1);
  });

  it("loses nothing when run again on a populated database", async () => {
    await populatedDatabase();
    opened = openDatabase(dbPath);
    migrateDatabase(opened.sqlite, MIGRATIONS);
    opened.sqlite.close();
    expect(counts(dbPath)).toEqual(EXPECTED);
  });

  it("indexes for search the transcripts that existed before the full-text migration", async () => {
    opened = openDatabase(dbPath);
    migrateDatabase(opened.sqlite, copyMigrations("first-only", 1));
    await populate(opened);
    migrateDatabase(opened.sqlite, MIGRATIONS);
    opened.sqlite.close();
    expect(counts(dbPath)).toEqual(EXPECTED);
  });

  it("hands a trigger-indexed database over to batch indexing with its index intact", async () => {
    opened = openDatabase(dbPath);
    migrateDatabase(opened.sqlite, copyMigrations("before-deferred", 2));
    await populate(opened);
    migrateDatabase(opened.sqlite, MIGRATIONS);
    const { indexed } = opened.sqlite
      .prepare("SELECT indexed_through AS indexed FROM transcripts_fts_progress")
      .get() as { indexed: number };
    expect(indexed).toBe(6);
    const repository = new DrizzleCallRepository(opened.db, opened.sqlite);
    await repository.createTranscript(aTranscript("c1-t3", "c1", "one more refund"));
    expect(await repository.deleteCall("c2")).toMatchObject({ deleted: true });
    const hits = await repository.searchTranscripts({ q: "refund", limit: 20, offset: 0 });
    expect(hits.map((h) => h.transcriptId).sort()).toEqual(["c1-t1", "c1-t3", "c3-t1"]);
    opened.sqlite
      .prepare("INSERT INTO transcripts_fts(transcripts_fts, rank) VALUES ('integrity-check', 1)")
      .run();
  });

  it("moves a populated index over to heard text, keeping every row searchable", async () => {
    opened = openDatabase(dbPath);
    migrateDatabase(opened.sqlite, copyMigrations("before-heard-text", 3));
    const before = await populate(opened);
    // Indexed as 0002's catch-up did (today's reads a column this schema has not got yet).
    opened.sqlite.exec(`
      INSERT INTO transcripts_fts(rowid, text)
        SELECT seq, text FROM transcripts
        WHERE seq > (SELECT indexed_through FROM transcripts_fts_progress) ORDER BY seq;
      UPDATE transcripts_fts_progress SET indexed_through = (SELECT max(seq) FROM transcripts);`);
    // One transcript still waiting for the deferred index when the migration runs.
    insertOldTranscript(opened, aTranscript("c1-t3", "c1", "a refund still waiting"));
    const indexedThrough = () =>
      (
        opened!.sqlite
          .prepare("SELECT indexed_through AS n FROM transcripts_fts_progress")
          .get() as { n: number }
      ).n;
    expect(indexedThrough()).toBe(6);
    migrateDatabase(opened.sqlite, MIGRATIONS);
    expect(indexedThrough()).toBe(7);

    const repository = new DrizzleCallRepository(opened.db, opened.sqlite);
    const refunds = async () =>
      (await repository.searchTranscripts({ q: "refund", limit: 20, offset: 0 }))
        .map((hit) => hit.transcriptId)
        .sort();
    // Every row found once: the waiting one was indexed by the migration, not twice.
    expect(await refunds()).toEqual(["c1-t1", "c1-t3", "c2-t1", "c3-t1"]);
    expect(await repository.getTranscriptsByCallId("c2")).toMatchObject([
      { id: "c2-t1", text: "I want a refund", heardText: null, heardMs: null, generatedMs: null },
      { id: "c2-t2", heardText: null },
    ]);
    const check = () =>
      opened!.sqlite
        .prepare("INSERT INTO transcripts_fts(transcripts_fts, rank) VALUES ('integrity-check', 1)")
        .run();
    check();
    // An old row cut afterwards is found by its heard words only.
    await repository.markTranscriptInterrupted("c2-t1", {
      heardMs: 600,
      generatedMs: 1500,
      heardText: "I want a",
    });
    expect(await refunds()).toEqual(["c1-t1", "c1-t3", "c3-t1"]);
    check();
    before.flush();
    repository.flush();
    opened.sqlite.close();
    expect(counts(dbPath)).toEqual({ ...EXPECTED, transcripts: 7, searchHits: 3 });
  });

  it("records every word of a populated index for prefix search, numbers aside", async () => {
    opened = openDatabase(dbPath);
    migrateDatabase(opened.sqlite, copyMigrations("before-search-terms", 8));
    await populate(opened);
    insertOldTranscript(opened, aTranscript("c1-t3", "c1", "Refunded: order 12345, e-mails"));
    // Indexed as the catch-up did before 0008 (today's records the words too, in tables this
    // schema has not got yet).
    opened.sqlite.exec(`
      INSERT INTO transcripts_fts(rowid, text)
        SELECT seq, coalesce(heard_text, text) FROM transcripts
        WHERE seq > (SELECT indexed_through FROM transcripts_fts_progress) ORDER BY seq;
      UPDATE transcripts_fts_progress SET indexed_through = (SELECT max(seq) FROM transcripts);`);
    // Waiting for the index when the migration runs.
    insertOldTranscript(opened, aTranscript("c2-t3", "c2", "refunding takes a week"));
    migrateDatabase(opened.sqlite, MIGRATIONS);
    const terms = () =>
      opened!.sqlite.prepare("SELECT term FROM search_terms ORDER BY term").pluck().all();
    const indexed = "a e i mails order refund refunded sure want".split(" ");
    expect(terms()).toEqual(indexed);

    const repository = new DrizzleCallRepository(opened.db, opened.sqlite);
    const refunds = async (q: string) =>
      (await repository.searchTranscripts({ q, limit: 20, sort: "recent" })).map(
        (hit) => hit.transcriptId,
      );
    expect(await refunds("refun")).toEqual(["c2-t3", "c1-t3", "c3-t1", "c2-t1", "c1-t1"]);
    expect(terms()).toEqual([...indexed, "refunding", "takes", "week"].sort());
    expect(await refunds("e-mail")).toEqual(["c1-t3"]);
    expect(await refunds("12345")).toEqual(["c1-t3"]);
    const pending = opened.sqlite.prepare("SELECT count(*) FROM search_terms_pending_vocab");
    expect(pending.pluck().get()).toBe(0);
  });

  it("adds up the calls stored before the hourly rollup, and indexes their numbers", async () => {
    opened = openDatabase(dbPath);
    migrateDatabase(opened.sqlite, copyMigrations("before-rollup", 9));
    const insert = opened.sqlite.prepare(
      `INSERT INTO calls (id, stream_sid, caller, status, started_at, duration_seconds, cost_usd,
         avg_response_latency_ms, p95_response_latency_ms, outcome, created_at, updated_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0)`,
    );
    const hour = (h: number) => Date.parse("2026-02-01T00:00:00Z") + h * 3_600_000;
    insert.run("c1", "s1", "+15550001111", "completed", hour(1), 60.5, 0.25, 500, 900, "resolved");
    insert.run("c2", "s2", "+15550001111", "failed", hour(1) + 5, 30, null, null, null, null);
    insert.run("c3", "s3", "+442071234567", "completed", hour(30), 120, 0.5, 700, 1500, "spam");
    insert.run("c4", "s4", null, "active", hour(30) + 9, null, null, null, null, null);
    migrateDatabase(opened.sqlite, MIGRATIONS);

    const repository = new DrizzleCallRepository(opened.db, opened.sqlite);
    expect(await repository.getCallTotals({})).toEqual({
      calls: 4,
      active: 1,
      failed: 1,
      minutes: 3.508,
      avgResponseLatencyMs: 600,
      p95ResponseLatencyMs: 1500,
      costUsd: 0.75,
      days: [
        { date: "2026-02-01", calls: 2, minutes: 1.508, failed: 1, costUsd: 0.25 },
        { date: "2026-02-02", calls: 2, minutes: 2, failed: 0, costUsd: 0.5 },
      ],
    });
    expect((await repository.getCallTotals({ outcome: "spam" })).calls).toBe(1);
    const rollupRows = opened.sqlite.prepare("SELECT count(*) FROM call_rollup").pluck().get();
    // Per hour: all calls, each status there, and the outcome.
    expect(rollupRows).toBe(8);
    const digits = async (callerDigits: string) =>
      (await repository.getAllCalls({ limit: 10, callerDigits })).data.map((c) => c.id);
    expect(await digits("0001111")).toEqual(["c2", "c1"]);
    expect(await digits("2071")).toEqual(["c3"]);
  });

  it("keeps every child row through a migration that rebuilds the calls table", async () => {
    await populatedDatabase();
    const folder = copyMigrations("with-rebuild");
    addCallsRebuildMigration(folder);
    opened = openDatabase(dbPath);
    migrateDatabase(opened.sqlite, folder);
    expect(opened.sqlite.pragma("foreign_keys", { simple: true })).toBe(1);
    expect(opened.sqlite.pragma("foreign_key_check")).toEqual([]);
    // The rebuilt table still enforces what the indexes and foreign keys promise.
    const repository = new DrizzleCallRepository(opened.db, opened.sqlite);
    await expect(repository.createCall(aCall("c4", { streamSid: "MZc1" }))).rejects.toMatchObject({
      code: "conflict",
    });
    expect(await repository.deleteCall("c1")).toMatchObject({ deleted: true });
    opened.sqlite.close();
    expect(appliedMigrations(dbPath)).toBe(readJournal(folder).entries.length);
    expect(counts(dbPath)).toEqual({
      calls: 2,
      recordings: 4,
      transcripts: 4,
      analytics: 2,
      call_metadata: 2,
      searchHits: 2,
    });
  });

  it("documents the trap: drizzle's migrate() with foreign keys on deletes every child row", async () => {
    await populatedDatabase();
    const folder = copyMigrations("with-rebuild");
    addCallsRebuildMigration(folder);
    const sqlite = new Database(dbPath);
    // better-sqlite3 opens connections with foreign keys on; the PRAGMA in the migration is
    // ignored inside the migrator's transaction, so DROP TABLE calls cascades.
    expect(sqlite.pragma("foreign_keys", { simple: true })).toBe(1);
    migrate(drizzle(sqlite), { migrationsFolder: folder });
    sqlite.close();
    expect(counts(dbPath)).toEqual({
      calls: 3,
      recordings: 0,
      transcripts: 0,
      analytics: 0,
      call_metadata: 0,
      searchHits: 0,
    });
  });

  it("refuses, naming the tables, when a migration leaves rows without their call", async () => {
    await populatedDatabase();
    const folder = copyMigrations("with-orphans");
    const journal = readJournal(folder);
    const last = journal.entries.at(-1)!;
    journal.entries.push({ ...last, idx: last.idx + 1, when: last.when + 1000, tag: "0002_bad" });
    writeFileSync(join(folder, "meta", "_journal.json"), JSON.stringify(journal));
    writeFileSync(join(folder, "0002_bad.sql"), "DELETE FROM `calls` WHERE `id` = 'c1';");
    opened = openDatabase(dbPath);
    expect(() => migrateDatabase(opened!.sqlite, folder)).toThrow(
      /missing.*(recordings|transcripts|analytics|call_metadata) → calls/,
    );
    expect(opened.sqlite.pragma("foreign_keys", { simple: true })).toBe(1);
  });

  it("refuses to run inside a transaction, where it could not turn foreign keys off", () => {
    opened = openDatabase(dbPath);
    opened.sqlite.exec("BEGIN");
    expect(() => migrateDatabase(opened!.sqlite, MIGRATIONS)).toThrow(/transaction/);
    opened.sqlite.exec("ROLLBACK");
  });

  it("names the folder when it holds no migrations", () => {
    opened = openDatabase(dbPath);
    expect(() => migrateDatabase(opened!.sqlite, join(dir, "nowhere"))).toThrow(/nowhere/);
  });
});

describe("drizzle-kit migrate", () => {
  it("applies the committed migrations to a populated database without losing rows", async () => {
    opened = openDatabase(dbPath);
    migrateDatabase(opened.sqlite, copyMigrations("first-only", 1));
    await populate(opened);
    opened.sqlite.close();
    // The repository's own drizzle.config.ts, pointed at the temp database by DATABASE_URL.
    const run = drizzleKitMigrate({ DATABASE_URL: `file:${dbPath}` });
    expect(run.status, run.output).toBe(0);
    expect(appliedMigrations(dbPath)).toBe(readJournal(MIGRATIONS).entries.length);
    expect(counts(dbPath)).toEqual(EXPECTED);
  });

  it("deletes child rows on a table rebuild, which is why deployments use npm run db:migrate", async () => {
    await populatedDatabase();
    const folder = copyMigrations("with-rebuild");
    addCallsRebuildMigration(folder);
    const run = drizzleKitMigrate({}, ["--config", drizzleKitConfig(folder)]);
    expect(run.status, run.output).toBe(0);
    expect(appliedMigrations(dbPath)).toBe(readJournal(folder).entries.length);
    expect(counts(dbPath)).toEqual({
      calls: 3,
      recordings: 0,
      transcripts: 0,
      analytics: 0,
      call_metadata: 0,
      searchHits: 0,
    });
  });
});
