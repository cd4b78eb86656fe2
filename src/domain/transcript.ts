import { invalidArgument } from "./errors.ts";

export type Speaker = "caller" | "assistant";
export const SPEAKERS: readonly Speaker[] = ["caller", "assistant"];

export interface Transcript {
  readonly id: string;
  readonly callId: string;
  readonly speaker: Speaker;
  readonly text: string;
  readonly confidence: number | null;
  /** Milliseconds from call start, or null when unknown. */
  readonly offsetMs: number | null;
  /** True when the caller cut the assistant off during this turn. */
  readonly interrupted: boolean;
  /**
   * Of an interrupted assistant turn, an estimate of the words the caller heard before the cut
   * (see estimateHeardText); `text` keeps all the model generated. Null otherwise.
   */
  readonly heardText: string | null;
  /** Milliseconds of the turn's audio the caller heard before the cut, or null. */
  readonly heardMs: number | null;
  /**
   * Milliseconds of audio the model generated for the turn, or null: all of it by the time
   * both the cut and the transcript were known (the transcript covers audio still on its way
   * at the cut).
   */
  readonly generatedMs: number | null;
  /** A caller turn the transcription failed on: kept at its offset, with empty text. */
  readonly failed: boolean;
  readonly createdAt: Date;
}

/** What a barge-in left of an assistant turn: how much of its audio was heard, and the words. */
export interface TranscriptCut {
  heardMs: number;
  generatedMs: number;
  heardText: string;
}

export interface NewTranscript {
  id: string;
  callId: string;
  speaker: string;
  text: string;
  confidence?: number | null;
  offsetMs?: number | null;
  interrupted?: boolean;
  /** Given for an interrupted turn: all three fields, or none. */
  cut?: TranscriptCut | null;
  failed?: boolean;
  createdAt: Date;
}

export const isSpeaker = (value: string): value is Speaker =>
  value === "caller" || value === "assistant";

export function createTranscript(input: NewTranscript): Transcript {
  if (!isSpeaker(input.speaker)) {
    throw invalidArgument("speaker must be caller or assistant");
  }
  const confidence = input.confidence ?? null;
  if (confidence !== null && !(confidence >= 0 && confidence <= 1)) {
    throw invalidArgument("confidence must lie in [0, 1]");
  }
  const offsetMs = input.offsetMs ?? null;
  if (offsetMs !== null && !(Number.isFinite(offsetMs) && offsetMs >= 0)) {
    throw invalidArgument("offsetMs must be a non-negative number");
  }
  const cut = input.cut ? checkCut(input.cut) : null;
  return {
    id: input.id,
    callId: input.callId,
    speaker: input.speaker,
    text: input.text,
    confidence,
    offsetMs: offsetMs === null ? null : Math.round(offsetMs),
    // A cut is only ever made by a barge-in.
    interrupted: (input.interrupted ?? false) || cut !== null,
    heardText: cut?.heardText ?? null,
    heardMs: cut?.heardMs ?? null,
    generatedMs: cut?.generatedMs ?? null,
    failed: input.failed ?? false,
    createdAt: input.createdAt,
  };
}

/** Validates a cut and rounds its times to whole milliseconds. */
export function checkCut(cut: TranscriptCut): TranscriptCut {
  for (const [name, ms] of [
    ["heardMs", cut.heardMs],
    ["generatedMs", cut.generatedMs],
  ] as const) {
    if (!(Number.isFinite(ms) && ms >= 0)) {
      throw invalidArgument(`${name} must be a non-negative number`);
    }
  }
  return {
    heardMs: Math.round(cut.heardMs),
    generatedMs: Math.round(cut.generatedMs),
    heardText: cut.heardText,
  };
}

/** The text search and analysis should read: what the caller heard, where that is known. */
export const spokenText = (transcript: Pick<Transcript, "text" | "heardText">): string =>
  transcript.heardText ?? transcript.text;

const SPACE = /\s/u;

/**
 * An estimate of the words the caller heard of an answer cut after `heardMs` of its
 * `generatedMs` of audio. The model's text carries no timing, so speech is taken to run at an
 * even pace through the text: the first round(length × heard / generated) characters, cut back
 * to the last whole word (a word the cut lands inside was not heard whole). A text with no
 * spaces at all (a script written without them) is cut at the character instead.
 */
export function estimateHeardText(text: string, heardMs: number, generatedMs: number): string {
  if (!(generatedMs > 0) || heardMs >= generatedMs) return text;
  if (!(heardMs > 0)) return "";
  const end = Math.round((text.length * heardMs) / generatedMs);
  if (end >= text.length) return text;
  if (SPACE.test(text[end]!) || SPACE.test(text[end - 1] ?? " "))
    return text.slice(0, end).trimEnd();
  let boundary = end - 1;
  while (boundary > 0 && !SPACE.test(text[boundary]!)) boundary--;
  if (boundary > 0) return text.slice(0, boundary).trimEnd();
  if (SPACE.test(text)) return "";
  // Not inside a surrogate pair.
  const code = text.charCodeAt(end - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? end - 1 : end);
}
