import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type {
  CallEvent,
  CallEventBus,
  CallEventSink,
  Logger,
} from "../../application/ports/index.ts";
import { errorMessage } from "../../domain/errors.ts";
import { type CallEventLoader, type CallEventRef, refOf } from "./call-event-loader.ts";
import { isClusterNotificationMessage } from "./cluster-notification-relay.ts";
import type { EventBusErrorKind } from "./event-bus-error-kind.ts";
import { LocalSubscribers } from "./local-subscribers.ts";
import { PerKeyQueue } from "./per-key-queue.ts";
import { PostgresNotificationListener } from "./postgres-notification-listener.ts";
import { PostgresNotifier } from "./postgres-notifier.ts";

export const CALL_EVENTS_CHANNEL = "callbridge_call_events";

/**
 * Waits between reads of a row not found yet: about 2 s in all. Transcripts and analytics are
 * committed in batches behind the call, so a notification can come before its row is visible.
 */
export const DEFAULT_LOAD_RETRY_DELAYS_MS: readonly number[] = [25, 50, 100, 200, 300, 500, 800];

/** Send failures are logged at most this often (they come per event while the database is down). */
const SEND_FAILURE_LOG_INTERVAL_MS = 10_000;

export interface PostgresNotifyEventBusOptions {
  url: string;
  /** Reads the row a notification names (repositoryEventLoader). */
  load: CallEventLoader;
  logger: Logger;
  /**
   * Whether anything here follows the call now (the live feeds' hub): other instances' events
   * of calls nobody follows are not read from the database at all.
   */
  wanted?: (callId: string) => boolean;
  onError?: (kind: EventBusErrorKind) => void;
  channel?: string;
  /** Tells this process's notifications from other instances'; default a random UUID. */
  instance?: string;
  loadRetryDelaysMs?: readonly number[];
  reconnectDelaysMs?: readonly number[];
  heartbeatMs?: number;
  /**
   * A cluster worker: the primary LISTENs for the whole machine and sends each notification
   * here (relayClusterNotifications), so this bus opens no LISTEN connection of its own.
   */
  relayed?: RelayedNotifications;
}

/** This process's channel to the cluster primary, as far as relayed notifications go. */
export interface RelayedNotifications {
  readonly connected: boolean;
  on(event: "message", listener: (message: unknown) => void): void;
  off(event: "message", listener: (message: unknown) => void): void;
}

interface Notification extends CallEventRef {
  instance: string;
}

/**
 * The bus of instances (on one machine or many) sharing one PostgreSQL database: each event is a
 * NOTIFY naming the row (`{ instance, type, callId, id }`, far below NOTIFY's 8000 bytes), which
 * the instances that follow the call read back from the database, one call's events in order.
 */
export class PostgresNotifyEventBus implements CallEventBus {
  readonly instance: string;
  private readonly subscribers = new LocalSubscribers();
  private readonly notifier: PostgresNotifier;
  private readonly listener: PostgresNotificationListener | null;
  private readonly loads = new PerKeyQueue();
  private readonly stop = new AbortController();
  private closed = false;
  private unloggedSendFailures = 0;
  private lastSendFailureLog = Number.NEGATIVE_INFINITY;

  /** Listens before it returns: it rejects if the database cannot be reached. */
  static async open(options: PostgresNotifyEventBusOptions): Promise<PostgresNotifyEventBus> {
    const bus = new PostgresNotifyEventBus(options);
    try {
      await bus.listener?.start();
    } catch (error) {
      await bus.close();
      throw error;
    }
    return bus;
  }

  private constructor(private readonly options: PostgresNotifyEventBusOptions) {
    this.instance = options.instance ?? randomUUID();
    const channel = options.channel ?? CALL_EVENTS_CHANNEL;
    this.notifier = new PostgresNotifier({
      url: options.url,
      channel,
      onDropped: (count, reason) => this.sendFailed(count, reason),
    });
    if (options.relayed) {
      options.relayed.on("message", this.relayedMessage);
      this.listener = null;
      return;
    }
    this.listener = new PostgresNotificationListener({
      url: options.url,
      channel,
      logger: options.logger,
      onNotification: (payload) => this.receive(payload),
      onLost: () => options.onError?.("event_bus_listen"),
      reconnectDelaysMs: options.reconnectDelaysMs,
      heartbeatMs: options.heartbeatMs,
    });
  }

