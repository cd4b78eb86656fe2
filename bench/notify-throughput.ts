/**
 * How many call events PostgreSQL's NOTIFY carries between instances (issue 19), through the
 * event bus's own notifier and listener (src/adapters/events/postgres-notifier.ts and
 * postgres-notification-listener.ts), with payloads of the bus's size.
 *
 *   BENCH_POSTGRES_URL=postgres://user:pw@127.0.0.1:5432/postgres npx tsx bench/notify-throughput.ts
 *       [--senders 8] [--listeners 2] [--seconds 10]
 *
 * Two shapes: "trickle" is what an instance at steady load does (each event its own statement
 * and transaction, `senders` instances at once); "burst" queues events faster than they are
 * sent, so the notifier batches up to 200 per statement. Delivered/s is counted at every
 * listener (each instance receives every event); PostgreSQL's CPU is read from /proc.
 */
import { randomBytes } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import { PostgresNotificationListener } from "../src/adapters/events/postgres-notification-listener.ts";
import { PostgresNotifier } from "../src/adapters/events/postgres-notifier.ts";
import { onPostgres } from "./lib/postgres-admin.ts";
import { cpuMs } from "./load/proc.ts";

const CHANNEL = "callbridge_bench_events";

function argValue(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i >= 0 ? Number(process.argv[i + 1]) : fallback;
}

/** A payload as the bus sends one: instance, type, callId, row id. */
function payload(instance: string, n: number): string {
  return JSON.stringify({
    instance,
    type: "transcript.created",
    callId: `01J${randomBytes(10).toString("hex")}`,
    id: `01J${n.toString(36).padStart(20, "0")}`,
  });
}

function postgresCpuMs(): number {
  let total = 0;
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "postgres")
        total += cpuMs(Number(entry));
    } catch {
      // Gone while we looked.
    }
  }
  return total;
}

async function run(
  url: string,
  shape: "trickle" | "burst",
  senders: number,
  listeners: number,
  seconds: number,
) {
  let delivered = 0;
  const listening = await Promise.all(
    Array.from({ length: listeners }, async () => {
      const listener = new PostgresNotificationListener({
        url,
        channel: CHANNEL,
        logger: {
          debug() {},
          info() {},
          warn() {},
          error() {},
          child() {
            return this;
          },
        },
        onNotification: () => {
          delivered++;
        },
      });
      await listener.start();
      return listener;
    }),
  );
  let dropped = 0;
  const notifiers = Array.from(
    { length: senders },
    () =>
      new PostgresNotifier({
        url,
        channel: CHANNEL,
        maxQueued: 1_000_000,
        onDropped: (count) => {
          dropped += count;
        },
      }),
  );
  const cpuBefore = postgresCpuMs();
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let sent = 0;
  if (shape === "trickle") {
    // Each sender sends one event per statement, the next once the last is done.
    await Promise.all(
      notifiers.map(async (notifier, s) => {
        const pool = (notifier as unknown as { pool: import("pg").Pool }).pool;
        while (performance.now() < deadline) {
          await pool.query("SELECT pg_notify($1, $2)", [CHANNEL, payload(`s${s}`, sent++)]);
        }
      }),
    );
  } else {
    while (performance.now() < deadline) {
      for (const [s, notifier] of notifiers.entries()) {
        for (let i = 0; i < 50; i++) notifier.queue(payload(`s${s}`, sent++));
      }
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    await Promise.all(notifiers.map((notifier) => notifier.close()));
  }
  const sentAt = performance.now();
  // Wait for the listeners to catch up (bounded).
  const expected = (sent - dropped) * listeners;
  while (delivered < expected && performance.now() - sentAt < 30_000) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const elapsedS = (performance.now() - started) / 1000;
  const cpu = postgresCpuMs() - cpuBefore;
  if (shape === "trickle") await Promise.all(notifiers.map((notifier) => notifier.close()));
  await Promise.all(listening.map((listener) => listener.close()));
  return {
    shape,
    senders,
    listeners,
    sentPerS: sent / elapsedS,
    deliveredPerListenerPerS: delivered / listeners / elapsedS,
    lost: expected - delivered,
    dropped,
    postgresCpuMsPerThousand: (cpu / Math.max(1, sent)) * 1000,
    postgresCores: cpu / 1000 / elapsedS,
  };
}

async function main(): Promise<void> {
  const url = process.env.BENCH_POSTGRES_URL ?? process.env.TEST_POSTGRES_URL;
  if (!url) throw new Error("set BENCH_POSTGRES_URL (or TEST_POSTGRES_URL)");
  await onPostgres(url, "SELECT 1");
  const senders = argValue("--senders", 8);
  const listeners = argValue("--listeners", 2);
  const seconds = argValue("--seconds", 10);
  const rows = [];
  for (const shape of ["trickle", "burst"] as const) {
    rows.push(await run(url, shape, senders, listeners, seconds));
  }
  const f = (n: number, d = 0) => n.toFixed(d).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  console.log(
    `### NOTIFY between instances (${cpus()[0]?.model ?? "?"}, ${cpus().length} cores)\n`,
  );
  console.log(
    `Command: \`npx tsx bench/notify-throughput.ts --senders ${senders} --listeners ${listeners} --seconds ${seconds}\`; PostgreSQL on the same machine.\n`,
  );
  console.log(
    "| shape | senders | listeners | sent / s | delivered / s at each listener | lost | PostgreSQL CPU ms per 1,000 sent | PostgreSQL cores |",
  );
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const r of rows) {
    console.log(
      `| ${r.shape} | ${r.senders} | ${r.listeners} | ${f(r.sentPerS)} | ${f(r.deliveredPerListenerPerS)} | ${r.lost + r.dropped} | ${f(r.postgresCpuMsPerThousand, 1)} | ${f(r.postgresCores, 2)} |`,
    );
  }
}

await main();
