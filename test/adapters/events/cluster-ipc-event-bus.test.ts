import cluster, { type Worker } from "node:cluster";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeCallEvent, encodeCallEvent } from "../../../src/adapters/events/call-event-json.ts";
import { relayClusterEvents } from "../../../src/adapters/events/cluster-event-relay.ts";
import type { CallEvent } from "../../../src/application/ports/index.ts";
import { Conditions } from "../../support/conditions.ts";
import { aCall, anAnalytics, aRecording, aTranscript } from "../sqlite/sqlite-test-world.ts";
import type { FromWorker, ToWorker } from "./cluster-ipc-worker.ts";

const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
const WORKER_SCRIPT = resolve(REPO_ROOT, "test/adapters/events/cluster-ipc-worker.ts");

describe("call-event JSON (what crosses the IPC channel)", () => {
  it("brings back every Date as a Date, and nothing else changed", () => {
    const events: CallEvent[] = [
      { type: "call.started", call: aCall("c1") },
      {
        type: "call.ended",
        call: aCall("c1", {
          status: "completed",
          endedAt: new Date("2026-01-01T10:07:00.123Z"),
          durationSeconds: 420.123,
        }),
      },
      { type: "transcript.created", transcript: aTranscript("t1", "c1", "hello ✓") },
      { type: "analytics.created", analytics: anAnalytics("a1", "c1") },
      { type: "recording.created", recording: aRecording("r1", "c1") },
    ];
    for (const event of events) {
      const back = decodeCallEvent(encodeCallEvent(event));
      expect(back).toEqual(event);
    }
    const ended = decodeCallEvent(encodeCallEvent(events[1]!));
    expect(ended?.type === "call.ended" && ended.call.endedAt).toBeInstanceOf(Date);
  });

  it("refuses text that is not an event", () => {
    for (const text of [
      "",
      "nope",
      "{}",
      '{"type":"call.started"}',
      '{"type":"x","call":{"id":"c"}}',
    ]) {
      expect(decodeCallEvent(text)).toBeNull();
    }
  });
});

interface TestWorker {
  worker: Worker;
  received: CallEvent[];
  logs: Array<{ level: string; msg: string | undefined }>;
  closed: boolean;
  send(message: ToWorker): void;
}

/**
 * Real processes: this test's process is the cluster primary (running the relay the way
 * src/composition/cluster.ts does), and each worker runs the IPC bus under tsx.
 */
