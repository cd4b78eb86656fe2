import { decodeMuLawInto, Resampler } from "../../domain/audio/index.ts";
import { polyphaseFilter } from "../../domain/audio/polyphase-filter.ts";
import type { RecordingWriter } from "../ports/index.ts";

/** Twilio sends 160-sample frames; chunk buffers start with room for this many. */
const TYPICAL_CHUNK = 1024;

/**
 * Silent input after which an 8 → 16 kHz resampler holds nothing but silence: every output it
 * still owes, and its whole history, lies within its filter's reach of the last input.
 */
const UPSAMPLER = polyphaseFilter(8000, 16000);
const SILENT_HISTORY = 2 * (UPSAMPLER.taps + Math.ceil(UPSAMPLER.delay / UPSAMPLER.up));

/**
 * Working buffers of every mixer: callerChunk() and finish() fill them and hand them on (to the
 * caller track and the stereo writer, which copy) before returning, so one set serves all calls.
 * Per mixer they were about 19 KB of each call's memory. Grown, never shrunk, to the largest
 * chunk size any mixer has asked for.
 */
const scratch = {
  capacity: 0,
  assistant8k: new Int16Array(0),
  caller16k: new Int16Array(0),
  assistant16k: new Int16Array(0),
  stereo: new Int16Array(0),
};

/** Makes the scratch hold chunks of `chunk` samples through `upsampler` (its flush included). */
function ensureScratch(chunk: number, upsampler: Resampler): void {
  if (chunk <= scratch.capacity) return;
  scratch.capacity = chunk;
  scratch.assistant8k = new Int16Array(chunk);
  const out = upsampler.maxOutputLength(chunk) + upsampler.maxFlushLength;
  scratch.caller16k = new Int16Array(out);
  scratch.assistant16k = new Int16Array(out);
  scratch.stereo = new Int16Array(out * 2);
}

/**
 * Builds the stereo conversation recording on one timeline, the caller's: each inbound caller
 * chunk advances the clock, and the assistant channel gets whatever Twilio was playing during
 * that chunk, taken from the frames we sent in order (Twilio plays them back to back, after
 * whatever is still queued). A `clear` drops what was queued and not yet played, exactly as
 * Twilio does. Both channels go through identical 8 → 16 kHz resamplers, so they stay aligned.
 *
 * Queued assistant audio is kept as the mu-law bytes we sent (1 byte a sample), so a long
 * answer generated faster than real time costs 8 KB a second, not 32.
 */
export class ConversationMixer {
  private queue: Uint8Array;
  private head = 0;
  private tail = 0;
  private readonly callerUp = new Resampler(8000, 16000);
  private readonly assistantUp = new Resampler(8000, 16000);
  private playedSamples = 0;
  /** Silent samples fed to assistantUp in a row (only the ones known to be silence). */
  private assistantZeros = 0;

  /**
   * @param onCaller16k receives the caller's audio as resampled for the left channel, then its
   * tail at finish(): the caller track is the same 8 → 16 kHz resampling, done once.
   */
  constructor(
    private readonly writer: RecordingWriter,
    private readonly maxChunk = 16_384,
    private readonly onCaller16k: ((samples: Int16Array) => void) | null = null,
  ) {
    // One second of assistant audio; makeRoom() grows it for answers sent faster than real time.
    this.queue = new Uint8Array(8000);
    // Twilio's frame to begin with; maxChunk once a larger chunk arrives.
    ensureScratch(Math.min(TYPICAL_CHUNK, maxChunk), this.callerUp);
  }

  /** Assistant samples played so far (8 kHz). */
  get assistantPlayedMs(): number {
    return this.playedSamples / 8;
  }

  /** Assistant audio queued at Twilio and not yet played, in ms. */
  get queuedMs(): number {
    return (this.tail - this.head) / 8;
  }

  /** A frame just sent to Twilio: it will play after everything already queued. */
  assistantFrameSent(mulaw: Uint8Array): void {
    if (this.tail + mulaw.length > this.queue.length) this.makeRoom(mulaw.length);
    this.queue.set(mulaw, this.tail);
    this.tail += mulaw.length;
  }

  /** Barge-in: Twilio drops every frame it has not played. */
  clear(): void {
    this.head = 0;
    this.tail = 0;
  }

  /**
   * The caller's next chunk (8 kHz): advances the timeline by its length. Returns how many
   * assistant samples played during it.
   */
  callerChunk(pcm8k: Int16Array): number {
    const n = Math.min(pcm8k.length, this.maxChunk);
    if (n > scratch.capacity) ensureScratch(this.maxChunk, this.callerUp);
    const c = this.callerUp.processInto(pcm8k.subarray(0, n), scratch.caller16k);
    // First: a caller track that refuses the audio (the call is gone) stops the chunk here.
    this.onCaller16k?.(scratch.caller16k.subarray(0, c));
    const available = Math.min(n, this.tail - this.head);
    if (available > 0) {
      decodeMuLawInto(this.queue.subarray(this.head, this.head + available), scratch.assistant8k);
      this.head += available;
      if (this.head === this.tail) this.head = this.tail = 0;
    }
    this.playedSamples += available;
    let a: number;
    if (available === 0 && this.assistantZeros >= SILENT_HISTORY) {
      // The assistant is silent and the resampler has seen nothing but silence for longer than
      // its filter reaches: its output would be silence, as many samples as the caller's (both
      // resamplers have had the same input lengths). Skipping it leaves its state where the
      // silence began; at 2:1 that state differs only by a shift, and once audio comes its
      // window holds the same zeros then the same samples, so the output is bit-identical.
      scratch.assistant16k.fill(0, 0, c);
      a = c;
    } else {
      scratch.assistant8k.fill(0, available, n);
      a = this.assistantUp.processInto(scratch.assistant8k.subarray(0, n), scratch.assistant16k);
      this.assistantZeros = available === 0 ? this.assistantZeros + n : n - available;
    }
    this.writeStereo(Math.min(c, a));
    return available;
  }

  /** End of call: the resamplers' tails; assistant audio still queued was never heard. */
  finish(): void {
    const c = this.callerUp.flushInto(scratch.caller16k);
    const a = this.assistantUp.flushInto(scratch.assistant16k);
    this.writeStereo(Math.min(c, a));
    this.clear();
    if (c > 0) this.onCaller16k?.(scratch.caller16k.subarray(0, c));
  }

  private writeStereo(frames: number): void {
    const { stereo, caller16k, assistant16k } = scratch;
    for (let i = 0; i < frames; i++) {
      stereo[2 * i] = caller16k[i]!;
      stereo[2 * i + 1] = assistant16k[i]!;
    }
    if (frames > 0) this.writer.append(stereo.subarray(0, frames * 2));
  }

  private makeRoom(extra: number): void {
    const live = this.tail - this.head;
    if (live + extra <= this.queue.length / 2) {
      this.queue.copyWithin(0, this.head, this.tail);
    } else {
      const bigger = new Uint8Array(Math.max(this.queue.length * 2, live + extra));
      bigger.set(this.queue.subarray(this.head, this.tail));
      this.queue = bigger;
    }
    this.head = 0;
    this.tail = live;
  }
}
