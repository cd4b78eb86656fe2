import type { AssistantTool, Logger } from "../ports/index.ts";
import type { AssistantAudio } from "./assistant-audio.ts";

/**
 * The tool that lets the assistant hang up (ASSISTANT_HANG_UP). Its description is all the model
 * knows of when to call it, so it says: after the goodbye, never instead of one.
 */
export const END_CALL_TOOL: AssistantTool = {
  name: "end_call",
  description:
    "Hang up the phone call. Call it only after you have said goodbye, when the caller is done or asks to end the call.",
  parameters: {
    type: "object",
    properties: {
      reason: { type: "string", description: "Why the call is ending, in a few words." },
    },
    additionalProperties: false,
  },
};

/** What the model reads back from end_call: the call may still be playing its last words. */
export const END_CALL_ACCEPTED = JSON.stringify({
  ok: true,
  result: "The call ends once your last words have played.",
});

/** The answer to a call of a function the session does not have (or no longer takes). */
export function functionCallError(message: string): string {
  return JSON.stringify({ ok: false, error: message });
}

/** Model text kept in the call's metadata: a reason, not an essay. */
const MAX_REASON_CHARS = 200;

/** end_call's `reason`, from the arguments as the model wrote them; null when it gave none. */
export function endCallReason(args: string): string | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(args);
  } catch {
    // Arguments that are not JSON still mean "hang up": the model called the tool.
    return null;
  }
  if (typeof parsed !== "object" || parsed === null || !("reason" in parsed)) return null;
  const reason = parsed.reason;
  if (typeof reason !== "string") return null;
  const text = reason.trim().replace(/\s+/g, " ").slice(0, MAX_REASON_CHARS);
  return text === "" ? null : text;
}

/**
 * Beyond the audio still queued at Twilio, how long the hang-up waits for Twilio to echo the
 * marks that say it has played: a line that never echoes marks cannot hold the call open.
 */
const DEFAULT_GRACE_MS = 5_000;
/** The queued audio counted in the wait, at most: an answer longer than this is unusual. */
const MAX_QUEUED_WAIT_MS = 30_000;

export interface AssistantHangUpDeps {
  /** Where the assistant's audio stands: sent, queued, confirmed played. */
  assistant: AssistantAudio;
  /** Ends the call as the server closing the media stream. */
  hangUp(): void;
  log: Logger;
  /** Longest wait beyond the audio still queued at Twilio (default 5 s). */
  graceMs?: number;
}

type Phase = "idle" | "responding" | "playing" | "over";

/**
 * The assistant hangs up: the model's response that called end_call may still be sending its
 * audio, and Twilio is still playing what was sent. The call ends once that response is done
 * and Twilio has echoed a mark at or past the last of its audio (a barge-in's clear drops the
 * rest, which then counts as played), or once the wait runs out, whichever comes first. Audio
 * of a later response is not waited for. Every step runs on a model event, a mark or a timer:
 * nothing here touches the caller's frames.
 */
export class AssistantHangUp {
  private phase: Phase = "idle";
  /** The assistant audio sent (AssistantAudio.sentMs) by the end of the end_call response. */
  private lastWordsMs = 0;
  private timer: ReturnType<typeof setTimeout> | null = null;
  private asked = false;
  private givenReason: string | null = null;

  constructor(private readonly deps: AssistantHangUpDeps) {}

  /** Whether the model has called end_call during this call. */
  get requested(): boolean {
    return this.asked;
  }

  /** The reason the model gave with end_call, if any. */
  get reason(): string | null {
    return this.givenReason;
  }

  /** The model called end_call; the response that called it may still be generating. */
  request(reason: string | null): void {
    if (this.phase !== "idle") return;
    this.asked = true;
    this.givenReason = reason;
    this.phase = "responding";
    // The response's end may never come (the model is lost): the wait is bounded from now.
    this.arm();
  }

  /**
   * A response is done. The first after the request is the one that called end_call (its
   * function call item comes before its response.done): all of its audio has been sent.
   */
  responseDone(): void {
    if (this.phase !== "responding") return;
    this.phase = "playing";
    this.lastWordsMs = this.deps.assistant.sentMs;
    this.arm();
    this.check();
  }

  /** Twilio echoed a mark, or a barge-in dropped what was queued. */
  playbackChanged(): void {
    if (this.phase === "playing") this.check();
  }

  /** The call ends some other way first (the caller hung up, shutdown, the duration limit). */
  cancel(): void {
    this.phase = "over";
    this.clearTimer();
  }

  private check(): void {
    if (this.deps.assistant.hasPlayed(this.lastWordsMs)) this.finish(false);
  }

  private arm(): void {
    this.clearTimer();
    const queuedMs = Math.min(this.deps.assistant.queuedMs, MAX_QUEUED_WAIT_MS);
    const waitMs = Math.ceil(queuedMs) + (this.deps.graceMs ?? DEFAULT_GRACE_MS);
    this.timer = setTimeout(() => this.finish(true), waitMs);
    this.timer.unref?.();
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private finish(timedOut: boolean): void {
    if (this.phase === "over") return;
    const waitingFor = this.phase;
    this.cancel();
    if (timedOut) {
      this.deps.log.warn(
        { waitingFor: waitingFor === "responding" ? "response" : "marks" },
        "the assistant's last words were not confirmed in time; hanging up anyway",
      );
    }
    this.deps.hangUp();
  }
}
