import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type OpenedDatabase, openDatabase } from "../../../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import { defaultMigrationsFolder, migrateDatabase } from "../../../src/adapters/sqlite/migrate.ts";
import { ThreadedCallRepository } from "../../../src/adapters/sqlite/threaded-call-repository.ts";
import type { CallRepository } from "../../../src/application/ports/index.ts";
import type { Analytics } from "../../../src/domain/analytics.ts";
import { type Call, startCall } from "../../../src/domain/call.ts";
import type { Recording } from "../../../src/domain/recording.ts";
import { createTranscript, type Transcript } from "../../../src/domain/transcript.ts";

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

/**
 * A CallRepository adapter under test, on a fresh migrated database file, with a connection of
 * the test's own (`sqlite`) for assertions and schema tricks.
 */
export interface RepositoryWorld {
  repository: CallRepository;
  sqlite: OpenedDatabase["sqlite"];
  /** Closes the repository's own database, as a failing disk or shutdown would. */
  closeDatabase(): Promise<void>;
  close(): Promise<void>;
}

async function inThreadWorld(): Promise<RepositoryWorld> {
  const world = createSqliteWorld();
  return {
    repository: world.repository,
    sqlite: world.sqlite,
    closeDatabase: async () => {
      world.sqlite.close();
    },
    close: async () => world.close(),
  };
}

async function threadedWorld(): Promise<RepositoryWorld> {
  const dir = mkdtempSync(join(tmpdir(), "callbridge-threaded-"));
  const path = join(dir, "calls.db");
  const repository = await ThreadedCallRepository.open({
    databaseUrl: path,
    migrationsPath: MIGRATIONS,
    readers: 1,
  });
  const { sqlite } = openDatabase(path);
  return {
    repository,
    sqlite,
    closeDatabase: () => repository.close(),
    async close() {
      await repository.close();
      sqlite.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Every CallRepository adapter: the contract suites run against each. */
export const REPOSITORY_WORLDS: Array<[string, () => Promise<RepositoryWorld>]> = [
  ["DrizzleCallRepository (in-thread)", inThreadWorld],
  ["ThreadedCallRepository (worker threads)", threadedWorld],
];

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
