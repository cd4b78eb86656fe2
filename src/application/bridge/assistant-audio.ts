import { encodeMuLawInto, Resampler } from "../../domain/audio/index.ts";
import { FRAME_MS, MULAW_FRAME_BYTES } from "../../domain/audio/telephony-frames.ts";
import type { BridgeMetrics, TelephonyOutput } from "../ports/index.ts";
import { AssistantPlayback } from "./assistant-playback.ts";
import type { ConversationMixer } from "./conversation-mixer.ts";

/**
 * Where every call resamples its deltas, in slices of up to 3 × its length - 96 samples: each
 * slice is encoded into frames and sent before the next, all within one synchronous call.
 */
const PCM8K = new Int16Array(2048);

/** Above this many queued bytes on the Twilio socket, assistant audio is dropped, not buffered. */
const OUTBOUND_HIGH_WATER_BYTES = 512 * 1024;
/** The model's PCM16 rate, in samples per millisecond. */
const SAMPLES_24K_PER_MS = 24;
/** 8 kHz mu-law: one byte per sample. */
const MULAW_BYTES_PER_MS = 8;
/**
 * A truncate is kept this far inside the audio the model generated: the server answers an
 * `audio_end_ms` past its item's audio with an error and truncates nothing (openai-node,
 * ConversationItemTruncateEvent), and our count of that audio can differ from its own by the
 * resampler's look-ahead and a delta in flight.
 */
const TRUNCATE_MARGIN_MS = 100;

export interface AssistantAudioDeps {
  output: TelephonyOutput;
  mixer: ConversationMixer | null;
  metrics: BridgeMetrics;
  /** The first audio of a new answer is about to be sent. */
  onAnswerStarted(): void;
}

/**
 * The assistant's side of a call: the model's 24 kHz deltas become 8 kHz mu-law frames of
 * 160 bytes for Twilio (and the stereo mix), each delta followed by a mark, so that a barge-in
 * knows how much of the answer the caller actually heard.
 */
export class AssistantAudio {
  private readonly playback = new AssistantPlayback();
  private to8k: Resampler | null = null;
  private item: string | null = null;
  private readonly frame = new Uint8Array(MULAW_FRAME_BYTES);
  private fill = 0;
  private readonly interrupted = new Set<string>();
  private readonly startMs = new Map<string, number>();
  /** Milliseconds of audio the model generated per item: every delta, sent or not. */
  private readonly generated = new Map<string, number>();

  constructor(private readonly deps: AssistantAudioDeps) {}

  /** Whether a barge-in cut this item. */
  wasInterrupted(itemId: string): boolean {
    return this.interrupted.has(itemId);
  }

  /** Where the item's audio starts on the caller's timeline, once its first delta was sent. */
  startOf(itemId: string): number | null {
    return this.startMs.get(itemId) ?? null;
  }

  /** Milliseconds of audio the model has generated for the item so far. */
  generatedMs(itemId: string): number {
    return this.generated.get(itemId) ?? 0;
  }

  /** Milliseconds of assistant audio sent to Twilio so far (less what a barge-in dropped). */
  get sentMs(): number {
    return this.playback.sentMs;
  }

  /**
   * Whether the caller has heard everything up to `sentMs` (a `sentMs` read earlier): Twilio
   * echoed a mark at or past it, or nothing sent is still waiting for its mark.
   */
  hasPlayed(sentMs: number): boolean {
    return !this.playback.hasOutstanding || this.playback.heardMs >= sentMs;
  }

  /**
   * How long the audio queued at Twilio will still play: the stereo mix's queue, which plays
   * out with the caller's frames whether or not Twilio echoes marks; without a mix, what was
   * sent and not yet confirmed.
   */
  get queuedMs(): number {
    return this.deps.mixer ? this.deps.mixer.queuedMs : this.playback.outstandingMs;
  }

  /** A delta of the model's PCM16 24 kHz audio; `timelineMs` is the caller's timeline now. */
  delta(itemId: string, pcm24k: Int16Array, timelineMs: number): void {
    if (!this.accept(itemId, pcm24k.length / SAMPLES_24K_PER_MS, timelineMs)) return;
    this.to8k ??= new Resampler(24000, 8000);
    const resampler = this.to8k;
    let offset = 0;
    // Deltas can be larger than the scratch buffer; resample them in slices.
    while (offset < pcm24k.length) {
      const slice = pcm24k.subarray(offset, offset + 3 * PCM8K.length - 96);
      offset += slice.length;
      const n = resampler.processInto(slice, PCM8K);
      this.emit(itemId, PCM8K.subarray(0, n));
    }
    this.deps.output.sendMark(this.playback.nextMark());
  }

