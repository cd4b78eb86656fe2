import { z } from "zod";

/**
 * Messages Twilio sends on a media stream, parsed by `event`.
 * https://www.twilio.com/docs/voice/media-streams/websocket-messages
 */
const Connected = z.object({ event: z.literal("connected") });

const Start = z.object({
  event: z.literal("start"),
  streamSid: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "streamSid must match [A-Za-z0-9_-]{1,64}"),
  start: z.object({
    streamSid: z.string().optional(),
    accountSid: z.string().max(64).optional(),
    callSid: z.string().max(64).optional(),
    tracks: z.array(z.string()).optional(),
    customParameters: z.record(z.string().max(256), z.string().max(4096)).optional(),
    mediaFormat: z
      .object({
        encoding: z.string(),
        sampleRate: z.number(),
        channels: z.number(),
      })
      .optional(),
  }),
});

const Media = z.object({
  event: z.literal("media"),
  media: z.object({
    payload: z.string(),
    track: z.string().optional(),
    chunk: z.string().optional(),
    timestamp: z.string().optional(),
  }),
});

/** Longest mark name taken (ours are `cb-<n>`). */
const MAX_MARK_NAME = 256;

const Mark = z.object({
  event: z.literal("mark"),
  mark: z.object({ name: z.string().max(MAX_MARK_NAME) }),
});

const Dtmf = z.object({
  event: z.literal("dtmf"),
  dtmf: z.object({ digit: z.string().max(8), track: z.string().optional() }),
});

const Stop = z.object({ event: z.literal("stop") });

export const TwilioFrame = z.discriminatedUnion("event", [
  Connected,
  Start,
  Media,
  Mark,
  Dtmf,
  Stop,
]);
export type TwilioFrameErrorKind = "malformed_json" | "invalid_frame" | "unknown_event";

export type TwilioFrame = z.infer<typeof TwilioFrame>;
export type TwilioStart = z.infer<typeof Start>;

export type ParsedFrame =
  | { ok: true; frame: TwilioFrame }
  | { ok: false; kind: TwilioFrameErrorKind; message: string };

const KNOWN_EVENTS = new Set(["connected", "start", "media", "mark", "dtmf", "stop"]);

export function parseTwilioFrame(text: string): ParsedFrame {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { ok: false, kind: "malformed_json", message: "frame is not JSON" };
  }
  const plain = plainMedia(json) ?? plainMark(json);
  if (plain !== null) return { ok: true, frame: plain };
  const result = TwilioFrame.safeParse(json);
  if (result.success) return { ok: true, frame: result.data };
  // Only a string names an event: String() on a peer's object can throw ({"toString":1}).
  const event =
    typeof json === "object" && json !== null && "event" in json && typeof json.event === "string"
      ? json.event
      : "";
  if (!KNOWN_EVENTS.has(event)) {
    return {
      ok: false,
      kind: "unknown_event",
      message: `unknown event ${JSON.stringify(event.slice(0, 32))}`,
    };
  }
  const issue = result.error.issues[0];
  return {
    ok: false,
    kind: "invalid_frame",
    message: `${event}: ${issue?.path.join(".") || "frame"} ${issue?.message ?? "is invalid"}`,
  };
}

type MediaFrame = z.infer<typeof Media>;
const isRecord = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Fifty `media` frames a second per call: when one has exactly the expected shape it is taken
 * without zod, giving what the schema would give (only its keys, absent ones left out). Any
 * other shape returns null and goes through zod, which words the error.
 */
function plainMedia(json: unknown): MediaFrame | null {
  if (!isRecord(json) || json.event !== "media" || !isRecord(json.media)) return null;
  const { payload, track, chunk, timestamp } = json.media;
  if (typeof payload !== "string") return null;
  const media: MediaFrame["media"] = { payload };
  if (track !== undefined) {
    if (typeof track !== "string") return null;
    media.track = track;
  }
  if (chunk !== undefined) {
    if (typeof chunk !== "string") return null;
    media.chunk = chunk;
  }
  if (timestamp !== undefined) {
    if (typeof timestamp !== "string") return null;
    media.timestamp = timestamp;
  }
  return { event: "media", media };
}

type MarkFrame = z.infer<typeof Mark>;

/**
 * Twilio echoes a mark for every assistant delta we send (ten a second while the assistant
 * talks): the plain shape is taken without zod too, as the schema would give it.
 */
function plainMark(json: unknown): MarkFrame | null {
  if (!isRecord(json) || json.event !== "mark" || !isRecord(json.mark)) return null;
  const { name } = json.mark;
  if (typeof name !== "string" || name.length > MAX_MARK_NAME) return null;
  return { event: "mark", mark: { name } };
}
