import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  END_CALL_ACCEPTED,
  END_CALL_TOOL,
  endCallReason,
} from "../../../src/application/bridge/assistant-hang-up.ts";
import type { ResponseOutcome } from "../../../src/application/ports/index.ts";
import {
  flush,
  SessionHarness,
  type SessionUnderTest,
  START_TIME,
} from "../../support/session-harness.ts";

/**
 * The assistant hangs up (ASSISTANT_HANG_UP, issue 20): the model calls end_call, the session
 * answers it, waits until Twilio has played the goodbye (its marks), then closes the stream.
 */

let h: SessionHarness;

beforeEach(() => {
  vi.useFakeTimers({ now: START_TIME });
  h = new SessionHarness();
});

afterEach(() => {
  vi.useRealTimers();
});

const ACCEPTED = JSON.parse(END_CALL_ACCEPTED) as unknown;
const done = (...itemIds: string[]): ResponseOutcome => ({
  status: "completed",
  reason: null,
  errorCode: null,
  itemIds,
});

/** A live call whose assistant has just said a 600 ms goodbye (six deltas, seven marks). */
async function saidGoodbye(options: Parameters<SessionHarness["session"]>[0] = {}) {
  const s = h.session({ assistantHangUp: true, ...options });
  await s.start();
  s.connection.ready();
  s.speech(25);
  s.answer("out1", 600);
  s.connection.audioDone("out1");
  s.connection.assistantTranscript("out1", "Thanks for calling. Goodbye!");
  return s;
}

/** What the adapter does once the stream has closed: the session's end, already under way. */
async function ended(s: SessionUnderTest) {
  await s.session.stop("socket_closed");
  return s.call();
}

describe("the end_call tool", () => {
  it("is declared in the session only with ASSISTANT_HANG_UP on", async () => {
    const on = h.session({ assistantHangUp: true });
    await on.start();
    expect(on.connection.options.tools).toEqual([END_CALL_TOOL]);
    expect(END_CALL_TOOL).toMatchObject({
      name: "end_call",
      parameters: {
        type: "object",
        properties: { reason: { type: "string" } },
        additionalProperties: false,
      },
    });
    const off = h.session();
    off.streamSid = "MZ00000000000000000000000000000002";
    await off.start();
    expect(off.connection.options.tools).toBeUndefined();
  });

  it.each([
    ['{"reason":"  caller said\\n goodbye "}', "caller said goodbye"],
    ['{"reason":""}', null],
    ['{"reason":42}', null],
    ["{}", null],
    ["not json", null],
    ["null", null],
    [JSON.stringify({ reason: "x".repeat(500) }), "x".repeat(200)],
  ])("reads the reason of %s as %s", (args, reason) => {
    expect(endCallReason(args)).toBe(reason);
  });
});