describe("the cluster IPC event bus, across real node:cluster workers", () => {
  const changed = new Conditions();
  const workers: TestWorker[] = [];
  let stopRelay = () => {};
  const strays: unknown[] = [];

  const fork = async (): Promise<TestWorker> => {
    const worker = cluster.fork();
    const state: TestWorker = {
      worker,
      received: [],
      logs: [],
      closed: false,
      send: (message) => {
        worker.send(message);
      },
    };
    let ready = false;
    worker.on("message", (message: FromWorker) => {
      if (message.test === "ready") ready = true;
      else if (message.test === "received") {
        const event = decodeCallEvent(message.event);
        if (event) state.received.push(event);
        else strays.push(message);
      } else if (message.test === "log") state.logs.push(message);
      else if (message.test === "closed") state.closed = true;
      changed.notify();
    });
    workers.push(state);
    await changed.waitFor(() => (ready ? true : undefined), 20_000, "a worker to start");
    return state;
  };

  beforeAll(async () => {
    cluster.setupPrimary({ exec: WORKER_SCRIPT, execArgv: ["--import", "tsx"], cwd: REPO_ROOT });
    stopRelay = relayClusterEvents(cluster);
    await Promise.all([fork(), fork(), fork()]);
  }, 60_000);

  afterAll(async () => {
    stopRelay();
    await Promise.all(
      workers.map(
        ({ worker }) =>
          new Promise<void>((done) => {
            if (worker.isDead()) return done();
            worker.once("exit", () => done());
            worker.kill();
          }),
      ),
    );
  });

  const reset = () => {
    for (const w of workers) {
      w.received.length = 0;
      w.logs.length = 0;
    }
  };

  const waitForCount = (w: TestWorker, n: number, label: string) =>
    changed.waitFor(() => (w.received.length >= n ? true : undefined), 10_000, label);

  it("delivers one worker's events to every other worker, in order per call, Dates as Dates, and once to itself", async () => {
    reset();
    const [a, b, c] = workers as [TestWorker, TestWorker, TestWorker];
    const events: CallEvent[] = [];
    for (const callId of ["c1", "c2"]) events.push({ type: "call.started", call: aCall(callId) });
    for (let i = 0; i < 150; i++) {
      // Two calls' turns interleaved, as two live calls on one worker make them.
      const callId = i % 2 === 0 ? "c1" : "c2";
      events.push({
        type: "transcript.created",
        transcript: aTranscript(`t${i}`, callId, `turn ${i}`, {
          createdAt: new Date(Date.UTC(2026, 0, 1, 10, 0, 0, i)),
        }),
      });
    }
    events.push({ type: "recording.created", recording: aRecording("r1", "c1") });
    events.push({
      type: "call.ended",
      call: aCall("c1", { status: "completed", endedAt: new Date("2026-01-01T10:09:00.000Z") }),
    });
    a.send({ test: "publish", events: events.map(encodeCallEvent) });
    await waitForCount(b, events.length, "worker b to receive every event");
    await waitForCount(c, events.length, "worker c to receive every event");
    // Worker a's subscriber got each event from its own publish, and none came back to it.
    await waitForCount(a, events.length, "worker a's own subscriber");
    for (const w of [a, b, c]) expect(w.received).toEqual(events);
    expect(strays).toEqual([]);
  });

  it("relays events of several workers publishing at once, each call's in order", async () => {
    reset();
    const [a, b, c] = workers as [TestWorker, TestWorker, TestWorker];
    const ofCall = (callId: string) => {
      const list: CallEvent[] = [{ type: "call.started", call: aCall(callId) }];
      for (let i = 0; i < 40; i++) {
        list.push({ type: "analytics.created", analytics: anAnalytics(`${callId}-a${i}`, callId) });
      }
      list.push({ type: "call.ended", call: aCall(callId, { status: "failed" }) });
      return list;
    };
    const fromA = ofCall("ca");
    const fromB = ofCall("cb");
    a.send({ test: "publish", events: fromA.map(encodeCallEvent) });
    b.send({ test: "publish", events: fromB.map(encodeCallEvent) });
    const total = fromA.length + fromB.length;
    for (const w of [a, b, c]) await waitForCount(w, total, "both workers' events everywhere");
    for (const w of [a, b, c]) {
      const id = (event: CallEvent) =>
        event.type === "analytics.created"
          ? event.analytics.callId
          : "call" in event
            ? event.call.id
            : "";
      expect(w.received.filter((event) => id(event) === "ca")).toEqual(fromA);
      expect(w.received.filter((event) => id(event) === "cb")).toEqual(fromB);
    }
  });

  it("leaves other messages on the channel alone (prom-client's), in the relay and in the workers", async () => {
    reset();
    const [a, b, c] = workers as [TestWorker, TestWorker, TestWorker];
    // What prom-client's AggregatorRegistry and its workers exchange.
    a.send({
      test: "send",
      message: { type: "prom-client:getMetricsRes", requestId: 1, metrics: [] },
    });
    b.worker.send({ type: "prom-client:getMetricsReq", requestId: 2 });
    // Tagged as ours, but not an event: dropped with a warning, never delivered.
    a.send({ test: "send", message: { callbridge: "event", event: "{not json" } });
    a.send({
      test: "publish",
      events: [encodeCallEvent({ type: "call.started", call: aCall("c9") })],
    });
    for (const w of [b, c]) await waitForCount(w, 1, "the event after the other messages");
    for (const w of [a, b, c])
      expect(w.received).toEqual([{ type: "call.started", call: aCall("c9") }]);
    for (const w of [b, c]) {
      expect(w.logs).toEqual([
        { test: "log", level: "warn", msg: "an unreadable call event came from another worker" },
      ]);
    }
    expect(a.logs).toEqual([]);
  });

  it("stops delivering to a worker whose bus is closed, and the others go on", async () => {
    reset();
    const [a, b, c] = workers as [TestWorker, TestWorker, TestWorker];
    c.send({ test: "close" });
    await changed.waitFor(() => (c.closed ? true : undefined), 10_000, "worker c's bus to close");
    a.send({
      test: "publish",
      events: [encodeCallEvent({ type: "call.started", call: aCall("c10") })],
    });
    await waitForCount(b, 1, "worker b");
    // c's channel delivered the event too (it follows b's on it); its closed bus dropped it.
    const probe = { type: "call.started" as const, call: aCall("c11") };
    b.send({ test: "publish", events: [encodeCallEvent(probe)] });
    await waitForCount(a, 2, "worker a to receive b's probe");
    expect(c.received).toEqual([]);
  });
});
