import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Hono } from "hono";
import { FsRecordingStore } from "../../../src/adapters/fs/fs-recording-store.ts";
import { apiRoutes } from "../../../src/adapters/http/api/api-routes.ts";
import { createHttpApp } from "../../../src/adapters/http/app.ts";
import { createLogger } from "../../../src/adapters/logging/pino-logger.ts";
import { PrometheusMetrics } from "../../../src/adapters/metrics/prometheus-metrics.ts";
import { ArchivedRecordingStore } from "../../../src/adapters/s3/archived-recording-store.ts";
import { S3Objects } from "../../../src/adapters/s3/s3-objects.ts";
import { S3RecordingArchive } from "../../../src/adapters/s3/s3-recording-archive.ts";
import { openDatabase } from "../../../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import { defaultMigrationsFolder, migrateDatabase } from "../../../src/adapters/sqlite/migrate.ts";
import { uuidIds } from "../../../src/adapters/system/uuid-ids.ts";
import { CallManager } from "../../../src/application/call-manager.ts";
import type { Clock } from "../../../src/application/ports/index.ts";
import { CallQueries } from "../../../src/application/queries.ts";
import {
  createRecordingUploads,
  type RecordingUploadsJob,
} from "../../../src/composition/recording-storage.ts";
import { encodeMuLaw } from "../../../src/domain/audio/index.ts";
import { type Call, endCall, startCall } from "../../../src/domain/call.ts";
import { appendCallerMuLaw } from "../../support/caller-audio.ts";
import type { LocalS3 } from "../../support/local-s3.ts";
import { tone } from "../../support/signals.ts";

export const logger = createLogger(process.env.TEST_LOG_LEVEL ?? "silent");

/** Wall time that only moves when a test says so (backoff, ages). */
export class SteppedClock implements Clock {
  /** From the real time, which the spool files' mtimes (their queue ages) are taken in. */
  private ms = Date.now();
  now(): Date {
    return new Date(this.ms);
  }
  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface S3WorldOptions {
  /** Where the server talks to the store: the local S3 server itself, or a fault proxy. */
  endpoint: string;
  prefix?: string;
  presignedDownloads?: boolean;
  /** Reuses a spool and database folder (a restart after a "crash", or another worker). */
  dir?: string;
  /** This world's share of a spool that several upload from (workerShare). */
  share?: (stem: string) => boolean;
}

/**
 * Everything the object-storage path of a server has, real and in one process: a SQLite
 * database, the spool folder, the S3 adapter on a local S3 server, the upload service, the
 * API routes and /healthz.
 */
export class S3World {
  readonly dir: string;
  readonly spool: string;
  readonly clock = new SteppedClock();
  readonly repository: DrizzleCallRepository;
  readonly spoolStore: FsRecordingStore;
  readonly objects: S3Objects;
  readonly archive: S3RecordingArchive;
  readonly store: ArchivedRecordingStore;
  readonly manager: CallManager;
  readonly metrics = new PrometheusMetrics();
  /** The upload service as the composition wires it (metrics, /healthz). */
  readonly uploads: RecordingUploadsJob;
  readonly app: Hono;
  private readonly close_: () => void;
  private sequence = 0;

