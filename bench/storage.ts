import { mkdtempSync, rmSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import type Database from "better-sqlite3";
import { openDatabase } from "../src/adapters/sqlite/database.ts";
import { FTS_BATCH_ROWS } from "../src/adapters/sqlite/deferred-fts-index.ts";
import { DrizzleCallRepository } from "../src/adapters/sqlite/drizzle-call-repository.ts";
import { toFtsMatchExpression } from "../src/adapters/sqlite/fts-query.ts";
import { defaultMigrationsFolder, migrateDatabase } from "../src/adapters/sqlite/migrate.ts";
import { ThreadedCallRepository } from "../src/adapters/sqlite/threaded-call-repository.ts";
import { SEARCH_CANDIDATES } from "../src/adapters/sqlite/transcript-search.ts";
import { uuidIds } from "../src/adapters/system/uuid-ids.ts";
import type {
  CallRepository,
  TranscriptSearchPosition,
  TranscriptSearchQuery,
  TranscriptSearchSort,
} from "../src/application/ports/index.ts";
import type { Analytics } from "../src/domain/analytics.ts";
import { type Call, startCall } from "../src/domain/call.ts";
import type { Transcript } from "../src/domain/transcript.ts";
import { describeMachine, loadAverage } from "./lib/machine.ts";
import { prng } from "./lib/prng.ts";

export interface StorageBenchOptions {
  /** Smaller sizes (20,000 calls) for CI and smoke runs. */
  quick?: boolean;
  /** The command line shown in the report. */
  command?: string;
}

/** Live calls writing at once in the write-behind rows. */
const WRITERS = 200;
/** Timed runs of each write-behind row, each adding its rows to the same tables. */
const WRITER_RUNS = 5;
export const BASE = Date.UTC(2026, 0, 1);

const COMMON = ["the", "a", "to", "and", "I", "you", "my", "is", "it", "for", "order", "call"];
const RARE = ["refund", "invoice", "warranty", "cancel", "upgrade", "address", "delivery"];

/** One transcript of the storage corpus: 6 to 23 words, common, rare and others. */
export function sentence(random: () => number): string {
  const words: string[] = [];
  const length = 6 + Math.floor(random() * 18);
  for (let i = 0; i < length; i++) {
    const r = random();
    words.push(
      r < 0.6
        ? COMMON[Math.floor(random() * COMMON.length)]!
        : r < 0.62
          ? RARE[Math.floor(random() * RARE.length)]!
          : `w${Math.floor(random() * 5000)}`,
    );
  }
  return words.join(" ");
}

interface Timing {
  median: number;
  p95: number;
}

function time(runs: number, work: () => void): Timing {
  for (let i = 0; i < Math.min(20, runs); i++) work();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    work();
    samples.push(performance.now() - start);
  }
  samples.sort((a, b) => a - b);
  return {
    median: samples[Math.floor(samples.length / 2)]!,
    p95: samples[Math.floor(samples.length * 0.95)]!,
  };
}

/** Wall time of each of `runs` awaited calls of `work`, after `warmups` untimed ones; sorted. */
async function sampleAsync(
  runs: number,
  warmups: number,
  work: () => Promise<unknown>,
): Promise<number[]> {
  for (let i = 0; i < warmups; i++) await work();
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await work();
    samples.push(performance.now() - start);
  }
  return samples.sort((a, b) => a - b);
}

async function timeAsync(runs: number, work: () => Promise<unknown>): Promise<Timing> {
  const samples = await sampleAsync(runs, Math.min(20, runs), work);
  return {
    median: samples[Math.floor(samples.length / 2)]!,
    p95: samples[Math.floor(samples.length * 0.95)]!,
  };
}

const ms = (t: Timing) => `${t.median.toFixed(3)} ms | ${t.p95.toFixed(3)} ms`;
const rowsPerSecond = (rows: number, elapsedMs: number) => Math.round(rows / (elapsedMs / 1000));
const count = (n: number) => n.toLocaleString("en-US");
const rate = (rows: number, elapsedMs: number) => count(rowsPerSecond(rows, elapsedMs));
const median = (values: number[]) => [...values].sort((a, b) => a - b)[values.length >> 1]!;

