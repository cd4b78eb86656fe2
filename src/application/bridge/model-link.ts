import { errorMessage } from "../../domain/errors.ts";
import type {
  BridgeMetrics,
  ConversationTurn,
  Logger,
  ModelCloseKind,
  RealtimeConnection,
  RealtimeListener,
  RealtimeModel,
  RealtimeSessionOptions,
} from "../ports/index.ts";
import type { Timeline } from "./timeline.ts";

const RECONNECT_DELAYS_MS = [250, 1000, 2000];
/**
 * A Realtime session ends after 60 minutes (an `error` session_expired, then close 1001: see the
 * Realtime API's session limits); a call that outlasts it moves to a new session a minute before.
 */
const SESSION_LIMIT_MS = 60 * 60 * 1000;
const RENEW_BEFORE_MS = 60 * 1000;

export interface ModelLinkDeps {
  /** null = record-only mode from the start. */
  model: RealtimeModel | null;
  options: RealtimeSessionOptions;
  /** Receives the model's events (the call session). */
  listener: RealtimeListener;
  log: Logger;
  metrics: BridgeMetrics;
  /** A new connection's audio clock starts where the call's timeline is then. */
  timeline: Timeline;
  /** A new connection begins: nothing of the old one's answer is playing. */
  onConnect(): void;
  /** The call so far, replayed into a new session so that the assistant remembers it. */
  history(): ConversationTurn[];
  /** The model refused our session configuration: no call will do better until it is fixed. */
  onRejected?(message: string): void;
  reconnectDelaysMs?: readonly number[];
  /** How long one model session may last (default 60 minutes, the Realtime API's limit). */
  sessionLimitMs?: number;
}

/**
 * The call's connection to the assistant model: connects, reconnects with backoff when it is
 * lost, and after the last attempt leaves the call in record-only mode (the caller is still
 * recorded; nobody answers).
 */
export class ModelLink {
  private connection: RealtimeConnection | null = null;
  private attempts = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private renewTimer: ReturnType<typeof setTimeout> | null = null;
  private recordOnly: boolean;
  private failed = false;
  /** Timeline position at which the current connection's audio clock started. */
  private baseMs = 0;

  constructor(private readonly deps: ModelLinkDeps) {
    this.recordOnly = deps.model === null;
  }

  get isRecordOnly(): boolean {
    return this.recordOnly;
  }

  /** The model was lost for good (refused the session, or every reconnect failed). */
  get hasFailed(): boolean {
    return this.failed;
  }

  get isConnected(): boolean {
    return this.connection !== null;
  }

  /** A time on the model's input-audio clock, on the caller's timeline. */
  toTimeline(modelMs: number): number {
    return this.baseMs + modelMs;
  }

  connect(): void {
    const { model, options, listener } = this.deps;
    if (this.recordOnly || !model) return;
    this.baseMs = this.deps.timeline.ms;
    this.deps.onConnect();
    try {
      this.connection = model.connect(options, listener);
    } catch (error) {
      this.closed("connect_failed", errorMessage(error));
      return;
    }
    const history = this.deps.history();
    if (history.length > 0) this.connection.replay(history);
    this.scheduleRenewal();
  }

  /** Whether the model hears and says the phone's own mu-law (OPENAI_AUDIO_FORMAT=pcmu). */
  get passesMuLaw(): boolean {
    return this.deps.options.audioFormat === "pcmu";
  }

  /** PCM16 at 24 kHz; dropped when no connection is open. */
  appendAudio(pcm24k: Int16Array): void {
    this.connection?.appendAudio(pcm24k);
  }

  /** 8 kHz mu-law, in a pcmu session; dropped when no connection is open. */
  appendMuLaw(mulaw: Uint8Array): void {
    this.connection?.appendMuLaw(mulaw);
  }

  truncate(itemId: string, heardMs: number): void {
    this.connection?.truncate(itemId, heardMs);
  }

  /**
   * Answers a function call on the connection that made it. None is left to answer on once the
   * call drains, nor on a connection since lost: a new session never saw the call (a replay
   * carries only the turns).
   */
  answerFunctionCall(callId: string, output: string): void {
    this.connection?.answerFunctionCall(callId, output);
  }

  /** The session is ready: a later loss starts counting attempts afresh. */
  ready(): void {
    this.attempts = 0;
  }

  /** The connection is gone; `reconnect` is false once the call is no longer live. */
  closed(kind: ModelCloseKind, message: string, reconnect = true): void {
    this.deps.metrics.upstreamError(kind);
    this.connection = null;
    this.cancelRenewal();
    if (!reconnect) return;
    if (kind === "rejected") {
      // A configuration error: every attempt would be refused the same way.
      this.recordOnly = true;
      this.failed = true;
      this.deps.log.error(
        { kind, message },
        "the assistant model rejected its session configuration; the call goes on in record-only mode",
      );
      this.deps.onRejected?.(message);
      return;
    }
    const delays = this.deps.reconnectDelaysMs ?? RECONNECT_DELAYS_MS;
    if (this.attempts >= delays.length) {
      this.recordOnly = true;
      this.failed = true;
      this.deps.log.error(
        { kind, message, attempts: this.attempts },
        "assistant model unavailable; the call goes on in record-only mode",
      );
      return;
    }
    const delay = delays[this.attempts++]!;
    this.deps.log.warn(
      { kind, message, retryInMs: delay },
      "assistant model connection lost; reconnecting",
    );
    this.timer = setTimeout(() => {
      this.timer = null;
      this.connect();
    }, delay);
    this.timer.unref?.();
  }

  /**
   * The call is over: the open connection drains (the caller's last words are transcribed, an
   * answer in progress completes) for at most `maxWaitMs`; no reconnect happens any more.
   */
  drain(maxWaitMs: number): Promise<void> {
    const connection = this.connection;
    this.connection = null;
    this.close();
    if (!connection) return Promise.resolve();
    if (maxWaitMs <= 0) {
      connection.close();
      return Promise.resolve();
    }
    return connection.drain(maxWaitMs);
  }

  /** Closes the connection and cancels a pending reconnect, for good. */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.cancelRenewal();
    this.recordOnly = true;
    const connection = this.connection;
    this.connection = null;
    connection?.close();
  }

  private scheduleRenewal(): void {
    this.cancelRenewal();
    const limit = this.deps.sessionLimitMs ?? SESSION_LIMIT_MS;
    this.renewTimer = setTimeout(() => this.renew(), Math.max(1000, limit - RENEW_BEFORE_MS));
    this.renewTimer.unref?.();
  }

  private cancelRenewal(): void {
    if (this.renewTimer) clearTimeout(this.renewTimer);
    this.renewTimer = null;
  }

  /** A new session before the old one expires; the conversation so far goes with it. */
  private renew(): void {
    this.renewTimer = null;
    const old = this.connection;
    if (!old || this.recordOnly) return;
    this.deps.log.info({}, "renewing the assistant model session before it expires");
    this.connection = null;
    old.close();
    this.connect();
  }
}
