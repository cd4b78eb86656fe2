import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type ParsedFrame,
  parseTwilioFrame,
  TwilioFrame,
} from "../../src/adapters/twilio/twilio-frames.ts";
import {
  anyString,
  hostileJson,
  structurallyMutated,
  textuallyMutated,
  toJsonText,
} from "../support/fuzz-arbitraries.ts";

const EVENTS = ["connected", "start", "media", "mark", "dtmf", "stop"];
const FAILURE_KINDS = ["malformed_json", "invalid_frame", "unknown_event"];
const STREAM_SID = /^[A-Za-z0-9_-]{1,64}$/;

const sid = fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/);

/** Frames exactly as Twilio's documentation shapes them (schema fields only). */
const validFrame = fc.oneof(
  fc.constant({ event: "connected" }),
  fc.record({
    event: fc.constant("start"),
    streamSid: sid,
    start: fc.record(
      {
        streamSid: sid,
        accountSid: fc.string({ maxLength: 64 }),
        callSid: fc.string({ maxLength: 64 }),
        tracks: fc.array(fc.constantFrom("inbound", "outbound"), { maxLength: 2 }),
        // zod drops a "__proto__" key (prototype-pollution safety), so a valid frame never has one.
        customParameters: fc.dictionary(
          fc.string({ maxLength: 16 }).filter((key) => key !== "__proto__"),
          fc.string({ maxLength: 32 }),
        ),
        mediaFormat: fc.record({
          encoding: fc.constant("audio/x-mulaw"),
          sampleRate: fc.constant(8000),
          channels: fc.constant(1),
        }),
      },
      { requiredKeys: [] },
    ),
  }),
  fc.record({
    event: fc.constant("media"),
    media: fc.record(
      {
        payload: fc.base64String({ maxLength: 216 }),
        track: fc.constant("inbound"),
        chunk: fc.nat().map(String),
        timestamp: fc.nat().map(String),
      },
      { requiredKeys: ["payload"] },
    ),
  }),
  fc.record({
    event: fc.constant("mark"),
    mark: fc.record({ name: fc.string({ maxLength: 32 }) }),
  }),
  fc.record({
    event: fc.constant("dtmf"),
    dtmf: fc.record({
      digit: fc.constantFrom(..."0123456789*#"),
      track: fc.constant("inbound_track"),
    }),
  }),
  fc.constant({ event: "stop" }),
);

/** What every answer must look like, whatever went in. */
function expectTyped(result: ParsedFrame): void {
  if (result.ok) {
    expect(EVENTS).toContain(result.frame.event);
    if (result.frame.event === "start") expect(result.frame.streamSid).toMatch(STREAM_SID);
    if (result.frame.event === "media") expect(typeof result.frame.media.payload).toBe("string");
    return;
  }
  expect(FAILURE_KINDS).toContain(result.kind);
  expect(typeof result.message).toBe("string");
  // Errors are logged: they quote at most a bounded piece of what the peer sent.
  expect(result.message.length).toBeLessThan(400);
}

function parseOrFail(text: string): ParsedFrame {
  let result: ParsedFrame | undefined;
  expect(() => {
    result = parseTwilioFrame(text);
  }).not.toThrow();
  return result!;
}

describe("parseTwilioFrame under random and damaged input", () => {
  it("accepts every frame shaped as Twilio documents it, unchanged", () => {
    fc.assert(
      fc.property(validFrame, (frame) => {
        const result = parseOrFail(JSON.stringify(frame));
        expect(result).toEqual({ ok: true, frame });
      }),
      { numRuns: 500 },
    );
  });

  it("answers any text at all with a typed frame or a typed error, never a throw", () => {
    fc.assert(
      fc.property(fc.oneof(anyString(200), fc.json(), fc.string({ unit: "binary" })), (text) => {
        expectTyped(parseOrFail(text));
      }),
      { numRuns: 1000 },
    );
  });

  it("answers frames damaged as text (cut, spliced, flipped) with a typed result", () => {
    const damaged = validFrame.chain((frame) => textuallyMutated(JSON.stringify(frame)));
    fc.assert(
      fc.property(damaged, (text) => expectTyped(parseOrFail(text))),
      { numRuns: 1000 },
    );
  });

  it("answers frames damaged in structure (values swapped for hostile JSON) with a typed result", () => {
    const damaged = validFrame.chain((frame) => structurallyMutated(frame));
    fc.assert(
      fc.property(damaged, (value) => expectTyped(parseOrFail(toJsonText(value)))),
      { numRuns: 1000 },
    );
  });

  it("takes media frames on its fast path exactly as the schema would, damaged or not", () => {
    const media = validFrame
      .filter((f) => f.event === "media")
      .chain((f) => fc.oneof(fc.constant<unknown>(f), structurallyMutated(f)));
    fc.assert(
      fc.property(media, (value) => {
        const text = toJsonText(value);
        const bySchema = TwilioFrame.safeParse(JSON.parse(text));
        const result = parseOrFail(text);
        if (bySchema.success) expect(result).toEqual({ ok: true, frame: bySchema.data });
        else expect(result.ok).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it("names a non-string event as unknown, even one whose toString is not a function", () => {
    for (const event of [{ toString: 1 }, { valueOf: {}, toString: {} }, [1], null, 7, ["media"]]) {
      const result = parseOrFail(JSON.stringify({ event, media: { payload: "" } }));
      expect(result).toMatchObject({ ok: false, kind: "unknown_event" });
    }
    fc.assert(
      fc.property(hostileJson(), (event) => {
        const result = parseOrFail(toJsonText({ event }));
        expectTyped(result);
        if (typeof event !== "string") expect(result).toMatchObject({ ok: false });
      }),
      { numRuns: 500 },
    );
  });

  it("accepts a start only for a streamSid that can safely become a file name", () => {
    fc.assert(
      fc.property(fc.oneof(sid, anyString(80)), (streamSid) => {
        const result = parseOrFail(JSON.stringify({ event: "start", streamSid, start: {} }));
        expect(result.ok).toBe(STREAM_SID.test(streamSid));
      }),
      { numRuns: 1000 },
    );
  });
});
