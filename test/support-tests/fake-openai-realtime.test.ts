import { afterEach, describe, expect, it } from "vitest";
import {
  FakeRealtimeServer,
  REALTIME_RATE,
  type StartOptions,
} from "../support/fake-openai-realtime.ts";
import { base64ToPcm16, concat, pcm16ToBase64, silence, tone } from "../support/signals.ts";
import { RealtimeTestClient } from "./realtime-client.ts";

const KEY = "sk-test-fake";
const GA_SESSION = {
  type: "realtime",
  instructions: "be brief",
  audio: {
    input: {
      format: { type: "audio/pcm", rate: 24000 },
      turn_detection: { type: "server_vad" },
      transcription: { model: "gpt-4o-mini-transcribe" },
    },
    output: { format: { type: "audio/pcm", rate: 24000 }, voice: "verse" },
  },
};

const servers: FakeRealtimeServer[] = [];
const clients: RealtimeTestClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

async function startServer(opts: StartOptions = {}): Promise<FakeRealtimeServer> {
  const s = await FakeRealtimeServer.start(opts);
  servers.push(s);
  return s;
}

async function connect(server: FakeRealtimeServer, key: string | null = KEY) {
  const c = await RealtimeTestClient.connect(server.url, key);
  clients.push(c);
  return c;
}

async function configured(server: FakeRealtimeServer) {
  const c = await connect(server);
  c.send({ type: "session.update", session: GA_SESSION });
  await c.waitFor("session.updated");
  return c;
}

/** Appends like a bridge would: 20 ms chunks. */
function appendAll(c: RealtimeTestClient, pcm24: Int16Array, chunkMs = 20): number {
  const per = (REALTIME_RATE * chunkMs) / 1000;
  let n = 0;
  for (let i = 0; i < pcm24.length; i += per) {
    c.send({ type: "input_audio_buffer.append", audio: pcm16ToBase64(pcm24.subarray(i, i + per)) });
    n++;
  }
  return n;
}

type JsonLike = { [key: string]: unknown };

const indexOfType = (events: { type?: unknown }[], type: string) =>
  events.findIndex((e) => e.type === type);

