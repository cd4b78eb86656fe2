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
  readonly createdAt: Date;
}

export interface NewTranscript {
  id: string;
  callId: string;
  speaker: string;
  text: string;
  confidence?: number | null;
  offsetMs?: number | null;
  interrupted?: boolean;
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
  return {
    id: input.id,
    callId: input.callId,
    speaker: input.speaker,
    text: input.text,
    confidence,
    offsetMs: offsetMs === null ? null : Math.round(offsetMs),
    interrupted: input.interrupted ?? false,
    createdAt: input.createdAt,
  };
}
