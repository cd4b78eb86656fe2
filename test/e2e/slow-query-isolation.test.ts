/**
 * The principle of issue 14 at a small scale: a slow database operation asked for through the
 * API while a call is live does not hold up the thread that carries the call's audio.
 *
 * The server runs in this process, so a 1 ms ticker here shares the audio thread's event loop:
 * its longest gap is the longest time the loop could not serve a frame. The same operation run
 * on this thread (the repository as it was, in-process) is the yardstick, so the test compares
 * two measurements on the same machine instead of asserting a wall-clock figure.
 */
import { copyFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openDatabase } from "../../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../../src/adapters/sqlite/drizzle-call-repository.ts";
import { migrateDatabase } from "../../src/adapters/sqlite/migrate.ts";
import { MIGRATIONS } from "../adapters/sqlite/sqlite-test-world.ts";
import { tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { TwilioSimulator } from "../support/twilio-simulator.ts";

const TRANSCRIPTS = 60_000;
const BIG_CALL = "big-call";

let dir: string;
let seeded: string;

/** One stored call with TRANSCRIPTS transcripts, indexed for search. */
function seedDatabase(path: string): void {
  const { sqlite, db } = openDatabase(path);
  migrateDatabase(sqlite, MIGRATIONS);
  const t0 = Date.parse("2026-01-01T10:00:00.000Z");
  sqlite
    .prepare(
      `INSERT INTO calls (id, stream_sid, call_sid, caller, status, started_at, ended_at,
         duration_seconds, created_at, updated_at)
       VALUES (?, 'MZbig', 'CAbig', '+15550001111', 'completed', ?, ?, 3600, ?, ?)`,
    )
    .run(BIG_CALL, t0, t0 + 3_600_000, t0, t0);
  sqlite
    .prepare(
      `WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
       INSERT INTO transcripts (id, call_id, speaker, text, offset_ms, interrupted, created_at)
       SELECT 't' || i, ?, CASE i % 2 WHEN 0 THEN 'caller' ELSE 'assistant' END,
              'about my order number ' || i || ' and the refund for it', i * 10, 0, ?
       FROM n`,
    )
    .run(TRANSCRIPTS, BIG_CALL, t0);
  const repository = new DrizzleCallRepository(db, sqlite);
  repository.flush(); // indexes every transcript for search
  sqlite.close();
}

/** Runs `work` while a 1 ms ticker measures the event loop; returns the longest gap. */
async function longestGapDuring(work: () => Promise<unknown>): Promise<number> {
  let last = performance.now();
  let longest = 0;
  const ticker = setInterval(() => {
    const now = performance.now();
    longest = Math.max(longest, now - last);
    last = now;
  }, 1);
  try {
    await work();
    await new Promise((resolve) => setTimeout(resolve, 5));
  } finally {
    clearInterval(ticker);
  }
  return longest;
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "callbridge-slow-query-"));
  seeded = join(dir, "seeded.db");
  seedDatabase(seeded);
}, 120_000);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("a slow database operation during a live call", () => {
  let server: TestServer | null = null;
  afterAll(async () => server?.stop());

  it("does not hold up the audio thread the way the same work on it does", async () => {
    // Yardstick: deleting the big call on this thread, as the repository used to.
    const local = join(dir, "in-thread.db");
    copyFileSync(seeded, local);
    const { sqlite, db } = openDatabase(local);
    const inThread = new DrizzleCallRepository(db, sqlite);
    const inThreadGap = await longestGapDuring(() => inThread.deleteCall(BIG_CALL));
    inThread.flush();
    sqlite.close();

    const served = join(dir, "served.db");
    copyFileSync(seeded, served);
    server = await startTestServer({ DATABASE_URL: served });
    const s = server;
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl });
    const playing = sim.play(tone(440, 4000, 8000, 0.3), { realtime: true });
    await eventually(
      async () => ((await fetch(`${s.baseUrl}/api/calls?status=active`)).ok ? true : undefined),
      10_000,
      "the live call",
    );

    const responses: number[] = [];
    const threadedGap = await longestGapDuring(async () => {
      // A common word over every transcript, then the same delete as above.
      const search = await fetch(`${s.baseUrl}/api/search?q=order&limit=50`);
      responses.push(search.status);
      await search.arrayBuffer();
      const deleted = await fetch(`${s.baseUrl}/api/calls/${BIG_CALL}`, { method: "DELETE" });
      responses.push(deleted.status);
    });
    await playing;
    await sim.hangUp();

    expect(responses).toEqual([200, 204]);
    expect((await fetch(`${s.baseUrl}/api/calls/${BIG_CALL}`)).status).toBe(404);
    // The delete alone held this thread for inThreadGap; through the server it must not.
    expect(threadedGap * 4).toBeLessThan(inThreadGap);
  }, 120_000);
});
