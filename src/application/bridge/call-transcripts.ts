import type { ActiveCall } from "../active-call.ts";
import type { PendingWrites } from "./pending-writes.ts";

/**
 * Both sides' transcripts of a call, placed on the caller's timeline: a caller turn where the
 * model heard its speech start, an assistant turn where its audio started playing. An answer
 * cut by a barge-in is stored as interrupted, or marked so once it is stored.
 */
export class CallTranscripts {
  private readonly callerStarts = new Map<string, number>();
  /** Stored assistant turns by model item (null when the write failed). */
  private readonly assistantIds = new Map<string, Promise<string | null>>();

  constructor(
    private readonly call: ActiveCall,
    private readonly writes: PendingWrites,
  ) {}

  /** The model heard the caller start an item at `offsetMs` on the caller's timeline. */
  callerSpeechStarted(itemId: string, offsetMs: number): void {
    this.callerStarts.set(itemId, offsetMs);
  }

  caller(itemId: string, text: string): void {
    const offsetMs = this.callerStarts.get(itemId) ?? null;
    this.callerStarts.delete(itemId);
    this.writes.track(
      this.call.addTranscript({ speaker: "caller", text, offsetMs }),
      "caller transcript could not be stored",
    );
  }

  assistant(itemId: string, text: string, offsetMs: number | null, interrupted: boolean): void {
    const saved = this.call
      .addTranscript({ speaker: "assistant", text, offsetMs, interrupted })
      .then((transcript) => transcript.id);
    this.writes.track(saved, "assistant transcript could not be stored");
    this.assistantIds.set(
      itemId,
      saved.catch(() => null),
    );
  }

  /** A barge-in cut the item: its stored transcript (if any yet) is marked interrupted. */
  interrupted(itemId: string): void {
    const stored = this.assistantIds.get(itemId);
    if (!stored) return;
    this.writes.track(
      stored.then((id) => (id ? this.call.markInterrupted(id) : undefined)),
      "interrupted flag could not be stored",
    );
  }
}