const transcriptOf = (i: number, callId: string, text: string, id = `t-${i}`): Transcript => ({
  failed: false,
  id,
  callId,
  speaker: i % 2 === 0 ? "caller" : "assistant",
  text,
  confidence: 0.9,
  offsetMs: i * 1000,
  interrupted: false,
  heardText: null,
  heardMs: null,
  generatedMs: null,
  createdAt: new Date(BASE + i),
});

const analyticsOf = (i: number, callId: string, id = `a-${i}`): Analytics => ({
  id,
  callId,
  sentiment: "neutral",
  sentimentScore: 0.1,
  callerTalkMs: i,
  assistantTalkMs: i,
  silenceMs: i,
  interruptions: 0,
  avgResponseLatencyMs: 600,
  p95ResponseLatencyMs: 900,
  customMetrics: { turn: i },
  createdAt: new Date(BASE + i),
});

const INSERT_TRANSCRIPT = `INSERT INTO transcripts (id, call_id, speaker, text, confidence,
  offset_ms, interrupted, created_at) VALUES (?, ?, ?, ?, ?, ?, 0, ?)`;
const INSERT_ANALYTICS = `INSERT INTO analytics (id, call_id, sentiment, sentiment_score,
  caller_talk_ms, assistant_talk_ms, silence_ms, interruptions, avg_response_latency_ms,
  p95_response_latency_ms, custom_metrics, created_at)
  VALUES (?, ?, 'neutral', 0.1, ?, ?, ?, 0, 600, 900, ?, ?)`;

type RowKind = "transcript" | "analytics";

/**
 * Indexes for search every transcript not indexed yet, as DeferredFtsIndex does: raw rows do
 * the same work as the repository's, and a transcript row counts once it is searchable.
 */
function rawSearchIndexer(sqlite: Database.Database): () => void {
  const index = sqlite.prepare(
    `INSERT INTO transcripts_fts(rowid, text) SELECT seq, text FROM transcripts
     WHERE seq > (SELECT indexed_through FROM transcripts_fts_progress) ORDER BY seq`,
  );
  const advance = sqlite.prepare(
    `UPDATE transcripts_fts_progress SET indexed_through = (SELECT max(seq) FROM transcripts)`,
  );
  return sqlite.transaction(() => {
    index.run();
    advance.run();
  });
}

/**
 * WRITERS live calls storing rows at once, as the media path does: each call creates its rows
 * one after another, awaiting each, and no call waits for another; the repository commits the
 * rows created in one event-loop turn (one per call) in one transaction. Timed from the first
 * create until every promise has settled (settled = committed), WRITER_RUNS times; returns
 * rows/s per run. `raw` does the same shape with raw statements: one transaction of one row
 * per call, round after round. Each variant gets a fresh database file holding only the
 * writers' calls, so its tables grow exactly as the others' do.
 */
