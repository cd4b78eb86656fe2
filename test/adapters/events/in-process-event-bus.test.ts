import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { InProcessEventBus } from "../../../src/adapters/events/in-process-event-bus.ts";
import { PerKeyQueue } from "../../../src/adapters/events/per-key-queue.ts";
import type { CallEvent, CallEventSink } from "../../../src/application/ports/index.ts";
import { aCall, aTranscript } from "../sqlite/sqlite-test-world.ts";

function collector(): CallEventSink & { events: CallEvent[] } {
  const events: CallEvent[] = [];
  return { events, publish: (event) => events.push(event) };
}

describe("the in-process event bus", () => {
  it("delivers each event at once, in order, to every subscriber, the same objects", () => {
    const bus = new InProcessEventBus();
    const a = collector();
    const b = collector();
    bus.subscribe(a);
    bus.subscribe(b);
    const started: CallEvent = { type: "call.started", call: aCall("c1") };
    const said: CallEvent = {
      type: "transcript.created",
      transcript: aTranscript("t1", "c1", "hi"),
    };
    bus.publish(started);
    expect(a.events).toEqual([started]);
    bus.publish(said);
    expect(a.events).toEqual([started, said]);
    expect(b.events).toEqual([started, said]);
    expect(b.events[0]).toBe(started);
  });

  it("never throws: a subscriber that throws keeps neither the publisher nor the others from going on", () => {
    const bus = new InProcessEventBus();
    const after = collector();
    bus.subscribe({
      publish: () => {
        throw new Error("broken feed");
      },
    });
    bus.subscribe(after);
    expect(() => bus.publish({ type: "call.started", call: aCall("c1") })).not.toThrow();
    expect(after.events).toHaveLength(1);
  });

  it("stops delivering to a subscriber that unsubscribed (even from inside its own delivery) and to all once closed", async () => {
    const bus = new InProcessEventBus();
    const kept = collector();
    const once = collector();
    const unsubscribe = bus.subscribe({
      publish: (event) => {
        once.publish(event);
        unsubscribe();
      },
    });
    bus.subscribe(kept);
    bus.publish({ type: "call.started", call: aCall("c1") });
    bus.publish({ type: "call.ended", call: aCall("c1", { status: "completed" }) });
    expect(once.events).toHaveLength(1);
    expect(kept.events).toHaveLength(2);
    await bus.close();
    bus.publish({ type: "call.started", call: aCall("c2") });
    const late = collector();
    bus.subscribe(late);
    bus.publish({ type: "call.started", call: aCall("c3") });
    expect(kept.events).toHaveLength(2);
    expect(late.events).toEqual([]);
  });
});

describe("per-call ordering (PerKeyQueue)", () => {
  it("runs one key's tasks in the order queued however long each takes, and keys side by side", async () => {
    const queue = new PerKeyQueue();
    const done: string[] = [];
    const task = (name: string, ms: number) => async () => {
      await sleep(ms);
      done.push(name);
    };
    // c1's first task is the slowest: c1's later ones wait for it, c2's do not.
    queue.run("c1", task("c1:1", 60));
    queue.run("c1", task("c1:2", 1));
    queue.run("c2", task("c2:1", 10));
    queue.run("c1", task("c1:3", 1));
    queue.run("c2", task("c2:2", 1));
    expect(queue.size).toBe(2);
    await queue.idle();
    expect(done.filter((name) => name.startsWith("c1"))).toEqual(["c1:1", "c1:2", "c1:3"]);
    expect(done.filter((name) => name.startsWith("c2"))).toEqual(["c2:1", "c2:2"]);
    expect(done.indexOf("c2:2")).toBeLessThan(done.indexOf("c1:1"));
    expect(queue.size).toBe(0);
  });

  it("goes on with a key's next task after one throws", async () => {
    const queue = new PerKeyQueue();
    const done: number[] = [];
    queue.run("c1", async () => {
      throw new Error("load failed");
    });
    queue.run("c1", async () => {
      done.push(2);
    });
    await queue.idle();
    expect(done).toEqual([2]);
  });

  it("refuses tasks beyond the bound of one key, and takes them again once it drained", async () => {
    const queue = new PerKeyQueue(2);
    let release = () => {};
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    expect(queue.run("c1", () => held)).toBe(true);
    expect(queue.run("c1", async () => {})).toBe(true);
    expect(queue.run("c1", async () => {})).toBe(false);
    expect(queue.run("c2", async () => {})).toBe(true);
    release();
    await queue.idle();
    expect(queue.run("c1", async () => {})).toBe(true);
    await queue.idle();
  });
});
