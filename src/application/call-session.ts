import type { JsonObject } from "../domain/analytics.ts";
import { decodeMuLawInto, encodeMuLawInto, Resampler } from "../domain/audio/index.ts";
import {
  base64DecodedLength,
  base64DecodedLengthOfBytes,
  decodeBase64BytesInto,
  decodeBase64Into,
} from "../domain/base64.ts";
import { isDomainError } from "../domain/errors.ts";
import { AssistantPlayback, FRAME_MS } from "./bridge/assistant-playback.ts";
import { CallAnalytics, type SentimentAnalyzer } from "./bridge/call-analytics.ts";
import { ConversationMixer } from "./bridge/conversation-mixer.ts";
import { NetworkQuality } from "./bridge/network-quality.ts";
import type { CallManager, StartCallInput } from "./call-manager.ts";
import { MAX_FRAME_BYTES } from "./live-call.ts";
import type {
  ActivitySpans,
  BridgeMetrics,
  Clock,
  Logger,
  RealtimeConnection,
  RealtimeListener,
  RealtimeModel,
  RealtimeSessionOptions,
  TelephonyOutput,
} from "./ports/index.ts";

const MULAW_FRAME_BYTES = 160;
/** Inbound scratch starts at this size; Twilio's frames are 160 bytes. */
const TYPICAL_FRAME_BYTES = 1024;
/** Above this many queued bytes on the Twilio socket, assistant audio is dropped, not buffered. */
const OUTBOUND_HIGH_WATER_BYTES = 512 * 1024;
const RECONNECT_DELAYS_MS = [250, 1000, 2000];

export interface CallSessionDeps {
  callManager: CallManager;
  /** null = record-only mode. */
  model: RealtimeModel | null;
  modelOptions: RealtimeSessionOptions;
  output: TelephonyOutput;
  logger: Logger;
  metrics: BridgeMetrics;
  clock: Clock;
  maxCallSeconds: number;
  reconnectDelaysMs?: readonly number[];
  /** How often an analytics snapshot is stored while the call runs. */
  analyticsIntervalMs?: number;
  sentiment?: SentimentAnalyzer | null;
  /** Language of the conversation, when configured. */
  language?: string;
  /** Also record the stereo conversation track (default true). */
  recordConversation?: boolean;
  /** High-resolution monotonic seconds, for the frame latency histogram. */
  now?: () => number;
  /** Labels the snapshot timer's work, which grows with the call, for the stall watchdog. */
  activity?: ActivitySpans;
}

type SessionState = "new" | "starting" | "live" | "ending" | "ended";

/**
 * One live phone call: Twilio frames in, the recording tee, the model connection, assistant
 * audio out with marks, barge-in, transcripts, and fault handling. One instance per media-stream
 * connection; it holds every piece of per-call state.
 */
export class CallSession implements RealtimeListener {
  private readonly deps: CallSessionDeps;
  private log: Logger;
  private state: SessionState = "new";
  private streamSid = "";
  private connection: RealtimeConnection | null = null;
  private reconnectAttempts = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | null = null;
  private maxDurationTimer: ReturnType<typeof setTimeout> | null = null;
  private analyticsTimer: ReturnType<typeof setInterval> | null = null;
  private mixer: ConversationMixer | null = null;
  private readonly analytics: CallAnalytics;
  private readonly network = new NetworkQuality();
  private recordOnly: boolean;

  // Inbound scratch, reused for every frame. Sized for Twilio's 160-byte frames and enlarged to
  // MAX_FRAME_BYTES only if a larger one arrives: sized for the maximum up front, these buffers
  // were most of a call's memory.
  private mulawIn = new Uint8Array(TYPICAL_FRAME_BYTES);
  private pcm8kIn = new Int16Array(TYPICAL_FRAME_BYTES);
  private readonly to24k = new Resampler(8000, 24000);
  private pcm24kIn: Int16Array;
  /** Caller audio received, in ms from the start of the stream: the call's timeline. */
  private inboundMs = 0;
  /** Timeline position at which the current model connection's audio clock started. */
  private modelBaseMs = 0;

