import { estimateHeardText, type TranscriptCut } from "../../domain/transcript.ts";
import type { ActiveCall } from "../active-call.ts";
import type { ConversationHistory } from "./conversation-history.ts";
import type { PendingWrites } from "./pending-writes.ts";

/** How much of an item's audio the caller heard before a barge-in, of how much was generated. */
interface AudioCut {
  heardMs: number;
  generatedMs: number;
}

/** A stored assistant turn: its row id and the text it was stored with. */
interface StoredTurn {
  id: string;
  text: string;
}

/**
 * Both sides' transcripts of a call, placed on the caller's timeline: a caller turn where the
 * model heard its speech start, an assistant turn where its audio started playing. An answer
 * cut by a barge-in is stored with what the caller heard of it, or updated so once it is
 * stored: the model's transcript comes before or after the barge-in, and a truncate makes the
 * server drop its own text of the cut answer without sending a new one.
 */
export class CallTranscripts {
  private readonly callerStarts = new Map<string, number>();
  /** Stored assistant turns by model item (null when the write failed). */
  private readonly assistantTurns = new Map<string, Promise<StoredTurn | null>>();
  /**
   * Items cut before their transcript came: by a barge-in (how much was heard), or by a
   * response that ended early (null: how much is unknown).
   */
  private readonly cuts = new Map<string, AudioCut | null>();
  /** Items already marked interrupted, or stored so. */
  private readonly marked = new Set<string>();

  constructor(
    private readonly call: ActiveCall,
    private readonly writes: PendingWrites,
    /** The conversation as the caller heard it, for a new model session. */
    private readonly history: ConversationHistory,
  ) {}

  /** The model heard the caller start an item at `offsetMs` on the caller's timeline. */
  callerSpeechStarted(itemId: string, offsetMs: number): void {
    this.callerStarts.set(itemId, offsetMs);
  }

  /** The caller's turn got no text (its transcription failed): kept, empty, at its offset. */
  callerFailed(itemId: string): void {
    const offsetMs = this.callerStarts.get(itemId) ?? null;
    this.callerStarts.delete(itemId);
    this.writes.track(
      this.call.addTranscript({ speaker: "caller", text: "", offsetMs, failed: true }),
      "failed caller turn could not be stored",
    );
  }

  caller(itemId: string, text: string): void {
    const offsetMs = this.callerStarts.get(itemId) ?? null;
    this.callerStarts.delete(itemId);
    // Audio with no words in it (the silence committed at a hang-up): no turn to keep.
    if (text.trim() === "") return;
    this.history.add("caller", text);
    this.writes.track(
      this.call.addTranscript({ speaker: "caller", text, offsetMs }),
      "caller transcript could not be stored",
    );
  }

  /**
   * The model's transcript of an answer. `generatedMs` is the audio generated for it by now:
   * the text covers all of it, including what was still on its way when a barge-in cut it.
   */
  assistant(
    itemId: string,
    text: string,
    offsetMs: number | null,
    interrupted: boolean,
    generatedMs = 0,
  ): void {
    const wasCut = this.cuts.has(itemId);
    const atCut = this.cuts.get(itemId) ?? null;
    this.cuts.delete(itemId);
    const audio = atCut && {
      heardMs: atCut.heardMs,
      generatedMs: Math.max(atCut.generatedMs, generatedMs),
    };
    if (interrupted || wasCut) this.marked.add(itemId);
    const cut = audio ? heardOf(text, audio) : null;
    this.history.add("assistant", cut ? cut.heardText : text);
    const saved = this.call
      .addTranscript({
        speaker: "assistant",
        text,
        offsetMs,
        interrupted: interrupted || wasCut,
        cut,
      })
      .then((transcript) => ({ id: transcript.id, text }));
    this.writes.track(saved, "assistant transcript could not be stored");
    this.assistantTurns.set(
      itemId,
      saved.catch(() => null),
    );
  }

  /**
   * A barge-in cut the item after `heardMs` of its `generatedMs` of audio: its stored
   * transcript (if any yet) is marked interrupted with what was heard, or the transcript to
   * come is stored so.
   */
  interrupted(itemId: string, heardMs: number, generatedMs: number): void {
    this.mark(itemId, { heardMs, generatedMs });
  }

  /**
   * The model's response ended before the item's end (cancelled or incomplete): unless a
   * barge-in already said how much was heard, the turn is marked interrupted, or stored so.
   */
  cut(itemId: string): void {
    if (this.marked.has(itemId)) return;
    this.mark(itemId, null);
  }

  private mark(itemId: string, audio: AudioCut | null): void {
    this.marked.add(itemId);
    const stored = this.assistantTurns.get(itemId);
    if (!stored) {
      this.cuts.set(itemId, audio);
      return;
    }
    this.writes.track(
      stored.then((turn) =>
        turn
          ? this.call.markInterrupted(turn.id, audio ? heardOf(turn.text, audio) : undefined)
          : undefined,
      ),
      "interrupted flag could not be stored",
    );
  }
}

function heardOf(text: string, { heardMs, generatedMs }: AudioCut): TranscriptCut {
  return { heardMs, generatedMs, heardText: estimateHeardText(text, heardMs, generatedMs) };
}
