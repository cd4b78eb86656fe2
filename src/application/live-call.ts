import { decodeMuLawInto, Resampler } from "../domain/audio/index.ts";
import type { Call } from "../domain/call.ts";
import { RECORDING_SAMPLE_RATE } from "../domain/recording.ts";
import type { RecordingWriter } from "./ports/index.ts";

/** Largest media payload accepted per frame: Twilio sends 160 bytes; allow generous slack. */
export const MAX_FRAME_BYTES = 16_384;

/** Twilio sends 160-byte frames; the resampler's output buffer starts with room for this many. */
const TYPICAL_CHUNK = 1024;

/**
 * In-memory state of one active call. Scratch buffers are allocated once per call so the
 * per-frame path (decode → resample → append) allocates nothing. They are made when first used
 * (a call whose caller track is fed at 16 kHz by the conversation mixer never resamples here),
 * at the size Twilio's frames need, and enlarged to the MAX_FRAME_BYTES size only if a larger
 * chunk arrives: sized for the maximum up front they were most of a call's memory.
 */
export class LiveCall {
  readonly call: Call;
  readonly callerWriter: RecordingWriter;
  private payload: Uint8Array | null = null;
  private pcm8k: Int16Array | null = null;
  private to16k: Resampler | null = null;
  private pcm16k = new Int16Array(0);
  private extraWriters: RecordingWriter[] = [];
  ending: Promise<Call> | null = null;

  constructor(call: Call, callerWriter: RecordingWriter) {
    this.call = call;
    this.callerWriter = callerWriter;
  }

  /** Where a base64 payload is decoded: MAX_FRAME_BYTES, the largest frame accepted. */
  get payloadScratch(): Uint8Array {
    this.payload ??= new Uint8Array(MAX_FRAME_BYTES);
    return this.payload;
  }

  appendMuLaw(bytes: Uint8Array): void {
    this.pcm8k ??= new Int16Array(MAX_FRAME_BYTES);
    decodeMuLawInto(bytes, this.pcm8k);
    this.appendPcm8k(this.pcm8k.subarray(0, bytes.length));
  }

  appendPcm8k(samples: Int16Array): void {
    this.to16k ??= new Resampler(8000, RECORDING_SAMPLE_RATE);
    const chunk = samples.length > TYPICAL_CHUNK ? MAX_FRAME_BYTES : TYPICAL_CHUNK;
    const room = this.to16k.maxOutputLength(chunk);
    if (this.pcm16k.length < room) this.pcm16k = new Int16Array(room);
    const n = this.to16k.processInto(samples, this.pcm16k);
    this.callerWriter.append(this.pcm16k.subarray(0, n));
  }

  /** Other tracks (the stereo conversation) finalized with the call. */
  addWriter(writer: RecordingWriter): void {
    this.extraWriters.push(writer);
  }

  /** Every writer of the call, the caller track flushed of the resampler's tail first. */
  writers(): RecordingWriter[] {
    const tail = this.to16k?.flush();
    if (tail && tail.length > 0) this.callerWriter.append(tail);
    return [this.callerWriter, ...this.extraWriters];
  }
}
