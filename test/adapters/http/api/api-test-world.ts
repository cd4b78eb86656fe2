import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { Hono } from "hono";
import pg from "pg";
import { afterAll, beforeAll, describe } from "vitest";
import { recordingFileName } from "../../../../src/adapters/fs/file-names.ts";
import { FsRecordingStore } from "../../../../src/adapters/fs/fs-recording-store.ts";
import { WAV_HEADER_BYTES, wavHeader } from "../../../../src/adapters/fs/wav-header.ts";
import { apiRoutes } from "../../../../src/adapters/http/api/api-routes.ts";
import { openApiRoutes } from "../../../../src/adapters/http/api/openapi.ts";
import { signedUrlRoutes, urlSignerFor } from "../../../../src/adapters/http/api/signed-urls.ts";
import { createHttpApp } from "../../../../src/adapters/http/app.ts";
import { createLogger } from "../../../../src/adapters/logging/pino-logger.ts";
import { defaultPostgresMigrationsFolder } from "../../../../src/adapters/postgres/migrate.ts";
import { PostgresCallRepository } from "../../../../src/adapters/postgres/postgres-call-repository.ts";
import { openDatabase } from "../../../../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../../../../src/adapters/sqlite/drizzle-call-repository.ts";
import {
  defaultMigrationsFolder,
  migrateDatabase,
} from "../../../../src/adapters/sqlite/migrate.ts";
import type { CallRepository } from "../../../../src/application/ports/index.ts";
import { CallQueries } from "../../../../src/application/queries.ts";
import { type AnalyticsInput, createAnalytics } from "../../../../src/domain/analytics.ts";
import { type Call, endCall, startCall } from "../../../../src/domain/call.ts";
import { type MetadataPatch, mergeMetadata } from "../../../../src/domain/call-metadata.ts";
import type { Recording, RecordingTrack } from "../../../../src/domain/recording.ts";
import { createTranscript, type Transcript } from "../../../../src/domain/transcript.ts";
import {
  createTestDatabase,
  describePostgres,
  type TestDatabase,
} from "../../../support/postgres.ts";

export interface WorldOptions {
  apiKey?: string;
  maxBodyBytes?: number;
  /** Matches a relevance search ranks at most (the repository's default when unset). */
  searchCandidates?: number;
  /** Calls an export reads per query (the route's default when unset). */
  exportPageSize?: number;
}

export interface ApiWorld {
  backend: BackendName;
  dir: string;
  recordingsDir: string;
  repository: CallRepository;
  store: FsRecordingStore;
  app: Hono;
  /** Call ids that `isCallActive` reports as live. */
  live: Set<string>;
  /** Bodies the stand-in Twilio route received, to prove the body limit ran before it. */
  twilioBodies: string[];
  request(pathAndQuery: string, init?: RequestInit): Promise<Response>;
  /**
   * Runs SQL on the world's database behind the repository's back (`?` placeholders, on either
   * backend): for rows the API cannot show, or cannot be made to hold.
   */
  sql(statement: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Takes the database away (its connection closed) while the app keeps running. */
  loseDatabase(): Promise<void>;
  close(): Promise<void>;
}

export type BackendName = "SQLite" | "PostgreSQL";

export interface ApiBackend {
  name: BackendName;
  createWorld(options?: WorldOptions): Promise<ApiWorld>;
}

/**
 * The same tests once per backend: `describe("<name> (SQLite)")`, and `describePostgres` for
 * PostgreSQL (skipped with one printed line without TEST_POSTGRES_URL), whose block gets a
 * database of its own, emptied before every world.
 */
export function describeEachBackend(name: string, body: (backend: ApiBackend) => void): void {
  describe(`${name} (SQLite)`, () => body(sqliteBackend));
  describePostgres(`${name} (PostgreSQL)`, () => {
    const backend = new PostgresBackend();
    beforeAll(() => backend.setUp());
    afterAll(() => backend.tearDown());
    body(backend);
  });
}

export const sqliteBackend: ApiBackend = {
  name: "SQLite",
  createWorld: async (options) => createApiWorld(options),
};

/**
 * A real database file and a real recording folder in a fresh temp dir, behind the real HTTP
 * app: health routes, the API and its signed URLs, /openapi.json, the one error mapping, and a stand-in
 * /twilio/voice route, with the body limit and API key applied as main.ts applies them.
 * SQLite, in this thread: tests that are not about storage use it directly.
 */
export function createApiWorld(options: WorldOptions = {}): ApiWorld {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "callbridge-api-"));
  const database = openDatabase(`file:${path.join(dir, "calls.db")}`);
  migrateDatabase(database.sqlite, defaultMigrationsFolder());
  const repository = new DrizzleCallRepository(database.db, database.sqlite, {
    searchCandidates: options.searchCandidates,
  });
  const closeDatabase = () => {
    if (!database.sqlite.open) return;
    repository.flush();
    database.sqlite.close();
  };
  return assembleWorld("SQLite", dir, repository, options, {
    async sql(statement, params = []) {
      const prepared = database.sqlite.prepare(statement);
      if (prepared.reader) return prepared.all(...params) as Record<string, unknown>[];
      prepared.run(...params);
      return [];
    },
    async loseDatabase() {
      closeDatabase();
    },
    async close() {
      closeDatabase();
    },
  });
}

