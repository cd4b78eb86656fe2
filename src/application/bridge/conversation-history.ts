import type { ConversationTurn } from "../ports/index.ts";

/** Enough of a call to carry its thread into a new session, not so much that it costs a lot. */
const MAX_TURNS = 24;
const MAX_CHARACTERS = 6000;

/**
 * The conversation so far, as the caller heard it, for a new model session (after a reconnect
 * or a renewal): a new Realtime session knows only its instructions, and an assistant that
 * forgets the call mid-way is worse than one that never answered.
 */
export class ConversationHistory {
  private turns: ConversationTurn[] = [];

  add(speaker: ConversationTurn["speaker"], text: string): void {
    const trimmed = text.trim();
    if (trimmed === "") return;
    this.turns.push({ speaker, text: trimmed });
    if (this.turns.length > MAX_TURNS) this.turns.shift();
  }

  /** The most recent turns, oldest first, within the character budget. */
  recent(): ConversationTurn[] {
    const out: ConversationTurn[] = [];
    let budget = MAX_CHARACTERS;
    for (let i = this.turns.length - 1; i >= 0; i--) {
      const turn = this.turns[i]!;
      if (turn.text.length > budget) break;
      budget -= turn.text.length;
      out.push(turn);
    }
    return out.reverse();
  }
}
