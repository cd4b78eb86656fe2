import type Database from "better-sqlite3";

/** Rows waiting for the index that make a catch-up run at once rather than on the timer. */
export const FTS_BATCH_ROWS = 2_000;
/** How long a transcript may wait for the full-text index when nobody searches. */
export const FTS_DELAY_MS = 1_000;

export interface DeferredFtsIndexOptions {
  /** Runs first in every catch-up, so rows queued for commit are committed and indexed too. */
  beforeCatchUp?: () => void;
  /** A background catch-up that failed; it is tried again after `delayMs`. */
  onError?: (error: unknown) => void;
  delayMs?: number;
  batchRows?: number;
  /**
   * A read-only connection's view (a reader thread): indexing is the writer's job, which a
   * search asks for before it reads, so here catch-ups do nothing and none is scheduled.
   */
  readOnly?: boolean;
}

/**
 * Returns a function that records in `search_terms` (migration 0008) the tokens of whatever text
 * waits in `search_terms_pending` (that of rows just indexed, or indexed again by a new text),
 * then empties it; run it in the transaction that indexed them. The tokens are FTS5's own (read
 * through the pending table's fts5vocab table), exactly those transcripts_fts holds. Those that
 * start with a digit are left out, as the migration leaves them out (no prefix starts them).
 *
 * What it costs, measured at 1,000,000 transcripts (catch-ups of 2,000 rows, p50): 12 ms without
 * it, 27–34 ms with it; FTS5 cuts the rows a second time (into the pending table, about 6 ms),
 * and reading the vocabulary and looking each token up costs about 1 µs a distinct token.
 * Cutting the words in JavaScript instead cost as much (32 ms), and would get other scripts'
 * tokens wrong (fts-query.ts, FOLDS_ALIKE).
 */
export function searchTermsRecorder(sqlite: Database.Database): () => void {
  const waiting = sqlite
    .prepare("SELECT EXISTS (SELECT 1 FROM search_terms_pending_vocab)")
    .pluck();
  const record = sqlite.prepare(
    `INSERT OR IGNORE INTO search_terms(term)
     SELECT term FROM search_terms_pending_vocab WHERE term NOT GLOB '[0-9]*'`,
  );
  const empty = sqlite.prepare(
    "INSERT INTO search_terms_pending(search_terms_pending) VALUES ('delete-all')",
  );
  return () => {
    if (!waiting.get()) return;
    record.run();
    empty.run();
  };
}

/**
 * Keeps `transcripts_fts` up to date in batches (migration 0002): transcripts are inserted
 * without touching the full-text index, and a catch-up indexes every row above
 * `transcripts_fts_progress.indexed_through` in one statement.
 *
 * Why: FTS5 writes a new index segment for every transaction that changes it, and merges
 * segments as they pile up. Transcripts are committed a turn's worth at a time, so indexing
 * them in the same transactions cost more than all the rest of the insert. Indexed 2,000 at a
 * time the same rows cost a fraction of it.
 *
 * Each catch-up also records the tokens of the rows it indexed in `search_terms` (migration
 * 0008, searchTermsRecorder()), which a search expands its prefixes with.
 *
 * A search must call `catchUp()` first: then it sees every transcript committed before it, as
 * it did with the trigger, and every word of them in search_terms. Otherwise a catch-up runs
 * `delayMs` after the first row that waits, or at once when `batchRows` are waiting; rows left
 * waiting by a crash are indexed after the next start, or by the first search.
 */
export class DeferredFtsIndex {
  private readonly delayMs: number;
  private readonly batchRows: number;
  private readonly catchUpTransaction: Database.Transaction<() => void>;
  private waiting = 0;
  private timer: NodeJS.Timeout | null = null;
  private immediate: NodeJS.Immediate | null = null;

  constructor(
    private readonly sqlite: Database.Database,
    private readonly options: DeferredFtsIndexOptions = {},
  ) {
    this.delayMs = options.delayMs ?? FTS_DELAY_MS;
    this.batchRows = options.batchRows ?? FTS_BATCH_ROWS;
    // Prepared on first use: the repository may be built before the database is migrated.
    let indexWaiting: Database.Statement | undefined;
    let advance: Database.Statement | undefined;
    let recordTerms: (() => void) | undefined;
    this.catchUpTransaction = sqlite.transaction(() => {
      // The text the index holds is what the caller heard where that is known (migration 0004).
      indexWaiting ??= sqlite.prepare(
        `INSERT INTO transcripts_fts(rowid, text)
         SELECT seq, coalesce(heard_text, text) FROM transcripts
         WHERE seq > (SELECT indexed_through FROM transcripts_fts_progress)
         ORDER BY seq`,
      );
      // max(): when the newest rows were deleted, the mark must not move back below rows the
      // index no longer holds but whose seq AUTOINCREMENT will never hand out again.
      advance ??= sqlite.prepare(
        `UPDATE transcripts_fts_progress
         SET indexed_through = max(indexed_through, coalesce((SELECT max(seq) FROM transcripts), 0))`,
      );
      indexWaiting.run();
      // Moving the mark puts the text of the rows just indexed in search_terms_pending (a trigger
      // of migration 0008), whose tokens are recorded in the same transaction: no search sees a
      // row whose words it could not expand a prefix to.
      advance.run();
      recordTerms ??= searchTermsRecorder(sqlite);
      recordTerms();
    });
    // Whatever a previous process committed but did not index.
    if (!options.readOnly) this.schedule();
  }

  /** Notes `rows` transcripts that will need indexing, and schedules the catch-up. */
  rowsAdded(rows = 1): void {
    if (this.options.readOnly) return;
    this.waiting += rows;
    if (this.waiting >= this.batchRows) {
      this.immediate ??= setImmediate(() => {
        this.immediate = null;
        this.catchUpInBackground();
      });
    } else {
      this.schedule();
    }
  }

  /** Indexes every waiting transcript now. Throws what SQLite throws. */
  catchUp(): void {
    if (this.options.readOnly) return;
    this.cancel();
    this.options.beforeCatchUp?.();
    // IMMEDIATE: takes the write lock first, waiting busy_timeout for it. A deferred one is
    // refused at once (SQLITE_BUSY) when another process writes (a cluster's workers share the
    // file): an insert into an FTS5 table starts as a read and only then asks for the lock,
    // which SQLite does not wait for, so every search that caught up then failed.
    this.catchUpTransaction.immediate();
    this.waiting = 0;
  }

  /** Drops the scheduled catch-up; call before closing the connection. */
  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    if (this.immediate !== null) clearImmediate(this.immediate);
    this.timer = null;
    this.immediate = null;
  }

  private schedule(): void {
    this.timer ??= setTimeout(() => {
      this.timer = null;
      this.catchUpInBackground();
    }, this.delayMs).unref();
  }

  private catchUpInBackground(): void {
    if (!this.sqlite.open) return;
    try {
      this.catchUp();
    } catch (error) {
      this.options.onError?.(error);
      this.schedule();
    }
  }
}
