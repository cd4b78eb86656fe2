import { decodeMuLawInto, LITTLE_ENDIAN_HOST, Resampler } from "../../domain/audio/index.ts";
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
 * Working buffers of every mixer: callerChunk() and finish() fill them and hand them to the
 * stereo writer (which copies) before returning, so one set serves all calls. Grown, never
 * shrunk, to the largest chunk any mixer has been given.
 */
const scratch = {
  capacity: 0,
  assistant8k: new Int16Array(0),
  assistant16k: new Int16Array(0),
  stereo: new Int16Array(0),
  /** `stereo` as one 32-bit word per sample frame: left in the low half on a little-endian host. */
  frames32: new Uint32Array(0),
};

/** Makes the scratch hold chunks of `chunk` samples through `upsampler` (its flush included). */
function ensureScratch(chunk: number, upsampler: Resampler): void {
  if (chunk <= scratch.capacity) return;
  scratch.capacity = chunk;
  scratch.assistant8k = new Int16Array(chunk);
  const out = upsampler.maxOutputLength(chunk) + upsampler.maxFlushLength;
  scratch.assistant16k = new Int16Array(out);
  scratch.stereo = new Int16Array(out * 2);
  scratch.frames32 = new Uint32Array(scratch.stereo.buffer);
}

/**
 * Builds the stereo conversation recording on one timeline, the caller's: each inbound caller
 * chunk advances the clock, and the assistant channel gets whatever Twilio was playing during
 * that chunk, taken from the frames we sent in order (Twilio plays them back to back, after
 * whatever is still queued). A `clear` drops what was queued and not yet played, exactly as
 * Twilio does. The caller channel is the caller track's own 8 → 16 kHz resampling, handed in;
 * the assistant channel goes through an identical resampler, so the two stay aligned.
 *
 * Queued assistant audio is kept as the mu-law bytes we sent (1 byte a sample), so a long
 * answer generated faster than real time costs 8 KB a second, not 32.
 */
export class ConversationMixer {
  private queue: Uint8Array;
  private head = 0;
  private tail = 0;
  private readonly assistantUp = new Resampler(8000, 16000);
  /** Silent samples fed to assistantUp in a row (only the ones known to be silence). */
  private assistantZeros = 0;

  constructor(private readonly writer: RecordingWriter) {
    // One second of assistant audio; makeRoom() grows it for answers sent faster than real time.
    this.queue = new Uint8Array(8000);
    ensureScratch(TYPICAL_CHUNK, this.assistantUp);
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
   * The caller's next chunk: `samples8k` samples received, `caller16k` their 16 kHz resampling
   * (the caller track's). Advances the timeline by its length; returns how many assistant
   * samples played during it.
   */
  callerChunk(caller16k: Int16Array, samples8k: number): number {
    const n = samples8k;
    if (n > scratch.capacity) ensureScratch(n, this.assistantUp);
    const c = caller16k.length;
    const available = Math.min(n, this.tail - this.head);
    if (available > 0) {
      decodeMuLawInto(this.queue.subarray(this.head, this.head + available), scratch.assistant8k);
      this.head += available;
      if (this.head === this.tail) this.head = this.tail = 0;
    }
    let a: number;
    if (available === 0 && this.assistantZeros >= SILENT_HISTORY) {
      // The assistant is silent and the resampler has seen nothing but silence for longer than
      // its filter reaches: its output would be silence, as many samples as the caller's (both
      // resamplers have had the same input lengths). Skipping it leaves its state where the
      // silence began; at 2:1 that state differs only by a shift, and once audio comes its
      // window holds the same zeros then the same samples, so the output is bit-identical.
      if (LITTLE_ENDIAN_HOST) {
        // Most of a call: the right channel is zero, so each frame is the caller's sample.
        const { frames32 } = scratch;
        for (let i = 0; i < c; i++) frames32[i] = caller16k[i]! & 0xffff;
        if (c > 0) this.writer.append(scratch.stereo.subarray(0, c * 2));
        return available;
      }
      scratch.assistant16k.fill(0, 0, c);
      a = c;
    } else {
      scratch.assistant8k.fill(0, available, n);
      a = this.assistantUp.processInto(scratch.assistant8k.subarray(0, n), scratch.assistant16k);
      this.assistantZeros = available === 0 ? this.assistantZeros + n : n - available;
    }
    this.writeStereo(caller16k, Math.min(c, a));
    return available;
  }

  /** End of call, with the caller resampler's tail; assistant audio still queued was never heard. */
  finish(callerTail16k: Int16Array): void {
    const a = this.assistantUp.flushInto(scratch.assistant16k);
    this.writeStereo(callerTail16k, Math.min(callerTail16k.length, a));
    this.clear();
  }

  private writeStereo(caller16k: Int16Array, frames: number): void {
    const { stereo, assistant16k, frames32 } = scratch;
    if (LITTLE_ENDIAN_HOST) {
      // One store per sample frame, not two.
      for (let i = 0; i < frames; i++) {
        frames32[i] = (caller16k[i]! & 0xffff) | (assistant16k[i]! << 16);
      }
    } else {
      for (let i = 0; i < frames; i++) {
        stereo[2 * i] = caller16k[i]!;
        stereo[2 * i + 1] = assistant16k[i]!;
      }
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