describe("CallSession: the assistant hangs up", () => {
  it("answers at once, waits for the response and its last mark, then ends the call as assistant_ended", async () => {
    const s = await saidGoodbye();
    s.connection.functionCall("call_1", "end_call", { reason: "the caller said goodbye" });
    expect(s.connection.outputsFor("call_1")).toEqual([ACCEPTED]);
    const marks = s.output.marks();
    expect(marks.length).toBeGreaterThan(2);
    // Twilio has played all but the last of the goodbye when the response ends.
    for (const name of marks.slice(0, -1)) s.session.mark(name);
    s.connection.responseDone(done("out1", "fc_1"));
    await flush();
    expect(s.output.closed).toBe(false);
    // A second call of the tool is answered and changes nothing.
    s.connection.functionCall("call_2", "end_call", {});
    expect(s.connection.outputsFor("call_2")).toEqual([ACCEPTED]);
    expect(s.output.closed).toBe(false);

    s.session.mark(marks.at(-1)!);
    expect(s.output.closed).toBe(true);
    const call = await ended(s);
    expect(call).toMatchObject({ status: "completed", endReason: "assistant_ended" });
    expect((await s.metadata())?.customData).toMatchObject({
      endReason: "assistant_ended",
      assistantHangUp: { reason: "the caller said goodbye" },
    });
    expect(await s.transcripts()).toMatchObject([
      { speaker: "assistant", text: "Thanks for calling. Goodbye!", interrupted: false },
    ]);
    expect(h.logger.withMessage("the assistant is hanging up")).toHaveLength(1);
    expect(s.output.sentAfterClose).toBe(0);
  });

  it("waits for the response's end even when every mark has come back", async () => {
    const s = await saidGoodbye();
    for (const name of s.output.marks()) s.session.mark(name);
    s.connection.functionCall("call_1", "end_call");
    await vi.advanceTimersByTimeAsync(1000);
    expect(s.output.closed).toBe(false);
    s.connection.responseDone(done("out1", "fc_1"));
    expect(s.output.closed).toBe(true);
    expect(await ended(s)).toMatchObject({ endReason: "assistant_ended" });
    expect((await s.metadata())?.customData?.assistantHangUp).toEqual({ reason: null });
  });

  it("hangs up at the response's end when it said nothing more", async () => {
    const s = h.session({ assistantHangUp: true });
    await s.start();
    s.connection.ready();
    s.speech(10);
    s.connection.functionCall("call_1", "end_call", { reason: "silence" });
    s.connection.responseDone(done("fc_1"));
    expect(s.output.closed).toBe(true);
    expect(await ended(s)).toMatchObject({ status: "completed", endReason: "assistant_ended" });
  });

  it("does not wait for the audio of a later response", async () => {
    const s = await saidGoodbye();
    const goodbye = s.output.marks();
    s.connection.functionCall("call_1", "end_call");
    s.connection.responseDone(done("out1", "fc_1"));
    // Another response starts talking before the goodbye has played.
    s.answer("out2", 400);
    for (const name of goodbye) s.session.mark(name);
    expect(s.output.closed).toBe(true);
  });

  it("a line that never echoes marks: hangs up after the audio queued and the grace", async () => {
    const s = await saidGoodbye({ hangUpGraceMs: 2000 });
    s.connection.functionCall("call_1", "end_call");
    s.connection.responseDone(done("out1", "fc_1"));
    // About 600 ms of goodbye is queued (no caller frame has played any of it), plus 2 s.
    await vi.advanceTimersByTimeAsync(2500);
    expect(s.output.closed).toBe(false);
    await vi.advanceTimersByTimeAsync(200);
    expect(s.output.closed).toBe(true);
    expect(await ended(s)).toMatchObject({ endReason: "assistant_ended" });
    const [warned] = h.logger.withMessage(
      "the assistant's last words were not confirmed in time; hanging up anyway",
    );
    expect(warned?.fields).toMatchObject({ waitingFor: "marks" });
  });

  it("a response that never ends: hangs up once the wait from the call runs out", async () => {
    const s = await saidGoodbye({ hangUpGraceMs: 1000 });
    s.connection.functionCall("call_1", "end_call");
    await vi.advanceTimersByTimeAsync(1700);
    expect(s.output.closed).toBe(true);
    const [warned] = h.logger.withMessage(
      "the assistant's last words were not confirmed in time; hanging up anyway",
    );
    expect(warned?.fields).toMatchObject({ waitingFor: "response" });
  });

  it("the caller hanging up during the wait is caller_hung_up, and nothing closes later", async () => {
    const s = await saidGoodbye();
    s.connection.functionCall("call_1", "end_call", { reason: "done" });
    s.connection.responseDone(done("out1", "fc_1"));
    await s.session.stop("stop");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.output.closeCalls).toBe(0);
    expect(await s.call()).toMatchObject({ status: "completed", endReason: "caller_hung_up" });
    // What the assistant meant to do stays with the call.
    expect((await s.metadata())?.customData).toMatchObject({
      endReason: "stop",
      assistantHangUp: { reason: "done" },
    });
  });

  it("a barge-in during the wait drops the rest of the goodbye and hangs up", async () => {
    const s = await saidGoodbye();
    s.connection.functionCall("call_1", "end_call");
    s.connection.responseDone(done("out1", "fc_1"));
    s.session.mark(s.output.marks()[0]!);
    expect(s.output.closed).toBe(false);
    s.connection.speechStarted("in2", 700);
    expect(s.output.clears).toBe(1);
    expect(s.output.closed).toBe(true);
    expect(await ended(s)).toMatchObject({ endReason: "assistant_ended" });
  });

  it("an unknown function gets an error answer and the call goes on", async () => {
    const s = await saidGoodbye();
    s.connection.functionCall("call_9", "lookup_order", { order: "A1" });
    expect(s.connection.outputsFor("call_9")).toEqual([
      { ok: false, error: "there is no function lookup_order" },
    ]);
    expect(s.metrics.upstreamErrors).toContain("unknown_function");
    const [warned] = h.logger.withMessage("the assistant called a function it does not have");
    expect(warned).toMatchObject({ level: "warn", fields: { name: "lookup_order" } });
    s.connection.responseDone(done("out1", "fc_9"));
    for (const name of s.output.marks()) s.session.mark(name);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.output.closed).toBe(false);
    s.speech(5);
    expect(s.metrics.framesIn).toBe(30);
    await s.session.stop("stop");
    expect(await s.call()).toMatchObject({ endReason: "caller_hung_up" });
    expect((await s.metadata())?.customData?.assistantHangUp).toBeUndefined();
  });

  it("with ASSISTANT_HANG_UP off, end_call is a function the session does not have", async () => {
    const s = await saidGoodbye({ assistantHangUp: false });
    s.connection.functionCall("call_1", "end_call");
    expect(s.connection.outputsFor("call_1")).toEqual([
      { ok: false, error: "there is no function end_call" },
    ]);
    s.connection.responseDone(done("out1", "fc_1"));
    for (const name of s.output.marks()) s.session.mark(name);
    await vi.advanceTimersByTimeAsync(10_000);
    expect(s.output.closed).toBe(false);
  });

  it("an end_call that comes while the call is already ending is not answered", async () => {
    const s = await saidGoodbye({ modelDrainMs: 3000 });
    const stopping = s.session.stop("stop");
    s.connection.functionCall("call_1", "end_call");
    s.connection.drained();
    await stopping;
    expect(s.connection.functionOutputs).toEqual([]);
    expect(await s.call()).toMatchObject({ endReason: "caller_hung_up" });
  });
});