async function writerRates(
  path: string,
  kind: RowKind,
  mode: "repository" | "threaded" | "raw",
  rows: number,
  texts: readonly string[],
): Promise<number[]> {
  const { sqlite, db } = openDatabase(path);
  try {
    migrateDatabase(sqlite, defaultMigrationsFolder());
    const callIds = Array.from({ length: WRITERS }, (_, w) => `call-writer-${w}`);
    const insertCall = sqlite.prepare(
      `INSERT INTO calls (id, stream_sid, status, started_at, created_at, updated_at)
       VALUES (?, ?, 'active', ?, ?, ?)`,
    );
    sqlite.transaction(() => {
      for (const [w, id] of callIds.entries()) insertCall.run(id, `MZw${w}`, BASE, BASE, BASE);
    })();
    const inThread = new DrizzleCallRepository(db, sqlite);
    // The server's repository: the same work on a writer thread, each call a message there and back.
    const threaded =
      mode === "threaded"
        ? await ThreadedCallRepository.open({
            databaseUrl: path,
            migrationsPath: defaultMigrationsFolder(),
            readers: 0,
          })
        : null;
    const repository: CallRepository = threaded ?? inThread;
    const rawTranscript = sqlite.prepare(INSERT_TRANSCRIPT);
    const rawAnalytics = sqlite.prepare(INSERT_ANALYTICS);
    const text = (i: number) => texts[i % texts.length]!;
    const indexForSearch = rawSearchIndexer(sqlite);
    // The server's own ids: they decide where each row lands in the id index.
    const create = (i: number, callId: string): Promise<unknown> =>
      kind === "transcript"
        ? repository.createTranscript(transcriptOf(i, callId, text(i), uuidIds.newId()))
        : repository.createAnalytics(analyticsOf(i, callId, uuidIds.newId()));
    const insert = (i: number, callId: string) =>
      kind === "transcript"
        ? rawTranscript.run(
            uuidIds.newId(),
            callId,
            i % 2 ? "assistant" : "caller",
            text(i),
            0.9,
            i * 1000,
            BASE + i,
          )
        : rawAnalytics.run(uuidIds.newId(), callId, i, i, i, `{"turn":${i}}`, BASE + i);
    const perWriter = rows / WRITERS;
    let next = 0;
    const round = sqlite.transaction(() => {
      for (const callId of callIds) insert(next++, callId);
    });
    const rates: number[] = [];
    for (let run = 0; run < WRITER_RUNS; run++) {
      const started = performance.now();
      if (mode !== "raw") {
        await Promise.all(
          callIds.map(async (callId) => {
            for (let i = 0; i < perWriter; i++) await create(next++, callId);
          }),
        );
        // Until searchable: a search indexes every stored transcript first.
        if (threaded) await threaded.searchTranscripts({ q: "x", limit: 1, offset: 0 });
        else inThread.flush();
      } else {
        let waiting = 0;
        for (let i = 0; i < perWriter; i++) {
          round();
          waiting += WRITERS;
          if (kind === "transcript" && waiting >= FTS_BATCH_ROWS) {
            indexForSearch();
            waiting = 0;
          }
        }
        if (kind === "transcript") indexForSearch();
      }
      rates.push(rowsPerSecond(rows, performance.now() - started));
    }
    await threaded?.close();
    return rates;
  } finally {
    sqlite.close();
  }
}

/**
 * Storage throughput and latency on a real SQLite file (WAL, synchronous=NORMAL), through the
 * repository and through raw better-sqlite3 statements, returned as a markdown section.
 */