  // Outbound: assistant audio → 8 kHz mu-law frames.
  private readonly playback = new AssistantPlayback();
  private to8k: Resampler | null = null;
  private outItem: string | null = null;
  /** Assistant deltas are resampled in slices of up to 3 × this - 96 samples. */
  private readonly pcm8kOut = new Int16Array(2048);
  private readonly frameOut = new Uint8Array(MULAW_FRAME_BYTES);
  private frameFill = 0;
  private readonly interruptedItems = new Set<string>();
  private readonly assistantStartMs = new Map<string, number>();
  private readonly callerItemStartMs = new Map<string, number>();
  private readonly transcriptIds = new Map<string, Promise<string | null>>();

  private readonly usage: Record<string, number> = {};
  private readonly dtmfDigits: { digit: string; offsetMs: number }[] = [];
  private readonly pending = new Set<Promise<unknown>>();
  constructor(deps: CallSessionDeps) {
    this.deps = deps;
    this.analytics = new CallAnalytics(deps.sentiment ?? null);
    this.log = deps.logger;
    this.recordOnly = deps.model === null;
    this.pcm24kIn = new Int16Array(this.to24k.maxOutputLength(TYPICAL_FRAME_BYTES));
  }

  get isLive(): boolean {
    return this.state === "live";
  }

  get timelineMs(): number {
    return this.inboundMs;
  }

  async start(input: StartCallInput): Promise<void> {
    if (this.state !== "new") throw new Error("a media stream can start only once");
    this.state = "starting";
    this.streamSid = input.streamSid;
    this.log = this.deps.logger.child({
      streamSid: input.streamSid,
      callSid: input.callSid ?? null,
    });
    // startCall registers the live call before its first await, so frames that arrive while the
    // row is being written are recorded, and the model connects in parallel: no first words lost.
    // Throws at once for a duplicate or invalid stream, before this session touches any call.
    let started: Promise<unknown>;
    try {
      started = this.deps.callManager.startCall(input);
    } catch (error) {
      this.state = "ended";
      throw error;
    }
    this.state = "live";
    if (this.deps.recordConversation !== false) {
      const streamSid = input.streamSid;
      this.mixer = new ConversationMixer(
        this.deps.callManager.addTrack(streamSid, {
          track: "conversation",
          sampleRate: 16_000,
          channels: 2,
        }),
        undefined,
        // The mixer's caller channel is the caller track's resampling: done once for both.
        (samples) => this.deps.callManager.addCallerPcm16k(streamSid, samples),
      );
    }
    this.connectModel();
    try {
      await started;
    } catch (error) {
      this.state = "ended";
      this.connection?.close();
      this.connection = null;
      throw error;
    }
    this.log.info({ recordOnly: this.recordOnly }, "call started");
    this.maxDurationTimer = setTimeout(() => {
      this.log.warn({ maxCallSeconds: this.deps.maxCallSeconds }, "call reached MAX_CALL_SECONDS");
      void this.stop("max_duration").finally(() => this.deps.output.close());
    }, this.deps.maxCallSeconds * 1000);
    this.maxDurationTimer.unref?.();
    const every = this.deps.analyticsIntervalMs ?? 15_000;
    this.analyticsTimer = setInterval(() => this.storeSnapshot(), every);
    this.analyticsTimer.unref?.();
  }

  get interruptions(): number {
    return this.analytics.interruptions;
  }

  /** A Twilio `media` frame: record it and forward it to the model. */
  media(payload: string, timestampMs: number | null = null): void {
    if (this.state !== "live") return;
    const started = this.deps.now?.() ?? performance.now() / 1000;
    const length = base64DecodedLength(payload);
    // Beyond MAX_FRAME_BYTES the decoder refuses the frame, whatever the buffer's size.
    if (length > this.mulawIn.length && length <= MAX_FRAME_BYTES) this.growInboundScratch();
    this.deps.metrics.frameIn();
    this.forward(decodeBase64Into(payload, this.mulawIn), started, timestampMs);
  }