  constructor(
    readonly s3: LocalS3,
    options: S3WorldOptions,
  ) {
    this.dir = options.dir ?? mkdtempSync(join(tmpdir(), "callbridge-s3-world-"));
    this.spool = join(this.dir, "recordings");
    const opened = openDatabase(`file:${join(this.dir, "calls.db")}`);
    migrateDatabase(opened.sqlite, defaultMigrationsFolder());
    this.repository = new DrizzleCallRepository(opened.db, opened.sqlite);
    this.close_ = () => {
      this.repository.flush();
      opened.sqlite.close();
    };
    this.spoolStore = new FsRecordingStore({ root: this.spool });
    this.objects = new S3Objects(s3.client(options.endpoint), {
      bucket: s3.bucket,
      prefix: options.prefix ?? "calls",
    });
    this.archive = new S3RecordingArchive({ spoolRoot: this.spool, objects: this.objects });
    this.store = new ArchivedRecordingStore({
      spool: this.spoolStore,
      objects: this.objects,
      presignedDownloads: options.presignedDownloads ?? false,
      logger,
    });
    const isCallLive = (callId: string) => this.manager.isCallActive(callId);
    const uploads = createRecordingUploads(this.archive, {
      calls: this.repository,
      clock: this.clock,
      logger,
      metrics: this.metrics,
      isCallLive,
      retry: { initialMs: 1000, maxMs: 4000 },
      ...(options.share ? { share: options.share } : {}),
    });
    if (uploads === null) throw new Error("an archive gives an upload job");
    this.uploads = uploads;
    this.manager = new CallManager({
      calls: this.repository,
      recordings: this.store,
      clock: this.clock,
      ids: uuidIds,
      logger,
    });
    const queries = new CallQueries({ calls: this.repository, recordings: this.store });
    this.app = createHttpApp({
      logger,
      health: {
        calls: this.repository,
        recordings: this.store,
        activeCalls: () => this.manager.activeCount,
        degradedReasons: () => this.uploads.degradedReasons(),
        uploads: this.uploads.status,
      },
      mounts: [
        {
          prefix: "/api",
          routes: apiRoutes({ queries, isCallActive: (id) => this.manager.isCallActive(id) }),
        },
      ],
    });
  }

  key(fileKey: string): string {
    return this.objects.keyOf(fileKey);
  }

  /** A whole call recorded through CallManager (caller track, sidecars), ended. */
  async recordedCall(seconds = 1): Promise<Call> {
    const streamSid = `MZs3world${++this.sequence}${Date.now()}`;
    const active = this.manager.startCall({ streamSid, caller: "+15550001111" });
    await active.stored;
    appendCallerMuLaw(active, encodeMuLaw(tone(440, seconds * 1000, 8000, 0.3)));
    await active.addTranscript({ speaker: "caller", text: "hello there", offsetMs: 0 });
    this.clock.advance(seconds * 1000);
    return active.end();
  }

  /**
   * An ended call whose caller recording is `bytes` long (a WAV header and noise), written
   * straight into the spool with its row: files too large to record in a test.
   */
  async finishedCallWithFile(bytes: number): Promise<{ call: Call; fileKey: string }> {
    const streamSid = `MZs3big${++this.sequence}${Date.now()}`;
    const started = startCall({ id: uuidIds.newId(), streamSid, startedAt: this.clock.now() });
    await this.repository.createCall(started);
    const fileKey = `${streamSid}_${started.startedAt.getTime()}.wav`;
    const body = Buffer.alloc(bytes);
    for (let i = 0; i + 4 <= bytes; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);
    writeFileSync(join(this.spool, fileKey), body, { mode: 0o600 });
    await this.repository.createRecording({
      id: uuidIds.newId(),
      callId: started.id,
      track: "caller",
      format: "wav",
      codec: "pcm_s16le",
      sampleRate: 16000,
      channels: 1,
      sizeBytes: bytes,
      durationSeconds: (bytes - 44) / 32000,
      fileKey,
      cloudUrl: null,
      createdAt: this.clock.now(),
    });
    this.clock.advance(1000);
    const call = await this.repository.updateCall(endCall(started, "completed", this.clock.now()));
    return { call, fileKey };
  }

  spoolFiles(prefix = ""): string[] {
    return readdirSync(this.spool)
      .filter((name) => name.startsWith(prefix))
      .sort();
  }

  /** Object keys of one call, under the prefix. */
  objectsOf(call: Call): Promise<string[]> {
    return this.s3.keys(this.key(`${call.streamSid}_`));
  }

  async close(removeFiles = true): Promise<void> {
    await this.uploads.stop();
    this.close_();
    if (removeFiles) rmSync(this.dir, { recursive: true, force: true });
  }
}
