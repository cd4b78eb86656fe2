import { describe, expect, it } from "vitest";
import { AssistantPlayback } from "../../../src/application/bridge/assistant-playback.ts";

/** Sends `frames` 20 ms frames of `item` and the mark that follows them; returns the mark. */
function send(playback: AssistantPlayback, item: string, frames: number): string {
  playback.framesSent(item, frames);
  return playback.nextMark();
}

describe("AssistantPlayback", () => {
  it("counts audio as heard only once the mark after it comes back", () => {
    const playback = new AssistantPlayback();
    const first = send(playback, "item1", 5);
    const second = send(playback, "item1", 5);
    expect(playback.heardMs).toBe(0);
    expect(playback.outstandingMs).toBe(200);

    expect(playback.acknowledge(first)).toBe(true);
    expect(playback.heardMs).toBe(100);
    expect(playback.itemHeard).toBe(100);
    expect(playback.hasOutstanding).toBe(true);

    expect(playback.acknowledge(second)).toBe(true);
    expect(playback.heardMs).toBe(200);
    expect(playback.outstandingMs).toBe(0);
    expect(playback.hasOutstanding).toBe(false);
  });

  it("takes a later mark as proof that every earlier one played, and ignores those afterwards", () => {
    const playback = new AssistantPlayback();
    const first = send(playback, "item1", 2);
    const second = send(playback, "item1", 3);
    const third = send(playback, "item1", 4);
    expect(playback.acknowledge(second)).toBe(true);
    expect(playback.heardMs).toBe(100);
    // Twilio echoes in order: the first mark can no longer mean anything.
    expect(playback.acknowledge(first)).toBe(false);
    expect(playback.heardMs).toBe(100);
    expect(playback.acknowledge(third)).toBe(true);
    expect(playback.heardMs).toBe(180);
  });

  it("refuses marks it never sent, or sent twice", () => {
    const playback = new AssistantPlayback();
    const mark = send(playback, "item1", 1);
    expect(playback.acknowledge("someone-else")).toBe(false);
    expect(playback.acknowledge(mark)).toBe(true);
    expect(playback.acknowledge(mark)).toBe(false);
    expect(playback.heardMs).toBe(20);
  });

  it("names marks uniquely", () => {
    const playback = new AssistantPlayback();
    const names = Array.from({ length: 50 }, () => send(playback, "item1", 1));
    expect(new Set(names).size).toBe(50);
  });

  it("keeps heard and sent per item, and all items in the totals", () => {
    const playback = new AssistantPlayback();
    playback.framesSent("item1", 10);
    playback.framesSent("item1", 5);
    const endOfItem1 = playback.nextMark();
    playback.framesSent("item2", 4);
    const inItem2 = playback.nextMark();
    expect(playback.outstandingMs).toBe(380);

    // The last of item1 plays after item2 has begun: it counts in the total, not in item2.
    playback.acknowledge(endOfItem1);
    expect(playback.heardMs).toBe(300);
    expect(playback.itemHeard).toBe(0);
    playback.acknowledge(inItem2);
    expect(playback.heardMs).toBe(380);
    expect(playback.itemHeard).toBe(80);
    expect(playback.clear()).toEqual({ itemId: "item2", heardMs: 80, droppedMs: 0 });
  });

  it("on clear, reports the current item's heard and all dropped audio, and forgets its marks", () => {
    const playback = new AssistantPlayback();
    const earlierItem = send(playback, "item1", 5);
    const heard = send(playback, "item2", 5);
    send(playback, "item2", 5);
    send(playback, "item2", 5);
    playback.acknowledge(heard);
    expect(playback.clear()).toEqual({ itemId: "item2", heardMs: 100, droppedMs: 200 });
    expect(playback.outstandingMs).toBe(0);
    expect(playback.hasOutstanding).toBe(false);
    // What was dropped is no longer counted as sent: a second clear drops nothing more.
    expect(playback.clear()).toEqual({ itemId: "item2", heardMs: 100, droppedMs: 0 });
    // Pending before the clear: Twilio echoes them at once, having played nothing.
    expect(playback.acknowledge(earlierItem)).toBe(false);
  });

  it("ignores a mark echoed after a clear, however it arrives", () => {
    const playback = new AssistantPlayback();
    const stale = send(playback, "item1", 10);
    playback.clear();
    expect(playback.acknowledge(stale)).toBe(false);
    expect(playback.heardMs).toBe(0);
    expect(playback.itemHeard).toBe(0);

    // The item goes on after the clear; only marks sent since then count.
    const fresh = send(playback, "item1", 3);
    expect(playback.acknowledge(stale)).toBe(false);
    expect(playback.acknowledge(fresh)).toBe(true);
    expect(playback.heardMs).toBe(60);
    expect(playback.itemHeard).toBe(60);
  });

  it("clears with nothing sent as nothing heard and nothing dropped", () => {
    expect(new AssistantPlayback().clear()).toEqual({ itemId: null, heardMs: 0, droppedMs: 0 });
  });

  it("keeps acknowledging in order across a long call (past its pending-list compaction)", () => {
    const playback = new AssistantPlayback();
    const marks = Array.from({ length: 300 }, () => send(playback, "item1", 1));
    for (const [i, mark] of marks.entries()) {
      // Every third mark is lost on the way; the next one still proves it played.
      if (i % 3 === 1) continue;
      expect(playback.acknowledge(mark)).toBe(true);
      expect(playback.heardMs).toBe((i + 1) * 20);
    }
    expect(playback.outstandingMs).toBe(0);
    expect(marks.every((mark) => !playback.acknowledge(mark))).toBe(true);
  });
});