  /** media() for a payload still in the bytes of its message: src[start, end) is the base64. */
  mediaBytes(src: Uint8Array, start: number, end: number, timestampMs: number | null): void {
    if (this.state !== "live") return;
    const started = this.deps.now?.() ?? performance.now() / 1000;
    const length = base64DecodedLengthOfBytes(src, start, end);
    if (length > this.mulawIn.length && length <= MAX_FRAME_BYTES) this.growInboundScratch();
    this.deps.metrics.frameIn();
    this.forward(decodeBase64BytesInto(src, start, end, this.mulawIn), started, timestampMs);
  }

  /** The caller's decoded mu-law (the first `bytes` of mulawIn) to the recording and the model. */
  private forward(bytes: number, started: number, timestampMs: number | null): void {
    const pcm8k = this.pcm8kIn.subarray(0, bytes);
    decodeMuLawInto(this.mulawIn.subarray(0, bytes), this.pcm8kIn);
    let played = 0;
    // The mixer records the caller track as well (see its onCaller16k).
    if (this.mixer) played = this.mixer.callerChunk(pcm8k);
    else this.deps.callManager.addCallerPcm8k(this.streamSid, pcm8k);
    this.analytics.callerChunk(pcm8k, played);
    this.network.frame(started * 1000, timestampMs);
    this.inboundMs += bytes / 8;
    if (this.connection) {
      const n = this.to24k.processInto(pcm8k, this.pcm24kIn);
      this.connection.appendAudio(this.pcm24kIn.subarray(0, n));
    }
    this.deps.metrics.frameProcessed((this.deps.now?.() ?? performance.now() / 1000) - started);
  }

  mark(name: string): void {
    this.playback.acknowledge(name);
  }

  dtmf(digit: string): void {
    if (this.state !== "live") return;
    this.dtmfDigits.push({ digit, offsetMs: Math.round(this.inboundMs) });
    this.track(
      this.deps.callManager.setMetadata(this.streamSid, {
        customData: { dtmf: this.dtmfDigits.map((d) => ({ ...d })) },
      }),
      "dtmf could not be stored",
    );
  }

  /** `stop` from Twilio, a closed socket, shutdown or the duration limit. Safe to call twice. */
  async stop(reason: string, outcome: "completed" | "failed" = "completed"): Promise<void> {
    if (this.state === "ending" || this.state === "ended") return;
    const wasStarted = this.state === "live" || this.state === "starting";
    this.state = "ending";
    this.clearTimers();
    this.connection?.close();
    this.connection = null;
    if (!wasStarted) {
      this.state = "ended";
      return;
    }
    try {
      // Also writes the caller track's last samples, if the call is still there to take them.
      this.mixer?.finish();
    } catch {
      // The call was ended elsewhere: its recordings are finalized and take nothing more.
    }
    await Promise.allSettled([...this.pending]);
    try {
      await this.deps.callManager.addAnalytics(this.streamSid, this.currentSnapshot());
      await this.deps.callManager.setMetadata(this.streamSid, {
        networkQuality: this.network.label,
        ...(this.deps.language ? { language: this.deps.language } : {}),
        customData: {
          network: this.network.summary(),
          ...(Object.keys(this.usage).length > 0 ? { tokenUsage: { ...this.usage } } : {}),
        },
      });
      const call = await this.deps.callManager.endCall(this.streamSid, outcome);
      this.log.info(
        { reason, durationSeconds: call.durationSeconds, interruptions: this.interruptions },
        "call ended",
      );
    } catch (error) {
      this.log.error({ err: describe(error), reason }, "call could not be ended cleanly");
    } finally {
      this.state = "ended";
    }
  }

  // ---- RealtimeListener -------------------------------------------------------------------

  onReady(): void {
    this.reconnectAttempts = 0;
  }