  publish(event: CallEvent): void {
    if (this.closed) return;
    this.subscribers.deliver(event);
    try {
      const notification: Notification = { instance: this.instance, ...refOf(event) };
      this.notifier.queue(JSON.stringify(notification));
    } catch (error) {
      this.sendFailed(1, errorMessage(error));
    }
  }

  subscribe(sink: CallEventSink): () => void {
    if (this.closed) return () => {};
    return this.subscribers.add(sink);
  }

  /** Whether other instances' events are being received now (false while reconnecting). */
  get listening(): boolean {
    return this.listener?.listening ?? this.options.relayed?.connected ?? false;
  }

  /** Sends the notifications still queued (the calls' last events), then disconnects. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stop.abort();
    this.options.relayed?.off("message", this.relayedMessage);
    await this.listener?.close();
    await this.loads.idle();
    await this.notifier.close();
    this.subscribers.clear();
  }

  private readonly relayedMessage = (message: unknown): void => {
    if (isClusterNotificationMessage(message)) this.receive(message.payload);
  };

  private receive(payload: string): void {
    if (this.closed) return;
    const notification = parseNotification(payload);
    if (!notification) {
      this.options.logger.warn({}, "an unreadable call event notification was ignored");
      return;
    }
    // This instance's own events reached its subscribers when they were published.
    if (notification.instance === this.instance) return;
    if (this.subscribers.size === 0 || !(this.options.wanted?.(notification.callId) ?? true)) {
      return;
    }
    const queued = this.loads.run(notification.callId, () => this.loadAndDeliver(notification));
    if (!queued) this.dropped(notification, "too many of the call's events waiting to be read");
  }

  private async loadAndDeliver(ref: CallEventRef): Promise<void> {
    const delays = this.options.loadRetryDelaysMs ?? DEFAULT_LOAD_RETRY_DELAYS_MS;
    let lastError: unknown = null;
    for (let attempt = 0; !this.closed; attempt++) {
      try {
        const event = await this.options.load(ref);
        if (event) {
          if (!this.closed) this.subscribers.deliver(event);
          return;
        }
      } catch (error) {
        lastError = error;
      }
      const delay = delays[attempt];
      if (delay === undefined) {
        const reason = lastError === null ? "its row was not found" : errorMessage(lastError);
        this.dropped(ref, reason, attempt + 1);
        return;
      }
      await sleep(delay, undefined, { signal: this.stop.signal }).catch(() => {});
    }
  }

  private dropped(ref: CallEventRef, reason: string, reads?: number): void {
    this.options.onError?.("event_bus_load");
    this.options.logger.warn(
      { type: ref.type, callId: ref.callId, id: ref.id, reads, err: reason },
      "another instance's call event was dropped: live feeds here miss it",
    );
  }

  private sendFailed(count: number, reason: string): void {
    for (let i = 0; i < count; i++) this.options.onError?.("event_bus_send");
    this.unloggedSendFailures += count;
    const now = performance.now();
    if (now - this.lastSendFailureLog < SEND_FAILURE_LOG_INTERVAL_MS) return;
    this.options.logger.warn(
      { events: this.unloggedSendFailures, err: reason },
      "call events could not be sent to other instances: their live feeds miss them",
    );
    this.unloggedSendFailures = 0;
    this.lastSendFailureLog = now;
  }
}

const EVENT_TYPES: ReadonlySet<string> = new Set<CallEvent["type"]>([
  "call.started",
  "call.ended",
  "transcript.created",
  "analytics.created",
  "recording.created",
]);

function parseNotification(payload: string): Notification | null {
  let value: unknown;
  try {
    value = JSON.parse(payload);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const { instance, type, callId, id } = value as Record<string, unknown>;
  if (
    typeof instance !== "string" ||
    typeof type !== "string" ||
    !EVENT_TYPES.has(type) ||
    typeof callId !== "string" ||
    typeof id !== "string"
  ) {
    return null;
  }
  return { instance, type: type as CallEvent["type"], callId, id };
}
