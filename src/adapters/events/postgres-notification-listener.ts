import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import type { Logger } from "../../application/ports/index.ts";
import { errorMessage } from "../../domain/errors.ts";

export const DEFAULT_RECONNECT_DELAYS_MS: readonly number[] = [100, 500, 1000, 2000, 5000];

export interface PostgresNotificationListenerOptions {
  url: string;
  channel: string;
  logger: Logger;
  onNotification(payload: string): void;
  /** The connection was lost (notifications sent until it is back are missed). */
  onLost?(): void;
  /** Waits before each reconnection attempt; the last one repeats. */
  reconnectDelaysMs?: readonly number[];
  /**
   * A query this often finds a connection that died without the socket noticing (a network
   * cut), which would otherwise go on "listening" to nothing.
   */
  heartbeatMs?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;
const CHANNEL_NAME = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * LISTENs on a channel on a connection of its own (a pooled connection would be handed to other
 * queries and stop listening), and reconnects with backoff when that connection is lost.
 */
export class PostgresNotificationListener {
  private client: pg.Client | null = null;
  private closed = false;
  private reconnecting: Promise<void> | null = null;
  private heartbeat: ReturnType<typeof setInterval> | undefined;
  private readonly stop = new AbortController();

  constructor(private readonly options: PostgresNotificationListenerOptions) {
    if (!CHANNEL_NAME.test(options.channel)) {
      throw new Error(`not a channel name: ${options.channel}`);
    }
  }

  /** Connects and listens; rejects if the first connection fails. */
  async start(): Promise<void> {
    this.client = await this.connect();
    const heartbeatMs = this.options.heartbeatMs ?? 15_000;
    this.heartbeat = setInterval(() => this.checkAlive(), heartbeatMs);
    this.heartbeat.unref();
  }

  /** Whether the connection is up and listening now. */
  get listening(): boolean {
    return this.client !== null;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.stop.abort();
    clearInterval(this.heartbeat);
    await this.reconnecting;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => {});
  }

  private async connect(): Promise<pg.Client> {
    const { url, channel } = this.options;
    const client = new pg.Client({
      connectionString: url,
      application_name: "callbridge events listen",
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      query_timeout: CONNECT_TIMEOUT_MS,
      keepAlive: true,
    });
    // 'error' without a listener would crash the process; both mean the connection is gone.
    client.on("error", (error) => this.lost(client, error));
    client.on("end", () => this.lost(client, new Error("connection ended")));
    client.on("notification", (message) => {
      if (message.channel !== channel || message.payload === undefined) return;
      try {
        this.options.onNotification(message.payload);
      } catch {
        // The receiver handles its own failures; this connection must go on listening.
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${channel}`);
    } catch (error) {
      await client.end().catch(() => {});
      throw error;
    }
    return client;
  }

  private checkAlive(): void {
    const client = this.client;
    if (!client) return;
    client.query("SELECT 1").catch((error: unknown) => this.lost(client, error));
  }

  private lost(client: pg.Client, error: unknown): void {
    if (this.closed || this.client !== client) return;
    this.client = null;
    this.options.onLost?.();
    this.options.logger.warn(
      { err: errorMessage(error), channel: this.options.channel },
      "lost the connection that receives other instances' call events; reconnecting",
    );
    client.end().catch(() => {});
    this.reconnecting ??= this.reconnect().finally(() => {
      this.reconnecting = null;
    });
  }

  private async reconnect(): Promise<void> {
    const delays = this.options.reconnectDelaysMs ?? DEFAULT_RECONNECT_DELAYS_MS;
    for (let attempt = 0; !this.closed; attempt++) {
      const delay = delays[Math.min(attempt, delays.length - 1)] ?? 1000;
      await sleep(delay, undefined, { signal: this.stop.signal }).catch(() => {});
      if (this.closed) return;
      try {
        const client = await this.connect();
        if (this.closed) {
          await client.end().catch(() => {});
          return;
        }
        this.client = client;
        this.options.logger.info(
          { channel: this.options.channel, attempts: attempt + 1 },
          "receiving other instances' call events again (events of the outage were missed)",
        );
        return;
      } catch (error) {
        // Every tenth failure is a warning: a long outage stays visible without a line a second.
        const level = attempt % 10 === 0 ? "warn" : "debug";
        this.options.logger[level](
          { err: errorMessage(error), attempt: attempt + 1 },
          "reconnecting for other instances' call events failed",
        );
      }
    }
  }
}