  onSpeechStarted(itemId: string | null, audioStartMs: number): void {
    if (itemId) this.callerItemStartMs.set(itemId, this.modelBaseMs + audioStartMs);
    if (!this.playback.hasOutstanding) return;
    // Barge-in: the caller talks over assistant audio that is still playing.
    const { itemId: assistantItem, heardMs } = this.playback.clear();
    this.deps.output.sendClear();
    this.mixer?.clear();
    this.frameFill = 0;
    this.to8k = null;
    if (assistantItem) {
      this.connection?.truncate(assistantItem, heardMs);
      this.interruptedItems.add(assistantItem);
      const stored = this.transcriptIds.get(assistantItem);
      if (stored) {
        this.track(
          stored.then((id) => (id ? this.deps.callManager.markInterrupted(id) : undefined)),
          "interrupted flag could not be stored",
        );
      }
    }
    this.analytics.bargeIn();
    this.log.debug({ item: assistantItem, heardMs }, "barge-in");
  }

  onSpeechStopped(): void {}

  onAudioDelta(itemId: string, pcm24k: Int16Array): void {
    if (this.state !== "live" || this.interruptedItems.has(itemId)) return;
    if (this.deps.output.backlogBytes > OUTBOUND_HIGH_WATER_BYTES) {
      this.deps.metrics.outboundDropped(Math.ceil(pcm24k.length / 480));
      return;
    }
    if (itemId !== this.outItem) {
      this.finishOutboundItem();
      this.outItem = itemId;
      this.to8k = new Resampler(24000, 8000);
      const queued = this.mixer ? this.mixer.queuedMs : this.playback.outstandingMs;
      this.assistantStartMs.set(itemId, Math.round(this.inboundMs + queued));
      this.analytics.responseStarted();
    }
    const resampler = this.to8k!;
    let offset = 0;
    // Deltas can be larger than the scratch buffer; resample them in slices.
    while (offset < pcm24k.length) {
      const slice = pcm24k.subarray(offset, offset + 3 * this.pcm8kOut.length - 96);
      offset += slice.length;
      const n = resampler.processInto(slice, this.pcm8kOut);
      this.emitFrames(itemId, this.pcm8kOut.subarray(0, n));
    }
    this.deps.output.sendMark(this.playback.nextMark());
  }

  onAudioDone(itemId: string): void {
    if (itemId === this.outItem && !this.interruptedItems.has(itemId)) this.finishOutboundItem();
  }

  onCallerTranscript(itemId: string, text: string): void {
    if (this.state !== "live" && this.state !== "ending") return;
    const offsetMs = this.callerItemStartMs.get(itemId) ?? null;
    this.callerItemStartMs.delete(itemId);
    this.analytics.callerSaid(text);
    this.track(
      this.deps.callManager.addTranscript(this.streamSid, "caller", text, null, offsetMs),
      "caller transcript could not be stored",
    );
  }

  onAssistantTranscript(itemId: string, text: string): void {
    if (this.state !== "live" && this.state !== "ending") return;
    const offsetMs = this.assistantStartMs.get(itemId) ?? null;
    const saved = this.deps.callManager
      .addTranscript(
        this.streamSid,
        "assistant",
        text,
        null,
        offsetMs,
        this.interruptedItems.has(itemId),
      )
      .then((t) => t.id);
    const id = saved.catch((error: unknown) => {
      this.log.error({ err: describe(error) }, "assistant transcript could not be stored");
      return null;
    });
    this.transcriptIds.set(itemId, id);
    this.track(id, "assistant transcript could not be stored");
  }

  onUsage(usage: JsonObject): void {
    for (const [key, value] of Object.entries(usage)) {
      if (typeof value === "number") this.usage[key] = (this.usage[key] ?? 0) + value;
    }
  }

  onError(kind: string, message: string): void {
    this.deps.metrics.upstreamError(kind);
    this.log.warn({ kind, message }, "assistant model reported an error");
  }

