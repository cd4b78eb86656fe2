/**
 * The call list's filters and totals at scale (issue 20): `npx tsx bench/call-list.ts`
 * (`--calls 200000` for a shorter run, `--runs N` timed runs per query, default 300, `--db PATH`
 * to keep the database, and to measure a kept one again without loading it; `--postgres` for
 * the same calls on PostgreSQL).
 *
 * One SQLite file with 1,000,000 ended calls over 90 days, their facts drawn as a working
 * assistant's would be (most callers hang up; a few drops, limits and model failures; mostly
 * neutral or positive; four outcomes); then each query the list page and the API make, through
 * the repository the server uses (in-thread here: the API's reader threads run the same SQL).
 * Prints p50, p95 and p99 per query.
 */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import pg from "pg";
import {
  defaultPostgresMigrationsFolder,
  migratePostgres,
} from "../src/adapters/postgres/migrate.ts";
import { PostgresCallRepository } from "../src/adapters/postgres/postgres-call-repository.ts";
import { openDatabase } from "../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../src/adapters/sqlite/drizzle-call-repository.ts";
import { defaultMigrationsFolder, migrateDatabase } from "../src/adapters/sqlite/migrate.ts";
import type { CallFilter, CallListQuery, CallRepository } from "../src/application/ports/index.ts";
import { describeMachine } from "./lib/machine.ts";
import { onPostgres } from "./lib/postgres-admin.ts";
import { prng } from "./lib/prng.ts";

const argValue = (name: string, fallback: number) => {
  const index = process.argv.indexOf(name);
  return index >= 0 ? Number(process.argv[index + 1]) : fallback;
};

const CALLS = argValue("--calls", 1_000_000);
const RUNS = argValue("--runs", 300);
const DAYS = 90;
const BASE = Date.UTC(2026, 8, 1);
const DAY_MS = 86_400_000;

const pick = <T>(random: () => number, weighted: [T, number][]): T => {
  let r = random();
  for (const [value, weight] of weighted) {
    r -= weight;
    if (r < 0) return value;
  }
  return weighted[weighted.length - 1]![0];
};

interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  rows: number;
}

async function measure(work: () => Promise<number>): Promise<Percentiles> {
  let rows = 0;
  for (let i = 0; i < 10; i++) rows = await work();
  const samples: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const start = performance.now();
    await work();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const at = (p: number) =>
    samples[Math.min(samples.length - 1, Math.ceil(p * samples.length) - 1)]!;
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99), rows };
}

function machine(): string {
  const m = describeMachine();
  return `${m.cpu}, ${m.cores} cores, ${m.ramGiB.toFixed(1)} GiB, Linux ${m.kernel}, Node ${m.node}`;
}

/** The columns of a generated call, in CALL_COLUMNS order (times as epoch ms). */
type CallRow = (string | number)[];

const CALL_COLUMNS = `id, stream_sid, call_sid, caller, called, status, started_at, ended_at,
  duration_seconds, created_at, updated_at, end_reason, turns, cost_usd, sentiment,
  network_quality, avg_response_latency_ms, p95_response_latency_ms, topic,
  analysis_status, summary, outcome`;
/** The positions of CALL_COLUMNS that are times. */
const TIME_COLUMNS = new Set([6, 7, 9, 10]);

/** Call `i` of CALLS, its facts drawn from `random` (the same calls on both backends). */
function callRow(random: () => number, i: number): CallRow {
  const startedAt = BASE + Math.floor((i / CALLS) * DAYS * DAY_MS);
  const seconds = Math.round(5 + random() * random() * 600);
  const endReason = pick(random, [
    ["caller_hung_up", 0.85],
    ["stream_closed", 0.05],
    ["network_drop", 0.05],
    ["max_duration", 0.03],
    ["model_failure", 0.02],
  ]);
  const failed = endReason === "network_drop";
  const avg = Math.round(300 + random() * 900);
  return [
    `call-${i.toString().padStart(8, "0")}`,
    `MZ${i}`,
    `CA${i}`,
    // 200,000 callers, from a few countries.
    `+${pick(random, [
      ["1555", 0.7],
      ["4420", 0.2],
      ["3361", 0.1],
    ])}${Math.floor(random() * 200_000)
      .toString()
      .padStart(7, "0")}`,
    `+1800555000${Math.floor(random() * 5)}`,
    failed ? "failed" : "completed",
    startedAt,
    startedAt + seconds * 1000,
    seconds,
    startedAt,
    startedAt + seconds * 1000,
    endReason,
    Math.floor(random() * 20),
    Math.round(seconds * 0.004 * 1e6) / 1e6,
    pick(random, [
      ["neutral", 0.55],
      ["positive", 0.3],
      ["negative", 0.15],
    ]),
    pick(random, [
      ["good", 0.9],
      ["fair", 0.08],
      ["poor", 0.02],
    ]),
    avg,
    avg + Math.round(random() * 800),
    "I would like to check the status of my order",
    "done",
    "Caller asked about an order; the assistant gave its status.",
    pick(random, [
      ["resolved", 0.5],
      ["unresolved", 0.3],
      ["needs_follow_up", 0.15],
      ["spam", 0.05],
    ]),
  ];
}