/**
 * One database per describe block, emptied before every world. Repositories are opened once per
 * option set and kept for the block (opening one migrates first: ~85 ms, far more than a test);
 * a world's close() commits its pending writes, and loseDatabase() really closes its repository.
 */
class PostgresBackend implements ApiBackend {
  readonly name = "PostgreSQL";
  private database: TestDatabase | null = null;
  /** For emptying the tables between worlds and for `sql`, beside the repository's own pool. */
  private admin: pg.Pool | null = null;
  private readonly repositories = new Map<string, Promise<PostgresCallRepository>>();

  async setUp(): Promise<void> {
    this.database = await createTestDatabase("cb_api");
    this.admin = new pg.Pool({ connectionString: this.database.url, max: 2 });
  }

  async tearDown(): Promise<void> {
    const open = [...this.repositories.values()];
    this.repositories.clear();
    await Promise.all(open.map(async (repository) => (await repository).close()));
    await this.admin?.end();
    await this.database?.drop();
  }

  private repositoryFor(url: string, options: WorldOptions): Promise<PostgresCallRepository> {
    const key = repositoryKey(options);
    let repository = this.repositories.get(key);
    if (!repository) {
      repository = PostgresCallRepository.open({
        url,
        migrationsPath: defaultPostgresMigrationsFolder(),
        searchCandidates: options.searchCandidates,
        poolSize: 4,
      });
      this.repositories.set(key, repository);
    }
    return repository;
  }

  async createWorld(options: WorldOptions = {}): Promise<ApiWorld> {
    const { database, admin } = this;
    if (!database || !admin) throw new Error("PostgresBackend.setUp has not run");
    // Opened first: the first one migrates the fresh database.
    const repository = await this.repositoryFor(database.url, options);
    await emptyAllTables(admin);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "callbridge-api-pg-"));
    let lost: Promise<void> | null = null;
    return assembleWorld("PostgreSQL", dir, repository, options, {
      async sql(statement, params = []) {
        let n = 0;
        const numbered = statement.replace(/\?/g, () => `$${++n}`);
        return (await admin.query(numbered, params)).rows;
      },
      loseDatabase: () => {
        // The next world of these options opens a new repository.
        this.repositories.delete(repositoryKey(options));
        lost ??= repository.close();
        return lost;
      },
      close: () => lost ?? repository.flush(),
    });
  }
}

const repositoryKey = (options: WorldOptions): string =>
  `searchCandidates=${options.searchCandidates ?? "default"}`;

/**
 * Every table of the schema emptied, those that reference others first and those the calls'
 * triggers keep (call_rollup, callers) last: the next world starts from nothing. DELETE, not TRUNCATE: on tables this small TRUNCATE costs ~45 ms, DELETE < 1 ms.
 */
async function emptyAllTables(admin: pg.Pool): Promise<void> {
  const { rows } = await admin.query<{ name: string }>(
    `SELECT format('%I.%I', n.nspname, c.relname) AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r'
      ORDER BY EXISTS (SELECT 1 FROM pg_constraint k WHERE k.contype = 'f' AND k.conrelid = c.oid) DESC,
               c.relname IN ('call_rollup', 'callers')`,
  );
  if (rows.length === 0) return;
  await admin.query(rows.map((row) => `DELETE FROM ${row.name};`).join(" "));
}

