import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { scanMediaFrame } from "../../src/adapters/twilio/media-frame-scanner.ts";
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

/** What the JSON path hands the session for `text`: the payload and timestamp, or null. */
function viaJson(text: string): { payload: string; timestampMs: number | null } | null {
  const result = parseTwilioFrame(text);
  if (!result.ok || result.frame.event !== "media") return null;
  const raw = result.frame.media.timestamp;
  const ms = raw === undefined ? null : Number(raw);
  return {
    payload: result.frame.media.payload,
    timestampMs: ms === null || !Number.isFinite(ms) ? null : ms,
  };
}

function expectScanAgrees(text: string): void {
  const bytes = Buffer.from(text, "utf8");
  const scanned = scanMediaFrame(bytes);
  if (scanned === null) return; // the JSON path decides, as before
  // The route's JSON path reads the message's bytes as UTF-8 (a lone surrogate in `text` has
  // already become U+FFFD in them, as it would on the wire).
  const json = viaJson(bytes.toString("utf8"));
  expect(json).not.toBeNull();
  expect(bytes.subarray(scanned.payloadStart, scanned.payloadEnd).toString("utf8")).toBe(
    json!.payload,
  );
  expect(scanned.timestampMs).toBe(json!.timestampMs);
}

describe("scanMediaFrame (media frames read from their bytes)", () => {
  const twilioMedia = fc.record({
    event: fc.constant("media"),
    sequenceNumber: fc.nat().map(String),
    media: fc.record({
      track: fc.constant("inbound"),
      chunk: fc.nat().map(String),
      timestamp: fc.nat().map(String),
      payload: fc.base64String({ maxLength: 216 }),
    }),
    streamSid: sid,
  });

  it("reads every frame Twilio sends, with the payload and timestamp the JSON path gives", () => {
    fc.assert(
      fc.property(twilioMedia, (frame) => {
        const text = JSON.stringify(frame);
        const scanned = scanMediaFrame(Buffer.from(text));
        expect(scanned).not.toBeNull();
        expectScanAgrees(text);
      }),
      { numRuns: 1000 },
    );
  });

  it("never takes a frame the JSON path would refuse or read differently", () => {
    const texts = fc.oneof(
      twilioMedia.chain((f) => textuallyMutated(JSON.stringify(f))),
      twilioMedia.chain((f) => structurallyMutated(f)).map(toJsonText),
      validFrame.map((f) => JSON.stringify(f)),
      validFrame.chain((f) => textuallyMutated(JSON.stringify(f))),
      anyString(200),
      fc.json(),
    );
    fc.assert(fc.property(texts, expectScanAgrees), { numRuns: 5000 });
  });

  it("follows JSON.parse on the cases where a scanner could go wrong", () => {
    const cases = [
      '{"event":"media","media":{"payload":"AAAA"}}',
      ' \n{ "event" : "media" , "media" : { "payload" : "AAAA" , "timestamp" : "20" } }\t',
      // Repeated keys: the last one counts.
      '{"event":"media","media":{"payload":"AAAA"},"media":{"payload":"BBBB"}}',
      '{"event":"media","event":"stop","media":{"payload":"AAAA"}}',
      '{"event":"stop","event":"media","media":{"payload":"AAAA"}}',
      '{"event":"media","media":{"payload":"AAAA","payload":"CCCC"}}',
      // Timestamps JSON would read as numbers, or not.
      '{"event":"media","media":{"payload":"","timestamp":""}}',
      '{"event":"media","media":{"payload":"","timestamp":"007"}}',
      '{"event":"media","media":{"payload":"","timestamp":" 12 "}}',
      '{"event":"media","media":{"payload":"","timestamp":"1e3"}}',
      '{"event":"media","media":{"payload":"","timestamp":"abc"}}',
      '{"event":"media","media":{"payload":"","timestamp":"99999999999999999999"}}',
      // Not for the scanner: escapes, numbers, arrays, trailing garbage, missing parts.
      '{"event":"med\\u0069a","media":{"payload":"AAAA"}}',
      '{"event":"media","media":{"payload":"AA\\/A"}}',
      '{"event":"media","seq":1,"media":{"payload":"AAAA"}}',
      '{"event":"media","media":[{"payload":"AAAA"}]}',
      '{"event":"media","media":{"payload":"AAAA"}}x',
      '{"event":"media","media":{"payload":"AAAA"},}',
      '{"event":"media","media":{"payload":"AAAA"}',
      '{"event":"media","media":{}}',
      '{"event":"media"}',
      '{"media":{"payload":"AAAA"}}',
      '{"event":"media","media":{"payload":"AAAA"}}{}',
      '{"event":"media","media":{"payload":"ÀÀÀÀ"}}',
    ];
    for (const text of cases) expectScanAgrees(text);
    expect(scanMediaFrame(Buffer.from(cases[0]!))).not.toBeNull();
    expect(scanMediaFrame(Buffer.from(cases[2]!))?.payloadStart).toBe(cases[2]!.indexOf("BBBB"));
  });
});
