import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ParsedServerEvent,
  parseServerEvent,
  RealtimeServerEvent,
} from "../../src/adapters/openai/realtime-events.ts";
import {
  anyString,
  hostileJson,
  structurallyMutated,
  textuallyMutated,
  toJsonText,
} from "../support/fuzz-arbitraries.ts";

const HANDLED = RealtimeServerEvent.options.map((o) => o.shape.type.value as string);
const itemId = fc.stringMatching(/^item_[a-z0-9]{1,20}$/);
const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null });

/** Server events as the Realtime API sends them (the fields the bridge reads). */
const validEvent = fc.oneof(
  fc.constant({ type: "session.created" }),
  fc.constant({ type: "session.updated" }),
  fc.record({
    type: fc.constant("input_audio_buffer.speech_started"),
    audio_start_ms: fc.nat(),
    item_id: maybe(itemId),
  }),
  fc.record({
    type: fc.constant("input_audio_buffer.speech_stopped"),
    audio_end_ms: fc.nat(),
    item_id: maybe(itemId),
  }),
  fc.record({
    type: fc.constant("conversation.item.input_audio_transcription.completed"),
    item_id: itemId,
    transcript: fc.string(),
  }),
  fc.record({
    type: fc.constant("response.output_audio.delta"),
    item_id: itemId,
    delta: fc.base64String({ maxLength: 400 }),
  }),
  fc.record({ type: fc.constant("response.output_audio.done"), item_id: itemId }),
  fc.record({
    type: fc.constant("response.output_audio_transcript.done"),
    item_id: itemId,
    transcript: fc.string(),
  }),
  fc.record({
    type: fc.constant("response.output_item.done"),
    response_id: maybe(fc.string()),
    item: fc.record({
      type: fc.constantFrom("message", "function_call", "function_call_output"),
      id: maybe(itemId),
      status: maybe(fc.constantFrom("completed", "incomplete", "in_progress")),
      name: maybe(fc.string()),
      call_id: maybe(fc.string()),
      arguments: maybe(fc.string()),
    }),
  }),
  fc.record({
    type: fc.constant("response.done"),
    response: fc.record({
      // zod drops a record's `__proto__` key (no prototype pollution): not "as sent" by design.
      usage: maybe(
        fc.dictionary(
          fc.string({ maxLength: 12 }).filter((key) => key !== "__proto__"),
          fc.nat(),
        ),
      ),
    }),
  }),
  fc.record({
    type: fc.constant("error"),
    error: fc.record({
      type: maybe(fc.string()),
      code: maybe(fc.string()),
      message: maybe(fc.string()),
    }),
  }),
);

function expectTyped(result: ParsedServerEvent): void {
  if (result.ok === "ignored") return;
  if (result.ok) {
    expect(HANDLED).toContain(result.event.type);
    return;
  }
  expect(["malformed_event", "invalid_event"]).toContain(result.kind);
  expect(typeof result.message).toBe("string");
}

function parseOrFail(text: string): ParsedServerEvent {
  let result: ParsedServerEvent | undefined;
  expect(() => {
    result = parseServerEvent(text);
  }).not.toThrow();
  return result!;
}

describe("parseServerEvent under random and damaged input", () => {
  it("accepts every event the bridge handles, as sent", () => {
    fc.assert(
      fc.property(validEvent, (event) => {
        expect(parseOrFail(JSON.stringify(event))).toEqual({ ok: true, event });
      }),
      { numRuns: 500 },
    );
  });

  it("answers any text at all with a typed event, a typed error or 'ignored', never a throw", () => {
    fc.assert(
      fc.property(fc.oneof(anyString(200), fc.json()), (text) => expectTyped(parseOrFail(text))),
      { numRuns: 600 },
    );
  });

  it("answers events damaged as text with a typed result", () => {
    const damaged = validEvent.chain((event) => textuallyMutated(JSON.stringify(event)));
    fc.assert(
      fc.property(damaged, (text) => expectTyped(parseOrFail(text))),
      { numRuns: 800 },
    );
  });

  it("answers events damaged in structure with a typed result", () => {
    const damaged = validEvent.chain((event) => structurallyMutated(event));
    fc.assert(
      fc.property(damaged, (value) => expectTyped(parseOrFail(toJsonText(value)))),
      { numRuns: 800 },
    );
  });

  it("ignores every event type it does not handle, whatever its body", () => {
    const unknownType = anyString(40).filter((t) => !HANDLED.includes(t));
    fc.assert(
      fc.property(unknownType, hostileJson(), (type, body) => {
        expect(parseOrFail(toJsonText({ body, type }))).toEqual({ ok: "ignored" });
      }),
      { numRuns: 500 },
    );
  });

  it("takes a delta as the schema does, fast path or not", () => {
    const value = fc.oneof(fc.string({ maxLength: 20 }), fc.integer(), fc.constant(null));
    const delta = fc.record(
      { item_id: value, delta: value, response_id: value, extra: hostileJson() },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(delta, (body) => {
        const event = { ...body, type: "response.output_audio.delta" };
        const zod = RealtimeServerEvent.safeParse(event);
        const parsed = parseOrFail(JSON.stringify(event));
        if (zod.success) expect(parsed).toEqual({ ok: true, event: zod.data });
        else expect(parsed).toMatchObject({ ok: false, kind: "invalid_event" });
      }),
      { numRuns: 500 },
    );
  });

  it("parses a usage object nested far deeper than any stack without throwing", () => {
    const depth = 100_000;
    const text = `{"type":"response.done","response":{"usage":{"x":${"[".repeat(depth)}${"]".repeat(depth)}}}}`;
    expectTyped(parseOrFail(text));
  });
});
