import { FsRecordingStore } from "../adapters/fs/fs-recording-store.ts";
import type { AppLogger } from "../adapters/logging/pino-logger.ts";
import type { PrometheusMetrics } from "../adapters/metrics/prometheus-metrics.ts";
import { ArchivedRecordingStore } from "../adapters/s3/archived-recording-store.ts";
import { createS3Client } from "../adapters/s3/s3-client.ts";
import { S3Objects } from "../adapters/s3/s3-objects.ts";
import { S3RecordingArchive } from "../adapters/s3/s3-recording-archive.ts";
import type { ActivityTracker } from "../adapters/system/activity-tracker.ts";
import { type ScheduledJob, scheduleEvery } from "../adapters/system/interval-scheduler.ts";
import type {
  CallEventSink,
  CallRepository,
  Clock,
  RecordingArchive,
  RecordingStore,
  UploadQueueStatus,
} from "../application/ports/index.ts";
import { RecordingUploads } from "../application/recording-uploads.ts";
import { type Config, ConfigError } from "../config.ts";
import { errorMessage } from "../domain/errors.ts";

/** The spool is swept this often besides after every call, for what failed or a crash left. */
const SWEEP_INTERVAL_MS = 5_000;

/**
 * The recording store, plus what the waveform worker (which reads files itself) needs: a path,
 * or, where files may be only in object storage, a local copy for the time of `use`.
 */
export type SpooledRecordingStore = RecordingStore & {
  filePath(fileKey: string): string;
  withLocalFile?<T>(fileKey: string, use: (path: string) => Promise<T>): Promise<T>;
};

export interface RecordingStorage {
  recordings: SpooledRecordingStore;
  /** Object storage behind the spool; null = files stay in the folder (RECORDING_STORAGE_URL unset). */
  archive: RecordingArchive | null;
}

/**
 * The recordings folder, and with RECORDING_STORAGE_URL the S3-compatible store that finished
 * files move to (the folder becomes the spool). Failures go to logs and metrics; `onFailure`
 * marks /healthz degraded.
 */
export async function openRecordingStorage(
  config: Config,
  /** This instance's spool folder name (see spoolInstance); unset: the folder itself. */
  spoolFolder: string | undefined,
  logger: AppLogger,
  metrics: PrometheusMetrics,
  onFailure: () => void,
): Promise<RecordingStorage> {
  const spool = new FsRecordingStore({
    root: config.recordingStoragePath,
    instance: spoolFolder,
    logger,
    onBytesWritten: (n) => metrics.bytesWritten(n),
    onError: (kind) => {
      metrics.error(kind);
      // recording_overflow means audio came faster than real time, which any media-stream
      // client can cause at will: counted, but not a storage failure that degrades /healthz.
      if (kind.startsWith("storage_")) onFailure();
    },
  });
  const target = config.recordingArchive;
  if (target === undefined) return { recordings: spool, archive: null };
  const client = createS3Client({ forcePathStyle: target.forcePathStyle });
  try {
    await client.config.region();
  } catch {
    throw new ConfigError(
      "AWS_REGION",
      "must be set with RECORDING_STORAGE_URL (any region name for a store that ignores it)",
    );
  }
  const objects = new S3Objects(client, { bucket: target.bucket, prefix: target.prefix });
  const recordings = new ArchivedRecordingStore({
    spool,
    objects,
    presignedDownloads: target.presignedDownloads,
    logger,
    onError: (kind) => {
      metrics.error(kind);
      onFailure();
    },
  });
  logger.info(
    { bucket: target.bucket, prefix: target.prefix, presignedDownloads: target.presignedDownloads },
    "recordings are archived in object storage; RECORDING_STORAGE_PATH is the spool",
  );
  const archive = new S3RecordingArchive({ spoolRoot: config.recordingStoragePath, objects });
  return { recordings, archive };
}

export interface RecordingUploadsJob {
  /** Wakes the uploads when a call ends. */
  events: CallEventSink;
  /** Starts the sweeps: call once recovery has run, so no crashed call's files look finished. */
  start(activity: ActivityTracker): void;
  /** One sweep now (the timer's, done early); settles when it has run. */
  sweep(): Promise<void>;
  status(): UploadQueueStatus;
  /** Why /healthz should say degraded (uploads failing). */
  degradedReasons(): string[];
  stop(): Promise<void>;
}

export interface RecordingUploadsDeps {
  calls: CallRepository;
  clock: Clock;
  logger: AppLogger;
  metrics: PrometheusMetrics;
  isCallLive: (callId: string) => boolean;
  /** Backoff of a failed file; the service's default (2 s doubling to 5 min) otherwise. */
  retry?: { initialMs: number; maxMs: number };
  /** A WORKERS worker's share of the machine's spool (workerShare); unset: all of it. */
  share?: (stem: string) => boolean;
}

/** The upload service and its timer, when there is an archive; null otherwise. */
export function createRecordingUploads(
  archive: RecordingArchive | null,
  deps: RecordingUploadsDeps,
): RecordingUploadsJob | null {
  if (archive === null) return null;
  const { metrics, logger } = deps;
  const uploads = new RecordingUploads({
    archive,
    calls: deps.calls,
    clock: deps.clock,
    logger,
    isCallLive: deps.isCallLive,
    ...(deps.retry ? { retry: deps.retry } : {}),
    ...(deps.share ? { share: deps.share } : {}),
    onAttemptFailed: () => metrics.recordingUploadFailed(),
  });
  metrics.countRecordingUploads(() => uploads.status());
  let job: ScheduledJob | null = null;
  return {
    events: uploads,
    start(activity) {
      job ??= scheduleEvery(() => uploads.sweep(), {
        intervalMs: SWEEP_INTERVAL_MS,
        runAtStart: true,
        activity: { spans: activity, label: "recording uploads" },
        onError: (error) => logger.error({ err: errorMessage(error) }, "upload sweep failed"),
      });
    },
    sweep: () => uploads.sweep(),
    status: () => uploads.status(),
    degradedReasons: () =>
      uploads.status().failing ? ["recording uploads to object storage are failing"] : [],
    async stop() {
      await job?.stop();
      await uploads.stop();
    },
  };
}
