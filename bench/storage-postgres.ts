import { performance } from "node:perf_hooks";
import pg from "pg";
import { connectPostgres } from "../src/adapters/postgres/connection.ts";
import {
  defaultPostgresMigrationsFolder,
  migratePostgres,
} from "../src/adapters/postgres/migrate.ts";
import { PostgresCallRepository } from "../src/adapters/postgres/postgres-call-repository.ts";
import { PostgresTranscriptSearch } from "../src/adapters/postgres/transcript-search.ts";
import type {
  CallListQuery,
  TranscriptSearchPosition,
  TranscriptSearchQuery,
  TranscriptSearchSort,
} from "../src/application/ports/index.ts";
import { loadAverage } from "./lib/machine.ts";
import { onPostgres } from "./lib/postgres-admin.ts";
import { prng } from "./lib/prng.ts";
import { BASE, sentence } from "./storage.ts";

/**
 * Full-text search at 1,000,000 transcripts on PostgreSQL: the corpus, queries and table of
 * `bench/storage.ts --search` (the same seed, so the same rows in the same order), searched
 * through PostgresTranscriptSearch as the repository calls it.
 *
 *   TEST_POSTGRES_URL=postgres://… npx tsx bench/storage-postgres.ts [--quick] [--rebuild]
 *     [--runs N] [--calls]
 *
 * The corpus goes into a database of its own (callbridge_search_bench, _50000 with --quick),
 * built with the committed migrations on the first run and kept: loading and indexing
 * 1,000,000 rows takes minutes. --rebuild builds it again (after a migration).
 *
 * --calls times pages of the calls list instead (GET /api/calls: PostgresCallRepository's
 * getAllCalls) at 1,000,000 calls, the calls of `bench/storage.ts` (same ids, times, statuses
 * and callers), in callbridge_calls_bench (kept as well).
 */

const SEARCH_PAGE = 20;
const LOAD_BATCH = 20_000;

interface Percentiles {
  p50: number;
  p99: number;
}

async function percentiles(runs: number, work: () => Promise<unknown>): Promise<Percentiles> {
  for (let i = 0; i < Math.min(10, runs); i++) await work();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await work();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  const at = (q: number) => samples[Math.max(0, Math.ceil(q * samples.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99) };
}

const pct = (p: Percentiles) => `${p.p50.toFixed(1)} ms | ${p.p99.toFixed(1)} ms`;
const count = (n: number) => n.toLocaleString("en-US");

/** The corpus of bench/storage.ts's search bench: `total` transcripts, ten a call. */
async function loadCorpus(url: string, total: number): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  try {
    const random = prng(7);
    const calls = Math.ceil(total / 10);
    for (let from = 0; from < calls; from += LOAD_BATCH) {
      const to = Math.min(calls, from + LOAD_BATCH);
      const ids = Array.from({ length: to - from }, (_, k) => from + k);
      await client.query(
        `INSERT INTO calls (id, stream_sid, status, started_at, created_at, updated_at)
         SELECT 'call-' || i, 'MZs' || i, 'completed', t, t, t
         FROM unnest($1::int[]) AS i, LATERAL (SELECT to_timestamp(($2::bigint + i::bigint * 60000) / 1000.0) AS t) AS x`,
        [ids, BASE],
      );
    }
    // seq is an identity column: inserted in order, row i gets seq i + 1 as in SQLite.
    for (let from = 0; from < total; from += LOAD_BATCH) {
      const to = Math.min(total, from + LOAD_BATCH);
      const ids = Array.from({ length: to - from }, (_, k) => from + k);
      const texts = ids.map(() => sentence(random));
      await client.query(
        `INSERT INTO transcripts (id, call_id, speaker, text, confidence, offset_ms, created_at)
         SELECT 's-' || i, 'call-' || (i / 10), CASE WHEN i % 2 = 0 THEN 'caller' ELSE 'assistant' END,
                text, 0.9, (i % 10) * 5000, to_timestamp(($3::bigint + i) / 1000.0)
         FROM unnest($1::int[], $2::text[]) WITH ORDINALITY AS r(i, text, n) ORDER BY n`,
        [ids, texts, BASE],
      );
    }
    await client.query("VACUUM ANALYZE");
  } finally {
    await client.end();
  }
  return `${count(total)} transcripts loaded, indexed and analysed in ${((performance.now() - started) / 1000).toFixed(0)} s`;
}

/** The search bench's database: the corpus of `total` transcripts, kept between runs. */
function benchDatabase(serverUrl: string, total: number, rebuild: boolean) {
  const name = `callbridge_search_bench${total === 1_000_000 ? "" : `_${total}`}`;
  return keptOrBuilt(serverUrl, name, "transcripts", total, rebuild, loadCorpus);
}

