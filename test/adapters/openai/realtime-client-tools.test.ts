import { afterEach, describe, expect, it } from "vitest";
import {
  OpenAiRealtimeModel,
  sessionUpdate,
} from "../../../src/adapters/openai/realtime-client.ts";
import { parseServerEvent } from "../../../src/adapters/openai/realtime-events.ts";
import { END_CALL_TOOL } from "../../../src/application/bridge/assistant-hang-up.ts";
import type {
  FunctionCall,
  RealtimeConnection,
  RealtimeListener,
  RealtimeSessionOptions,
} from "../../../src/application/ports/index.ts";
import { FakeRealtimeServer } from "../../support/fake-openai-realtime.ts";

/**
 * The session's tools and the model's function calls, over the real client and the fake
 * Realtime server (issue 20: the assistant can hang up).
 */

const KEY = "sk-test-fake";
const OPTIONS: RealtimeSessionOptions = { voice: "alloy", instructions: "be brief" };

/** A listener that keeps the function calls and errors, and says when the session is ready. */
function listening() {
  const calls: FunctionCall[] = [];
  const errors: string[] = [];
  let ready: () => void = () => {};
  const isReady = new Promise<void>((resolve) => {
    ready = resolve;
  });
  const ignore = () => {};
  const listener: RealtimeListener = {
    onReady: () => ready(),
    onSpeechStarted: ignore,
    onSpeechStopped: ignore,
    onAudioDelta: ignore,
    onMuLawDelta: ignore,
    onAudioDone: ignore,
    onCallerTranscript: ignore,
    onCallerTranscriptFailed: ignore,
    onResponseDone: ignore,
    onAssistantTranscript: ignore,
    onUsage: ignore,
    onFunctionCall: (call) => calls.push(call),
    onError: (kind, message) => errors.push(`${kind}: ${message}`),
    onClosed: (kind, message) => errors.push(`closed ${kind}: ${message}`),
  };
  return { listener, calls, errors, isReady };
}

/** Polls until `check` holds: what the client hears, the fake's own waits cannot see. */
async function until(check: () => boolean, label: string): Promise<void> {
  const deadline = performance.now() + 5000;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

let fake: FakeRealtimeServer | null = null;
let connection: RealtimeConnection | null = null;

afterEach(async () => {
  connection?.close();
  connection = null;
  await fake?.close();
  fake = null;
});

async function connected(options: RealtimeSessionOptions = OPTIONS) {
  fake = await FakeRealtimeServer.start();
  const heard = listening();
  connection = new OpenAiRealtimeModel({ url: fake.url, apiKey: KEY }).connect(
    options,
    heard.listener,
  );
  await heard.isReady;
  return { ...heard, conn: await fake.waitForConnection(0), connection };
}

describe("session.update and the session's tools", () => {
  it("declares each tool as a function with tool_choice auto", () => {
    const update = JSON.parse(sessionUpdate({ ...OPTIONS, tools: [END_CALL_TOOL] }, "whisper-1"));
    expect(update.session.tools).toEqual([
      {
        type: "function",
        name: "end_call",
        description:
          "Hang up the phone call. Call it only after you have said goodbye, when the caller is done or asks to end the call.",
        parameters: {
          type: "object",
          properties: {
            reason: { type: "string", description: "Why the call is ending, in a few words." },
          },
          additionalProperties: false,
        },
      },
    ]);
    expect(update.session.tool_choice).toBe("auto");
  });

  it("says nothing of tools without any", () => {
    for (const tools of [undefined, []]) {
      const { session } = JSON.parse(sessionUpdate({ ...OPTIONS, tools }, "whisper-1"));
      expect(session).not.toHaveProperty("tools");
      expect(session).not.toHaveProperty("tool_choice");
    }
  });

  it("is accepted by the fake, which keeps the tools", async () => {
    const { conn, errors } = await connected({ ...OPTIONS, tools: [END_CALL_TOOL] });
    expect(conn.session.tools).toEqual([expect.objectContaining({ name: "end_call" })]);
    expect(conn.session.tool_choice).toBe("auto");
    expect(errors).toEqual([]);
  });
});

describe("the model's function calls", () => {
  it("hands a whole call over once, and answers it with a function_call_output", async () => {
    const { conn, calls, errors, connection } = await connected({
      ...OPTIONS,
      tools: [END_CALL_TOOL],
    });
    const callId = conn.respondWithFunctionCall("end_call", { reason: "bye" });
    await conn.waitForSent("response.done");
    await until(() => calls.length > 0, "the function call");
    expect(calls).toEqual([{ callId, name: "end_call", arguments: '{"reason":"bye"}' }]);
    connection.answerFunctionCall(callId, '{"ok":true}');
    const answer = await conn.waitFor(() => conn.functionOutputs[0]);
    expect(answer).toMatchObject({ callId, output: '{"ok":true}', accepted: true });
    expect(conn.eventsOfType("conversation.item.create").at(-1)).toEqual({
      type: "conversation.item.create",
      item: { type: "function_call_output", call_id: callId, output: '{"ok":true}' },
    });
    // The answer starts no response: only the call's own was created.
    expect(conn.sentOfType("response.created")).toHaveLength(1);
    expect(errors).toEqual([]);
  });

  it("passes over a cut call, and reports a completed one without a call_id", async () => {
    const { conn, calls, errors } = await connected();
    const item = { id: "item_1", type: "function_call", name: "end_call", arguments: "{}" };
    conn.send({
      type: "response.output_item.done",
      response_id: "resp_1",
      output_index: 0,
      item: { ...item, call_id: "call_1", status: "incomplete" },
    });
    conn.send({
      type: "response.output_item.done",
      response_id: "resp_1",
      output_index: 0,
      item: { ...item, status: "completed" },
    });
    await until(() => errors.length > 0, "the error");
    expect(calls).toEqual([]);
    expect(errors).toEqual(["invalid_event: a completed function_call item lacks call_id or name"]);
  });
});

describe("parseServerEvent: response.output_item.done", () => {
  it("takes a function_call item and an audio message item alike", () => {
    const call = {
      type: "response.output_item.done",
      response_id: "resp_1",
      output_index: 1,
      item: {
        id: "item_2",
        object: "realtime.item",
        type: "function_call",
        status: "completed",
        call_id: "call_1",
        name: "end_call",
        arguments: "{}",
      },
    };
    // Fields the bridge does not read (output_index) are left behind.
    const { output_index: _call, ...callRead } = call;
    expect(parseServerEvent(JSON.stringify(call))).toEqual({ ok: true, event: callRead });
    const message = {
      type: "response.output_item.done",
      response_id: "resp_1",
      output_index: 0,
      item: {
        id: "item_1",
        type: "message",
        role: "assistant",
        status: "completed",
        content: [{ type: "output_audio", transcript: "Goodbye!" }],
      },
    };
    const { output_index: _message, ...messageRead } = message;
    expect(parseServerEvent(JSON.stringify(message))).toEqual({ ok: true, event: messageRead });
  });

  it("refuses an item without a type, or a name that is not text", () => {
    const bad = (item: object) =>
      parseServerEvent(JSON.stringify({ type: "response.output_item.done", item }));
    expect(bad({ id: "item_1" })).toMatchObject({ ok: false, kind: "invalid_event" });
    expect(bad({ type: "function_call", name: 42 })).toMatchObject({
      ok: false,
      kind: "invalid_event",
    });
  });
});
