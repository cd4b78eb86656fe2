import { describeError } from "../domain/errors.ts";
import type {
  CallEvent,
  CallEventSink,
  CallRepository,
  Clock,
  Logger,
  RecordingArchive,
  SpooledFile,
  UploadQueueStatus,
} from "./ports/index.ts";

export interface RecordingUploadsDeps {
  archive: RecordingArchive;
  calls: CallRepository;
  clock: Clock;
  logger: Logger;
  /** Whether a call is live in this process: its files are not finished, whatever the spool says. */
  isCallLive: (callId: string) => boolean;
  /**
   * Workers of one machine share one spool folder: each uploads only the calls (file stems) this
   * says are its share, so no two upload the same file. Unset: every call.
   */
  share?: (stem: string) => boolean;
  /** Calls whose files upload at once, one file at a time each: at most this many uploads. */
  concurrency?: number;
  /** Backoff after a failed attempt: doubles from `initialMs` up to `maxMs`. */
  retry?: { initialMs: number; maxMs: number };
  onAttemptFailed?: () => void;
}

interface Failure {
  attempts: number;
  retryAtMs: number;
}

/**
 * An upload is mostly waiting on the store (a PUT or a multipart part is tens of ms to S3), so
 * several run at once: 100 calls that end together leave 400 files, which two at a time took
 * 11–12 s to store against a local S3 server (BENCHMARKS.md, "Load: storage backends").
 */
export const DEFAULT_UPLOAD_CONCURRENCY = 8;
const DEFAULT_RETRY = { initialMs: 2_000, maxMs: 5 * 60_000 };
/**
 * A sweep gives up after this many failed attempts in a row: the store is most likely down,
 * and a backlog of thousands of files should not each time out against it every sweep.
 */
const FAILURES_TO_END_SWEEP = 3;

/**
 * Decides when a finished call's files leave the spool for the archive: once the call has ended
 * and its recording rows exist, recordings first (each one verified, its row given the cloud URL,
 * and only then removed locally), then the sidecars. The spool is the queue, so a sweep (after a
 * call ends, on a timer, at start) finds whatever a crash or an outage left; a failed file is
 * retried with capped exponential backoff. Files whose call has no row are kept in the spool,
 * neither uploaded nor counted as pending, with one warning: crash recovery keeps such files too
 * (a crash before the call's row was written), and deleting a call removes its files itself.
 */
export class RecordingUploads implements CallEventSink {
  private readonly deps: RecordingUploadsDeps;
  private readonly concurrency: number;
  private readonly retry: { initialMs: number; maxMs: number };
  private readonly failures = new Map<string, Failure>();
  /** What the last listing found, less what has left the spool since. */
  private queue = new Map<string, SpooledFile>();
  /** Calls (file stems) whose files have no call row: left in the spool, warned about once. */
  private readonly orphans = new Set<string>();
  private running: Promise<void> | null = null;
  private again = false;
  private stopped = false;
  private failedAttempts = 0;
  private failuresInARow = 0;
  /** Abandons uploads in flight at shutdown: their files stay spooled for the next start. */
  private readonly shutdown = new AbortController();

  /** Files modified before this were spooled by an earlier process, which may have uploaded them. */
  private readonly startedAtMs: number;

  constructor(deps: RecordingUploadsDeps) {
    this.deps = deps;
    this.startedAtMs = deps.clock.now().getTime();
    this.concurrency = Math.max(1, deps.concurrency ?? DEFAULT_UPLOAD_CONCURRENCY);
    this.retry = deps.retry ?? DEFAULT_RETRY;
  }

  /** A call that ended has files to upload now rather than at the next timed sweep. */
  publish(event: CallEvent): void {
    if (event.type === "call.ended") void this.sweep();
  }