export async function runPostgresSearchBench(options: {
  serverUrl: string;
  quick?: boolean;
  rebuild?: boolean;
  runs?: number;
}): Promise<string> {
  const quick = options.quick ?? false;
  const total = quick ? 50_000 : 1_000_000;
  const runs = options.runs ?? (quick ? 20 : 200);
  const { url, loaded } = await benchDatabase(options.serverUrl, total, options.rebuild ?? false);
  const connection = connectPostgres(url, 2);
  try {
    const searcher = new PostgresTranscriptSearch(connection.db);
    const search = (query: Omit<TranscriptSearchQuery, "limit">) =>
      searcher.search({ ...query, limit: SEARCH_PAGE + 1 });
    const rankedBy = async (q: string) => {
      let after: TranscriptSearchPosition | undefined;
      let ranked = 0;
      for (;;) {
        const hits = await searcher.search({ q, limit: 100, after });
        ranked += hits.length;
        if (hits.length < 100) return ranked;
        after = hits.at(-1)?.next;
      }
    };
    const queries: Array<[label: string, q: string]> = [
      ["common word `order`", "order"],
      ["rare word `warranty`", "warranty"],
      ["two words `refund invoice`", "refund invoice"],
      ["three words, two common: `cancel my order`", "cancel my order"],
      ["one of the 5,000 other words `w1234`", "w1234"],
      ["two common and one other: `the order w1234`", "the order w1234"],
      [
        "three rare words seldom together: `warranty upgrade delivery`",
        "warranty upgrade delivery",
      ],
      ["word in no transcript `zzzznothing`", "zzzznothing"],
    ];
    const loadBefore = loadAverage();
    const rows: string[] = [];
    for (const [label, q] of queries) {
      const first = await search({ q, sort: "relevance" });
      const anchor = first[0]?.next?.sort === "relevance" ? first[0].next.anchor : total + 1;
      const ranked = await rankedBy(q);
      const deep: Record<TranscriptSearchSort, TranscriptSearchPosition> = {
        relevance: { sort: "relevance", anchor, offset: Math.max(1, ranked - SEARCH_PAGE) },
        recent: { sort: "recent", before: Math.floor(total / 2) },
      };
      for (const sort of ["relevance", "recent"] as const) {
        const firstPage = await percentiles(runs, () => search({ q, sort }));
        const deepPage = await percentiles(runs, () => search({ q, sort, after: deep[sort] }));
        const bySpeaker = await percentiles(runs, () => search({ q, sort, speaker: "assistant" }));
        const scope = sort === "relevance" ? `ranks ${count(ranked)}` : "every match";
        rows.push(
          `| ${label} | ${sort} (${scope}) | first | ${pct(firstPage)} |`,
          `| ${label} | ${sort} | deep (${describeDeep(deep[sort])}) | ${pct(deepPage)} |`,
          `| ${label} | ${sort} | first, speaker=assistant | ${pct(bySpeaker)} |`,
        );
      }
    }
    return [
      `### Search at ${count(total)} transcripts on PostgreSQL${quick ? " (quick)" : ""}`,
      "",
      `The corpus of \`bench/storage.ts --search\` (same seed): ${loaded}. Each search goes ` +
        `through PostgresTranscriptSearch (a page of ${SEARCH_PAGE} and one more), ${runs} ` +
        `timed runs after 10 untimed, wall time including the round trips (load average ` +
        `before: ${loadBefore}; after: ${loadAverage()}).`,
      "",
      "| query | sort | page | p50 | p99 |",
      "|---|---|---|---:|---:|",
      ...rows,
      "",
    ].join("\n");
  } finally {
    await connection.end();
  }
}

function describeDeep(position: TranscriptSearchPosition): string {
  return position.sort === "relevance"
    ? `offset ${count(position.offset)}`
    : `below seq ${count(position.before)}`;
}

/** An empty database `name` on the server of `serverUrl`, migrated; its URL. */
async function freshDatabase(serverUrl: string, name: string): Promise<string> {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  await onPostgres(serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await onPostgres(serverUrl, `CREATE DATABASE ${name}`);
  await migratePostgres(url.toString(), defaultPostgresMigrationsFolder());
  return url.toString();
}

/**
 * The calls of bench/storage.ts's page bench, generated in the server: ten calls share each
 * start second (pages cross ties on id), one in 50 active, one in 7 of the others failed,
 * 5,000 callers.
 */
async function loadCalls(url: string, total: number): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  const started = performance.now();
  try {
    await client.query(
      `INSERT INTO calls (id, stream_sid, call_sid, caller, status, started_at, ended_at,
         duration_seconds, created_at, updated_at)
       SELECT 'call-' || lpad(i::text, 8, '0'), 'MZ' || i, 'CA' || i,
              '+1555' || lpad((i % 5000)::text, 7, '0'),
              CASE WHEN i % 50 = 0 THEN 'active' WHEN i % 7 = 0 THEN 'failed' ELSE 'completed' END,
              t, t + interval '60 seconds', 60, t, t
       FROM generate_series(0, $1::int - 1) AS i,
            LATERAL (SELECT to_timestamp(($2::bigint + (i / 10)::bigint * 1000) / 1000.0) AS t) AS x`,
      [total, BASE],
    );
    await client.query("VACUUM ANALYZE calls");
  } finally {
    await client.end();
  }
  return `${count(total)} calls loaded and analysed in ${((performance.now() - started) / 1000).toFixed(0)} s`;
}

