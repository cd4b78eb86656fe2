import { vi } from "vitest";
import { CallSession } from "../../src/application/bridge/call-session.ts";
import { CallManager } from "../../src/application/call-manager.ts";
import type { BridgeMetrics, Logger, StartCallInput } from "../../src/application/ports/index.ts";
import type { Analytics } from "../../src/domain/analytics.ts";
import { encodeMuLaw } from "../../src/domain/audio/index.ts";
import type { Call } from "../../src/domain/call.ts";
import type { CallMetadata } from "../../src/domain/call-metadata.ts";
import type { CallPrices } from "../../src/domain/cost.ts";
import type { Transcript } from "../../src/domain/transcript.ts";
import { fakeTimersClock, sequentialIds } from "./fake-clock.ts";
import { InMemoryCallRepository } from "./in-memory-call-repository.ts";
import { InMemoryRecordingStore } from "./in-memory-recording-store.ts";
import { RecordingTelephonyOutput } from "./recording-telephony-output.ts";
import { type ScriptedConnection, ScriptedRealtimeModel } from "./scripted-realtime-model.ts";
import { silence, tone } from "./signals.ts";

/** One line a CapturingLogger was given. */
export interface LoggedLine {
  level: "debug" | "info" | "warn" | "error";
  msg: string | undefined;
  fields: Record<string, unknown>;
}

/** A Logger that keeps every line (children write into the same list, bindings included). */
export class CapturingLogger implements Logger {
  constructor(
    readonly lines: LoggedLine[] = [],
    private readonly bindings: Record<string, unknown> = {},
  ) {}

  debug(obj: object, msg?: string): void {
    this.push("debug", obj, msg);
  }
  info(obj: object, msg?: string): void {
    this.push("info", obj, msg);
  }
  warn(obj: object, msg?: string): void {
    this.push("warn", obj, msg);
  }
  error(obj: object, msg?: string): void {
    this.push("error", obj, msg);
  }
  child(bindings: Record<string, unknown>): Logger {
    return new CapturingLogger(this.lines, { ...this.bindings, ...bindings });
  }

  withMessage(msg: string): LoggedLine[] {
    return this.lines.filter((line) => line.msg === msg);
  }

  private push(level: LoggedLine["level"], obj: object, msg?: string): void {
    this.lines.push({ level, msg, fields: { ...this.bindings, ...obj } });
  }
}

/** BridgeMetrics that counts what it is told. */
export class CountingMetrics implements BridgeMetrics {
  framesIn = 0;
  framesOut = 0;
  framesProcessed = 0;
  readonly upstreamErrors: string[] = [];
  /** Frames dropped for backpressure, summed. */
  outboundDroppedFrames = 0;

  frameIn(): void {
    this.framesIn++;
  }
  frameOut(): void {
    this.framesOut++;
  }
  frameProcessed(): void {
    this.framesProcessed++;
  }
  upstreamError(kind: string): void {
    this.upstreamErrors.push(kind);
  }
  outboundDropped(frames: number): void {
    this.outboundDroppedFrames += frames;
  }
}

/** What one 8 kHz frame becomes on the 16 kHz caller track once the call has ended. */
export const CALLER_TRACK_SAMPLES_PER_FRAME = 320;
/** 24 kHz samples per millisecond of model audio. */
const MODEL_SAMPLES_PER_MS = 24;

/**
 * A 440 Hz tone at 0.3 of full scale: well above CALLER_VAD_RMS, so every frame counts as
 * caller speech. 20 ms is not a whole number of periods, but the VAD only sees the energy.
 */
export const SPEECH_FRAME = encodeMuLaw(tone(440, 20, 8000, 0.3));
/** Digital silence (mu-law 0xFF decodes to 0). */
export const SILENT_FRAME = encodeMuLaw(silence(20, 8000));

export const STREAM_SID = "MZ00000000000000000000000000000001";
export const START_TIME = Date.parse("2026-03-01T09:00:00.000Z");

export interface HarnessOptions {
  maxCallSeconds?: number;
  reconnectDelaysMs?: readonly number[];
  recordConversation?: boolean;
  analyticsIntervalMs?: number;
  /** false: no model at all, so the session runs in record-only mode from the start. */
  withModel?: boolean;
  /** Prices of the models in use, for the call's estimated cost (default none: no estimate). */
  prices?: CallPrices | null;
  /**
   * How long the model may drain after the call ends. 0 (the default here) closes it at once,
   * so that a test that does not play the model's last events need not advance the timers.
   */
  modelDrainMs?: number;
  modelSessionLimitMs?: number;
  /** The model's audio both ways (OPENAI_AUDIO_FORMAT); default pcm16. */
  audioFormat?: "pcm16" | "pcmu";
  onModelRejected?: (message: string) => void;
  /** ASSISTANT_HANG_UP: the session declares end_call (default off here). */
  assistantHangUp?: boolean;
  /** How long a hang-up waits beyond the audio still queued (default 5 s). */
  hangUpGraceMs?: number;
}

/**
 * One CallManager over the in-memory repository and recording store, and the sessions made on
 * it, each with a ScriptedRealtimeModel and a RecordingTelephonyOutput. Call it after
 * `vi.useFakeTimers()`: the manager's clock is Date.now(), so stored times follow the timers.
 */
export class SessionHarness {
  readonly repository = new InMemoryCallRepository();
  readonly store = new InMemoryRecordingStore();
  readonly logger = new CapturingLogger();
  readonly ids = sequentialIds("id");
  readonly manager = new CallManager({
    calls: this.repository,
    recordings: this.store,
    clock: fakeTimersClock,
    ids: this.ids,
    logger: this.logger,
  });

