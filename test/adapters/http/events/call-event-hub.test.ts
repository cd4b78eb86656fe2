import { describe, expect, it } from "vitest";
import {
  CallEventHub,
  type FeedMessage,
} from "../../../../src/adapters/http/events/call-event-hub.ts";
import { fanOut } from "../../../../src/adapters/http/events/fan-out.ts";
import type { CallEvent, CallEventSink } from "../../../../src/application/ports/index.ts";
import { startCall } from "../../../../src/domain/call.ts";
import { createTranscript } from "../../../../src/domain/transcript.ts";

const call = (id: string) =>
  startCall({ id, streamSid: `MZ${id}`, startedAt: new Date("2026-01-01T10:00:00.000Z") });

const turn = (callId: string, text: string) =>
  createTranscript({
    id: `t-${text}`,
    callId,
    speaker: "assistant",
    text,
    createdAt: new Date("2026-01-01T10:00:01.000Z"),
  });

function recorder() {
  const received: FeedMessage[] = [];
  let closed = 0;
  return {
    received,
    get closed() {
      return closed;
    },
    send: (message: FeedMessage) => received.push(message),
    close: () => {
      closed++;
    },
  };
}

describe("CallEventHub", () => {
  it("names each event as the feeds do and serializes the API's JSON once", () => {
    const hub = new CallEventHub();
    const a = recorder();
    const b = recorder();
    hub.subscribe(null, a);
    hub.subscribe(null, b);
    hub.publish({ type: "call.started", call: call("c1") });
    hub.publish({ type: "transcript.created", transcript: turn("c1", "hi") });
    expect(a.received.map((m) => [m.event, m.callId])).toEqual([
      ["call.started", "c1"],
      ["transcript", "c1"],
    ]);
    expect(JSON.parse(a.received[0]!.data)).toMatchObject({
      id: "c1",
      status: "active",
      startedAt: "2026-01-01T10:00:00.000Z",
    });
    // The same string instance goes to every subscriber.
    expect(b.received[1]!.data).toBe(a.received[1]!.data);
  });

  it("gives a call's subscribers that call's events only", () => {
    const hub = new CallEventHub();
    const one = recorder();
    hub.subscribe("c1", one);
    hub.publish({ type: "transcript.created", transcript: turn("c2", "other") });
    hub.publish({ type: "transcript.created", transcript: turn("c1", "mine") });
    expect(one.received.map((m) => JSON.parse(m.data).text)).toEqual(["mine"]);
  });

  it("forgets a subscriber when it unsubscribes, including the call's entry", () => {
    const hub = new CallEventHub();
    const one = recorder();
    const unsubscribe = hub.subscribe("c1", one);
    const all = hub.subscribe(null, recorder());
    expect(hub.subscriberCount).toBe(2);
    unsubscribe();
    all();
    expect(hub.subscriberCount).toBe(0);
    hub.publish({ type: "transcript.created", transcript: turn("c1", "late") });
    expect(one.received).toEqual([]);
  });

  it("keeps delivering to the others when one subscriber throws", () => {
    const hub = new CallEventHub();
    const good = recorder();
    hub.subscribe(null, {
      send: () => {
        throw new Error("broken feed");
      },
      close: () => {},
    });
    hub.subscribe(null, good);
    expect(() => hub.publish({ type: "call.started", call: call("c1") })).not.toThrow();
    expect(good.received).toHaveLength(1);
  });

  it("closes every subscriber once at shutdown, and any later one at once", () => {
    const hub = new CallEventHub();
    const a = recorder();
    const b = recorder();
    hub.subscribe(null, a);
    hub.subscribe("c1", b);
    hub.close();
    expect([a.closed, b.closed]).toEqual([1, 1]);
    expect(hub.subscriberCount).toBe(0);
    const late = recorder();
    hub.subscribe(null, late);
    expect(late.closed).toBe(1);
    hub.publish({ type: "call.started", call: call("c1") });
    expect(late.received).toEqual([]);
  });
});

describe("fanOut", () => {
  it("publishes every event to each sink, even when an earlier sink throws", () => {
    const seen: string[] = [];
    const failing: CallEventSink = {
      publish: () => {
        throw new Error("metrics down");
      },
    };
    const recording: CallEventSink = { publish: (event: CallEvent) => seen.push(event.type) };
    const sink = fanOut(failing, recording, recording);
    sink.publish({ type: "call.started", call: call("c1") });
    expect(seen).toEqual(["call.started", "call.started"]);
  });
});