/** The page bench's database: `total` calls, kept between runs. */
function callsDatabase(serverUrl: string, total: number, rebuild: boolean) {
  const name = `callbridge_calls_bench${total === 1_000_000 ? "" : `_${total}`}`;
  return keptOrBuilt(serverUrl, name, "calls", total, rebuild, loadCalls);
}

/**
 * The URL of database `name`, kept from an earlier run when its `table` holds `total` rows
 * (loading and indexing 1,000,000 rows takes minutes), else made again, migrated and loaded.
 */
async function keptOrBuilt(
  serverUrl: string,
  name: string,
  table: string,
  total: number,
  rebuild: boolean,
  load: (url: string, total: number) => Promise<string>,
): Promise<{ url: string; loaded: string }> {
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  if (!rebuild) {
    const client = new pg.Client({ connectionString: url.toString() });
    try {
      await client.connect();
      const result = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
      if (Number(result.rows[0]?.n ?? 0) === total) {
        return { url: url.toString(), loaded: "kept from an earlier run" };
      }
    } catch {
      // Not there yet: built below.
    } finally {
      await client.end().catch(() => undefined);
    }
  }
  const fresh = await freshDatabase(serverUrl, name);
  return { url: fresh, loaded: await load(fresh, total) };
}

export async function runPostgresCallsBench(options: {
  serverUrl: string;
  quick?: boolean;
  rebuild?: boolean;
  runs?: number;
}): Promise<string> {
  const quick = options.quick ?? false;
  const total = quick ? 20_000 : 1_000_000;
  const runs = options.runs ?? (quick ? 200 : 1000);
  const { url, loaded } = await callsDatabase(options.serverUrl, total, options.rebuild ?? false);
  const repository = await PostgresCallRepository.open({
    url,
    migrationsPath: defaultPostgresMigrationsFolder(),
  });
  try {
    const middle = Math.floor(total / 2);
    const deep = {
      startedAt: new Date(BASE + Math.floor(middle / 10) * 1000),
      id: `call-${middle.toString().padStart(8, "0")}`,
    };
    const pages: Array<[string, Omit<CallListQuery, "limit">]> = [
      ["first page", {}],
      ["page at the middle (keyset)", { after: deep }],
      ["status=failed, first page", { status: "failed" }],
      ["status=failed, page at the middle", { status: "failed", after: deep }],
      ["status=active (2%), page at the middle", { status: "active", after: deep }],
      [`caller filter (${count(total / 5000)} calls), first page`, { caller: "+15550000042" }],
      [
        "since/until the hour before the middle, first page",
        { since: new Date(deep.startedAt.getTime() - 3_600_000), until: deep.startedAt },
      ],
    ];
    const loadBefore = loadAverage();
    const rows: string[] = [];
    for (const [label, query] of pages) {
      const page = await repository.getAllCalls({ ...query, limit: 50 });
      if (page.data.length === 0) throw new Error(`${label}: no call`);
      const timing = await percentiles(runs, () => repository.getAllCalls({ ...query, limit: 50 }));
      rows.push(`| ${label} | ${pct(timing)} |`);
    }
    return [
      `### Calls pages at ${count(total)} calls on PostgreSQL${quick ? " (quick)" : ""}`,
      "",
      `The calls of \`bench/storage.ts\`: ${loaded}. Each page goes through ` +
        `PostgresCallRepository.getAllCalls (50 calls and one more), ${runs} timed runs after ` +
        `10 untimed, wall time including the round trip (load average before: ${loadBefore}; ` +
        `after: ${loadAverage()}).`,
      "",
      "| page of 50 | p50 | p99 |",
      "|---|---:|---:|",
      ...rows,
      "",
    ].join("\n");
  } finally {
    await repository.close();
  }
}

if (process.argv[1]?.endsWith("storage-postgres.ts")) {
  const serverUrl = process.env.TEST_POSTGRES_URL ?? process.env.DATABASE_URL ?? "";
  if (serverUrl === "") {
    console.error("set TEST_POSTGRES_URL to a PostgreSQL server (a role that may CREATE DATABASE)");
    process.exit(2);
  }
  const option = (name: string) => {
    const at = process.argv.indexOf(name);
    return at < 0 ? undefined : process.argv[at + 1];
  };
  const loadOnly = process.argv.includes("--load-only");
  const quick = process.argv.includes("--quick");
  const rebuild = process.argv.includes("--rebuild");
  const runs = option("--runs") === undefined ? undefined : Number(option("--runs"));
  const run = process.argv.includes("--calls")
    ? runPostgresCallsBench({ serverUrl, quick, rebuild, runs })
    : loadOnly
      ? benchDatabase(serverUrl, quick ? 50_000 : 1_000_000, rebuild).then((d) => d.loaded)
      : runPostgresSearchBench({ serverUrl, quick, rebuild, runs });
  run.then((markdown) => process.stdout.write(`${markdown}\n`));
}
