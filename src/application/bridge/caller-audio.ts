import { decodeMuLawInto, Resampler } from "../../domain/audio/index.ts";
import { FRAME_MS, MAX_FRAME_BYTES } from "../../domain/audio/telephony-frames.ts";
import { invalidAudio } from "../../domain/errors.ts";
import { RECORDING_SAMPLE_RATE } from "../../domain/recording.ts";
import type { ActiveCall } from "../active-call.ts";
import type { CallTelemetry } from "./call-telemetry.ts";
import type { ConversationMixer } from "./conversation-mixer.ts";
import type { ModelLink } from "./model-link.ts";
import type { Timeline } from "./timeline.ts";

/** Scratch starts at this many samples; Twilio's frames are 160. */
const TYPICAL_FRAME = 1024;

const UP_16K = new Resampler(8000, RECORDING_SAMPLE_RATE);
const UP_24K = new Resampler(8000, 24000);

/**
 * Working buffers of every call: frame() fills them and hands them on (the recording writers
 * and the model connection copy or encode at once) before it returns, so one set serves all
 * calls. Grown to MAX_FRAME_BYTES only if a frame larger than Twilio's arrives.
 */
const scratch = {
  capacity: TYPICAL_FRAME,
  pcm8k: new Int16Array(TYPICAL_FRAME),
  pcm16k: new Int16Array(UP_16K.maxOutputLength(TYPICAL_FRAME)),
  pcm24k: new Int16Array(UP_24K.maxOutputLength(TYPICAL_FRAME)),
};

/*
 * Twilio leaves out the silent frames of some calls: nothing comes while the caller is quiet,
 * and the next frame's media timestamp (ms since the stream started) says how long that was.
 * Reported by Phonic (https://github.com/Phonic-Co/phonic-node/pull/32, "for some calls, Twilio
 * does not send silent chunks") and handled the same way in openai-agents-js's Twilio transport
 * (packages/agents-extensions/src/TwilioRealtimeTransport.ts: pads a timestamp gap with mu-law
 * silence, at most 10 s, and pads while speech is active and no media came for 750 ms). Unfilled,
 * the model never hears the end of a turn, so nobody answers, and the timeline, the transcript
 * offsets and the recordings come out shorter than the call.
 */

/** Mu-law silence (0xFF decodes to 0), read by every call's filled gaps and never written. */
const SILENCE = new Uint8Array(MAX_FRAME_BYTES).fill(0xff);
/** A timestamp step shorter than one frame is jitter in Twilio's stamps, not a missing frame. */
const MIN_GAP_MS = FRAME_MS;
/**
 * Most silence put into one gap (between two frames), timer padding included: a timestamp far
 * ahead (a clock jump, a bad stamp) must not turn into minutes of audio at once.
 */
const MAX_GAP_FILL_MS = 10_000;
/** How often a call looks for a caller who speaks but sends nothing. */
const IDLE_CHECK_MS = 250;
/** No frame for this long while the model hears speech: the missing time is padded. */
const SPEECH_IDLE_MS = 750;

function ensureScratch(n: number): void {
  if (n <= scratch.capacity) return;
  if (n > MAX_FRAME_BYTES) throw invalidAudio("payload is larger than a media frame allows");
  scratch.capacity = MAX_FRAME_BYTES;
  scratch.pcm8k = new Int16Array(MAX_FRAME_BYTES);
  scratch.pcm16k = new Int16Array(UP_16K.maxOutputLength(MAX_FRAME_BYTES));
  scratch.pcm24k = new Int16Array(UP_24K.maxOutputLength(MAX_FRAME_BYTES));
}

/**
 * The caller's side of a call: each mu-law frame is decoded once, resampled once to the
 * recording rate for the caller track (which the stereo mixer's left channel reuses), and
 * resampled to 24 kHz for the model, or in a pcmu session handed to the model as it came. Its
 * frames advance the call's timeline. Frames Twilio left out are filled with silence that takes
 * the same path, so everything after them keeps the call's real time.
 */
export class CallerAudio {
  private readonly to16k = new Resampler(8000, RECORDING_SAMPLE_RATE);
  /** Made at the first frame for a pcm16 model: a pcmu session never needs it. */
  private to24k: Resampler | null = null;
  /**
   * Twilio's timestamp at which the audio handed on so far ends (filled silence included), or
   * null before the first stamped frame. A frame stamped later than this follows a gap.
   */
  private expectedMs: number | null = null;
  /** Silence put in since the last frame, against MAX_GAP_FILL_MS. */
  private filledInGap = 0;
  private framesSinceCheck = false;
  /** Time without a frame, counted in whole checks: never more than has really gone by. */
  private idleMs = 0;
  /** The model's voice activity detection hears the caller speaking. */
  private speaking = false;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(
    private readonly call: ActiveCall,
    private readonly mixer: ConversationMixer | null,
    private readonly telemetry: CallTelemetry,
    private readonly model: ModelLink,
    private readonly timeline: Timeline,
  ) {}

