interface PendingWrite<W> {
  write: W;
  succeed(): void;
  fail(error: unknown): void;
}

/**
 * Writes that are queued and committed together, the asynchronous twin of the SQLite adapter's
 * WriteBehindBatch: everything added during one turn of the event loop is handed to `writeAll`
 * at once, which writes it in ONE transaction, so a turn pays for one commit however many rows
 * it queued.
 *
 * - Batches run one after the other: rows added while a batch is being committed wait for it
 *   and form the next one (group commit), so rows are stored in the order they were added.
 * - `add()` settles after the commit that holds its write: resolved once it is committed,
 *   rejected with `translate(error)` when it could not be written.
 * - When a batch fails, each of its writes is retried alone, so only the writes that fail by
 *   themselves reject.
 * - `flush()` commits the queue now and settles once every write added before it is settled:
 *   readers await it first so they see those writes, and close() awaits it.
 */
export class WriteBehindQueue<W> {
  private queue: Array<PendingWrite<W>> = [];
  private scheduled: NodeJS.Immediate | null = null;
  /** The batches started so far, in order; never rejects. */
  private batches: Promise<void> = Promise.resolve();
  private batchesRunning = 0;

  constructor(
    private readonly writeAll: (writes: readonly W[]) => Promise<void>,
    /** A whole batch failed (it is then retried write by write); for the server's log. */
    private readonly onBatchError: (error: unknown) => void = () => {},
  ) {}

  /** Writes not handed to a batch yet. */
  get pending(): number {
    return this.queue.length;
  }

  add<T>(write: W, result: T, translate: (error: unknown) => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        write,
        succeed: () => resolve(result),
        fail: (error) => {
          try {
            reject(translate(error));
          } catch (translationError) {
            reject(translationError);
          }
        },
      });
      this.scheduled ??= setImmediate(() => {
        this.scheduled = null;
        void this.startBatch();
      });
    });
  }

  /** Commits every queued write now; settles (never rejects) once all of them are settled. */
  flush(): Promise<void> {
    if (this.scheduled !== null) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
    if (this.queue.length === 0 && this.batchesRunning === 0) return Promise.resolve();
    return this.startBatch();
  }

  private startBatch(): Promise<void> {
    this.batchesRunning++;
    this.batches = this.batches
      .then(() => this.commitQueued())
      .finally(() => {
        this.batchesRunning--;
      });
    return this.batches;
  }

  /** Takes the queue as it is when the previous batch is done, and commits it. */
  private async commitQueued(): Promise<void> {
    const writes = this.queue;
    if (writes.length === 0) return;
    this.queue = [];
    try {
      await this.writeAll(writes.map((pending) => pending.write));
    } catch (batchError) {
      this.onBatchError(batchError);
      // Rolled back. Which write broke it? Retrying each alone answers that, and stores every
      // write that is fine by itself.
      for (const pending of writes) {
        try {
          await this.writeAll([pending.write]);
        } catch (error) {
          pending.fail(error);
          continue;
        }
        pending.succeed();
      }
      return;
    }
    for (const pending of writes) pending.succeed();
  }
}