  /**
   * A delta of a pcmu session: already the phone's 8 kHz mu-law, so it is only cut into
   * 160-byte frames, with nothing resampled or re-encoded.
   */
  muLawDelta(itemId: string, mulaw: Uint8Array, timelineMs: number): void {
    if (!this.accept(itemId, mulaw.length / MULAW_BYTES_PER_MS, timelineMs)) return;
    let i = 0;
    let frames = 0;
    while (i < mulaw.length) {
      const take = Math.min(MULAW_FRAME_BYTES - this.fill, mulaw.length - i);
      this.frame.set(mulaw.subarray(i, i + take), this.fill);
      this.fill += take;
      i += take;
      if (this.fill === MULAW_FRAME_BYTES) {
        this.sendFrame();
        frames++;
      }
    }
    if (frames > 0) this.playback.framesSent(itemId, frames);
    this.deps.output.sendMark(this.playback.nextMark());
  }

  /**
   * Counts a delta of `ms` and says whether it is to be played: not when a barge-in cut its
   * item or Twilio's socket is backed up. The first delta of a new item ends the one before.
   */
  private accept(itemId: string, ms: number, timelineMs: number): boolean {
    const { metrics, output } = this.deps;
    // Counted before anything is dropped: the server's item holds all of it.
    this.generated.set(itemId, (this.generated.get(itemId) ?? 0) + ms);
    if (this.interrupted.has(itemId)) return false;
    if (output.backlogBytes > OUTBOUND_HIGH_WATER_BYTES) {
      metrics.outboundDropped(Math.ceil(ms / FRAME_MS));
      return false;
    }
    if (itemId !== this.item) {
      this.finishItem();
      this.item = itemId;
      this.to8k = null;
      // It plays after whatever is still queued at Twilio.
      this.startMs.set(itemId, Math.round(timelineMs + this.queuedMs));
      this.deps.onAnswerStarted();
    }
    return true;
  }

  /** The model finished generating the item (it may still be playing). */
  done(itemId: string): void {
    if (itemId === this.item && !this.interrupted.has(itemId)) this.finishItem();
  }

  /** A mark Twilio echoed: the audio before it has played. */
  mark(name: string): void {
    this.playback.acknowledge(name);
  }

  /**
   * Barge-in: drops what Twilio has not played yet. Returns the item cut, how much of it the
   * caller heard (kept TRUNCATE_MARGIN_MS inside what was generated, so that a truncate at it
   * is accepted) and how much the model had generated, or null when nothing was playing.
   */
  interrupt(): { itemId: string | null; heardMs: number; generatedMs: number } | null {
    if (!this.playback.hasOutstanding) return null;
    const { itemId, heardMs: played } = this.playback.clear();
    this.deps.output.sendClear();
    this.deps.mixer?.clear();
    this.fill = 0;
    this.to8k = null;
    if (itemId) this.interrupted.add(itemId);
    const generatedMs = itemId ? this.generatedMs(itemId) : 0;
    const heardMs = Math.min(played, Math.max(0, generatedMs - TRUNCATE_MARGIN_MS));
    return { itemId, heardMs, generatedMs };
  }

  /** A new model connection: nothing of the old one is playing or owed. */
  reset(): void {
    this.playback.clear();
    this.item = null;
    this.fill = 0;
  }

  /** Encodes into frames, sending each full one; returns how many were sent. */
  private emit(itemId: string, pcm8k: Int16Array): number {
    let i = 0;
    let frames = 0;
    while (i < pcm8k.length) {
      const take = Math.min(MULAW_FRAME_BYTES - this.fill, pcm8k.length - i);
      encodeMuLawInto(pcm8k.subarray(i, i + take), this.frame.subarray(this.fill));
      this.fill += take;
      i += take;
      if (this.fill === MULAW_FRAME_BYTES) {
        this.sendFrame();
        frames++;
      }
    }
    if (frames > 0) this.playback.framesSent(itemId, frames);
    return frames;
  }

  /** Sends the item's resampler tail and pads its last partial frame with silence. */
  private finishItem(): void {
    if (this.item === null) return;
    // A PCM16 item's resampler holds its last samples; a mu-law item has no resampler.
    let frames = this.to8k === null ? 0 : this.emit(this.item, this.to8k.flush());
    if (this.fill > 0) {
      this.frame.fill(0xff, this.fill);
      this.sendFrame();
      this.playback.framesSent(this.item, 1);
      frames++;
    }
    // Every frame is followed by a mark, or its playing could never be confirmed.
    if (frames > 0) this.deps.output.sendMark(this.playback.nextMark());
    this.to8k = null;
  }

  private sendFrame(): void {
    this.deps.output.sendAudio(this.frame);
    this.deps.mixer?.assistantFrameSent(this.frame);
    this.deps.metrics.frameOut();
    this.fill = 0;
  }
}
