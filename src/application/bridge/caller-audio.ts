import { decodeMuLawInto, Resampler } from "../../domain/audio/index.ts";
import { MAX_FRAME_BYTES } from "../../domain/audio/telephony-frames.ts";
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
 * resampled to 24 kHz for the model. Its frames advance the call's timeline.
 */
export class CallerAudio {
  private readonly to16k = new Resampler(8000, RECORDING_SAMPLE_RATE);
  private readonly to24k = new Resampler(8000, 24000);

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
    ensureScratch(n);
    const pcm8k = scratch.pcm8k.subarray(0, n);
    decodeMuLawInto(mulaw, pcm8k);
    const pcm16k = scratch.pcm16k.subarray(0, this.to16k.processInto(pcm8k, scratch.pcm16k));
    // First: a call that refuses audio (it has ended) stops the frame here.
    this.call.appendCaller(pcm16k);
    const played = this.mixer ? this.mixer.callerChunk(pcm16k, n) : 0;
    this.telemetry.callerChunk(pcm8k, played, arrivalMs, timestampMs);
    this.timeline.advance(n / 8);
    if (this.model.isConnected) {
      const m = this.to24k.processInto(pcm8k, scratch.pcm24k);
      this.model.appendAudio(scratch.pcm24k.subarray(0, m));
    }
  }

  /** End of call: the caller resampler's tail, to the stereo mix and the caller track. */
  finish(): void {
    const tail = this.to16k.flush();
    this.mixer?.finish(tail);
    if (tail.length > 0) this.call.appendCaller(tail);
  }
}
