/**
 * `npx tsx bench/twilio-webhook-flood.ts [--seconds N] [--senders N]`: what a flood of refused
 * Twilio webhooks costs the live calls. Run by hand; not part of `npm run bench`.
 *
 * The server runs in its own process (as `npm start` runs it) with TWILIO_AUTH_TOKEN set, so
 * every webhook below is refused. Its event-loop delay (prom-client's monitorEventLoopDelay
 * figures on /metrics, reset at each scrape) is what every call's audio waits behind. Each
 * sender posts, back to back over keep-alive connections, a 1 MB form of ~110,000 fields, the
 * shape that cost 230–730 ms of event loop per request before issue 17:
 *   - "bogus signature": an X-Twilio-Signature that does not verify;
 *   - "no signature": no X-Twilio-Signature header at all;
 *   - "small, bogus signature": a Twilio-sized form (30 fields) with a wrong signature.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { spawnServer } from "./lib/child-server.ts";
import { metric, scrapeMetrics } from "./lib/server-metrics.ts";

const { values } = parseArgs({
  options: { seconds: { type: "string" }, senders: { type: "string" } },
});
const SECONDS = Number(values.seconds ?? 10);
const SENDERS = Number(values.senders ?? 3);
const PUBLIC = "https://callbridge.example.ngrok.app";

function form(fields: number): Buffer {
  const parts: string[] = [];
  for (let i = 0; i < fields; i++) parts.push(`f${i}=x`);
  return Buffer.from(parts.join("&"));
}

const BIG = form(110_000);
const SMALL = form(30);

interface Outcome {
  statuses: Map<number, number>;
  sent: number;
  errors: number;
}

/** One request; any network error (the server may cut an oversized upload) counts as one. */
function post(
  agent: Agent,
  url: URL,
  body: Buffer,
  headers: Record<string, string>,
): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      url,
      {
        method: "POST",
        agent,
        headers: {
          "Content-Type": "application/x-www-form-urlencoded",
          "Content-Length": String(body.length),
          ...headers,
        },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
        res.on("error", () => resolve(-1));
      },
    );
    req.on("error", () => resolve(-1));
    req.end(body);
  });
}

async function flood(
  baseUrl: string,
  body: Buffer,
  headers: Record<string, string>,
): Promise<Outcome> {
  const url = new URL(`${baseUrl}/twilio/voice`);
  const outcome: Outcome = { statuses: new Map(), sent: 0, errors: 0 };
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: SENDERS }, async () => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      while (performance.now() < until) {
        const status = await post(agent, url, body, headers);
        outcome.sent++;
        if (status < 0) outcome.errors++;
        else outcome.statuses.set(status, (outcome.statuses.get(status) ?? 0) + 1);
      }
      agent.destroy();
    }),
  );
  return outcome;
}

const ms = (seconds: number) => (seconds * 1000).toFixed(1);

/**
 * CPU seconds the server process has used (all its threads), from /proc/<pid>/stat; per
 * request, an upper bound on the event-loop time each refused webhook cost.
 */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name (which may hold spaces) start at state, field 3.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]); // utime, stime
  return ticks / 100; // USER_HZ is 100 on Linux
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "callbridge-flood-"));
  const server = await spawnServer({
    databasePath: join(dir, "calls.db"),
    recordingsDir: join(dir, "recordings"),
    env: { TWILIO_AUTH_TOKEN: "flood-bench-token", PUBLIC_BASE_URL: PUBLIC },
  });
  try {
    const cases: [string, Buffer, Record<string, string>][] = [
      ["idle (no traffic)", Buffer.alloc(0), {}],
      ["1 MB, 110k fields, bogus signature", BIG, { "X-Twilio-Signature": "bogus" }],
      ["1 MB, 110k fields, no signature", BIG, {}],
      ["30 fields, bogus signature", SMALL, { "X-Twilio-Signature": "bogus" }],
    ];
    console.log(`${SENDERS} senders, ${SECONDS} s per case, server pid ${server.pid}`);
    console.log(
      "case | requests | statuses | event-loop delay p50 / p99 / max (ms) | server CPU ms per request",
    );
    for (const [label, body, headers] of cases) {
      await scrapeMetrics(server.baseUrl); // resets the delay histogram
      const cpuBefore = cpuSeconds(server.pid);
      let outcome: Outcome | null = null;
      if (body.length === 0) await new Promise((r) => setTimeout(r, SECONDS * 1000));
      else outcome = await flood(server.baseUrl, body, headers);
      const cpu = cpuSeconds(server.pid) - cpuBefore;
      const samples = await scrapeMetrics(server.baseUrl);
      const p50 = metric(samples, "callbridge_nodejs_eventloop_lag_p50_seconds");
      const p99 = metric(samples, "callbridge_nodejs_eventloop_lag_p99_seconds");
      const max = metric(samples, "callbridge_nodejs_eventloop_lag_max_seconds");
      const statuses = outcome
        ? [...outcome.statuses].map(([s, n]) => `${s}×${n}`).join(" ") +
          (outcome.errors ? ` err×${outcome.errors}` : "")
        : "-";
      const perRequest = outcome && outcome.sent > 0 ? ms(cpu / outcome.sent) : "-";
      console.log(
        `${label} | ${outcome?.sent ?? 0} | ${statuses} | ${ms(p50)} / ${ms(p99)} / ${ms(max)} | ${perRequest}`,
      );
    }
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
