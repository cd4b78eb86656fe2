import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, it } from "vitest";
import { type ChildServer, spawnServer } from "../../bench/lib/child-server.ts";
import { decodeWav } from "../../src/domain/audio/index.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { createTestDatabase, describePostgres, type TestDatabase } from "../support/postgres.ts";
import { concat, silence, tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { playCall, TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * Issue 18: the real server with DATABASE_URL=postgres://… A whole call goes through it and is
 * read back through the JSON API; then a server on the same database is killed mid-call and a
 * new one started on it: migrations are not applied again, and crash recovery ends the call.
 */

const CALLER_WORDS = "I would like to book a table for four people";
const ASSISTANT_WORDS = "Certainly, which evening suits you";

interface ApiCall {
  id: string;
  streamSid: string;
  status: string;
  caller: string | null;
  startedAt: string;
  endedAt: string | null;
  metadata: { language: string | null } | null;
  recordings: { id: string; track: string; sizeBytes: number; durationSeconds: number }[];
  transcriptCount: number;
  analyticsCount: number;
}

interface AppliedMigration {
  id: number;
  hash: string;
  created_at: string;
}

let database: TestDatabase | null = null;
let fake: FakeRealtimeServer | null = null;
let dir = "";
let recordingsDir = "";
let server: TestServer | null = null;
let child: ChildServer | null = null;

async function getJson<T>(baseUrl: string, path: string): Promise<T> {
  const response = await fetch(baseUrl + path);
  const text = await response.text();
  if (response.status !== 200) throw new Error(`GET ${path} answered ${response.status}: ${text}`);
  return JSON.parse(text) as T;
}

async function callOfStream(baseUrl: string, streamSid: string): Promise<ApiCall> {
  const page = await getJson<{ data: { id: string }[] }>(
    baseUrl,
    `/api/calls?streamSid=${encodeURIComponent(streamSid)}`,
  );
  const id = page.data[0]?.id;
  if (id === undefined) throw new Error(`no call for stream ${streamSid}`);
  return getJson<ApiCall>(baseUrl, `/api/calls/${id}`);
}

async function appliedMigrations(url: string): Promise<AppliedMigration[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<AppliedMigration>(
      "SELECT id, hash, created_at::text FROM drizzle.__drizzle_migrations ORDER BY id",
    );
    return rows;
  } finally {
    await client.end();
  }
}

/** The server in this process, on the test database and the one recordings folder. */
function startOnDatabase(url: string, extra: Record<string, string> = {}): Promise<TestServer> {
  return startTestServer({
    DATABASE_URL: url,
    RECORDING_STORAGE_PATH: recordingsDir,
    ANALYTICS_INTERVAL_SECONDS: "1",
    CALL_LANGUAGE: "en-US",
    ...extra,
  });
}

describePostgres("a call stored in PostgreSQL, through the real server", () => {
  let firstStreamSid = "";
  let migrationsAfterFirstStart: AppliedMigration[] = [];

  beforeAll(async () => {
    database = await createTestDatabase("cb_e2e");
    dir = mkdtempSync(join(tmpdir(), "callbridge-pg-e2e-"));
    recordingsDir = join(dir, "recordings");
    fake = await FakeRealtimeServer.start({
      callerTranscript: CALLER_WORDS,
      assistantTranscript: ASSISTANT_WORDS,
    });
  });

  afterAll(async () => {
    await server?.stop();
    if (child?.alive) await child.kill("SIGKILL");
    await fake?.close();
    await database?.drop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("stores a whole call and serves it back through the JSON API", async () => {
    const url = database!.url;
    server = await startOnDatabase(url, {
      OPENAI_API_KEY: "sk-test-fake",
      OPENAI_REALTIME_URL: fake!.url,
    });
    migrationsAfterFirstStart = await appliedMigrations(url);
    expect(migrationsAfterFirstStart.length).toBeGreaterThan(0);

    const summary = await playCall({
      url: server.mediaStreamUrl,
      samples8k: concat(tone(300, 2000, 8000, 0.4), silence(800, 8000)),
      settleMs: 300,
      caller: "+15551234567",
    });
    firstStreamSid = summary.streamSid;
    const base = server.baseUrl;
    const call = await eventually(
      async () => {
        const c = await callOfStream(base, summary.streamSid);
        return c.status === "completed" && c.recordings.length > 0 ? c : undefined;
      },
      10_000,
      "the call to be stored as completed",
    );
    expect(call).toMatchObject({ caller: "+15551234567", metadata: { language: "en-US" } });
    expect(call.endedAt).not.toBeNull();

    const transcripts = await getJson<{ data: { speaker: string; text: string }[] }>(
      base,
      `/api/calls/${call.id}/transcripts`,
    );
    expect(transcripts.data.map((t) => [t.speaker, t.text])).toEqual([
      ["caller", CALLER_WORDS],
      ["assistant", ASSISTANT_WORDS],
    ]);
    expect(call.transcriptCount).toBe(2);

    const analytics = await getJson<{ data: { callId: string }[] }>(
      base,
      `/api/calls/${call.id}/analytics`,
    );
    expect(analytics.data.length).toBeGreaterThan(0);
    expect(analytics.data.every((row) => row.callId === call.id)).toBe(true);
    expect(call.analyticsCount).toBe(analytics.data.length);

    const metadata = await getJson<{ callId: string; language: string | null }>(
      base,
      `/api/calls/${call.id}/metadata`,
    );
    expect(metadata).toMatchObject({ callId: call.id, language: "en-US" });

    const recordings = await getJson<{ data: { id: string; track: string }[] }>(
      base,
      `/api/calls/${call.id}/recordings`,
    );
    expect(recordings.data.map((r) => r.track).sort()).toEqual(
      call.recordings.map((r) => r.track).sort(),
    );
    const caller = call.recordings.find((r) => r.track === "caller");
    expect(caller).toBeDefined();
    const audio = await fetch(`${base}/api/recordings/${caller!.id}/audio`);
    expect(audio.status).toBe(200);
    const wav = decodeWav(new Uint8Array(await audio.arrayBuffer()));
    expect(wav.samples.length).toBe(summary.framesSent * 320);
    expect(caller!.durationSeconds).toBeCloseTo(summary.framesSent * 0.02, 6);

    const search = await getJson<{ data: { callId: string; snippet: string }[] }>(
      base,
      "/api/search?q=table%20four",
    );
    expect(search.data.map((hit) => hit.callId)).toEqual([call.id]);
    expect(search.data[0]!.snippet).toContain("[table]");
    await server.stop();
    server = null;
  });

  it("starts again on the same database without migrating it again, and recovers a crashed call", async () => {
    const url = database!.url;
    // Another instance on the same database dies in the middle of a call.
    child = await spawnServer({ databasePath: url, recordingsDir });
    const sim = await TwilioSimulator.connect({ url: child.mediaStreamUrl, realtime: true });
    const playing = sim.play(tone(440, 20_000, 8000, 0.3));
    await eventually(() => (sim.framesSent >= 100 ? true : undefined), 15_000, "2 s of audio");
    await child.kill("SIGKILL");
    await playing.catch(() => {});
    sim.terminate();
    child = null;

    server = await startOnDatabase(url);
    expect(await appliedMigrations(url)).toEqual(migrationsAfterFirstStart);

    const base = server.baseUrl;
    const crashed = await callOfStream(base, sim.streamSid);
    expect(crashed.status).toBe("failed");
    expect(Date.parse(crashed.endedAt ?? "")).toBeGreaterThanOrEqual(Date.parse(crashed.startedAt));
    const recovered = crashed.recordings.find((r) => r.track === "caller");
    expect(recovered?.durationSeconds).toBeGreaterThan(1);
    const audio = await fetch(`${base}/api/recordings/${recovered!.id}/audio`);
    expect(audio.status).toBe(200);
    expect(decodeWav(new Uint8Array(await audio.arrayBuffer())).sampleRate).toBe(16_000);

    // The first call is still there, whole, and still found.
    const first = await callOfStream(base, firstStreamSid);
    expect(first.status).toBe("completed");
    expect(first.transcriptCount).toBe(2);
    const search = await getJson<{ data: { callId: string }[] }>(base, "/api/search?q=book");
    expect(search.data.map((hit) => hit.callId)).toEqual([first.id]);
  }, 90_000);
});
