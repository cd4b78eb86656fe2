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

/** What the model sends back: the session's `audio.output.format.type`. */
export type AnswerFormat = "pcm16" | "pcmu";

export interface AssistantAnswer {
  format: AnswerFormat;
  /**
   * base64, one per response.output_audio.delta: PCM16 24 kHz (`audio/pcm`), or 8 kHz mu-law
   * when the session asked for `audio/pcmu` output, as the real API sends them.
   */
  deltas: string[];
  deltaMs: number;
  /**
   * For delta k, the index (within the answer) of the first Twilio frame the bridge sends while
   * handling it, or -1 when that delta completes no frame. PCM16: the bridge resamples 24k → 8k
   * with one resampler per answer and sends whole 160-sample frames as they fill. Mu-law: it
   * cuts 160-byte frames straight from the bytes, so frame k completes once 160·(k+1) bytes
   * have arrived. Either way this is fixed.
   */
  firstFrameOfDelta: number[];
  /** Frames the bridge sends for the whole answer, the padded tail included. */
  framesPerAnswer: number;
}

/** The answer in both formats the model can send: the same chord, cut into the same deltas. */
export interface AssistantAnswers {
  pcm16: AssistantAnswer;
  pcmu: AssistantAnswer;
}

/** A speech-like chord of `ms` at 24 kHz. */
function chord(ms: number): Int16Array {
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
  return pcm;
}

/** An assistant answer of `ms` (a speech-like chord), cut into deltas of `deltaMs`, both formats. */
export function assistantAnswers(ms: number, deltaMs: number): AssistantAnswers {
  const pcm = chord(ms);
  return { pcm16: pcm16Answer(pcm, deltaMs), pcmu: muLawAnswer(pcm, deltaMs) };
}

/** PCM16 24 kHz deltas, as the model sends them by default. */
function pcm16Answer(pcm: Int16Array, deltaMs: number): AssistantAnswer {
  const perDelta = (24_000 * deltaMs) / 1000;
  const total = pcm.length;
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
    format: "pcm16",
    deltas,
    deltaMs,
    firstFrameOfDelta,
    framesPerAnswer: Math.ceil(emitted / FRAME_SAMPLES),
  };
}

/**
 * 8 kHz mu-law deltas, as the model sends them for `audio/pcmu` output: the chord resampled
 * 24k → 8k once and encoded, then cut into deltas of `deltaMs` (8 bytes a millisecond). The
 * bridge passes these bytes through in 160-byte frames, the last partial one padded.
 */
function muLawAnswer(pcm: Int16Array, deltaMs: number): AssistantAnswer {
  const resampler = new Resampler(24_000, 8000);
  const out = new Int16Array(resampler.maxOutputLength(pcm.length) + resampler.maxFlushLength);
  let samples = resampler.processInto(pcm, out);
  samples += resampler.flushInto(out, samples);
  const bytes = encodeMuLaw(out.subarray(0, samples));
  const perDelta = (8000 * deltaMs) / 1000;
  const deltas: string[] = [];
  const firstFrameOfDelta: number[] = [];
  // One byte a sample: a Twilio frame is 160 bytes.
  const frameBytes = FRAME_SAMPLES;
  let received = 0;
  for (let offset = 0; offset < bytes.length; offset += perDelta) {
    const chunk = bytes.subarray(offset, Math.min(bytes.length, offset + perDelta));
    deltas.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("base64"));
    const before = Math.floor(received / frameBytes);
    received += chunk.length;
    const after = Math.floor(received / frameBytes);
    firstFrameOfDelta.push(after > before ? before : -1);
  }
  return {
    format: "pcmu",
    deltas,
    deltaMs,
    firstFrameOfDelta,
    framesPerAnswer: Math.ceil(received / frameBytes),
  };
}
