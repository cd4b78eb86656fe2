import { decodeMuLawInto, Resampler } from "../domain/audio/index.ts";
import type { Call } from "../domain/call.ts";
import { RECORDING_SAMPLE_RATE } from "../domain/recording.ts";
import type { RecordingWriter } from "./ports.ts";

/** Largest media payload accepted per frame: Twilio sends 160 bytes; allow generous slack. */
export const MAX_FRAME_BYTES = 16_384;

/**
 * In-memory state of one active call. Scratch buffers are allocated once per call so the
 * per-frame path (decode → resample → append) allocates nothing.
 */
export class LiveCall {
  readonly call: Call;
  readonly callerWriter: RecordingWriter;
  readonly payloadScratch = new Uint8Array(MAX_FRAME_BYTES);
  private readonly pcm8k = new Int16Array(MAX_FRAME_BYTES);
  private readonly to16k = new Resampler(8000, RECORDING_SAMPLE_RATE);
  private readonly pcm16k: Int16Array;
  private extraWriters: RecordingWriter[] = [];
  ending: Promise<Call> | null = null;

  constructor(call: Call, callerWriter: RecordingWriter) {
    this.call = call;
    this.callerWriter = callerWriter;
    this.pcm16k = new Int16Array(this.to16k.maxOutputLength(MAX_FRAME_BYTES));
  }

  appendMuLaw(bytes: Uint8Array): void {
    decodeMuLawInto(bytes, this.pcm8k);
    this.appendPcm8k(this.pcm8k.subarray(0, bytes.length));
  }

  appendPcm8k(samples: Int16Array): void {
    const n = this.to16k.processInto(samples, this.pcm16k);
    this.callerWriter.append(this.pcm16k.subarray(0, n));
  }

  /** Other tracks (the stereo conversation) finalized with the call. */
  addWriter(writer: RecordingWriter): void {
    this.extraWriters.push(writer);
  }

  /** Every writer of the call, the caller track flushed of the resampler's tail first. */
  writers(): RecordingWriter[] {
    const tail = this.to16k.flush();
    if (tail.length > 0) this.callerWriter.append(tail);
    return [this.callerWriter, ...this.extraWriters];
  }
}