  onClosed(kind: string, message: string): void {
    this.deps.metrics.upstreamError(kind);
    this.connection = null;
    if (this.state !== "live") return;
    const delays = this.deps.reconnectDelaysMs ?? RECONNECT_DELAYS_MS;
    if (this.reconnectAttempts >= delays.length) {
      this.recordOnly = true;
      this.log.error(
        { kind, message, attempts: this.reconnectAttempts },
        "assistant model unavailable; the call goes on in record-only mode",
      );
      return;
    }
    const delay = delays[this.reconnectAttempts++]!;
    this.log.warn(
      { kind, message, retryInMs: delay },
      "assistant model connection lost; reconnecting",
    );
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state === "live") this.connectModel();
    }, delay);
    this.reconnectTimer.unref?.();
  }

  // ---- internals -----------------------------------------------------------------------------

  private connectModel(): void {
    if (this.recordOnly || !this.deps.model) return;
    // The model's audio clock starts with the first audio this connection receives.
    this.modelBaseMs = this.inboundMs;
    this.playback.clear();
    this.outItem = null;
    this.frameFill = 0;
    try {
      this.connection = this.deps.model.connect(this.deps.modelOptions, this);
    } catch (error) {
      this.onClosed("connect_failed", describe(error).message);
    }
  }

  /** Enlarges the inbound buffers to the largest frame accepted. */
  private growInboundScratch(): void {
    this.mulawIn = new Uint8Array(MAX_FRAME_BYTES);
    this.pcm8kIn = new Int16Array(MAX_FRAME_BYTES);
    this.pcm24kIn = new Int16Array(this.to24k.maxOutputLength(MAX_FRAME_BYTES));
  }

  private emitFrames(itemId: string, pcm8k: Int16Array): void {
    let i = 0;
    let frames = 0;
    const frame = this.frameOut;
    while (i < pcm8k.length) {
      const take = Math.min(MULAW_FRAME_BYTES - this.frameFill, pcm8k.length - i);
      encodeMuLawInto(pcm8k.subarray(i, i + take), frame.subarray(this.frameFill));
      this.frameFill += take;
      i += take;
      if (this.frameFill === MULAW_FRAME_BYTES) {
        this.deps.output.sendAudio(frame);
        this.mixer?.assistantFrameSent(frame);
        this.deps.metrics.frameOut();
        this.frameFill = 0;
        frames++;
      }
    }
    if (frames > 0) this.playback.framesSent(itemId, frames);
  }

  /** Sends the item's resampler tail and pads the last partial frame with silence. */
  private finishOutboundItem(): void {
    if (this.outItem === null || this.to8k === null) return;
    const tail = this.to8k.flush();
    if (tail.length > 0) this.emitFrames(this.outItem, tail);
    if (this.frameFill > 0) {
      this.frameOut.fill(0xff, this.frameFill);
      this.frameFill = MULAW_FRAME_BYTES;
      this.deps.output.sendAudio(this.frameOut);
      this.mixer?.assistantFrameSent(this.frameOut);
      this.deps.metrics.frameOut();
      this.frameFill = 0;
      this.playback.framesSent(this.outItem, 1);
      this.deps.output.sendMark(this.playback.nextMark());
    }
    this.to8k = null;
  }

  private track(promise: Promise<unknown>, failure: string): void {
    const tracked = promise.catch((error: unknown) => {
      this.log.error({ err: describe(error) }, failure);
    });
    this.pending.add(tracked);
    void tracked.finally(() => this.pending.delete(tracked));
  }

  private currentSnapshot() {
    return this.analytics.snapshot(
      Object.keys(this.usage).length > 0 ? { tokenUsage: { ...this.usage } } : {},
    );
  }

  private storeSnapshot(): void {
    if (this.state !== "live") return;
    const span = this.deps.activity?.begin("analytics snapshot");
    this.track(
      this.deps.callManager.addAnalytics(this.streamSid, this.currentSnapshot()),
      "analytics snapshot could not be stored",
    );
    span?.end();
  }

  private clearTimers(): void {
    if (this.analyticsTimer) clearInterval(this.analyticsTimer);
    this.analyticsTimer = null;
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    if (this.maxDurationTimer) clearTimeout(this.maxDurationTimer);
    this.reconnectTimer = null;
    this.maxDurationTimer = null;
  }
}

function describe(error: unknown): { code?: string; message: string } {
  if (isDomainError(error)) return { code: error.code, message: error.message };
  return { message: error instanceof Error ? error.message : String(error) };
}

export { FRAME_MS };
