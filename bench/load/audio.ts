import { encodeMuLaw, Resampler } from "../../src/domain/audio/index.ts";

/** Twilio: 20 ms of 8 kHz mu-law per media frame. */
export const FRAME_MS = 20;
export const FRAME_SAMPLES = 160;
const MULAW_SILENCE = 0xff;

/**
 * The caller's two frames, precomputed: a 1 kHz tone has exactly 20 periods in a frame, so every
 * tone frame is the same bytes and the generator never encodes anything per frame.
 */
export function callerPayloads(): { tone: string; silence: string } {
  const tone = new Int16Array(FRAME_SAMPLES);
  for (let i = 0; i < FRAME_SAMPLES; i++) {
    tone[i] = Math.round(8000 * Math.sin((2 * Math.PI * 1000 * i) / 8000));
  }
  return {
    tone: Buffer.from(encodeMuLaw(tone)).toString("base64"),
    silence: Buffer.alloc(FRAME_SAMPLES, MULAW_SILENCE).toString("base64"),
  };
}

export interface AssistantAnswer {
  /** base64 PCM16 24 kHz, one per response.output_audio.delta. */
  deltas: string[];
  deltaMs: number;
  /**
   * For delta k, the index (within the answer) of the first Twilio frame the bridge sends while
   * handling it, or -1 when that delta completes no frame. The bridge resamples 24k → 8k with
   * one resampler per answer and sends whole 160-sample frames as they fill, so this is fixed.
   */
  firstFrameOfDelta: number[];
  /** Frames the bridge sends for the whole answer, the padded tail included. */
  framesPerAnswer: number;
}

/** An assistant answer of `ms` (a speech-like chord), cut into deltas of `deltaMs`. */
export function assistantAnswer(ms: number, deltaMs: number): AssistantAnswer {
  const perDelta = (24_000 * deltaMs) / 1000;
  const total = (24_000 * ms) / 1000;
  const pcm = new Int16Array(total);
  for (let i = 0; i < total; i++) {
    const t = i / 24_000;
    pcm[i] = Math.round(
      5000 * Math.sin(2 * Math.PI * 220 * t) +
        3000 * Math.sin(2 * Math.PI * 660 * t) +
        1500 * Math.sin(2 * Math.PI * 1760 * t),
    );
  }
  const deltas: string[] = [];
  const firstFrameOfDelta: number[] = [];
  // The same arithmetic as the bridge: emitted 8 kHz samples decide when frames complete.
  const resampler = new Resampler(24_000, 8000);
  const out = new Int16Array(resampler.maxOutputLength(perDelta) + resampler.maxFlushLength);
  let emitted = 0;
  for (let offset = 0; offset < total; offset += perDelta) {
    const chunk = pcm.subarray(offset, Math.min(total, offset + perDelta));
    deltas.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("base64"));
    const before = Math.floor(emitted / FRAME_SAMPLES);
    emitted += resampler.processInto(chunk, out);
    const after = Math.floor(emitted / FRAME_SAMPLES);
    firstFrameOfDelta.push(after > before ? before : -1);
  }
  emitted += resampler.flushInto(out);
  return {
    deltas,
    deltaMs,
    firstFrameOfDelta,
    framesPerAnswer: Math.ceil(emitted / FRAME_SAMPLES),
  };
}
