import { accessSync, constants, mkdirSync } from "node:fs";
import { FsRecordingStore } from "../adapters/fs/fs-recording-store.ts";
import type { AppLogger } from "../adapters/logging/pino-logger.ts";
import type { PrometheusMetrics } from "../adapters/metrics/prometheus-metrics.ts";
import { ThreadedCallRepository } from "../adapters/sqlite/threaded-call-repository.ts";
import { type Config, ConfigError } from "../config.ts";

/** /healthz stays degraded this long after a storage write failed. */
const STORAGE_ERROR_WINDOW_MS = 60_000;

export interface Storage {
  calls: ThreadedCallRepository;
  recordings: FsRecordingStore;
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
  // SQLite runs on worker threads (a writer, and readers for the API): no statement, however
  // long, runs on this thread, which carries every call's audio. The writer migrates first.
  const calls = await ThreadedCallRepository.open({
    databaseUrl: config.databasePath,
    migrationsPath: config.migrationsPath,
    readers: config.databaseReaderThreads,
    onBackgroundError: (message) => {
      logger.error({ err: message }, "indexing transcripts for search failed; retrying in 1 s");
      metrics.error("storage_search_index");
      failed();
    },
    onUnexpectedExit: (thread, reason) => {
      logger.error({ thread, err: reason }, "a database thread stopped; starting a new one");
      failed();
    },
  });
  const recordings = new FsRecordingStore({
    root: config.recordingStoragePath,
    logger,
    onBytesWritten: (n) => metrics.bytesWritten(n),
    onError: (kind) => {
      metrics.error(kind);
      // recording_overflow means audio came faster than real time, which any media-stream
      // client can cause at will: counted, but not a storage failure that degrades /healthz.
      if (kind.startsWith("storage_")) failed();
    },
  });
  const degradedReasons = () =>
    performance.now() - lastErrorAt < STORAGE_ERROR_WINDOW_MS
      ? ["recording storage writes failed in the last 60 s"]
      : [];
  return { calls, recordings, degradedReasons };
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