export async function runStorageBench(options: StorageBenchOptions = {}): Promise<string> {
  const quick = options.quick ?? false;
  const callCount = quick ? 20_000 : 1_000_000;
  const singleInserts = quick ? 2_000 : 20_000;
  const writerRows = quick ? 2_000 : 20_000;
  const batchedInserts = quick ? 20_000 : 200_000;
  const searchCorpus = quick ? 20_000 : 200_000;
  const dir = mkdtempSync(join(tmpdir(), "callbridge-bench-"));
  const { sqlite, db } = openDatabase(join(dir, "bench.db"));
  const lines: string[] = [];
  try {
    migrateDatabase(sqlite, defaultMigrationsFolder());
    const repository = new DrizzleCallRepository(db, sqlite);
    const random = prng(42);
    const base = Date.UTC(2026, 0, 1);

    const insertCall = sqlite.prepare(
      `INSERT INTO calls (id, stream_sid, call_sid, caller, status, started_at, ended_at,
         duration_seconds, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    const loadCalls = sqlite.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        // Ten calls share each start millisecond, so pages cross ties on id.
        const startedAt = base + Math.floor(i / 10) * 1000;
        const status = i % 50 === 0 ? "active" : i % 7 === 0 ? "failed" : "completed";
        insertCall.run(
          `call-${i.toString().padStart(8, "0")}`,
          `MZ${i}`,
          `CA${i}`,
          `+1555${(i % 5000).toString().padStart(7, "0")}`,
          status,
          startedAt,
          startedAt + 60_000,
          60,
          startedAt,
          startedAt,
        );
      }
    });
    let start = performance.now();
    for (let i = 0; i < callCount; i += 50_000) loadCalls(i, Math.min(callCount, i + 50_000));
    const loadMs = performance.now() - start;

    // Child-row inserts all go to one call, as during a live call.
    const liveCall: Call = startCall({
      id: "call-live",
      streamSid: "MZlive",
      startedAt: new Date(base),
    });
    await repository.createCall(liveCall);
    const transcript = (i: number, text: string) => transcriptOf(i, liveCall.id, text);
    const analyticsRow = (i: number) => analyticsOf(i, liveCall.id);
    const texts = Array.from({ length: 1000 }, () => sentence(random));
    let next = 0;

    start = performance.now();
    for (let i = 0; i < singleInserts; i++) {
      await repository.createTranscript(transcript(next++, texts[i % texts.length]!));
    }
    repository.flush(); // until searchable
    const repoTranscriptMs = performance.now() - start;
    start = performance.now();
    for (let i = 0; i < singleInserts; i++) await repository.createAnalytics(analyticsRow(next++));
    const repoAnalyticsMs = performance.now() - start;

    const rawTranscript = sqlite.prepare(INSERT_TRANSCRIPT);
    const rawAnalytics = sqlite.prepare(INSERT_ANALYTICS);
    const insertRawTranscript = (i: number) =>
      rawTranscript.run(`t-${i}`, liveCall.id, "caller", texts[i % texts.length], 0.9, i, base + i);
    const insertRawAnalytics = (i: number) =>
      rawAnalytics.run(`a-${i}`, liveCall.id, i, i, i, `{"turn":${i}}`, base + i);

    const indexForSearch = rawSearchIndexer(sqlite);
    start = performance.now();
    for (let i = 0; i < singleInserts; i++) insertRawTranscript(next++);
    indexForSearch();
    const rawTranscriptMs = performance.now() - start;
    start = performance.now();
    for (let i = 0; i < singleInserts; i++) insertRawAnalytics(next++);
    const rawAnalyticsMs = performance.now() - start;

    const batch = sqlite.transaction((insert: (i: number) => unknown, count: number) => {
      for (let i = 0; i < count; i++) insert(next++);
    });
    start = performance.now();
    for (let i = 0; i < batchedInserts; i += 1000) {
      batch(insertRawTranscript, 1000);
      if ((i + 1000) % FTS_BATCH_ROWS === 0) indexForSearch();
    }
    indexForSearch();
    const batchTranscriptMs = performance.now() - start;
    start = performance.now();
    for (let i = 0; i < batchedInserts; i += 1000) batch(insertRawAnalytics, 1000);
    const batchAnalyticsMs = performance.now() - start;

    const writers: Array<[string, number[]]> = [];
    for (const mode of ["repository", "threaded", "raw"] as const) {
      for (const kind of ["transcript", "analytics"] as const) {
        const rates = await writerRates(
          join(dir, `${mode}-${kind}.db`),
          kind,
          mode,
          writerRows,
          texts,
        );
        const label =
          mode === "repository"
            ? `${kind}, repository, write-behind (${WRITERS} concurrent writers)`
            : mode === "threaded"
              ? `${kind}, repository on the writer thread (the server's), write-behind (${WRITERS} concurrent writers)`
              : `${kind}, raw statement, ${WRITERS} per transaction (one per writer's call)`;
        writers.push([label, rates]);
      }
    }

    const machine = describeMachine();
    lines.push(
      `### Storage (SQLite, WAL, synchronous=NORMAL${quick ? ", quick" : ""})`,
      "",
      `Machine: ${machine.cpu} (${cpus().length} logical CPUs), Node ${machine.node}, ${new Date().toISOString()}.`,
      ...(options.command ? [`Command: \`${options.command}\`.`] : []),
      "",
      "| insert | rows | rows/s |",
      "|---|---:|---:|",
      `| calls, raw, 50,000 per transaction | ${callCount.toLocaleString("en-US")} | ${rate(callCount, loadMs)} |`,
      ...writers.map(
        ([label, rates]) => `| ${label} | ${count(writerRows)} | ${count(median(rates))} |`,
      ),
      `| transcript, repository, sequential, each awaited (one per transaction) | ${count(singleInserts)} | ${rate(singleInserts, repoTranscriptMs)} |`,
      `| analytics, repository, sequential, each awaited (one per transaction) | ${count(singleInserts)} | ${rate(singleInserts, repoAnalyticsMs)} |`,
      `| transcript, raw statement, one per transaction | ${singleInserts.toLocaleString("en-US")} | ${rate(singleInserts, rawTranscriptMs)} |`,
      `| analytics, raw statement, one per transaction | ${singleInserts.toLocaleString("en-US")} | ${rate(singleInserts, rawAnalyticsMs)} |`,
      `| transcript, raw statement, 1,000 per transaction | ${batchedInserts.toLocaleString("en-US")} | ${rate(batchedInserts, batchTranscriptMs)} |`,
      `| analytics, raw statement, 1,000 per transaction | ${batchedInserts.toLocaleString("en-US")} | ${rate(batchedInserts, batchAnalyticsMs)} |`,
      "",
      `Write-behind: ${WRITERS} live calls each create ${count(writerRows / WRITERS)} rows, ` +
        "awaiting each before creating the next, none waiting for the others; the repository " +
        `commits the rows created in one event-loop turn (one per call, so ${WRITERS}) in one ` +
        "transaction. Timed from the first create until every promise has settled (settled = " +
        `committed). The ${WRITERS}-per-transaction raw rows store the same rows the same way ` +
        "with raw statements and no promises. Each of these four rows has a fresh database file " +
        `holding only the ${WRITERS} calls; it is the median of ${WRITER_RUNS} runs, which add ` +
        "their rows to the same tables (rows/s of each run in order below). Sequential: one " +
        "caller awaits each row before creating the next, so every row is its own transaction. " +
        "The 1,000-per-transaction rows all go to one call. Every transcript row is timed until " +
        "its rows are searchable: the repository indexes them for search in batches of " +
        `${count(FTS_BATCH_ROWS)} (DeferredFtsIndex) and flushes at the end; the raw rows run ` +
        `the same catch-up statement every ${count(FTS_BATCH_ROWS)} rows and at the end. The ` +
        "write-behind rows use the server's own ids (UUIDv7).",
      "",
      ...writers.map(([label, rates]) => `- ${label}: ${rates.map(count).join(", ")} rows/s`),
      "",
    );

    // Pages: newest, a deep keyset position, and filtered, each as the API asks for them.
    const middle = Math.floor(callCount / 2);
    const deep = {
      startedAt: new Date(base + Math.floor(middle / 10) * 1000),
      id: `call-${middle.toString().padStart(8, "0")}`,
    };
    const runs = quick ? 200 : 500;
    const rawPage = sqlite.prepare(
      `SELECT * FROM calls WHERE (started_at, id) < (?, ?) ORDER BY started_at DESC, id DESC LIMIT 51`,
    );
    const rawFirstPage = sqlite.prepare(
      "SELECT * FROM calls ORDER BY started_at DESC, id DESC LIMIT 51",
    );
    const pages: Array<[string, Timing]> = [
      [
        "first page, repository",
        await timeAsync(runs, () => repository.getAllCalls({ limit: 50 })),
      ],
      ["first page, raw SQL", time(runs, () => rawFirstPage.all())],
      [
        "page at the middle (keyset), repository",
        await timeAsync(runs, () => repository.getAllCalls({ limit: 50, after: deep })),
      ],
      [
        "page at the middle (keyset), raw SQL",
        time(runs, () => rawPage.all(deep.startedAt.getTime(), deep.id)),
      ],
      [
        "status=failed, page at the middle, repository",
        await timeAsync(runs, () =>
          repository.getAllCalls({ limit: 50, after: deep, status: "failed" }),
        ),
      ],
      [
        "caller filter, repository",
        await timeAsync(runs, () => repository.getAllCalls({ limit: 50, caller: "+15550000042" })),
      ],
      [
        "since/until one day, repository",
        await timeAsync(runs, () =>
          repository.getAllCalls({
            limit: 50,
            since: new Date(base + 86_400_000),
            until: new Date(base + 2 * 86_400_000),
          }),
        ),
      ],
    ];
    lines.push(
      `| page of 50 at ${callCount.toLocaleString("en-US")} calls | median | p95 |`,
      "|---|---:|---:|",
      ...pages.map(([name, t]) => `| ${name} | ${ms(t)} |`),
      "",
    );

    // Search over a larger corpus spread across many calls.
    const corpusCalls = Math.min(callCount, Math.ceil(searchCorpus / 10));
    const loadCorpus = sqlite.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        rawTranscript.run(
          `s-${i}`,
          `call-${(i % corpusCalls).toString().padStart(8, "0")}`,
          i % 2 === 0 ? "caller" : "assistant",
          sentence(random),
          0.9,
          i,
          base + i,
        );
      }
    });
    for (let i = 0; i < searchCorpus; i += 10_000)
      loadCorpus(i, Math.min(searchCorpus, i + 10_000));
    repository.flush(); // indexes the corpus, so the searches below time searching only
    const total = (sqlite.prepare("SELECT count(*) AS n FROM transcripts").get() as { n: number })
      .n;
    const searchRuns = quick ? 50 : 100;
    const searches: Array<[string, Timing]> = [
      [
        "rare word (`warranty`)",
        await timeAsync(searchRuns, () =>
          repository.searchTranscripts({ q: "warranty", limit: 20 }),
        ),
      ],
      [
        "two words (`refund invoice`)",
        await timeAsync(searchRuns, () =>
          repository.searchTranscripts({ q: "refund invoice", limit: 20 }),
        ),
      ],
      [
        "common word (`order`)",
        await timeAsync(Math.ceil(searchRuns / 5), () =>
          repository.searchTranscripts({ q: "order", limit: 20 }),
        ),
      ],
      [
        "no match",
        await timeAsync(searchRuns, () =>
          repository.searchTranscripts({ q: "zzzznothing", limit: 20 }),
        ),
      ],
    ];
    lines.push(
      `| search, ${total.toLocaleString("en-US")} transcripts, limit 20 | median | p95 |`,
      "|---|---:|---:|",
      ...searches.map(([name, t]) => `| ${name} | ${ms(t)} |`),
      "",
    );
    // Every start runs the migrator, whose foreign-key check reads every child row.
    const startup = time(3, () => migrateDatabase(sqlite, defaultMigrationsFolder()));
    lines.push(
      "| start-up migrator, nothing pending (includes foreign_key_check) | median | p95 |",
      "|---|---:|---:|",
      `| ${callCount.toLocaleString("en-US")} calls, ${total.toLocaleString("en-US")} transcripts | ${ms(startup)} |`,
      "",
    );
    lines.push(await runSearchScaleBench({ quick, dir }));
    return lines.join("\n");
  } finally {
    sqlite.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface SearchScaleOptions {
  /** 50,000 transcripts instead of 1,000,000, and fewer runs. */
  quick?: boolean;
  /** Where the database file goes (a temp folder of its own when unset). */
  dir?: string;
}

/** Page size the API asks the repository for: a page of 20 and one more to see if more follow. */
const SEARCH_PAGE = 20;

/** What relevance cost before it was bounded: bm25() over every match, paged by OFFSET. */
const RANK_EVERY_MATCH_SQL = `
  WITH page AS (
    SELECT rowid AS seq, bm25(transcripts_fts) AS score FROM transcripts_fts
    WHERE transcripts_fts MATCH @match ORDER BY score, seq LIMIT @limit OFFSET 0)
  SELECT t.id, snippet(transcripts_fts, 0, '[', ']', '…', 12) AS snippet
  FROM page JOIN transcripts_fts ON transcripts_fts.rowid = page.seq
  JOIN transcripts t ON t.seq = page.seq
  WHERE transcripts_fts MATCH @match ORDER BY page.score, page.seq`;

interface Percentiles {
  p50: number;
  p99: number;
}

async function percentiles(runs: number, work: () => Promise<unknown>): Promise<Percentiles> {
  const samples = await sampleAsync(runs, Math.min(10, runs), work);
  // Nearest rank.
  const at = (q: number) => samples[Math.max(0, Math.ceil(q * samples.length) - 1)]!;
  return { p50: at(0.5), p99: at(0.99) };
}

const pct = (p: Percentiles) => `${p.p50.toFixed(1)} ms | ${p.p99.toFixed(1)} ms`;

/**
 * Full-text search at 1,000,000 transcripts (ten a call, everyday words), through the
 * repository as the API calls it: each sort, first page and a deep page reached by cursor,
 * p50 and p99 of the wall time. The transcripts are inserted with one prepared statement per
 * 50,000-row transaction and indexed in one catch-up, as after a bulk import.
 */
export async function runSearchScaleBench(options: SearchScaleOptions = {}): Promise<string> {
  const quick = options.quick ?? false;
  const total = quick ? 50_000 : 1_000_000;
  const runs = quick ? 20 : 200;
  const ownDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "callbridge-search-"));
  const { sqlite, db } = openDatabase(join(dir, "search-scale.db"));
  try {
    migrateDatabase(sqlite, defaultMigrationsFolder());
    const random = prng(7);
    const calls = Math.ceil(total / 10);
    const insertCall = sqlite.prepare(
      `INSERT INTO calls (id, stream_sid, status, started_at, created_at, updated_at)
       VALUES (?, ?, 'completed', ?, ?, ?)`,
    );
    const insertTranscript = sqlite.prepare(INSERT_TRANSCRIPT);
    let started = performance.now();
    sqlite.transaction(() => {
      for (let i = 0; i < calls; i++) {
        const at = BASE + i * 60_000;
        insertCall.run(`call-${i}`, `MZs${i}`, at, at, at);
      }
    })();
    const load = sqlite.transaction((from: number, to: number) => {
      for (let i = from; i < to; i++) {
        insertTranscript.run(
          `s-${i}`,
          `call-${Math.floor(i / 10)}`,
          i % 2 === 0 ? "caller" : "assistant",
          sentence(random),
          0.9,
          (i % 10) * 5000,
          BASE + i,
        );
      }
    });
    for (let i = 0; i < total; i += 50_000) load(i, Math.min(total, i + 50_000));
    const insertMs = performance.now() - started;
    started = performance.now();
    rawSearchIndexer(sqlite)();
    const indexMs = performance.now() - started;

    const repository = new DrizzleCallRepository(db, sqlite);
    const matchCount = sqlite
      .prepare("SELECT count(*) FROM transcripts_fts WHERE transcripts_fts MATCH ?")
      .pluck();
    const search = (query: Omit<TranscriptSearchQuery, "limit">, on = repository) =>
      on.searchTranscripts({ ...query, limit: SEARCH_PAGE + 1 });

    /** How many matches relevance ranks for `q`: its pages, 100 at a time, to the last. */
    const rankedBy = async (q: string) => {
      let after: TranscriptSearchPosition | undefined;
      let ranked = 0;
      for (;;) {
        const hits = await repository.searchTranscripts({ q, limit: 100, after });
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
    ];
    const loadBefore = loadAverage();
    const rows: string[] = [];
    for (const [label, q] of queries) {
      const matches = matchCount.get(toFtsMatchExpression(q)) as number;
      const first = await search({ q, sort: "relevance" });
      const anchor = first[0]?.next?.sort === "relevance" ? first[0].next.anchor : total + 1;
      const ranked = await rankedBy(q);
      const deep: Record<TranscriptSearchSort, TranscriptSearchPosition> = {
        relevance: { sort: "relevance", anchor, offset: Math.max(1, ranked - SEARCH_PAGE) },
        // What a client holds after following nextCursor through half the transcripts.
        recent: { sort: "recent", before: Math.floor(total / 2) },
      };
      for (const sort of ["relevance", "recent"] as const) {
        const firstPage = await percentiles(runs, () => search({ q, sort }));
        const deepPage = await percentiles(runs, () => search({ q, sort, after: deep[sort] }));
        const scope = sort === "relevance" ? `ranks ${count(ranked)}` : "every match";
        rows.push(
          `| ${label} | ${count(matches)} | ${sort} (${scope}) | first | ${pct(firstPage)} |`,
          `| ${label} | ${count(matches)} | ${sort} | deep (${describeDeep(deep[sort])}) | ${pct(deepPage)} |`,
        );
      }
    }

    // The cap, measured: what ranking more of the newest matches would cost.
    const caps = quick ? [500, SEARCH_CANDIDATES] : [1_000, SEARCH_CANDIDATES, 5_000, 10_000];
    const sweep: string[] = [];
    for (const candidates of caps) {
      const capped = new DrizzleCallRepository(db, sqlite, { searchCandidates: candidates });
      for (const q of ["order", "cancel my order"]) {
        const p = await percentiles(Math.ceil(runs / 2), () =>
          search({ q, sort: "relevance" }, capped),
        );
        sweep.push(`| ${count(candidates)} | \`${q}\` | ${pct(p)} |`);
      }
    }

    const everyMatch = sqlite.prepare(RANK_EVERY_MATCH_SQL);
    const before = await percentiles(quick ? 3 : 10, async () =>
      everyMatch.all({ match: toFtsMatchExpression("order"), limit: SEARCH_PAGE + 1 }),
    );
    const loadAfter = loadAverage();

    return [
      `### Search at ${count(total)} transcripts${quick ? " (quick)" : ""}`,
      "",
      `${count(total)} transcripts in ${count(calls)} calls (ten a call, 6 to 23 words of ` +
        "the storage corpus: a dozen common words, seven rarer ones, 5,000 others), inserted " +
        `at ${rate(total, insertMs)} rows/s (one prepared statement, 50,000 rows a ` +
        `transaction) and indexed in one catch-up in ${(indexMs / 1000).toFixed(1)} s. Each ` +
        `search goes through the repository as the API calls it (a page of ${SEARCH_PAGE} and ` +
        `one more), ${runs} timed runs after 10 untimed; wall time, so the load average ` +
        `(before: ${loadBefore}; after: ${loadAfter}) counts. Relevance ranks at most ` +
        `${count(SEARCH_CANDIDATES)} matches (SEARCH_CANDIDATES). A deep page is one a ` +
        "client reaches by following nextCursor: the last page of the relevance ranking, and " +
        "for recent the page after half the transcripts.",
      "",
      "| query | matches | sort | page | p50 | p99 |",
      "|---|---:|---|---|---:|---:|",
      ...rows,
      "",
      `| relevance cap (searchCandidates) | first page of | p50 | p99 |`,
      "|---:|---|---:|---:|",
      ...sweep,
      "",
      `Before the cap, relevance ranked every match with FTS5's bm25(): the first page of ` +
        `\`order\` took ${before.p50.toFixed(0)} ms (p50 of ${quick ? 3 : 10}; slowest ` +
        `${before.p99.toFixed(0)} ms).`,
      "",
    ].join("\n");
  } finally {
    sqlite.close();
    if (ownDir) rmSync(dir, { recursive: true, force: true });
  }
}

function describeDeep(position: TranscriptSearchPosition): string {
  return position.sort === "relevance"
    ? `offset ${count(position.offset)}`
    : `below seq ${count(position.before)}`;
}

if (process.argv[1]?.endsWith("storage.ts")) {
  const quick = process.argv.includes("--quick");
  // --search: only the search-at-scale part.
  const run = process.argv.includes("--search")
    ? runSearchScaleBench({ quick })
    : runStorageBench({ quick });
  run.then((markdown) => process.stdout.write(`${markdown}\n`));
}
