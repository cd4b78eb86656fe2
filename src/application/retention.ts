import { describeError } from "../domain/errors.ts";
import type { CallRepository, Clock, JobLock, Logger, RecordingStore } from "./ports/index.ts";

export interface RecordingRetentionDeps {
  calls: CallRepository;
  recordings: RecordingStore;
  clock: Clock;
  logger: Logger;
  /** Recordings of calls that started more than this many days ago are deleted. */
  retentionDays: number;
  /** Rows fetched per query, so a first run on a large backlog never loads it all at once. */
  batchSize?: number;
  /** A call still in progress keeps its recordings whatever its age. */
  isCallActive?: (callId: string) => boolean;
  /**
   * Instances that share the data run retention one at a time: a run that finds another
   * instance's run in progress is skipped (that run deletes what this one would have).
   */
  lock?: JobLock;
}

export interface RetentionResult {
  cutoff: Date;
  deleted: number;
  failed: number;
  /** Another instance was running retention: this run did nothing. */
  skipped?: boolean;
}

const DAY_MS = 24 * 60 * 60 * 1000;
const DEFAULT_BATCH_SIZE = 200;

/**
 * Deletes the audio of old calls: recording files, their sidecars and their rows. The call rows,
 * transcripts, analytics and metadata stay: they are small, searchable, and what the API lists;
 * the audio is what is large and most personal.
 */
export class RecordingRetention {
  private readonly deps: RecordingRetentionDeps;

  constructor(deps: RecordingRetentionDeps) {
    if (!Number.isInteger(deps.retentionDays) || deps.retentionDays < 1) {
      throw new RangeError("retentionDays must be a positive integer");
    }
    this.deps = deps;
  }

  async run(): Promise<RetentionResult> {
    const { lock } = this.deps;
    if (lock === undefined) return this.runHere();
    const run = await lock.runExclusive("retention", () => this.runHere());
    if (run.ran) return run.result;
    this.deps.logger.debug({}, "retention is running on another instance; this run is skipped");
    return { cutoff: this.cutoff(), deleted: 0, failed: 0, skipped: true };
  }

  /** Recordings of calls started before this are deleted. */
  private cutoff(): Date {
    return new Date(this.deps.clock.now().getTime() - this.deps.retentionDays * DAY_MS);
  }

  private async runHere(): Promise<RetentionResult> {
    const { calls, recordings, logger } = this.deps;
    const batchSize = this.deps.batchSize ?? DEFAULT_BATCH_SIZE;
    const cutoff = this.cutoff();
    // Recordings left in place (live calls, failed deletes) are skipped by id; asking for that
    // many more rows each time guarantees progress, so a file that cannot be deleted never
    // turns a run into an endless loop.
    const skipped = new Set<string>();
    let deleted = 0;
    let failed = 0;
    for (;;) {
      const limit = batchSize + skipped.size;
      const batch = await calls.getRecordingsOfCallsStartedBefore(cutoff, limit);
      const todo = batch.filter((r) => !skipped.has(r.id));
      for (const recording of todo) {
        if (this.deps.isCallActive?.(recording.callId)) {
          skipped.add(recording.id);
          continue;
        }
        try {
          // File first: a row without its file is a 404, a file without its row escapes retention.
          await recordings.delete(recording.fileKey);
          await calls.deleteRecording(recording.id);
          deleted++;
        } catch (error) {
          skipped.add(recording.id);
          failed++;
          logger.error(
            { err: describeError(error), recordingId: recording.id, callId: recording.callId },
            "retention could not delete a recording; it is retried on the next run",
          );
        }
      }
      if (todo.length === 0 || batch.length < limit) break;
    }
    if (deleted > 0 || failed > 0) {
      logger.info(
        { deleted, failed, cutoff: cutoff.toISOString(), retentionDays: this.deps.retentionDays },
        "retention deleted old recordings",
      );
    }
    return { cutoff, deleted, failed };
  }
}
