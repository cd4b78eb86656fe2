import pg from "pg";

/** NOTIFY refuses a payload of 8000 bytes or more. */
export const MAX_NOTIFY_PAYLOAD_BYTES = 7999;
/** Notifications sent in one statement (one transaction: delivered together, in order). */
const BATCH = 200;

export interface PostgresNotifierOptions {
  url: string;
  channel: string;
  /** Payloads waiting beyond this (the database is slow or down) are dropped, not buffered. */
  maxQueued?: number;
  /** `count` notifications were not sent. */
  onDropped(count: number, reason: string): void;
}

/**
 * Sends notifications on `channel` through one connection of its own, one batch at a time, so
 * that they are delivered in the order they were queued: PostgreSQL delivers the notifications
 * of one transaction in order, and transactions in the order they committed. queue() never waits.
 */
export class PostgresNotifier {
  private readonly pool: pg.Pool;
  private readonly queued: string[] = [];
  private pumping: Promise<void> | null = null;
  private closed = false;

  constructor(private readonly options: PostgresNotifierOptions) {
    this.pool = new pg.Pool({
      connectionString: options.url,
      max: 1,
      application_name: "callbridge events notify",
      connectionTimeoutMillis: 5000,
    });
    // An idle connection the server drops emits 'error' on the pool; the next batch reconnects.
    this.pool.on("error", () => {});
  }

  queue(payload: string): void {
    if (this.closed) return;
    if (Buffer.byteLength(payload) > MAX_NOTIFY_PAYLOAD_BYTES) {
      this.options.onDropped(1, "payload too large for NOTIFY");
      return;
    }
    if (this.queued.length >= (this.options.maxQueued ?? 10_000)) {
      this.options.onDropped(1, "too many notifications waiting for the database");
      return;
    }
    this.queued.push(payload);
    this.pumping ??= this.pump();
  }

  /** Sends what is queued, then closes the connection. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pumping;
    await this.pool.end();
  }

  private async pump(): Promise<void> {
    try {
      while (this.queued.length > 0) {
        const batch = this.queued.splice(0, BATCH);
        try {
          // unnest yields the array's elements in order, and pg_notify runs once for each.
          await this.pool.query(
            "SELECT pg_notify($1, payload) FROM unnest($2::text[]) AS payload",
            [this.options.channel, batch],
          );
        } catch (error) {
          // Not retried: a statement that failed may still have committed, and a feed that shows a
          // transcript twice is worse than one that misses it.
          const reason = error instanceof Error ? error.message : String(error);
          this.options.onDropped(batch.length, reason);
          // At shutdown, a database that failed once is not waited for again, batch after batch.
          const rest = this.closed ? this.queued.splice(0) : [];
          if (rest.length > 0) this.options.onDropped(rest.length, reason);
        }
      }
    } finally {
      this.pumping = null;
    }
  }
}