  constructor(private readonly defaults: HarnessOptions = {}) {}

  /** A new session (a new media stream connection) on the shared manager. */
  session(options: HarnessOptions = {}): SessionUnderTest {
    return new SessionUnderTest(this, { ...this.defaults, ...options });
  }

  async callOf(streamSid: string): Promise<Call> {
    const call = await this.repository.getCallByStreamSid(streamSid);
    if (!call) throw new Error(`no call row for ${streamSid}`);
    return call;
  }
}

export class SessionUnderTest {
  readonly output = new RecordingTelephonyOutput();
  readonly model = new ScriptedRealtimeModel();
  readonly metrics = new CountingMetrics();
  readonly session: CallSession;
  streamSid = STREAM_SID;
  /** Caller frames handed to the session so far. */
  framesSent = 0;
  /** Twilio's media timestamp of the next frame, and when it arrives here (both ms). */
  twilioMs = 0;
  arrivalMs = 0;

  constructor(
    private readonly harness: SessionHarness,
    options: HarnessOptions,
  ) {
    this.session = new CallSession({
      callManager: harness.manager,
      model: options.withModel === false ? null : this.model,
      modelOptions: {
        voice: "verse",
        instructions: "be brief",
        ...(options.audioFormat ? { audioFormat: options.audioFormat } : {}),
      },
      output: this.output,
      logger: harness.logger,
      metrics: this.metrics,
      maxCallSeconds: options.maxCallSeconds ?? 3600,
      reconnectDelaysMs: options.reconnectDelaysMs,
      analyticsIntervalMs: options.analyticsIntervalMs,
      recordConversation: options.recordConversation,
      prices: options.prices,
      modelDrainMs: options.modelDrainMs ?? 0,
      modelSessionLimitMs: options.modelSessionLimitMs,
      onModelRejected: options.onModelRejected,
      assistantHangUp: options.assistantHangUp,
      hangUpGraceMs: options.hangUpGraceMs,
      // Arrival times drive the jitter estimate; the harness moves them frame by frame.
      now: () => this.arrivalMs / 1000,
    });
  }

  /** Starts the call; the returned promise is the session's (it settles once stored). */
  start(input: Partial<StartCallInput> = {}): Promise<void> {
    const merged: StartCallInput = { streamSid: this.streamSid, callSid: "CA1", ...input };
    this.streamSid = merged.streamSid;
    return this.session.start(merged);
  }

  /** The model's current connection. */
  get connection(): ScriptedConnection {
    return this.model.last;
  }

  /**
   * `n` caller frames, 20 ms apart in Twilio's stamps and in arrival. `gapMs` skips that much
   * of Twilio's clock (and arrival) before the first, as a lost run of packets would.
   */
  send(n: number, frame: Uint8Array, gapMs = 0): void {
    this.twilioMs += gapMs;
    this.arrivalMs += gapMs;
    for (let i = 0; i < n; i++) {
      this.session.callerAudio(frame, this.twilioMs);
      this.twilioMs += 20;
      this.arrivalMs += 20;
      this.framesSent++;
    }
  }

  speech(n: number, gapMs = 0): void {
    this.send(n, SPEECH_FRAME, gapMs);
  }

  silence(n: number, gapMs = 0): void {
    this.send(n, SILENT_FRAME, gapMs);
  }

  /**
   * The model speaks `ms` of audio for `itemId`, in deltas of `deltaMs`: PCM16 at 24 kHz, or
   * 8 kHz mu-law in a pcmu session.
   */
  answer(itemId: string, ms: number, deltaMs = 100): void {
    if (this.connection.options.audioFormat === "pcmu") {
      const mulaw = encodeMuLaw(tone(300, ms, 8000, 0.3));
      for (let at = 0; at < mulaw.length; at += deltaMs * 8) {
        this.connection.muLawDelta(itemId, mulaw.subarray(at, at + deltaMs * 8));
      }
      return;
    }
    const pcm = tone(300, ms, MODEL_SAMPLES_PER_MS * 1000, 0.3);
    const step = deltaMs * MODEL_SAMPLES_PER_MS;
    for (let at = 0; at < pcm.length; at += step) {
      this.connection.audioDelta(itemId, pcm.subarray(at, at + step));
    }
  }

  callerTrack(): Int16Array {
    return this.harness.store.samplesOf(this.streamSid, "caller");
  }

  call(): Promise<Call> {
    return this.harness.callOf(this.streamSid);
  }

  async transcripts(): Promise<Transcript[]> {
    return this.harness.repository.getTranscriptsByCallId((await this.call()).id);
  }

  async analytics(): Promise<Analytics[]> {
    return this.harness.repository.getAnalyticsByCallId((await this.call()).id);
  }

  async metadata(): Promise<CallMetadata | null> {
    return this.harness.repository.getMetadataByCallId((await this.call()).id);
  }

  /**
   * Audio frames sent to Twilio before the mark named `name`: what Twilio has played once it
   * echoes that mark.
   */
  framesBeforeMark(name: string): number {
    let frames = 0;
    for (const message of this.output.messages) {
      if (message.type === "mark" && message.name === name) return frames;
      if (message.type === "audio") frames++;
    }
    throw new Error(`mark ${name} was never sent`);
  }
}

/**
 * Lets every pending promise chain run (the in-memory repository settles in microtasks), and
 * timers due now. fake-timers yields to a real setImmediate here, so no chain is cut short.
 */
export async function flush(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}