interface DatabaseHandle {
  sql: ApiWorld["sql"];
  loseDatabase(): Promise<void>;
  close(): Promise<void>;
}

function assembleWorld(
  backend: BackendName,
  dir: string,
  repository: CallRepository,
  options: WorldOptions,
  database: DatabaseHandle,
): ApiWorld {
  const recordingsDir = path.join(dir, "recordings");
  const store = new FsRecordingStore({ root: recordingsDir });
  const queries = new CallQueries({ calls: repository, recordings: store });
  const live = new Set<string>();
  const twilioBodies: string[] = [];
  const twilio = new Hono();
  twilio.post("/twilio/voice", async (c) => {
    twilioBodies.push(await c.req.text());
    return c.text("<Response/>", 200, { "Content-Type": "text/xml" });
  });
  const urlSigner = urlSignerFor(options.apiKey);
  const app = createHttpApp({
    logger: createLogger("silent"),
    health: { calls: repository, recordings: store, activeCalls: () => live.size },
    bodyLimit: { maxBytes: options.maxBodyBytes ?? 64 * 1024, paths: ["/api/*", "/twilio/*"] },
    auth: { apiKey: options.apiKey, paths: ["/api/*"], urlSigner },
    mounts: [
      {
        prefix: "/api",
        routes: apiRoutes({
          queries,
          isCallActive: (id) => live.has(id),
          exportPageSize: options.exportPageSize,
        }),
      },
      { prefix: "/api", routes: signedUrlRoutes(urlSigner) },
      { prefix: "/", routes: openApiRoutes({ apiKeyRequired: options.apiKey !== undefined }) },
      { prefix: "/", routes: twilio },
    ],
  });
  return {
    backend,
    dir,
    recordingsDir,
    repository,
    store,
    app,
    live,
    twilioBodies,
    request: async (pathAndQuery, init) => app.request(pathAndQuery, init),
    sql: database.sql,
    loseDatabase: database.loseDatabase,
    async close() {
      // The database first, synchronously on SQLite: callers that do not await still get it.
      const closing = database.close();
      fs.rmSync(dir, { recursive: true, force: true });
      await closing;
    },
  };
}

export const at = (iso: string): Date => new Date(iso);

export interface CallSeed {
  id: string;
  startedAt?: string;
  streamSid?: string;
  callSid?: string | null;
  caller?: string | null;
  /** Ended calls are completed one minute after they start unless told otherwise. */
  outcome?: "completed" | "failed" | "active";
}

export async function seedCall(world: ApiWorld, seed: CallSeed): Promise<Call> {
  const started = startCall({
    id: seed.id,
    streamSid: seed.streamSid ?? `MZ${seed.id}`,
    callSid: seed.callSid === undefined ? `CA${seed.id}` : seed.callSid,
    caller: seed.caller === undefined ? "+15550001111" : seed.caller,
    startedAt: at(seed.startedAt ?? "2026-01-01T10:00:00.000Z"),
  });
  await world.repository.createCall(started);
  const outcome = seed.outcome ?? "completed";
  if (outcome === "active") return started;
  const ended = endCall(started, outcome, new Date(started.startedAt.getTime() + 60_000));
  return world.repository.updateCall(ended);
}

export async function seedTranscript(
  world: ApiWorld,
  call: Call,
  id: string,
  text: string,
  extra: { speaker?: string; offsetMs?: number | null; confidence?: number | null } = {},
): Promise<Transcript> {
  return world.repository.createTranscript(
    createTranscript({
      id,
      callId: call.id,
      speaker: extra.speaker ?? "caller",
      text,
      confidence: extra.confidence ?? null,
      offsetMs: extra.offsetMs ?? null,
      createdAt: new Date(call.startedAt.getTime() + 1000),
    }),
  );
}

export async function seedAnalytics(
  world: ApiWorld,
  call: Call,
  id: string,
  createdAtOffsetMs: number,
  input: AnalyticsInput = {},
) {
  return world.repository.createAnalytics(
    createAnalytics(id, call.id, input, new Date(call.startedAt.getTime() + createdAtOffsetMs)),
  );
}

