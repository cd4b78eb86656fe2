import type {
  ConversationTurn,
  FunctionCall,
  RealtimeConnection,
  RealtimeListener,
  RealtimeModel,
  RealtimeSessionOptions,
  ResponseOutcome,
} from "../../src/application/ports/index.ts";
import type { JsonObject } from "../../src/domain/analytics.ts";

/** Why a connection ended, as the port types it. */
export type CloseKind = Parameters<RealtimeListener["onClosed"]>[0];

/**
 * What a delta's samples become once the listener has returned. The real client decodes every
 * delta into one scratch buffer shared by all calls (realtime-client.ts, `sharedDeltaScratch`),
 * so a listener that keeps the array instead of copying it hears the next delta, or this.
 */
export const STALE_DELTA_SAMPLE = 0x7bad;
/** The same for a mu-law delta's bytes. */
export const STALE_MULAW_BYTE = 0x5a;

/** A connection the test plays the model's side of. */
export class ScriptedConnection implements RealtimeConnection {
  /** Copies of the audio the session appended, in order (empty arrays are not appended). */
  readonly appended: Int16Array[] = [];
  /** Copies of the mu-law a pcmu session appended, in order. */
  readonly appendedMuLaw: Uint8Array[] = [];
  /** Of `appended` (or `appendedMuLaw`), how many were appended before the socket opened (the client queues them). */
  appendedWhileConnecting = 0;
  /** Truncations the client sent, with audioEndMs as it sends it (floored, at least 0). */
  readonly truncates: Array<{ itemId: string; audioEndMs: number }> = [];
  /** Truncations the client dropped because the socket was not open (or closed). */
  ignoredTruncates = 0;
  /** close() calls, the first included. */
  closeCalls = 0;
  /** onClosed as delivered to the session, or null while the connection stands. */
  droppedWith: { kind: CloseKind; message: string } | null = null;
  /** Turns replayed into this session, one array per replay() call. */
  readonly replayed: ConversationTurn[][] = [];
  /** function_call_output items the client sent, in order (an open, unclosed socket only). */
  readonly functionOutputs: Array<{ callId: string; output: string }> = [];
  /** Answers the client dropped because the socket was closed. */
  ignoredFunctionOutputs = 0;
  /** maxWaitMs of each drain() that sent a commit (the socket was open). */
  readonly drains: number[] = [];
  private drainDone: (() => void) | null = null;

  private socketOpen = false;
  private closedByApp = false;
  private lastErrorCode: string | null = null;

  constructor(
    readonly options: RealtimeSessionOptions,
    readonly listener: RealtimeListener,
  ) {}

  /** Closed by the session (close()) or by the model (a drop): the client sends nothing more. */
  get closed(): boolean {
    return this.closedByApp || this.droppedWith !== null;
  }

  get closedBySession(): boolean {
    return this.closedByApp;
  }

  get isOpen(): boolean {
    return this.socketOpen && !this.closed;
  }

  /** Samples in each append, in order. */
  get appendedSampleCounts(): number[] {
    return this.appended.map((chunk) => chunk.length);
  }

  get appendedSamples(): number {
    return this.appended.reduce((sum, chunk) => sum + chunk.length, 0);
  }

  // The session's side.

  appendAudio(pcm24k: Int16Array): void {
    if (this.closed || pcm24k.length === 0 || this.options.audioFormat === "pcmu") return;
    this.appended.push(pcm24k.slice());
    if (!this.socketOpen) this.appendedWhileConnecting++;
  }

  /** As the client: mu-law goes only into a pcmu session, PCM16 only into a pcm16 one. */
  appendMuLaw(mulaw: Uint8Array): void {
    if (this.closed || mulaw.length === 0 || this.options.audioFormat !== "pcmu") return;
    this.appendedMuLaw.push(mulaw.slice());
    if (!this.socketOpen) this.appendedWhileConnecting++;
  }

  truncate(itemId: string, audioEndMs: number): void {
    // The client sends a truncate only on an open socket; before that it is lost, not queued.
    if (this.closed || !this.socketOpen) {
      this.ignoredTruncates++;
      return;
    }
    this.truncates.push({ itemId, audioEndMs: Math.max(0, Math.floor(audioEndMs)) });
  }

