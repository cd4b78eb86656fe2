import { accessSync, constants, mkdirSync } from "node:fs";
import type { AppLogger } from "../adapters/logging/pino-logger.ts";
import type { PrometheusMetrics } from "../adapters/metrics/prometheus-metrics.ts";
import { AdvisoryJobLock } from "../adapters/postgres/advisory-job-lock.ts";
import { InProcessJobLock } from "../adapters/system/in-process-job-lock.ts";
import {
  OtherWorkerJobLock,
  SINGLETON_JOBS_WORKER,
} from "../adapters/system/other-worker-job-lock.ts";
import type { JobLock, RecordingArchive } from "../application/ports/index.ts";
import { workerShare } from "../application/recording-uploads.ts";
import { type Config, ConfigError } from "../config.ts";
import {
  type CallDatabase,
  type OpenCallRepositoryOptions,
  openCallRepository,
} from "./database.ts";
import { claimInstance, resolveInstanceId, spoolInstance } from "./instance-id.ts";
import { openRecordingStorage, type SpooledRecordingStore } from "./recording-storage.ts";
import { resolveWorkerCount } from "./worker-identity.ts";

export interface OpenStorageOptions extends OpenCallRepositoryOptions {
  /** This process is cluster worker `workerIndex` (WORKERS > 1): see OtherWorkerJobLock. */
  workerIndex?: number;
}

/** /healthz stays degraded this long after a storage write failed. */
const STORAGE_ERROR_WINDOW_MS = 60_000;

export interface Storage {
  calls: CallDatabase;
  recordings: SpooledRecordingStore;
  /** Object storage behind the recordings folder (RECORDING_STORAGE_URL), else null. */
  archive: RecordingArchive | null;
  /**
   * Jobs that run on one instance at a time (retention): an advisory lock on PostgreSQL, which
   * several instances may share; within the process on SQLite.
   */
  jobs: JobLock;
  /** Why /healthz should say degraded now (storage failures in the last minute). */
  degradedReasons(): string[];
  /** INSTANCE_ID (or the one kept in the recordings folder): the owner of this process's calls. */
  instanceId: string;
  /** At shutdown, once every call has ended: another process may then use the id at once. */
  releaseInstance(): void;
  /**
   * With WORKERS, the calls whose finished files this worker uploads from the machine's shared
   * spool; undefined (every call) for a single process.
   */
  spoolShare?: (stem: string) => boolean;
}

/** The database (migrated) and the recordings folder, reporting failures to logs and metrics. */
export async function openStorage(
  config: Config,
  logger: AppLogger,
  metrics: PrometheusMetrics,
  options: OpenStorageOptions = {},
): Promise<Storage> {
  ensureWritableFolder("RECORDING_STORAGE_PATH", config.recordingStoragePath);
  const instanceId = resolveInstanceId(config);
  const spool = spoolInstance(config, instanceId);
  const releaseInstance = claimInstance(config.recordingStoragePath, instanceId, spool);
  // Monotonic, not the injected clock: this is an operational window, not call time.
  let lastErrorAt = Number.NEGATIVE_INFINITY;
  const failed = () => {
    lastErrorAt = performance.now();
  };
  const calls = await openCallRepository(config, logger, metrics, failed, options);
  const { recordings, archive } = await openRecordingStorage(
    config,
    spool,
    logger,
    metrics,
    failed,
  );
  const degradedReasons = () =>
    performance.now() - lastErrorAt < STORAGE_ERROR_WINDOW_MS
      ? ["recording storage writes failed in the last 60 s"]
      : [];
  const jobs =
    config.database.kind === "postgres"
      ? new AdvisoryJobLock(config.database.url)
      : options.workerIndex !== undefined && options.workerIndex !== SINGLETON_JOBS_WORKER
        ? new OtherWorkerJobLock()
        : new InProcessJobLock();
  const workers = resolveWorkerCount(config.workers);
  const spoolShare =
    options.workerIndex !== undefined && workers > 1
      ? workerShare(options.workerIndex, workers)
      : undefined;
  return {
    calls,
    recordings,
    archive,
    jobs,
    degradedReasons,
    instanceId,
    releaseInstance,
    spoolShare,
  };
}

export function ensureWritableFolder(variable: string, path: string): void {
  try {
    // Private from the start: it will hold phone numbers and transcripts.
    mkdirSync(path, { recursive: true, mode: 0o700 });
    accessSync(path, constants.W_OK);
  } catch {
    throw new ConfigError(variable, `is not a writable folder: ${path}`);
  }
}
