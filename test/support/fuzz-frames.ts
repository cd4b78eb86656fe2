/**
 * Media-stream frames for the WebSocket fuzzer: valid Twilio messages in random order, damaged
 * ones, binary frames and frames far over the server's size limit.
 */
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import {
  anyString,
  structurallyMutated,
  textuallyMutated,
  toJsonText,
} from "./fuzz-arbitraries.ts";

export type FuzzFrame =
  | { kind: "text"; data: string }
  | { kind: "binary"; data: Buffer }
  /** Generated when sent (a megabyte per frame is too much to keep in a sample). */
  | { kind: "oversized"; bytes: number; binary: boolean };

export interface FrameContext {
  /** The streamSid this connection uses for its own call. */
  ownSid: string;
  /** A live call's streamSid that an impostor frame may claim (null: none). */
  victimSid: string | null;
}

const sidArb = (ctx: FrameContext) =>
  fc.oneof(
    { weight: 6, arbitrary: fc.constant(ctx.ownSid) },
    { weight: 1, arbitrary: fc.stringMatching(/^MZ[a-f0-9]{8}$/) },
    { weight: 1, arbitrary: anyString(70) },
    { weight: ctx.victimSid === null ? 0 : 1, arbitrary: fc.constant(ctx.victimSid ?? "") },
  );

const payloadArb = fc
  .oneof(
    { weight: 6, arbitrary: fc.constant(160) },
    { weight: 2, arbitrary: fc.nat(400) },
    { weight: 1, arbitrary: fc.integer({ min: 16_000, max: 16_500 }) },
  )
  .map((n) => randomBytes(n).toString("base64"));

function validFrames(ctx: FrameContext): fc.Arbitrary<Record<string, unknown>> {
  const sid = sidArb(ctx);
  return fc.oneof(
    {
      weight: 1,
      arbitrary: fc.constant({ event: "connected", protocol: "Call", version: "1.0.0" }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        event: fc.constant("start"),
        streamSid: sid,
        start: fc.record({
          streamSid: sid,
          callSid: fc.stringMatching(/^CA[a-f0-9]{8}$/),
          tracks: fc.constant(["inbound"]),
          customParameters: fc.dictionary(
            fc.string({ maxLength: 12 }),
            fc.string({ maxLength: 40 }),
            {
              maxKeys: 4,
            },
          ),
          mediaFormat: fc.constant({ encoding: "audio/x-mulaw", sampleRate: 8000, channels: 1 }),
        }),
      }),
    },
    {
      weight: 10,
      arbitrary: fc.record({
        event: fc.constant("media"),
        streamSid: sid,
        media: fc.record({
          track: fc.constant("inbound"),
          chunk: fc.nat().map(String),
          timestamp: fc.oneof(fc.nat().map(String), anyString(12)),
          payload: payloadArb,
        }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        event: fc.constant("mark"),
        streamSid: sid,
        mark: fc.record({ name: fc.oneof(fc.constant("cb-1"), anyString(20)) }),
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        event: fc.constant("dtmf"),
        streamSid: sid,
        dtmf: fc.record({ digit: fc.oneof(fc.constantFrom(..."0123456789*#"), anyString(8)) }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ event: fc.constant("stop"), streamSid: sid }) },
  );
}

/** One frame of any kind; valid frames in random order are what "out of order" means here. */
export function frameArbitrary(ctx: FrameContext): fc.Arbitrary<FuzzFrame> {
  const valid = validFrames(ctx);
  const text = (arb: fc.Arbitrary<string>) =>
    arb.map((data): FuzzFrame => ({ kind: "text", data }));
  return fc.oneof(
    { weight: 40, arbitrary: text(valid.map((f) => JSON.stringify(f))) },
    { weight: 10, arbitrary: text(valid.chain((f) => textuallyMutated(JSON.stringify(f)))) },
    { weight: 10, arbitrary: text(valid.chain((f) => structurallyMutated(f)).map(toJsonText)) },
    {
      weight: 6,
      arbitrary: text(
        valid.chain((f) => {
          const json = JSON.stringify(f);
          return fc.nat({ max: Math.max(0, json.length - 1) }).map((n) => json.slice(0, n));
        }),
      ),
    },
    { weight: 6, arbitrary: text(fc.oneof(anyString(300), fc.json())) },
    {
      weight: 6,
      arbitrary: fc
        .oneof(
          fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
          valid.map((f) => Buffer.from(JSON.stringify(f))),
        )
        .map((data): FuzzFrame => ({ kind: "binary", data })),
    },
    {
      weight: 1,
      arbitrary: fc
        .tuple(fc.integer({ min: 1 << 20, max: (1 << 20) + 65_536 }), fc.boolean())
        .map(([bytes, binary]): FuzzFrame => ({ kind: "oversized", bytes, binary })),
    },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 60_000, max: 65_500 }).map(
        (n): FuzzFrame => ({
          kind: "text",
          data: JSON.stringify({
            event: "media",
            streamSid: ctx.ownSid,
            media: { payload: "A".repeat(n - (n % 4)) },
          }),
        }),
      ),
    },
  );
}

/** The bytes of an oversized frame: a media message padded far beyond any limit. */
export function oversizedData(
  frame: { bytes: number; binary: boolean },
  sid: string,
): string | Buffer {
  const text = JSON.stringify({
    event: "media",
    streamSid: sid,
    media: { payload: "A".repeat(frame.bytes) },
  });
  return frame.binary ? Buffer.from(text) : text;
}
