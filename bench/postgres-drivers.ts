/**
 * `pg` (node-postgres) against `postgres` (postgres.js) under the PostgreSQL CallRepository:
 * the write-behind path (200 live calls each writing a transcript and an analytics snapshot at
 * once, again and again) and two read paths (a page of 50 calls, a call's transcripts).
 *
 *   TEST_POSTGRES_URL=postgres://user:pw@127.0.0.1:5432/postgres npx tsx bench/postgres-drivers.ts [--quick]
 *
 * It creates a database of its own on that server and drops it at the end.
 */
import { randomBytes } from "node:crypto";
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { drizzle as drizzlePostgresJs } from "drizzle-orm/postgres-js";
import postgres from "postgres";
import * as schema from "../drizzle/pg-schema.ts";
import {
  connectPostgres,
  DEFAULT_POOL_SIZE,
  type DriverConnection,
  type PostgresJsConnection,
} from "../src/adapters/postgres/connection.ts";
import {
  defaultPostgresMigrationsFolder,
  migratePostgres,
} from "../src/adapters/postgres/migrate.ts";
import { PostgresCallRepository } from "../src/adapters/postgres/postgres-call-repository.ts";
import { startCall } from "../src/domain/call.ts";
import { createTranscript } from "../src/domain/transcript.ts";
import { onPostgres } from "./lib/postgres-admin.ts";

const WRITERS = 200;
/** Rounds of the write path: each writer writes one transcript and one snapshot per round. */
const ROUNDS = 100;
const READS = 1000;
const POOL = 10;
const BASE = Date.UTC(2026, 0, 1);

interface Figures {
  driver: string;
  rowsPerSecond: number;
  writeP99Ms: number;
  loopDelayMaxMs: number;
  pageMs: number;
  transcriptsMs: number;
}

const percentile = (values: number[], p: number): number => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
};