describe("FakeRealtimeServer handshake and session", () => {
  it("rejects an upgrade without the expected bearer key with HTTP 401", async () => {
    const server = await startServer();
    await expect(connect(server, "sk-wrong")).rejects.toThrow("HTTP 401");
    await expect(connect(server, null)).rejects.toThrow("HTTP 401");
    expect(server.rejectedUpgrades.map((r) => r.status)).toEqual([401, 401]);
    expect(server.connections).toHaveLength(0);
  });

  it("serves the documented URL and records the upgrade headers", async () => {
    const server = await startServer();
    expect(server.url).toBe(`ws://127.0.0.1:${server.port}/v1/realtime?model=gpt-realtime`);
    await connect(server);
    const conn = await server.waitForConnection(0);
    expect(conn.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(conn.session.model).toBe("gpt-realtime");
  });

  it("sends session.created on connect and answers session.update with the merged session", async () => {
    const server = await startServer();
    const c = await connect(server);
    const created = await c.waitFor("session.created");
    expect((created.session as { type: string }).type).toBe("realtime");
    c.send({ type: "session.update", session: GA_SESSION });
    const updated = (await c.waitFor("session.updated")).session as typeof GA_SESSION & {
      id: string;
    };
    expect(updated.instructions).toBe("be brief");
    expect(updated.audio.output.voice).toBe("verse");
    expect(updated.audio.input.transcription.model).toBe("gpt-4o-mini-transcribe");
    expect(updated.id).toBe((created.session as { id: string }).id);
  });

  it("refuses beta-shaped or untyped session.update with an error naming the parameter", async () => {
    const server = await startServer();
    const c = await connect(server);
    c.send({ type: "session.update", session: { type: "realtime", input_audio_format: "pcm16" } });
    c.send({ type: "session.update", session: { instructions: "x" } });
    await c.roundTrip();
    const errors = c.ofType("error").map((e) => e.error as { code: string; param: string });
    expect(errors).toEqual([
      expect.objectContaining({ code: "unknown_parameter", param: "session.input_audio_format" }),
      expect.objectContaining({ code: "missing_required_parameter", param: "session.type" }),
    ]);
    expect(c.ofType("session.updated")).toHaveLength(0);
  });

  it("answers malformed and unknown client events with error events and records them", async () => {
    const server = await startServer();
    const c = await connect(server);
    c.sendRaw("{not json");
    c.send({ type: "response.audio.delta" });
    await c.roundTrip();
    const codes = c.ofType("error").map((e) => (e.error as { code: string }).code);
    expect(codes).toEqual(["invalid_json", "invalid_value"]);
    const conn = server.connections[0]!;
    expect(conn.invalidFrames).toEqual(["{not json"]);
    expect(conn.eventsOfType("response.audio.delta")).toHaveLength(1);
  });
});

describe("FakeRealtimeServer scripted assistant", () => {
  it("turns a 3 s tone and 2 s of silence into one caller turn and a full response", async () => {
    const assistantAudio = tone(440, 1000, REALTIME_RATE, 0.5);
    const server = await startServer({
      callerTranscript: "book a table",
      assistantTranscript: "Sure, for how many?",
      assistantAudio,
    });
    const c = await configured(server);
    appendAll(c, concat(tone(300, 3000, REALTIME_RATE, 0.3), silence(2000, REALTIME_RATE)));
    const done = await c.waitFor("response.done");

    const started = c.ofType("input_audio_buffer.speech_started");
    const stopped = c.ofType("input_audio_buffer.speech_stopped");
    expect(started).toHaveLength(1);
    expect(stopped).toHaveLength(1);
    expect(started[0]!.audio_start_ms).toBe(0);
    expect(stopped[0]!.audio_end_ms).toBe(3500);
    expect(stopped[0]!.item_id).toBe(started[0]!.item_id);
    expect(c.ofType("input_audio_buffer.committed")[0]!.item_id).toBe(started[0]!.item_id);
    const transcription = c.ofType("conversation.item.input_audio_transcription.completed")[0]!;
    expect(transcription).toMatchObject({
      item_id: started[0]!.item_id,
      transcript: "book a table",
    });

    const deltas = c.ofType("response.output_audio.delta");
    expect(deltas).toHaveLength(10);
    const responseId = (done.response as { id: string }).id;
    for (const d of deltas) expect(d).toMatchObject({ response_id: responseId, output_index: 0 });
    expect(concat(...deltas.map((d) => base64ToPcm16(String(d.delta))))).toEqual(assistantAudio);
    expect(c.ofType("response.output_audio_transcript.done")[0]!.transcript).toBe(
      "Sure, for how many?",
    );
    const response = done.response as {
      status: string;
      usage: { total_tokens: number; input_tokens: number; output_tokens: number };
    };
    expect(response.status).toBe("completed");
    expect(response.usage.total_tokens).toBe(
      response.usage.input_tokens + response.usage.output_tokens,
    );

    const order = [
      "input_audio_buffer.speech_stopped",
      "input_audio_buffer.committed",
      "conversation.item.input_audio_transcription.completed",
      "response.created",
      "response.output_audio.delta",
      "response.output_audio.done",
      "response.output_audio_transcript.done",
      "response.done",
    ].map((t) => indexOfType(c.events, t));
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(server.connections[0]!.responses[0]).toMatchObject({
      status: "completed",
      deltasSent: 10,
      audioMsSent: 1000,
    });
  });

  it("honours prefix padding and silence length from its options", async () => {
    const server = await startServer({ prefixPaddingMs: 300, silenceMs: 800, autoRespond: false });
    const c = await configured(server);
    appendAll(c, concat(silence(1000, REALTIME_RATE), tone(300, 1000, REALTIME_RATE, 0.3)));
    appendAll(c, silence(1000, REALTIME_RATE));
    const stopped = await c.waitFor("input_audio_buffer.speech_stopped");
    expect(c.ofType("input_audio_buffer.speech_started")[0]!.audio_start_ms).toBe(700);
    expect(stopped.audio_end_ms).toBe(2800);
    await c.roundTrip();
    expect(c.ofType("response.created")).toHaveLength(0);
  });

  it("sends no caller transcription when the session does not ask for one", async () => {
    const server = await startServer({ autoRespond: false });
    const c = await connect(server);
    appendAll(c, concat(tone(300, 500, REALTIME_RATE, 0.3), silence(1000, REALTIME_RATE)));
    await c.waitFor("input_audio_buffer.committed");
    await c.roundTrip();
    expect(c.ofType("conversation.item.input_audio_transcription.completed")).toHaveLength(0);
  });

  it("keeps the decoded PCM of every append in order, even across odd-sized appends", async () => {
    const server = await startServer();
    const c = await connect(server);
    const ramp = new Int16Array(10_001).map((_, i) => (i * 7) % 2000);
    const bytes = Buffer.from(ramp.buffer);
    let sent = 0;
    for (let i = 0; i < bytes.length; i += 333) {
      c.send({
        type: "input_audio_buffer.append",
        audio: bytes.subarray(i, i + 333).toString("base64"),
      });
      sent++;
    }
    await c.roundTrip();
    const conn = server.connections[0]!;
    expect(conn.appendCount).toBe(sent);
    expect(conn.audioBytes).toBe(bytes.length);
    expect(conn.audio()).toEqual(ramp);
    const recorded = conn.eventsOfType("input_audio_buffer.append");
    expect(recorded[0]).toEqual({ type: "input_audio_buffer.append", audio_bytes: 333 });
  });

  it("stops the remaining deltas of a truncated item and confirms the truncation", async () => {
    const server = await startServer({
      assistantAudio: tone(440, 10_000, REALTIME_RATE),
      deltaIntervalMs: 100,
    });
    const c = await configured(server);
    c.send({ type: "response.create" });
    const first = await c.waitFor("response.output_audio.delta");
    c.send({
      type: "conversation.item.truncate",
      item_id: first.item_id,
      content_index: 0,
      audio_end_ms: 60,
    });
    const truncated = await c.waitFor("conversation.item.truncated");
    expect(truncated).toMatchObject({ item_id: first.item_id, audio_end_ms: 60 });
    const done = await c.waitFor("response.done");
    expect((done.response as { status: string }).status).toBe("cancelled");
    const deltasAtDone = c.ofType("response.output_audio.delta").length;
    expect(deltasAtDone).toBeLessThan(100);
    await c.roundTrip();
    expect(c.ofType("response.output_audio.delta")).toHaveLength(deltasAtDone);
    expect(server.connections[0]!.truncates).toHaveLength(1);
  });

  it("rejects truncation past the audio it sent and of unknown items", async () => {
    const server = await startServer();
    const c = await configured(server);
    c.send({ type: "response.create" });
    const done = await c.waitFor("response.done");
    const itemId = (done.response as { output: { id: string }[] }).output[0]!.id;
    c.send({
      type: "conversation.item.truncate",
      item_id: itemId,
      content_index: 0,
      audio_end_ms: 5000,
    });
    c.send({
      type: "conversation.item.truncate",
      item_id: "item_nope",
      content_index: 0,
      audio_end_ms: 0,
    });
    await c.roundTrip();
    const errors = c.ofType("error").map((e) => (e.error as { param: string }).param);
    expect(errors).toEqual(["audio_end_ms", "item_id"]);
    expect(c.ofType("conversation.item.truncated")).toHaveLength(0);
  });

  it("cancels a response in progress when the caller starts speaking", async () => {
    const server = await startServer({
      assistantAudio: tone(440, 10_000, REALTIME_RATE),
      deltaIntervalMs: 100,
    });
    const c = await configured(server);
    c.send({ type: "response.create" });
    await c.waitFor("response.output_audio.delta");
    appendAll(c, tone(300, 200, REALTIME_RATE, 0.3));
    const done = await c.waitFor("response.done");
    expect(done.response).toMatchObject({
      status: "cancelled",
      status_details: { type: "cancelled", reason: "turn_detected" },
    });
    expect(indexOfType(c.events, "input_audio_buffer.speech_started")).toBeLessThan(
      indexOfType(c.events, "response.done"),
    );
  });

  it("answers response.create and response.cancel the way the API does when busy or idle", async () => {
    const server = await startServer({
      assistantAudio: tone(440, 10_000, REALTIME_RATE),
      deltaIntervalMs: 100,
    });
    const c = await configured(server);
    c.send({ type: "response.cancel" });
    c.send({ type: "response.create" });
    c.send({ type: "response.create" });
    await c.roundTrip();
    const codes = c.ofType("error").map((e) => (e.error as { code: string }).code);
    expect(codes).toEqual([
      "response_cancel_not_active",
      "conversation_already_has_active_response",
    ]);
    c.send({ type: "response.cancel" });
    const done = await c.waitFor("response.done");
    expect((done.response as { status: string }).status).toBe("cancelled");
  });

  it("commits manually when turn detection is off", async () => {
    const server = await startServer({ autoRespond: false });
    const c = await connect(server);
    c.send({
      type: "session.update",
      session: { type: "realtime", audio: { input: { turn_detection: null } } },
    });
    appendAll(c, tone(300, 500, REALTIME_RATE, 0.3));
    c.send({ type: "input_audio_buffer.commit" });
    await c.waitFor("input_audio_buffer.committed");
    expect(c.ofType("input_audio_buffer.speech_started")).toHaveLength(0);
  });

  it("delivers events pushed through the manual API", async () => {
    const server = await startServer();
    const c = await connect(server);
    const conn = await server.waitForConnection(0);
    conn.send({ type: "rate_limits.updated", rate_limits: [] });
    conn.sendRaw("raw text");
    const ev = await c.waitFor("rate_limits.updated");
    expect(typeof ev.event_id).toBe("string");
    await c.roundTrip();
    expect(c.garbage).toContain("raw text");
  });
});

describe("FakeRealtimeServer function calls", () => {
  const END_CALL = {
    type: "function",
    name: "end_call",
    description: "Hang up.",
    parameters: { type: "object", properties: { reason: { type: "string" } } },
  };
  const typesOf = (c: RealtimeTestClient, from: number) => c.events.slice(from).map((e) => e.type);

  it("keeps the session's tools and refuses a bad tool or tool_choice", async () => {
    const server = await startServer();
    const c = await connect(server);
    c.send({
      type: "session.update",
      session: { type: "realtime", tools: [{ type: "function" }] },
    });
    c.send({ type: "session.update", session: { type: "realtime", tool_choice: "sometimes" } });
    c.send({
      type: "session.update",
      session: { type: "realtime", tools: [END_CALL], tool_choice: "auto" },
    });
    const updated = (await c.waitFor("session.updated")).session as JsonLike;
    expect(updated.tools).toEqual([END_CALL]);
    expect(updated.tool_choice).toBe("auto");
    expect(c.ofType("error").map((e) => (e.error as JsonLike).param)).toEqual([
      "session.tools[0]",
      "session.tool_choice",
    ]);
  });

  it("ends the next response with a queued call after its audio, event by event as the API", async () => {
    const server = await startServer({ assistantAudio: tone(440, 300, REALTIME_RATE, 0.5) });
    const c = await configured(server);
    const conn = await server.waitForConnection(0);
    const callId = conn.queueFunctionCall("end_call", { reason: "the caller said goodbye" });
    const from = c.events.length;
    c.send({ type: "response.create" });
    const done = await c.waitFor("response.done");
    const types = typesOf(c, from);
    const audioDone = types.indexOf("response.output_audio.done");
    const added = types.lastIndexOf("response.output_item.added");
    expect(audioDone).toBeGreaterThan(0);
    // After the audio item is done: the call's item added, its arguments in deltas, done.
    expect(types.slice(added)).toEqual([
      "response.output_item.added",
      ...types.slice(added + 1, types.indexOf("response.function_call_arguments.done")),
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.done",
    ]);
    expect(added).toBeGreaterThan(audioDone);
    const deltas = c.ofType("response.function_call_arguments.delta");
    expect(deltas.length).toBeGreaterThan(1);
    const args = JSON.stringify({ reason: "the caller said goodbye" });
    expect(deltas.map((d) => d.delta).join("")).toBe(args);
    const [call] = conn.functionCalls;
    expect(call).toMatchObject({ callId, name: "end_call", arguments: args });
    expect(deltas.every((d) => d.call_id === callId && d.item_id === call!.itemId)).toBe(true);
    expect(c.ofType("response.function_call_arguments.done")[0]).toMatchObject({
      item_id: call!.itemId,
      call_id: callId,
      name: "end_call",
      arguments: args,
      output_index: 1,
      response_id: call!.responseId,
    });
    const item = {
      id: call!.itemId,
      object: "realtime.item",
      type: "function_call",
      call_id: callId,
      name: "end_call",
      status: "completed",
      arguments: args,
    };
    expect(c.ofType("response.output_item.added").at(-1)).toMatchObject({
      output_index: 1,
      item: { ...item, status: "in_progress", arguments: "" },
    });
    expect(c.ofType("response.output_item.done").at(-1)).toMatchObject({ output_index: 1, item });
    const response = done.response as { status: string; output: JsonLike[] };
    expect(response.status).toBe("completed");
    expect(response.output.map((o) => o.type)).toEqual(["message", "function_call"]);
    expect(response.output[1]).toEqual(item);
  });

  it("responds with a call alone, no audio at all", async () => {
    const server = await startServer();
    const c = await configured(server);
    const conn = await server.waitForConnection(0);
    const from = c.events.length;
    const callId = conn.respondWithFunctionCall("lookup_order", '{"order":"A1"}');
    const done = await c.waitFor("response.done");
    expect(typesOf(c, from)).toEqual([
      "response.created",
      "response.output_item.added",
      "response.function_call_arguments.delta",
      "response.function_call_arguments.done",
      "response.output_item.done",
      "response.done",
    ]);
    expect((done.response as { output: JsonLike[] }).output).toMatchObject([
      { type: "function_call", call_id: callId, arguments: '{"order":"A1"}' },
    ]);
    expect(c.ofType("response.output_audio.delta")).toHaveLength(0);
  });

  it("makes no call in a response cut short: the next one that completes makes it", async () => {
    const server = await startServer({
      assistantAudio: tone(440, 10_000, REALTIME_RATE),
      deltaIntervalMs: 100,
    });
    const c = await configured(server);
    const conn = await server.waitForConnection(0);
    c.send({ type: "response.create" });
    await c.waitFor("response.created");
    conn.queueFunctionCall("end_call");
    c.send({ type: "response.cancel" });
    const cancelled = await c.waitFor("response.done");
    expect((cancelled.response as { output: JsonLike[] }).output).toHaveLength(1);
    expect(c.ofType("response.output_item.done")).toHaveLength(1);
    server.setOptions({ assistantAudio: tone(440, 100, REALTIME_RATE), deltaIntervalMs: 0 });
    c.send({ type: "response.create" });
    await conn.waitFor(() => conn.functionCalls[0]);
    expect(conn.functionCalls.map((call) => call.name)).toEqual(["end_call"]);
  });

  it("records function_call_output items, confirms them, and refuses an unknown call_id", async () => {
    const server = await startServer();
    const c = await configured(server);
    const conn = await server.waitForConnection(0);
    const callId = conn.respondWithFunctionCall("end_call");
    await c.waitFor("response.done");
    const output = (id: string) => ({
      type: "conversation.item.create",
      item: { type: "function_call_output", call_id: id, output: '{"ok":true}' },
    });
    c.send(output(callId));
    c.send(output("call_unknown"));
    c.send({ type: "conversation.item.create", item: { type: "function_call_output" } });
    // A function_call_output starts no response.
    await c.roundTrip();
    expect(conn.functionOutputs).toMatchObject([
      { callId, output: '{"ok":true}', accepted: true },
      { callId: "call_unknown", accepted: false },
    ]);
    const added = await c.waitFor("conversation.item.added", (e) => {
      const item = e.item as JsonLike;
      return item.type === "function_call_output";
    });
    expect(added).toMatchObject({
      previous_item_id: conn.functionCalls[0]!.itemId,
      item: { type: "function_call_output", call_id: callId, output: '{"ok":true}' },
    });
    expect(c.ofType("conversation.item.done")).toHaveLength(1);
    expect(c.ofType("error").map((e) => (e.error as JsonLike).param)).toEqual([
      "item.call_id",
      "item.call_id",
    ]);
    expect(c.ofType("response.created")).toHaveLength(1);
  });
});

describe("FakeRealtimeServer fault modes", () => {
  it("refuses upgrades with the configured status until the fault is switched off", async () => {
    const server = await startServer({ fault: { kind: "refuse-upgrade", status: 500 } });
    await expect(connect(server)).rejects.toThrow("HTTP 500");
    server.setFault({ kind: "none" });
    const c = await connect(server);
    await c.waitFor("session.created");
    expect(server.rejectedUpgrades.map((r) => r.status)).toEqual([500]);
  });

  it("closes with 1011 after the configured number of appends", async () => {
    const server = await startServer({ fault: { kind: "close-after-appends", appends: 3 } });
    const c = await connect(server);
    appendAll(c, silence(200, REALTIME_RATE));
    expect((await c.closed).code).toBe(1011);
    expect(server.connections[0]!.appendCount).toBe(3);
  });

  it("closes with the configured code after a delay", async () => {
    const server = await startServer({ fault: { kind: "close-after-ms", ms: 20, code: 1013 } });
    const c = await connect(server);
    expect((await c.closed).code).toBe(1013);
  });

  it("switches a live connection to a new fault at runtime", async () => {
    const server = await startServer();
    const c = await connect(server);
    appendAll(c, silence(100, REALTIME_RATE));
    await c.roundTrip();
    server.setFault({ kind: "close-after-appends", appends: 2 });
    appendAll(c, silence(100, REALTIME_RATE));
    expect((await c.closed).code).toBe(1011);
    expect(server.connections[0]!.appendCount).toBe(7);
  });

  it("sends error events after and then every N appends", async () => {
    const server = await startServer({
      fault: {
        kind: "error-events",
        afterAppends: 2,
        everyAppends: 2,
        error: { type: "server_error", code: "overloaded", message: "busy" },
      },
    });
    const c = await connect(server);
    appendAll(c, silence(120, REALTIME_RATE));
    await c.roundTrip();
    const errors = c.ofType("error").map((e) => e.error);
    expect(errors).toEqual([
      expect.objectContaining({ code: "overloaded" }),
      expect.objectContaining({ code: "overloaded" }),
      expect.objectContaining({ code: "overloaded" }),
    ]);
  });

  it("goes silent: accepts and records everything but never answers", async () => {
    const server = await startServer({ fault: { kind: "silent" } });
    const c = await connect(server);
    c.send({ type: "session.update", session: GA_SESSION });
    appendAll(c, concat(tone(300, 1000, REALTIME_RATE, 0.3), silence(1000, REALTIME_RATE)));
    c.send({ type: "response.create" });
    await c.roundTrip();
    expect(c.events).toEqual([]);
    const conn = server.connections[0]!;
    expect(conn.appendCount).toBe(100);
    expect(conn.eventsOfType("response.create")).toHaveLength(1);
  });

  it("mixes garbage frames into an otherwise working session", async () => {
    const server = await startServer({ fault: { kind: "garbage", everyAppends: 5 } });
    const c = await connect(server);
    c.send({ type: "session.update", session: GA_SESSION });
    appendAll(c, silence(100, REALTIME_RATE));
    await c.waitFor("session.updated");
    await c.roundTrip();
    expect(c.garbage).toEqual([
      "this is not json {",
      "[1,2,3]",
      "<binary>",
      "this is not json {",
      "[1,2,3]",
      "<binary>",
    ]);
    expect(c.ofType("fake.unknown_event_type")).toHaveLength(2);
  });

  it("expires the session with session_expired and a 1001 close", async () => {
    const server = await startServer({ fault: { kind: "session-expiry", afterAppends: 2 } });
    const c = await connect(server);
    appendAll(c, silence(100, REALTIME_RATE));
    const closed = await c.closed;
    expect(closed.code).toBe(1001);
    expect(c.ofType("error")[0]!.error).toMatchObject({
      type: "invalid_request_error",
      code: "session_expired",
    });
  });
});
