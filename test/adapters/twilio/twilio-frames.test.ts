import { describe, expect, it } from "vitest";
import {
  type ParsedFrame,
  parseTwilioFrame,
  TwilioFrame,
} from "../../../src/adapters/twilio/twilio-frames.ts";

/**
 * Messages as Twilio documents them:
 * https://www.twilio.com/docs/voice/media-streams/websocket-messages
 */
const SID = "MZ18ad3ab5a668481ce02b83e7395059f0";
const connected = { event: "connected", protocol: "Call", version: "1.0.0" };
const start = {
  event: "start",
  sequenceNumber: "1",
  start: {
    accountSid: "AC123",
    streamSid: SID,
    callSid: "CA123",
    tracks: ["inbound"],
    mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
    customParameters: { caller: "+15551234567", callSid: "CA123" },
  },
  streamSid: SID,
};
const media = {
  event: "media",
  sequenceNumber: "3",
  media: { track: "inbound", chunk: "1", timestamp: "5", payload: "no+JhoaJjpz/" },
  streamSid: SID,
};
const mark = { event: "mark", sequenceNumber: "4", streamSid: SID, mark: { name: "my label" } };
const dtmf = {
  event: "dtmf",
  streamSid: SID,
  sequenceNumber: "5",
  dtmf: { track: "inbound_track", digit: "1" },
};
const stop = {
  event: "stop",
  sequenceNumber: "5",
  stop: { accountSid: "AC123", callSid: "CA123" },
  streamSid: SID,
};

const parse = (value: unknown): ParsedFrame => parseTwilioFrame(JSON.stringify(value));

function failure(parsed: ParsedFrame) {
  if (parsed.ok) throw new Error(`expected a failure, got ${JSON.stringify(parsed.frame)}`);
  return parsed;
}

describe("parseTwilioFrame: Twilio's messages", () => {
  it("parses connected", () => {
    expect(parse(connected)).toEqual({ ok: true, frame: { event: "connected" } });
  });

  it("parses start with its stream, call, format and custom parameters", () => {
    const parsed = parse(start);
    expect(parsed).toMatchObject({
      ok: true,
      frame: {
        event: "start",
        streamSid: SID,
        start: {
          callSid: "CA123",
          accountSid: "AC123",
          tracks: ["inbound"],
          mediaFormat: { encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 },
          customParameters: { caller: "+15551234567", callSid: "CA123" },
        },
      },
    });
  });

  it("parses start without the optional fields", () => {
    expect(parse({ event: "start", streamSid: SID, start: {} })).toMatchObject({ ok: true });
  });

  it("parses media", () => {
    expect(parse(media)).toMatchObject({
      ok: true,
      frame: { event: "media", media: { payload: "no+JhoaJjpz/", track: "inbound" } },
    });
  });

  it("parses mark, dtmf and stop", () => {
    expect(parse(mark)).toMatchObject({ ok: true, frame: { mark: { name: "my label" } } });
    expect(parse(dtmf)).toMatchObject({ ok: true, frame: { dtmf: { digit: "1" } } });
    expect(parse(stop)).toEqual({ ok: true, frame: { event: "stop" } });
  });
});

describe("parseTwilioFrame: the fast paths give what the schema gives", () => {
  it("takes a plain mark echo as zod would, extra keys dropped", () => {
    const echo = {
      event: "mark",
      sequenceNumber: "4",
      streamSid: SID,
      mark: { name: "cb-12", extra: true },
    };
    expect(parse(echo)).toEqual({ ok: true, frame: TwilioFrame.parse(echo) });
    expect(parse(echo)).toEqual({ ok: true, frame: { event: "mark", mark: { name: "cb-12" } } });
    const longest = { event: "mark", mark: { name: "n".repeat(256) } };
    expect(parse(longest)).toEqual({ ok: true, frame: TwilioFrame.parse(longest) });
  });
});

describe("parseTwilioFrame: what is not Twilio's protocol", () => {
  it("reports text that is not JSON as malformed", () => {
    for (const text of ["", "{", "not json", '{"event":"media",}', "\u0000"]) {
      expect(failure(parseTwilioFrame(text)).kind).toBe("malformed_json");
    }
  });

  it("reports JSON that is not an object with a known event as an unknown event", () => {
    for (const value of [null, 42, "media", [], [media], {}, { event: "hello" }, { event: 7 }]) {
      expect(failure(parse(value)).kind).toBe("unknown_event");
    }
    expect(failure(parse({ event: "clear", streamSid: SID })).kind).toBe("unknown_event");
  });

  it("quotes at most 32 characters of an unknown event name", () => {
    const parsed = failure(parse({ event: "x".repeat(10_000) }));
    expect(parsed.message.length).toBeLessThan(60);
  });

  it("reports a known event with the wrong shape as invalid, naming the field", () => {
    const cases: [unknown, string][] = [
      [{ event: "media", streamSid: SID }, "media"],
      [{ event: "media", media: { payload: 42 } }, "media.payload"],
      [{ event: "media", media: {} }, "media.payload"],
      [{ event: "mark", mark: {} }, "mark.name"],
      [{ event: "mark", mark: { name: "x".repeat(257) } }, "mark.name"],
      [{ event: "dtmf", dtmf: { digit: "123456789" } }, "dtmf.digit"],
      [{ event: "start", streamSid: SID }, "start"],
      [{ ...start, start: { ...start.start, callSid: 42 } }, "start.callSid"],
      [{ ...start, start: { ...start.start, callSid: "C".repeat(65) } }, "start.callSid"],
      [{ ...start, start: { ...start.start, customParameters: { a: 1 } } }, "customParameters"],
      [
        { ...start, start: { ...start.start, customParameters: { a: "v".repeat(4097) } } },
        "customParameters",
      ],
      [{ ...start, start: { ...start.start, tracks: "inbound" } }, "start.tracks"],
    ];
    for (const [value, field] of cases) {
      const parsed = failure(parse(value));
      expect(parsed.kind, JSON.stringify(value).slice(0, 80)).toBe("invalid_frame");
      expect(parsed.message).toContain(field);
    }
  });

  it("refuses a start whose streamSid could not be a safe file name", () => {
    for (const streamSid of [
      "../../x",
      "a/b",
      "a\\b",
      "MZ.wav",
      "",
      " MZ1",
      "MZ1\n",
      "M".repeat(65),
      "é",
      42,
      null,
    ]) {
      const parsed = failure(parse({ ...start, streamSid }));
      expect(parsed.kind, String(streamSid)).toBe("invalid_frame");
      expect(parsed.message).toContain("streamSid");
    }
    expect(failure(parse({ event: "start", start: start.start })).kind).toBe("invalid_frame");
  });

  it("accepts a streamSid of exactly 64 allowed characters", () => {
    const streamSid = `${"a".repeat(30)}_-${"Z9".repeat(16)}`;
    expect(streamSid).toHaveLength(64);
    expect(parse({ ...start, streamSid })).toMatchObject({ ok: true, frame: { streamSid } });
  });

  it("keeps a __proto__ custom parameter from changing the parameters' prototype", () => {
    const text = JSON.stringify(start).replace(
      '"customParameters":{',
      '"customParameters":{"__proto__":{"polluted":"yes"},',
    );
    const parsed = parseTwilioFrame(text);
    if (!parsed.ok || parsed.frame.event !== "start") throw new Error("expected a start frame");
    const params = parsed.frame.start.customParameters ?? {};
    expect(Object.getPrototypeOf(params)).toBe(Object.prototype);
    expect(params).toEqual(start.start.customParameters);
    expect("polluted" in params).toBe(false);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
