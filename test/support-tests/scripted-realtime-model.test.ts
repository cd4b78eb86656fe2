import { describe, expect, it } from "vitest";
import type { RealtimeListener } from "../../src/application/ports/index.ts";
import { ScriptedRealtimeModel, STALE_DELTA_SAMPLE } from "../support/scripted-realtime-model.ts";

/** A listener that writes down what it is told, keeping the delta arrays it is handed. */
function recordingListener() {
  const events: string[] = [];
  const deltas: Int16Array[] = [];
  const listener: RealtimeListener = {
    onReady: () => events.push("ready"),
    onSpeechStarted: (item, ms) => events.push(`speechStarted ${item} ${ms}`),
    onSpeechStopped: (item, ms) => events.push(`speechStopped ${item} ${ms}`),
    onAudioDelta: (item, pcm) => {
      deltas.push(pcm);
      events.push(`audioDelta ${item} ${pcm.length} first=${pcm[0]}`);
    },
    onMuLawDelta: (item, mulaw) => events.push(`muLawDelta ${item} ${mulaw.length}`),
    onAudioDone: (item) => events.push(`audioDone ${item}`),
    onCallerTranscript: (item, text) => events.push(`caller ${item} ${text}`),
    onCallerTranscriptFailed: (item, message) => events.push(`callerFailed ${item} ${message}`),
    onResponseDone: (outcome) => events.push(`responseDone ${outcome.status}`),
    onAssistantTranscript: (item, text) => events.push(`assistant ${item} ${text}`),
    onUsage: (usage) => events.push(`usage ${JSON.stringify(usage)}`),
    onFunctionCall: (call) =>
      events.push(`functionCall ${call.callId} ${call.name} ${call.arguments}`),
    onError: (kind, message) => events.push(`error ${kind} ${message}`),
    onClosed: (kind, message) => events.push(`closed ${kind} ${message}`),
  };
  return { listener, events, deltas };
}

const OPTIONS = { voice: "verse", instructions: "be brief" };

describe("ScriptedRealtimeModel", () => {
  it("plays model events into the session's listener, in order", () => {
    const model = new ScriptedRealtimeModel();
    const { listener, events } = recordingListener();
    const connection = model.connect(OPTIONS, listener);
    connection
      .ready()
      .speechStarted("in1", 120)
      .speechStopped("in1", 900)
      .callerTranscript("in1", "hello")
      .audioDelta("out1", Int16Array.of(100, 200))
      .audioDone("out1")
      .assistantTranscript("out1", "hi there")
      .usage({ total_tokens: 42 })
      .functionCall("call_1", "end_call", { reason: "done" })
      .error("rate_limited", "slow down");
    expect(events).toEqual([
      "ready",
      "speechStarted in1 120",
      "speechStopped in1 900",
      "caller in1 hello",
      "audioDelta out1 2 first=100",
      "audioDone out1",
      "assistant out1 hi there",
      'usage {"total_tokens":42}',
      'functionCall call_1 end_call {"reason":"done"}',
      "error rate_limited slow down",
    ]);
    expect(model.last).toBe(connection);
    expect(connection.options).toEqual(OPTIONS);
  });

  it("overwrites a delta's array once the listener returns, as the real client's shared buffer", () => {
    const model = new ScriptedRealtimeModel();
    const { listener, deltas } = recordingListener();
    model.connect(OPTIONS, listener).audioDelta("out1", Int16Array.of(1, 2, 3));
    expect([...deltas[0]!]).toEqual([STALE_DELTA_SAMPLE, STALE_DELTA_SAMPLE, STALE_DELTA_SAMPLE]);
  });

  it("records the session's audio and truncations as the client would send them", () => {
    const connection = new ScriptedRealtimeModel().connect(OPTIONS, recordingListener().listener);
    const buffer = Int16Array.of(1, 2, 3, 4);
    connection.appendAudio(buffer);
    buffer.fill(0);
    connection.appendAudio(new Int16Array(0));
    connection.truncate("out1", 500);
    connection.ready();
    connection.appendAudio(Int16Array.of(5, 6));
    connection.truncate("out1", 812.7);
    connection.truncate("out2", -3);
    expect(connection.appended).toEqual([Int16Array.of(1, 2, 3, 4), Int16Array.of(5, 6)]);
    expect(connection.appendedSampleCounts).toEqual([4, 2]);
    expect(connection.appendedWhileConnecting).toBe(1);
    // Before the socket opens the client drops a truncate instead of queueing it.
    expect(connection.ignoredTruncates).toBe(1);
    expect(connection.truncates).toEqual([
      { itemId: "out1", audioEndMs: 812 },
      { itemId: "out2", audioEndMs: 0 },
    ]);
  });

  it("records function call answers as the client sends them: only on an open socket", () => {
    const connection = new ScriptedRealtimeModel().connect(OPTIONS, recordingListener().listener);
    connection.answerFunctionCall("call_0", "{}");
    connection.ready();
    connection.answerFunctionCall("call_1", '{"ok":true}');
    connection.close();
    connection.answerFunctionCall("call_2", "{}");
    expect(connection.functionOutputs).toEqual([{ callId: "call_1", output: '{"ok":true}' }]);
    expect(connection.outputsFor("call_1")).toEqual([{ ok: true }]);
    expect(connection.ignoredFunctionOutputs).toBe(2);
  });

  it("reports a drop once, and never one the session asked for with close()", () => {
    const model = new ScriptedRealtimeModel();
    const first = recordingListener();
    const dropped = model.connect(OPTIONS, first.listener).ready();
    expect(dropped.drop("dropped", "closed with 1006")).toBe(true);
    expect(dropped.drop("dropped", "again")).toBe(false);
    expect(() => dropped.audioDone("out1")).toThrow("dropped");
    dropped.appendAudio(Int16Array.of(1));
    expect(dropped.appended).toEqual([]);
    expect(first.events).toEqual(["ready", "closed dropped closed with 1006"]);

    const second = recordingListener();
    const closed = model.connect(OPTIONS, second.listener).ready();
    closed.close();
    expect(closed.serverClose()).toBe(false);
    // Messages already on the way still arrive after close() on an open socket.
    closed.audioDone("out1");
    expect(second.events).toEqual(["ready", "audioDone out1"]);
    expect(closed.closedBySession).toBe(true);
  });

  it("names a close after session_expired `expired`, as the client does", () => {
    const { listener, events } = recordingListener();
    const connection = new ScriptedRealtimeModel().connect(OPTIONS, listener).ready();
    connection.error("session_expired", "60 minutes");
    connection.serverClose(1000);
    expect(events.at(-1)).toBe("closed expired closed with 1000");
  });

  it("throws from the next connects when told to", () => {
    const model = new ScriptedRealtimeModel();
    model.failNextConnects(2);
    const { listener } = recordingListener();
    expect(() => model.connect(OPTIONS, listener)).toThrow("connect failed");
    expect(() => model.connect(OPTIONS, listener)).toThrow("connect failed");
    expect(model.connect(OPTIONS, listener)).toBe(model.last);
    expect(model.connectAttempts).toBe(3);
    expect(model.connections).toHaveLength(1);
  });
});