/** The repository measured, on a database holding CALLS generated calls. */
interface Target {
  repository: CallRepository;
  /** Which database, and how it came to hold the calls, for the report. */
  describe: string;
  close(): Promise<void>;
}

/** SQLite: a temporary file, or `--db PATH`, kept and measured again without loading. */
async function sqliteTarget(): Promise<Target> {
  const dbArg = process.argv.indexOf("--db");
  const kept = dbArg >= 0 ? process.argv[dbArg + 1] : undefined;
  const dir = kept === undefined ? mkdtempSync(join(tmpdir(), "callbridge-list-bench-")) : "";
  const path = kept ?? join(dir, "calls.db");
  const reuse = kept !== undefined && existsSync(kept);
  const { sqlite, db } = openDatabase(path);
  migrateDatabase(sqlite, defaultMigrationsFolder());
  const random = prng(20);
  const insert = sqlite.prepare(
    `INSERT INTO calls (${CALL_COLUMNS}) VALUES (${CALL_COLUMNS.split(",")
      .map(() => "?")
      .join(", ")})`,
  );
  const load = sqlite.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) insert.run(...callRow(random, i));
  });
  const loadStart = performance.now();
  if (!reuse) {
    for (let i = 0; i < CALLS; i += 50_000) load(i, Math.min(CALLS, i + 50_000));
    sqlite.exec("ANALYZE");
  }
  const loadMs = performance.now() - loadStart;
  return {
    repository: new DrizzleCallRepository(db, sqlite),
    describe: `SQLite, one file, ${path}, ${reuse ? "loaded by an earlier run (--db)" : `loaded in ${(loadMs / 1000).toFixed(1)} s`}`,
    close: async () => {
      sqlite.close();
      if (kept === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * PostgreSQL (`--postgres`, on BENCH_POSTGRES_URL or TEST_POSTGRES_URL): database
 * callbridge_list_bench, kept between runs while it holds CALLS calls (`--rebuild` loads again).
 * The same calls as on SQLite, inserted 2,000 to a statement, as a batch of the server's would
 * be (the rollup's statement-level triggers run once per statement).
 */
async function postgresTarget(): Promise<Target> {
  const serverUrl = process.env.BENCH_POSTGRES_URL ?? process.env.TEST_POSTGRES_URL;
  if (!serverUrl) throw new Error("--postgres needs BENCH_POSTGRES_URL or TEST_POSTGRES_URL");
  const url = new URL(serverUrl);
  url.pathname = "/callbridge_list_bench";
  let describe = "kept from an earlier run";
  const held = async () => {
    const client = new pg.Client({ connectionString: url.toString() });
    try {
      await client.connect();
      const result = await client.query<{ n: string }>("SELECT count(*) AS n FROM calls");
      return Number(result.rows[0]?.n ?? 0);
    } catch {
      return 0;
    } finally {
      await client.end().catch(() => undefined);
    }
  };
  if (process.argv.includes("--rebuild") || (await held()) !== CALLS) {
    await onPostgres(serverUrl, "DROP DATABASE IF EXISTS callbridge_list_bench WITH (FORCE)");
    await onPostgres(serverUrl, "CREATE DATABASE callbridge_list_bench");
    await migratePostgres(url.toString(), defaultPostgresMigrationsFolder());
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    const started = performance.now();
    try {
      const random = prng(20);
      const width = CALL_COLUMNS.split(",").length;
      for (let from = 0; from < CALLS; from += 2000) {
        const params: unknown[] = [];
        const tuples: string[] = [];
        for (let i = from; i < Math.min(CALLS, from + 2000); i++) {
          const row = callRow(random, i);
          tuples.push(`(${row.map((_, k) => `$${params.length + k + 1}`).join(", ")})`);
          params.push(...row.map((v, k) => (TIME_COLUMNS.has(k) ? new Date(Number(v)) : v)));
        }
        if (params.length !== tuples.length * width) throw new Error("a row of the wrong width");
        await client.query(
          `INSERT INTO calls (${CALL_COLUMNS}) VALUES ${tuples.join(", ")}`,
          params,
        );
      }
      await client.query("VACUUM ANALYZE calls");
      await client.query("VACUUM ANALYZE call_rollup");
      await client.query("VACUUM ANALYZE callers");
    } finally {
      await client.end();
    }
    describe = `loaded and analysed in ${((performance.now() - started) / 1000).toFixed(1)} s`;
  }
  const repository = await PostgresCallRepository.open({
    url: url.toString(),
    migrationsPath: defaultPostgresMigrationsFolder(),
  });
  return {
    repository,
    describe: `PostgreSQL ${await serverVersion(url.toString())}, database callbridge_list_bench, ${describe}`,
    close: () => repository.close(),
  };
}

async function serverVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const result = await client.query<{ server_version: string }>("SHOW server_version");
    return result.rows[0]?.server_version.split(" ")[0] ?? "?";
  } finally {
    await client.end();
  }
}

async function main(): Promise<void> {
  const onPg = process.argv.includes("--postgres");
  const target = onPg ? await postgresTarget() : await sqliteTarget();
  const repository = target.repository;
  try {
    const lastDay = new Date(BASE + (DAYS - 1) * DAY_MS);
    const lastWeek = new Date(BASE + (DAYS - 7) * DAY_MS);
    const page = (filter: Omit<CallListQuery, "limit">) => async () =>
      (await repository.getAllCalls({ limit: 50, ...filter })).data.length;
    const list: [string, () => Promise<number>][] = [
      ["no filter (first page)", page({})],
      ["callerContains=5550042 (part of a number)", page({ callerDigits: "5550042" })],
      ["callerContains=4420 (a country)", page({ callerDigits: "4420" })],
      ["callerContains=99999999 (no call: whole scan)", page({ callerDigits: "99999999" })],
      ["called=+18005550003", page({ called: "+18005550003" })],
      ["status=failed", page({ status: "failed" })],
      ["endReason=model_failure (2%)", page({ endReason: "model_failure" })],
      ["sentiment=negative", page({ sentiment: "negative" })],
      ["outcome=spam (5%)", page({ outcome: "spam" })],
      ["minDuration=300", page({ minDurationSeconds: 300 })],
      ["minDuration=580 (rare)", page({ minDurationSeconds: 580 })],
      ["maxDuration=10", page({ maxDurationSeconds: 10 })],
      ["since/until: the last day", page({ since: lastDay })],
      [
        "endReason=network_drop & sentiment=negative & minDuration=60",
        page({ endReason: "network_drop", sentiment: "negative", minDurationSeconds: 60 }),
      ],
      ["outcome=spam & the last week", page({ outcome: "spam", since: lastWeek })],
      ["callerContains=555 (3 digits, most numbers)", page({ callerDigits: "555" })],
      ["sort=durationSeconds desc", page({ sort: { field: "durationSeconds", order: "desc" } })],
      [
        "sort=costUsd asc & outcome=spam",
        page({ sort: { field: "costUsd", order: "asc" }, outcome: "spam" }),
      ],
      [
        "sort=p95ResponseLatencyMs desc & the last week",
        page({ sort: { field: "p95ResponseLatencyMs", order: "desc" }, since: lastWeek }),
      ],
    ];
    const totals = (filter: CallFilter) => async () =>
      (await repository.getCallTotals(filter)).calls;
    const totalQueries: [string, () => Promise<number>][] = [
      ["totals: the last day", totals({ since: lastDay })],
      ["totals: the last 7 days", totals({ since: lastWeek })],
      ["totals: the last 7 days, outcome=spam", totals({ since: lastWeek, outcome: "spam" })],
      ["totals: all 90 days", totals({})],
      [
        "totals: the last 7 days from a viewer's midnight (UTC-5)",
        totals({ since: new Date(lastWeek.getTime() + 5 * 3_600_000) }),
      ],
      [
        "totals: 7 days between part-hours (since 00:17, until 23:43)",
        totals({
          since: new Date(lastWeek.getTime() + 17 * 60_000),
          until: new Date(lastDay.getTime() + DAY_MS - 17 * 60_000),
        }),
      ],
      ["totals: all 90 days, status=completed", totals({ status: "completed" })],
      ["totals: all 90 days, outcome=spam", totals({ outcome: "spam" })],
      [
        "totals: the last 7 days, sentiment=negative & outcome=spam (from calls)",
        totals({ since: lastWeek, sentiment: "negative", outcome: "spam" }),
      ],
      ["totals: callerContains=5550042 (from calls)", totals({ callerDigits: "5550042" })],
    ];
    const lines = [
      `## Call list and totals at ${CALLS.toLocaleString("en-US")} calls${onPg ? " on PostgreSQL" : ""} (issue 20)`,
      "",
      `Machine: ${machine()}. Command: \`npx tsx bench/call-list.ts${process.argv.slice(2).length > 0 ? ` ${process.argv.slice(2).join(" ")}` : ""}\`. ` +
        `${target.describe}; ${RUNS} timed runs per query after 10 untimed.`,
      "",
      "| query (page of 50, newest first unless sorted) | rows | p50 | p95 | p99 |",
      "|---|---:|---:|---:|---:|",
    ];
    const row = (name: string, p: Percentiles) =>
      `| ${name} | ${p.rows.toLocaleString("en-US")} | ${p.p50.toFixed(2)} ms | ${p.p95.toFixed(2)} ms | ${p.p99.toFixed(2)} ms |`;
    for (const [name, work] of list) {
      lines.push(row(name, await measure(work)));
      process.stderr.write(`${lines.at(-1)}\n`);
    }
    lines.push("", "| totals | calls | p50 | p95 | p99 |", "|---|---:|---:|---:|---:|");
    for (const [name, work] of totalQueries) {
      lines.push(row(name, await measure(work)));
      process.stderr.write(`${lines.at(-1)}\n`);
    }
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    await target.close();
  }
}

await main();