async function measure(
  driver: string,
  connection: DriverConnection,
  rounds: number,
  reads: number,
): Promise<Figures> {
  const repository = PostgresCallRepository.on(connection);
  const run = randomBytes(3).toString("hex");
  const callIds = Array.from({ length: WRITERS }, (_, i) => `${driver}-${run}-${i}`);
  for (const [i, id] of callIds.entries()) {
    await repository.createCall(
      startCall({
        id,
        streamSid: `MZ${id}`,
        callSid: `CA${id}`,
        caller: "+15550001111",
        startedAt: new Date(BASE + i * 1000),
      }),
    );
  }

  // Write path: every writer awaits its two rows before writing the next round's.
  const latencies: number[] = [];
  const loop = monitorEventLoopDelay({ resolution: 5 });
  loop.enable();
  const started = performance.now();
  await Promise.all(
    callIds.map(async (callId) => {
      for (let round = 0; round < rounds; round++) {
        const at = new Date(BASE + round * 100);
        const t0 = performance.now();
        await Promise.all([
          repository.createTranscript(
            createTranscript({
              id: `${callId}-t${round}`,
              callId,
              speaker: round % 2 ? "caller" : "assistant",
              text: `I would like a refund for order ${round} of call ${callId}, please`,
              offsetMs: round * 1500,
              createdAt: at,
            }),
          ),
          repository.createAnalytics({
            id: `${callId}-a${round}`,
            callId,
            sentiment: "neutral",
            sentimentScore: 0.1,
            callerTalkMs: round * 700,
            assistantTalkMs: round * 800,
            silenceMs: 120,
            interruptions: 0,
            avgResponseLatencyMs: 640,
            p95ResponseLatencyMs: 910,
            customMetrics: { turns: round, tags: ["bench"] },
            createdAt: at,
          }),
        ]);
        latencies.push(performance.now() - t0);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  loop.disable();

  // Read paths, one request at a time so the figure is the latency of one.
  const timed = async (work: () => Promise<unknown>): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < reads; i++) await work();
    return (performance.now() - t0) / reads;
  };
  const pageMs = await timed(() => repository.getAllCalls({ limit: 50 }));
  const transcriptsMs = await timed(() =>
    repository.getTranscriptsByCallId(callIds[7] ?? callIds[0] ?? ""),
  );
  await repository.close();
  return {
    driver,
    rowsPerSecond: Math.round((WRITERS * rounds * 2) / seconds),
    writeP99Ms: percentile(latencies, 99),
    loopDelayMaxMs: loop.max / 1e6,
    pageMs,
    transcriptsMs,
  };
}

/**
 * Both drivers twice, alternating, on a database of their own: the markdown of the figures.
 * `serverUrl`: a role that may CREATE DATABASE.
 */
export async function runPostgresDriversBench(options: {
  serverUrl: string;
  quick?: boolean;
}): Promise<string> {
  const rounds = options.quick ? 20 : ROUNDS;
  const reads = options.quick ? 200 : READS;
  const name = `cb_bench_drivers_${process.pid}`;
  await onPostgres(options.serverUrl, `CREATE DATABASE ${name}`);
  const url = new URL(options.serverUrl);
  url.pathname = `/${name}`;
  try {
    await migratePostgres(url.toString(), defaultPostgresMigrationsFolder());
    const figures: Figures[] = [];
    // Each driver twice, alternating, so neither profits alone from a warm cache.
    for (let pass = 0; pass < 2; pass++) {
      figures.push(await measure("pg", connectPostgres(url.toString(), POOL), rounds, reads));
      figures.push(
        await measure("postgres", connectPostgresJs(url.toString(), POOL), rounds, reads),
      );
    }
    return [
      `### PostgreSQL drivers: \`pg\` and \`postgres\` under the repository${options.quick ? " (quick)" : ""}`,
      "",
      `${WRITERS} live calls each write a transcript and an analytics snapshot and await both ` +
        `before the next (${rounds} rounds, so ${(WRITERS * rounds * 2).toLocaleString("en-US")} ` +
        `rows), through PostgresCallRepository's write-behind (one statement per event-loop ` +
        `turn, synchronous_commit=off on the batch connection); pool ${POOL}. Reads: ${reads} ` +
        "sequential requests each. In order of the runs, each driver twice.",
      "",
      "| driver | rows/s (200 writers) | write p99 ms | loop delay max ms | getAllCalls(50) ms | getTranscriptsByCallId ms |",
      "|---|---:|---:|---:|---:|---:|",
      ...figures.map(
        (f) =>
          `| ${f.driver} | ${f.rowsPerSecond.toLocaleString("en-US")} | ${f.writeP99Ms.toFixed(1)} | ${f.loopDelayMaxMs.toFixed(1)} | ${f.pageMs.toFixed(2)} | ${f.transcriptsMs.toFixed(2)} |`,
      ),
      "",
    ].join("\n");
  } finally {
    await onPostgres(options.serverUrl, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

if (process.argv[1]?.endsWith("postgres-drivers.ts")) {
  const serverUrl = process.env.TEST_POSTGRES_URL ?? process.env.BENCH_POSTGRES_URL;
  if (!serverUrl) throw new Error("set TEST_POSTGRES_URL to a role that may CREATE DATABASE");
  const quick = process.argv.includes("--quick");
  process.stdout.write(`${await runPostgresDriversBench({ serverUrl, quick })}\n`);
}

/** connectPostgres's twin through postgres.js (the same batch session settings). */
export function connectPostgresJs(url: string, poolSize = DEFAULT_POOL_SIZE): PostgresJsConnection {
  const client = postgres(url, { max: poolSize, onnotice: () => {} });
  const batchClient = postgres(url, {
    max: 1,
    onnotice: () => {},
    connection: { synchronous_commit: "off" },
  });
  return {
    driver: "postgres",
    db: drizzlePostgresJs(client, { schema }),
    runBatch: async (statements) => {
      const [only] = statements;
      if (statements.length <= 1) {
        if (only) await batchClient.unsafe(only.text, only.values, { prepare: true });
        return;
      }
      await batchClient.begin(async (tx) => {
        for (const { text, values } of statements) await tx.unsafe(text, values, { prepare: true });
      });
    },
    end: async () => {
      await Promise.all([client.end({ timeout: 5 }), batchClient.end({ timeout: 5 })]);
    },
  };
}
