import type Database from "better-sqlite3";

interface PendingWrite {
  /** Runs the write's statements; throws when the write fails. */
  apply(): void;
  succeed(): void;
  fail(error: unknown): void;
}

/**
 * Writes that are queued and committed together: everything added during one turn of the event
 * loop is written in ONE transaction by a single `setImmediate`, so a turn pays for one commit
 * (one WAL append, one full-text index flush) however many rows it queued.
 *
 * - `add()` settles after the commit that holds its write: resolved once it is committed,
 *   rejected with `fail(error)` when it could not be written.
 * - When the shared transaction fails, it is rolled back and each write is retried in a
 *   transaction of its own, so only the writes that fail by themselves reject.
 * - `flush()` commits the queue now, synchronously: readers call it first so they see every
 *   write added before them, and shutdown calls it before the connection is closed.
 *
 * A crash loses at most the writes of the current turn, whose promises have not settled yet.
 */
export class WriteBehindBatch {
  private queue: PendingWrite[] = [];
  private scheduled: NodeJS.Immediate | null = null;
  private readonly writeAll: (writes: readonly PendingWrite[]) => void;

  constructor(sqlite: Database.Database) {
    this.writeAll = sqlite.transaction((writes: readonly PendingWrite[]) => {
      for (const write of writes) write.apply();
    });
  }

  /** Writes not committed yet. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Queues `apply` for the next commit. The promise resolves with `result` once that commit is
   * done, or rejects with `translate(error)` if the write fails.
   */
  add<T>(apply: () => void, result: T, translate: (error: unknown) => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({
        apply,
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
        this.flush();
      });
    });
  }

  /** Commits every queued write now. Never throws: failures go to the writes' promises. */
  flush(): void {
    if (this.scheduled !== null) {
      clearImmediate(this.scheduled);
      this.scheduled = null;
    }
    const writes = this.queue;
    if (writes.length === 0) return;
    this.queue = [];
    try {
      this.writeAll(writes);
    } catch {
      // Rolled back. Which write broke it? Retrying one per transaction answers that, and
      // stores every write that is fine by itself.
      for (const write of writes) {
        try {
          this.writeAll([write]);
        } catch (error) {
          write.fail(error);
          continue;
        }
        write.succeed();
      }
      return;
    }
    for (const write of writes) write.succeed();
  }
}
