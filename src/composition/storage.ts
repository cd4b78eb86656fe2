import { accessSync, constants, mkdirSync } from "node:fs";
import type { AppLogger } from "../adapters/logging/pino-logger.ts";
import type { PrometheusMetrics } from "../adapters/metrics/prometheus-metrics.ts";
import { AdvisoryJobLock } from "../adapters/postgres/advisory-job-lock.ts";
import { InProcessJobLock } from "../adapters/system/in-process-job-lock.ts";
import type { JobLock, RecordingArchive } from "../application/ports/index.ts";
import { type Config, ConfigError } from "../config.ts";
import { type CallDatabase, openCallRepository } from "./database.ts";
import { openRecordingStorage, type SpooledRecordingStore } from "./recording-storage.ts";

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
}

/** The database (migrated) and the recordings folder, reporting failures to logs and metrics. */
export async function openStorage(
  config: Config,
  logger: AppLogger,
  metrics: PrometheusMetrics,
): Promise<Storage> {
  ensureWritableFolder("RECORDING_STORAGE_PATH", config.recordingStoragePath);
  // Monotonic, not the injected clock: this is an operational window, not call time.
  let lastErrorAt = Number.NEGATIVE_INFINITY;
  const failed = () => {
    lastErrorAt = performance.now();
  };
  const calls = await openCallRepository(config, logger, metrics, failed);
  const { recordings, archive } = await openRecordingStorage(config, logger, metrics, failed);
  const degradedReasons = () =>
    performance.now() - lastErrorAt < STORAGE_ERROR_WINDOW_MS
      ? ["recording storage writes failed in the last 60 s"]
      : [];
  const jobs =
    config.database.kind === "postgres"
      ? new AdvisoryJobLock(config.database.url)
      : new InProcessJobLock();
  return { calls, recordings, archive, jobs, degradedReasons };
}

function ensureWritableFolder(variable: string, path: string): void {
  try {
    // Private from the start: it will hold phone numbers and transcripts.
    mkdirSync(path, { recursive: true, mode: 0o700 });
    accessSync(path, constants.W_OK);
  } catch {
    throw new ConfigError(variable, `is not a writable folder: ${path}`);
  }
}