  /**
   * One pass over the spool. A sweep asked for while one runs makes that one go round again, and
   * the promise settles after that round: awaiting it means "everything spooled by now was tried".
   */
  sweep(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      do {
        this.again = false;
        await this.sweepOnce();
      } while (this.again && !this.stopped);
    })().finally(() => {
      this.running = null;
    });
    return this.running;
  }

  /** No sweep starts after this; uploads in flight are abandoned, and the sweep awaited. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.shutdown.abort();
    await this.running;
  }

  status(): UploadQueueStatus {
    let oldest = Number.POSITIVE_INFINITY;
    for (const file of this.queue.values()) oldest = Math.min(oldest, file.modifiedAtMs);
    const ageMs = this.queue.size === 0 ? 0 : this.deps.clock.now().getTime() - oldest;
    return {
      pending: this.queue.size,
      oldestAgeSeconds: Math.max(0, ageMs / 1000),
      failing: this.failures.size > 0,
      failedAttempts: this.failedAttempts,
    };
  }

  private async sweepOnce(): Promise<void> {
    let files: SpooledFile[];
    try {
      files = await this.deps.archive.pending();
    } catch (error) {
      this.deps.logger.error({ err: describeError(error) }, "could not list the recording spool");
      return;
    }
    const { share } = this.deps;
    files = files.filter((file) => {
      const stem = stemOf(file);
      return !this.orphans.has(stem) && (share === undefined || share(stem));
    });
    this.queue = new Map(files.map((file) => [file.fileKey, file]));
    for (const fileKey of this.failures.keys()) {
      if (!this.queue.has(fileKey)) this.failures.delete(fileKey);
    }
    const byCall = new Map<string, SpooledFile[]>();
    for (const file of files) {
      const stem = stemOf(file);
      const group = byCall.get(stem);
      if (group) group.push(file);
      else byCall.set(stem, [file]);
    }
    const groups = [...byCall.values()];
    this.failuresInARow = 0;
    const worker = async () => {
      for (let group = groups.shift(); group !== undefined; group = groups.shift()) {
        if (this.stopped || this.failuresInARow >= FAILURES_TO_END_SWEEP) return;
        try {
          await this.uploadCall(group);
        } catch (error) {
          // A lookup failed (the database is down): the files stay queued for the next sweep.
          this.deps.logger.error(
            { err: describeError(error) },
            "could not decide whether a call's files can be uploaded",
          );
        }
      }
    };
    await Promise.all(Array.from({ length: this.concurrency }, worker));
  }

  private async uploadCall(files: SpooledFile[]): Promise<void> {
    const { calls, archive, logger } = this.deps;
    const [first] = files;
    if (first === undefined) return;
    const call = await calls.getCallByStreamSid(first.streamSid);
    if (call === null) {
      this.keepOrphans(files);
      return;
    }
    // Another call of that stream, a call still recording here, or one that a crashed process
    // left active (recovery ends it at start): not finished, so not ours to upload yet.
    if (call.startedAt.getTime() !== first.startedAtMs) return;
    if (call.status === "active" || this.deps.isCallLive(call.id)) return;
    const rows = new Map((await calls.getRecordingsByCallId(call.id)).map((r) => [r.fileKey, r]));
    let recordingsLeft = 0;
    for (const file of files) {
      if (file.kind !== "recording") continue;
      const row = rows.get(file.fileKey);
      const uploaded =
        row !== undefined &&
        (await this.attempt(file, async (url) => {
          // The row went away meanwhile (the call or the recording was deleted): so does the copy.
          if (!(await calls.setRecordingCloudUrl(row.id, url))) {
            await archive.removeArchived(file.fileKey);
          }
        }));
      if (!uploaded) recordingsLeft++;
    }
    // Sidecars last: a spooled recording always keeps its sidecars beside it, so recovery's
    // "recording without sidecars" check never mistakes an upload in progress for a crash.
    if (recordingsLeft > 0) {
      logger.debug({ callId: call.id, recordingsLeft }, "sidecar uploads wait for recordings");
      return;
    }
    for (const file of files) {
      if (file.kind !== "sidecar") continue;
      await this.attempt(file, async () => {
        if ((await calls.getCallById(call.id)) === null) await archive.removeArchived(file.fileKey);
      });
    }
  }

  /** Uploads one file, then `recorded`, then removes the spool copy; false if it must wait. */
  private async attempt(
    file: SpooledFile,
    recorded: (url: string) => Promise<void>,
  ): Promise<boolean> {
    const nowMs = this.deps.clock.now().getTime();
    const failure = this.failures.get(file.fileKey);
    if (failure !== undefined && failure.retryAtMs > nowMs) return false;
    try {
      // Written since this process started and never tried: it cannot be in the store yet.
      const fresh = failure === undefined && file.modifiedAtMs >= this.startedAtMs;
      const url = await this.deps.archive.upload(file, this.shutdown.signal, { fresh });
      await recorded(url);
      await this.deps.archive.removeLocal(file);
      this.forget(file);
      this.failuresInARow = 0;
      return true;
    } catch (error) {
      // Abandoned at shutdown: not a failure of the store.
      if (this.stopped) return false;
      const attempts = (failure?.attempts ?? 0) + 1;
      const delayMs = Math.min(this.retry.initialMs * 2 ** (attempts - 1), this.retry.maxMs);
      this.failures.set(file.fileKey, { attempts, retryAtMs: nowMs + delayMs });
      this.failedAttempts++;
      this.failuresInARow++;
      this.deps.onAttemptFailed?.();
      this.deps.logger.warn(
        { err: describeError(error), fileKey: file.fileKey, attempts, retryInMs: delayMs },
        "uploading a recording file failed; it stays in the spool and is retried",
      );
      return false;
    }
  }

  /** Files with no call row: never uploaded or removed here (the audio may be all there is). */
  private keepOrphans(files: SpooledFile[]): void {
    const [first] = files;
    if (first === undefined) return;
    this.orphans.add(stemOf(first));
    for (const file of files) this.forget(file);
    this.deps.logger.warn(
      { streamSid: first.streamSid, fileKeys: files.map((f) => f.fileKey) },
      "spooled files have no call row; kept in the spool, not uploaded",
    );
  }

  private forget(file: SpooledFile): void {
    this.failures.delete(file.fileKey);
    this.queue.delete(file.fileKey);
  }
}

const stemOf = (file: SpooledFile): string => `${file.streamSid}_${file.startedAtMs}`;

/**
 * The share of worker `index` (1 to `workers`) of a spool that `workers` workers share: the calls
 * whose stem hashes to it (FNV-1a, so every worker computes the same split without talking).
 */
export function workerShare(index: number, workers: number): (stem: string) => boolean {
  return (stem) => {
    let hash = 0x811c9dc5;
    for (let i = 0; i < stem.length; i++) {
      hash ^= stem.charCodeAt(i);
      hash = Math.imul(hash, 0x01000193) >>> 0;
    }
    return hash % workers === index - 1;
  };
}
