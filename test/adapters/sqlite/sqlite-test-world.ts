import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { drizzle } from "drizzle-orm/better-sqlite3";
import { describe } from "vitest";
import { analytics, transcripts } from "../../../drizzle/schema.ts";
import { type OpenedDatabase, openDatabase } from "../../../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import { defaultMigrationsFolder, migrateDatabase } from "../../../src/adapters/sqlite/migrate.ts";
import { analyticsToRow, transcriptToRow } from "../../../src/adapters/sqlite/row-mapping.ts";
import { ThreadedCallRepository } from "../../../src/adapters/sqlite/threaded-call-repository.ts";
import type { Analytics } from "../../../src/domain/analytics.ts";
import { type Call, startCall } from "../../../src/domain/call.ts";
import type { Recording } from "../../../src/domain/recording.ts";
import { createTranscript, type Transcript } from "../../../src/domain/transcript.ts";
import type { RepositoryWorld, RepositoryWorldKind } from "../repository-worlds.ts";

/** The committed migrations, found the way the server finds them. */
export const MIGRATIONS = defaultMigrationsFolder();

export interface SqliteWorld extends OpenedDatabase {
  dir: string;
  path: string;
  repository: DrizzleCallRepository;
  close(): void;
}

/** A fresh database file in its own temp folder, migrated with the real migrations. */
export function createSqliteWorld(): SqliteWorld {
  const dir = mkdtempSync(join(tmpdir(), "callbridge-sqlite-"));
  const path = join(dir, "calls.db");
  const opened = openDatabase(`file:${path}`);
  migrateDatabase(opened.sqlite, MIGRATIONS);
  const repository = new DrizzleCallRepository(opened.db, opened.sqlite);
  return {
    ...opened,
    dir,
    path,
    repository,
    close() {
      if (opened.sqlite.open) {
        repository.flush();
        opened.sqlite.close();
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function inThreadWorld(): Promise<RepositoryWorld> {
  const world = createSqliteWorld();
  return {
    repository: world.repository,
    sqlite: world.sqlite,
    ...sqliteHooks(world.sqlite, world.path),
    closeDatabase: async () => {
      world.sqlite.close();
    },
    commitAndCloseDatabase: async () => {
      world.repository.flush();
      world.sqlite.close();
    },
    reopen: async () => {
      const reopened = openDatabase(`file:${world.path}`);
      return {
        repository: new DrizzleCallRepository(reopened.db, reopened.sqlite),
        close: async () => {
          reopened.sqlite.close();
        },
      };
    },
    close: async () => world.close(),
  };
}

async function threadedWorld(): Promise<RepositoryWorld> {
  const dir = mkdtempSync(join(tmpdir(), "callbridge-threaded-"));
  const path = join(dir, "calls.db");
  const open = () =>
    ThreadedCallRepository.open({ databaseUrl: path, migrationsPath: MIGRATIONS, readers: 1 });
  const repository = await open();
  const { sqlite } = openDatabase(path);
  return {
    repository,
    sqlite,
    ...sqliteHooks(sqlite, path),
    closeDatabase: () => repository.close(),
    commitAndCloseDatabase: () => repository.close(),
    reopen: async () => {
      const reopened = await open();
      return { repository: reopened, close: () => reopened.close() };
    },
    async close() {
      await repository.close();
      sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The backend-neutral hooks of a SQLite world, on the test's own connection to its file. */
function sqliteHooks(
  sqlite: OpenedDatabase["sqlite"],
  path: string,
): Pick<
  RepositoryWorld,
  "rowCount" | "refuseDeletes" | "commits" | "insertDirectly" | "storedValues" | "explain"
> {
  // No checkpoint may reset the WAL file while a test counts the commits in it.
  sqlite.pragma("wal_autocheckpoint = 0");
  const db = drizzle(sqlite);
  return {
    rowCount: async (table, callId) =>
      (
        (callId === undefined
          ? sqlite.prepare(`SELECT count(*) AS n FROM ${table}`).get()
          : sqlite.prepare(`SELECT count(*) AS n FROM ${table} WHERE call_id = ?`).get(callId)) as {
          n: number;
        }
      ).n,
    refuseDeletes: async (table) => {
      sqlite.exec(
        `CREATE TRIGGER refuse_${table} BEFORE DELETE ON ${table} BEGIN SELECT RAISE(ABORT, 'refused'); END`,
      );
    },
    commits: async () => walCommits(`${path}-wal`),
    explain: async (query) =>
      (sqlite.prepare(`EXPLAIN QUERY PLAN ${query}`).all() as Array<{ detail: string }>)
        .map((step) => step.detail)
        .join(" | "),
    insertDirectly: async (rows) => {
      for (const t of rows.transcripts) db.insert(transcripts).values(transcriptToRow(t)).run();
      for (const a of rows.analytics) db.insert(analytics).values(analyticsToRow(a)).run();
    },
    storedValues: async (table, callId) => {
      const columns = (sqlite.pragma(`table_info(${table})`) as Array<{ name: string }>)
        .map((c) => c.name)
        .filter((name) => !["id", "call_id", "seq"].includes(name));
      const select = columns.map((c) => `typeof(${c}) || ':' || quote(${c}) AS ${c}`).join(", ");
      const order = table === "transcripts" ? "seq" : "rowid";
      return sqlite
        .prepare(`SELECT ${select} FROM ${table} WHERE call_id = ? ORDER BY ${order}`)
        .all(callId);
    },
  };
}

/**
 * Transactions committed to the database file so far, read from the WAL file itself: each
 * commit ends with one frame whose header carries the database size (zero in other frames).
 * Frames with other salts are left over from an earlier generation of the WAL.
 */
function walCommits(walPath: string): number {
  if (!existsSync(walPath)) return 0;
  const wal = readFileSync(walPath);
  if (wal.length < 32) return 0;
  const pageSize = wal.readUInt32BE(8);
  const salts = [wal.readUInt32BE(16), wal.readUInt32BE(20)];
  let commits = 0;
  for (let at = 32; at + 24 + pageSize <= wal.length; at += 24 + pageSize) {
    if (wal.readUInt32BE(at + 8) !== salts[0] || wal.readUInt32BE(at + 12) !== salts[1]) break;
    if (wal.readUInt32BE(at + 4) !== 0) commits++;
  }
  return commits;
}

export const IN_THREAD_WORLD: RepositoryWorldKind = {
  name: "DrizzleCallRepository (in-thread)",
  describe,
  open: inThreadWorld,
};

export const THREADED_WORLD: RepositoryWorldKind = {
  name: "ThreadedCallRepository (worker threads)",
  describe,
  open: threadedWorld,
};

export const at = (iso: string): Date => new Date(iso);

export function aCall(id: string, overrides: Partial<Call> = {}): Call {
  return {
    ...startCall({
      id,
      streamSid: `MZ${id}`,
      callSid: `CA${id}`,
      caller: "+15550001111",
      startedAt: at("2026-01-01T10:00:00.000Z"),
    }),
    ...overrides,
  };
}

export function aRecording(
  id: string,
  callId: string,
  overrides: Partial<Recording> = {},
): Recording {
  return {
    id,
    callId,
    track: "caller",
    format: "wav",
    codec: "pcm_s16le",
    sampleRate: 16_000,
    channels: 1,
    sizeBytes: 32_044,
    durationSeconds: 1.0,
    fileKey: `MZ${callId}_1767261600000.wav`,
    cloudUrl: null,
    createdAt: at("2026-01-01T10:05:00.000Z"),
    ...overrides,
  };
}

export function aTranscript(
  id: string,
  callId: string,
  text: string,
  overrides: Partial<Transcript> = {},
): Transcript {
  return {
    ...createTranscript({
      id,
      callId,
      speaker: "caller",
      text,
      createdAt: at("2026-01-01T10:01:00.000Z"),
    }),
    ...overrides,
  };
}

export function anAnalytics(
  id: string,
  callId: string,
  overrides: Partial<Analytics> = {},
): Analytics {
  return {
    id,
    callId,
    sentiment: "positive",
    sentimentScore: 0.8,
    callerTalkMs: 1200,
    assistantTalkMs: 3400,
    silenceMs: 500,
    interruptions: 1,
    avgResponseLatencyMs: 640,
    p95ResponseLatencyMs: 910,
    customMetrics: { turns: 4, tags: ["billing"], nested: { ok: true } },
    createdAt: at("2026-01-01T10:02:00.000Z"),
    ...overrides,
  };
}