export async function seedMetadata(world: ApiWorld, call: Call, patch: MetadataPatch) {
  return world.repository.createOrUpdateMetadata(
    mergeMetadata(call.id, null, patch, new Date(call.startedAt.getTime() + 500)),
  );
}

/** Deterministic samples, so a misplaced byte in a range shows up. */
export function samples(length: number, seed = 7): Int16Array {
  const out = new Int16Array(length);
  let x = seed;
  for (let i = 0; i < length; i++) {
    x = (x * 1103515245 + 12345) & 0x7fffffff;
    out[i] = (x >> 8) & 0xffff;
  }
  return out;
}

/** Writes a real WAV file through the store and stores its row; returns the row and the bytes. */
export async function seedRecording(
  world: ApiWorld,
  call: Call,
  id: string,
  options: { track?: RecordingTrack; sampleCount?: number } = {},
): Promise<{ recording: Recording; bytes: Buffer }> {
  const track = options.track ?? "caller";
  const channels = track === "caller" ? 1 : 2;
  const writer = world.store.create({
    streamSid: call.streamSid,
    startedAtMs: call.startedAt.getTime(),
    track,
    sampleRate: 16_000,
    channels,
  });
  const all = samples((options.sampleCount ?? 8000) * channels, id.length + 3);
  // The writer drops audio rather than queue more than a few seconds, as a live call would
  // need, so long recordings are fed in half-second chunks with pauses, like a real call.
  const chunk = 8000 * channels;
  for (let from = 0; from < all.length; from += chunk) {
    writer.append(all.subarray(from, from + chunk));
    if (from + chunk < all.length) await sleep(10);
  }
  const finished = await writer.finalize();
  if (finished.sizeBytes !== 44 + all.length * 2) {
    throw new Error(`the store dropped audio: ${finished.sizeBytes} bytes written`);
  }
  const recording = await world.repository.createRecording({
    id,
    callId: call.id,
    track,
    format: "wav",
    codec: "pcm_s16le",
    sampleRate: finished.sampleRate,
    channels: finished.channels,
    sizeBytes: finished.sizeBytes,
    durationSeconds: finished.durationSeconds,
    fileKey: finished.fileKey,
    cloudUrl: null,
    createdAt: new Date(call.startedAt.getTime() + 61_000),
  });
  const bytes = fs.readFileSync(path.join(world.recordingsDir, finished.fileKey));
  return { recording, bytes };
}

/**
 * A long recording written straight into the folder under the store's own name (feeding it
 * through a writer would take as long as the writer's pacing allows). Returns the row.
 */
export async function seedLargeRecording(
  world: ApiWorld,
  call: Call,
  id: string,
  dataBytes: number,
): Promise<Recording> {
  const fileKey = recordingFileName(call.streamSid, call.startedAt.getTime(), "caller");
  const file = fs.openSync(path.join(world.recordingsDir, fileKey), "wx");
  try {
    fs.writeSync(file, wavHeader(16_000, 1, dataBytes));
    const block = Buffer.alloc(1 << 20, 0x5a);
    for (let written = 0; written < dataBytes; written += block.length) {
      fs.writeSync(file, block, 0, Math.min(block.length, dataBytes - written));
    }
  } finally {
    fs.closeSync(file);
  }
  return world.repository.createRecording({
    id,
    callId: call.id,
    track: "caller",
    format: "wav",
    codec: "pcm_s16le",
    sampleRate: 16_000,
    channels: 1,
    sizeBytes: WAV_HEADER_BYTES + dataBytes,
    durationSeconds: dataBytes / 32_000,
    fileKey,
    cloudUrl: null,
    createdAt: call.startedAt,
  });
}

/** The parts of a body that must never reach a client. */
export function internalsIn(text: string, world: ApiWorld): string[] {
  const leaks: string[] = [];
  const internals = [world.dir, "/tmp", "SELECT", "sqlite", "postgres", "drizzle", "at /"];
  for (const needle of [...internals, "node_modules", ".ts:"]) {
    if (text.includes(needle)) leaks.push(needle);
  }
  return leaks;
}