  /** One frame: `arrivalMs` is when it came (monotonic), `timestampMs` Twilio's stamp. */
  frame(mulaw: Uint8Array, arrivalMs: number, timestampMs: number | null): void {
    const n = mulaw.length;
    // A frame refused for its size must not leave a filled gap behind.
    ensureScratch(n);
    if (timestampMs !== null && Number.isFinite(timestampMs)) {
      const expected = this.expectedMs;
      if (expected !== null && timestampMs - expected >= MIN_GAP_MS) {
        this.fill(timestampMs - expected);
      }
      // Behind what was expected (a repeat, a stamp going back, padding that ran ahead): taken
      // as it comes, and the timeline keeps the lead, which a later gap then makes up for.
      this.expectedMs = Math.max(this.expectedMs ?? timestampMs, timestampMs) + n / 8;
    } else if (this.expectedMs !== null) {
      this.expectedMs += n / 8;
    }
    this.filledInGap = 0;
    this.framesSinceCheck = true;
    this.chunk(mulaw, arrivalMs, timestampMs);
  }

  /** The model's voice activity detection: speech started (true) or stopped (false). */
  speechActive(active: boolean): void {
    this.speaking = active;
  }

  /** Starts looking for a speaking caller whose frames stopped (the call is live). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.checkIdle(), IDLE_CHECK_MS);
    this.timer.unref?.();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** End of call: the caller resampler's tail, to the stereo mix and the caller track. */
  finish(): void {
    this.stop();
    const tail = this.to16k.flush();
    this.mixer?.finish(tail);
    if (tail.length > 0) this.call.appendCaller(tail);
  }

  /**
   * Without the silence that follows speech the model's server VAD never ends the turn, so the
   * time gone by without a frame is padded while it hears speech. Counted in whole checks after
   * the last frame's, it never runs ahead of Twilio's clock on a steady line, so the gap the
   * next frame shows is only the rest.
   */
  private checkIdle(): void {
    if (this.framesSinceCheck) {
      this.framesSinceCheck = false;
      this.idleMs = 0;
      return;
    }
    this.idleMs += IDLE_CHECK_MS;
    if (!this.speaking || this.idleMs < SPEECH_IDLE_MS) return;
    if (!this.model.isConnected) {
      // A lost connection's turn will never end; the next one reports its own speech.
      this.speaking = false;
      return;
    }
    try {
      this.fill(this.idleMs - this.filledInGap);
    } catch {
      // The call was ended elsewhere and takes no more audio; its session stops this timer.
      this.stop();
    }
  }

  /** `ms` of silence in place of frames Twilio did not send, within the gap's allowance. */
  private fill(ms: number): void {
    const fillMs = Math.min(ms, MAX_GAP_FILL_MS - this.filledInGap);
    let bytes = Math.round(fillMs * 8);
    if (bytes <= 0) return;
    const newGap = this.filledInGap === 0;
    const filledMs = bytes / 8;
    this.filledInGap += filledMs;
    if (this.expectedMs !== null) this.expectedMs += filledMs;
    while (bytes > 0) {
      const n = Math.min(bytes, SILENCE.length);
      this.chunk(SILENCE.subarray(0, n), null, null);
      bytes -= n;
    }
    this.telemetry.silenceFilled(filledMs, newGap);
  }

  /** Caller audio on its way: `arrivalMs` null for silence filled in here. */
  private chunk(mulaw: Uint8Array, arrivalMs: number | null, timestampMs: number | null): void {
    const n = mulaw.length;
    ensureScratch(n);
    const pcm8k = scratch.pcm8k.subarray(0, n);
    decodeMuLawInto(mulaw, pcm8k);
    const pcm16k = scratch.pcm16k.subarray(0, this.to16k.processInto(pcm8k, scratch.pcm16k));
    // First: a call that refuses audio (it has ended) stops the frame here.
    this.call.appendCaller(pcm16k);
    const played = this.mixer ? this.mixer.callerChunk(pcm16k, n) : 0;
    this.telemetry.callerChunk(pcm8k, played, arrivalMs, timestampMs);
    this.timeline.advance(n / 8);
    if (!this.model.isConnected) return;
    if (this.model.passesMuLaw) {
      this.model.appendMuLaw(mulaw);
      return;
    }
    this.to24k ??= new Resampler(8000, 24000);
    const m = this.to24k.processInto(pcm8k, scratch.pcm24k);
    this.model.appendAudio(scratch.pcm24k.subarray(0, m));
  }
}
