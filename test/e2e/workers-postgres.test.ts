import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ChildServer, spawnServer } from "../../bench/lib/child-server.ts";
import { openSse, type SseStream } from "../adapters/http/events/sse-client.ts";
import { createTestDatabase, describePostgres, type TestDatabase } from "../support/postgres.ts";
import { tone } from "../support/signals.ts";
import { eventually } from "../support/test-server.ts";
import { playCall } from "../support/twilio-simulator.ts";

/**
 * WORKERS=2 on PostgreSQL (issue 19): the workers reach each other's feeds through NOTIFY, and
 * the machine LISTENs once, through its primary, so that PostgreSQL's cost per event grows with
 * machines rather than workers. A feed on whichever worker answers it carries every call.
 */

const CALLS = 8;

let database: TestDatabase | null = null;
let dir = "";
let server: ChildServer | null = null;
let feed: SseStream | null = null;

async function listeners(url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM pg_stat_activity
       WHERE datname = current_database() AND application_name = 'callbridge events listen'`,
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

describePostgres("WORKERS=2 on PostgreSQL", () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "callbridge-workers-pg-"));
    database = await createTestDatabase("cb_e2e_workers");
    server = await spawnServer({
      databasePath: database.url,
      recordingsDir: join(dir, "recordings"),
      env: { WORKERS: "2" },
    });
    await eventually(
      () => (server!.logs.some((line) => line.msg === "all workers listening") ? true : undefined),
      30_000,
      "both workers listening",
    );
    feed = await openSse(`${server.baseUrl}/api/events`);
  }, 60_000);

  afterAll(async () => {
    feed?.close();
    await server?.stop();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("carries every worker's calls on a feed of either, with one LISTEN for the machine", async () => {
    const played = await Promise.all(
      Array.from({ length: CALLS }, () =>
        playCall({ url: server!.mediaStreamUrl, samples8k: tone(440, 600, 8000, 0.3) }),
      ),
    );
    const ended = await eventually(
      () => {
        const ids = feed!.frames
          .filter((f) => f.event === "call.ended")
          .map((f) => (JSON.parse(f.data) as { streamSid: string }).streamSid);
        return played.every((p) => ids.includes(p.streamSid)) ? ids : undefined;
      },
      20_000,
      "every call's end on the feed",
    );
    expect(new Set(ended).size).toBeGreaterThanOrEqual(CALLS);
    // Both workers took calls: otherwise this test would not cross workers at all.
    const workers = new Set(
      server!.logs
        .filter((l) => l.msg === "call ended" && played.some((p) => p.streamSid === l.streamSid))
        .map((l) => l.worker),
    );
    expect(workers.size).toBe(2);
    expect(await listeners(database!.url)).toBe(1);
  }, 60_000);
});
