import { FRAME_MS } from "../../domain/audio/telephony-frames.ts";

interface PendingMark {
  name: string;
  itemId: string;
  /** Milliseconds of the item sent before this mark, so heard once the mark comes back. */
  itemMs: number;
  /** Milliseconds of all assistant audio sent before this mark. */
  totalMs: number;
}

/**
 * What the caller has actually heard of the assistant. Twilio plays our frames in order and
 * echoes each mark once the audio before it has played; a `clear` drops the unplayed audio and
 * echoes the pending marks at once, so marks echoed after a clear prove nothing and are ignored.
 */
export class AssistantPlayback {
  private pending: PendingMark[] = [];
  private head = 0;
  private seq = 0;
  private currentItem: string | null = null;
  private itemSentMs = 0;
  private itemHeardMs = 0;
  private totalSentMs = 0;
  private totalHeardMs = 0;

  /** Assistant audio confirmed played by Twilio, all items. */
  get heardMs(): number {
    return this.totalHeardMs;
  }

  /** Assistant audio sent to Twilio, all items (less what a clear dropped). */
  get sentMs(): number {
    return this.totalSentMs;
  }

  /** Sent but not yet confirmed played: audio still queued at Twilio. */
  get outstandingMs(): number {
    return this.totalSentMs - this.totalHeardMs;
  }

  get hasOutstanding(): boolean {
    return this.head < this.pending.length;
  }

  /** Milliseconds of the current item the caller has heard (never more than was sent). */
  get itemHeard(): number {
    return Math.min(this.itemHeardMs, this.itemSentMs);
  }

  /** Records frames sent for an item (a new item starts its own heard and sent counts). */
  framesSent(itemId: string, frames: number): void {
    if (itemId !== this.currentItem) {
      this.currentItem = itemId;
      this.itemSentMs = 0;
      this.itemHeardMs = 0;
    }
    this.itemSentMs += frames * FRAME_MS;
    this.totalSentMs += frames * FRAME_MS;
  }

  /** A mark to send now, covering everything sent so far. */
  nextMark(): string {
    const name = `cb-${++this.seq}`;
    this.pending.push({
      name,
      itemId: this.currentItem ?? "",
      itemMs: this.itemSentMs,
      totalMs: this.totalSentMs,
    });
    return name;
  }

  /** Handles a mark echoed by Twilio; false when it is not one we are waiting for. */
  acknowledge(name: string): boolean {
    for (let i = this.head; i < this.pending.length; i++) {
      const mark = this.pending[i]!;
      if (mark.name !== name) continue;
      // Twilio echoes in order, so every earlier pending mark has played as well.
      this.head = i + 1;
      this.totalHeardMs = mark.totalMs;
      if (mark.itemId === this.currentItem) this.itemHeardMs = mark.itemMs;
      if (this.head > 64 && this.head * 2 > this.pending.length) {
        this.pending = this.pending.slice(this.head);
        this.head = 0;
      }
      return true;
    }
    return false;
  }

  /**
   * Barge-in: the unplayed audio is dropped. Returns how much of the current item was heard,
   * and forgets the pending marks so that their echoes are ignored.
   */
  clear(): { itemId: string | null; heardMs: number; droppedMs: number } {
    const heardMs = this.itemHeard;
    const droppedMs = this.outstandingMs;
    this.totalSentMs = this.totalHeardMs;
    this.itemSentMs = heardMs;
    this.pending = [];
    this.head = 0;
    return { itemId: this.currentItem, heardMs, droppedMs };
  }
}