  /** As the client: sent only on an open socket that nobody has closed. */
  answerFunctionCall(callId: string, output: string): void {
    if (this.closed || !this.socketOpen) {
      this.ignoredFunctionOutputs++;
      return;
    }
    this.functionOutputs.push({ callId, output });
  }

  /** The outputs sent for `callId`, parsed as JSON (the bridge answers in JSON). */
  outputsFor(callId: string): unknown[] {
    return this.functionOutputs
      .filter((answer) => answer.callId === callId)
      .map((answer) => JSON.parse(answer.output) as unknown);
  }

  replay(turns: readonly ConversationTurn[]): void {
    if (this.closed) return;
    this.replayed.push(turns.map((turn) => ({ ...turn })));
  }

  /**
   * As the client: on a socket that never opened it just closes; on an open one it commits and
   * waits, at most maxWaitMs, until the test plays `drained()` (the last transcript and answer).
   */
  drain(maxWaitMs: number): Promise<void> {
    if (this.closed || !this.socketOpen) {
      this.close();
      return Promise.resolve();
    }
    this.drains.push(maxWaitMs);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.endDrain(), maxWaitMs);
      this.drainDone = () => {
        clearTimeout(timer);
        resolve();
      };
    });
  }

  /** The model has nothing pending for the call any more: a draining client closes now. */
  drained(): this {
    this.endDrain();
    return this;
  }

  private endDrain(): void {
    const done = this.drainDone;
    this.drainDone = null;
    if (!done) return;
    this.close();
    done();
  }

  /**
   * Never followed by onClosed: the client removes its socket's close listener before closing
   * (realtime-client.ts close()), so the session hears nothing of a close it asked for.
   */
  close(): void {
    this.closeCalls++;
    this.closedByApp = true;
  }

  // The model's side: each plays one server event into the session's listener.

  /** The socket opens (audio queued so far goes out); the session is told nothing. */
  open(): this {
    this.deliverable("open");
    this.socketOpen = true;
    return this;
  }

  /** `session.updated`: configured and accepting audio. */
  ready(): this {
    this.deliver("ready", (l) => l.onReady());
    return this;
  }

  speechStarted(itemId: string | null, audioStartMs: number): this {
    this.deliver("speechStarted", (l) => l.onSpeechStarted(itemId, audioStartMs));
    return this;
  }

  speechStopped(itemId: string | null, audioEndMs: number): this {
    this.deliver("speechStopped", (l) => l.onSpeechStopped(itemId, audioEndMs));
    return this;
  }

  /** PCM16 at 24 kHz, handed over in a buffer that is overwritten once the listener returns. */
  audioDelta(itemId: string, pcm24k: Int16Array): this {
    this.deliver("audioDelta", (l) => {
      const scratch = new Int16Array(pcm24k);
      try {
        l.onAudioDelta(itemId, scratch);
      } finally {
        scratch.fill(STALE_DELTA_SAMPLE);
      }
    });
    return this;
  }

  /** 8 kHz mu-law for a pcmu session, in a buffer overwritten once the listener returns. */
  muLawDelta(itemId: string, mulaw: Uint8Array): this {
    this.deliver("muLawDelta", (l) => {
      const scratch = new Uint8Array(mulaw);
      try {
        l.onMuLawDelta(itemId, scratch);
      } finally {
        scratch.fill(STALE_MULAW_BYTE);
      }
    });
    return this;
  }

  audioDone(itemId: string): this {
    this.deliver("audioDone", (l) => l.onAudioDone(itemId));
    return this;
  }

  callerTranscript(itemId: string, text: string, usage: JsonObject | null = null): this {
    this.deliver("callerTranscript", (l) => l.onCallerTranscript(itemId, text, usage));
    return this;
  }

  callerTranscriptFailed(itemId: string, message = "Audio could not be transcribed."): this {
    this.deliver("callerTranscriptFailed", (l) => l.onCallerTranscriptFailed(itemId, message));
    return this;
  }

  /** `response.done`'s status (its usage goes through usage()). */
  responseDone(outcome: ResponseOutcome): this {
    this.deliver("responseDone", (l) =>
      l.onResponseDone({ ...outcome, itemIds: [...outcome.itemIds] }),
    );
    return this;
  }

  assistantTranscript(itemId: string, text: string): this {
    this.deliver("assistantTranscript", (l) => l.onAssistantTranscript(itemId, text));
    return this;
  }

  /**
   * A whole function call (response.output_item.done with a completed function_call item); the
   * arguments are given as the model writes them, JSON text, or as an object to encode.
   */
  functionCall(callId: string, name: string, args: string | JsonObject = {}): this {
    const call: FunctionCall = {
      callId,
      name,
      arguments: typeof args === "string" ? args : JSON.stringify(args),
    };
    this.deliver("functionCall", (l) => l.onFunctionCall(call));
    return this;
  }

  /** `response.done` with usage; the client hands over a JSON copy. */
  usage(usage: JsonObject): this {
    const copy = JSON.parse(JSON.stringify(usage)) as JsonObject;
    this.deliver("usage", (l) => l.onUsage(copy));
    return this;
  }

  /** An `error` event (or an unparseable one): the connection stays up. */
  error(kind: string, message: string): this {
    this.deliver("error", (l) => {
      this.lastErrorCode = kind;
      l.onError(kind, message);
    });
    return this;
  }

  /**
   * The connection is lost. As the client's fail(): nothing happens on a connection already
   * closed by the session or already dropped (returns false), else onClosed once.
   */
  drop(kind: CloseKind, message: string): boolean {
    if (this.closed) return false;
    this.droppedWith = { kind, message };
    this.listener.onClosed(kind, message);
    return true;
  }

  /** The server closes the socket; `expired` if the last error was session_expired, as the client. */
  serverClose(code = 1006, reason = ""): boolean {
    const kind: CloseKind = this.lastErrorCode === "session_expired" ? "expired" : "dropped";
    return this.drop(kind, `closed with ${code}${reason ? ` ${reason}` : ""}`);
  }

  /** The upgrade is answered with an HTTP error. */
  refuse(status = 401): boolean {
    return this.drop("refused", `upgrade answered ${status}`);
  }

  /** No session.created within the connect timeout. */
  timeout(): boolean {
    return this.drop("timeout", "no session.created in time");
  }

  /**
   * A server event reaches the listener only on a socket that can still receive: not after a
   * drop (the client terminates the socket), not after close() while connecting (terminated
   * too). After close() on an open socket it does: ws still emits messages that arrive before
   * the closing handshake ends, and the client keeps its message listener.
   */
  private deliverable(event: string): void {
    if (this.droppedWith !== null) {
      throw new Error(
        `${event}: the connection was dropped; the client delivers nothing after onClosed`,
      );
    }
    if (this.closedByApp && !this.socketOpen) {
      throw new Error(`${event}: the session closed the connection before it opened`);
    }
  }

  private deliver(event: string, call: (listener: RealtimeListener) => void): void {
    this.deliverable(event);
    // A server event means the socket is open.
    this.socketOpen = true;
    call(this.listener);
  }
}

/** RealtimeModel whose connections the test drives event by event. */
export class ScriptedRealtimeModel implements RealtimeModel {
  /** Every connection made, in order (failed connects are not among them). */
  readonly connections: ScriptedConnection[] = [];
  /** connect() calls, failed ones included. */
  connectAttempts = 0;
  private readonly failures: Error[] = [];

  /** The next `count` connect() calls throw `error`. */
  failNextConnects(count: number, error: Error = new Error("connect failed")): void {
    for (let i = 0; i < count; i++) this.failures.push(error);
  }

  connect(options: RealtimeSessionOptions, listener: RealtimeListener): ScriptedConnection {
    this.connectAttempts++;
    const failure = this.failures.shift();
    if (failure) throw failure;
    const connection = new ScriptedConnection({ ...options }, listener);
    this.connections.push(connection);
    return connection;
  }

  /** The latest connection; throws when there is none, which is a failed expectation anyway. */
  get last(): ScriptedConnection {
    const connection = this.connections.at(-1);
    if (!connection) throw new Error("no connection has been made");
    return connection;
  }
}
