import type { Context } from "hono";
import { Hono } from "hono";
import type { UpgradeWebSocket } from "hono/ws";
import type WebSocket from "ws";
import type {
  Logger,
  MediaStreamSession,
  StartCallInput,
  TelephonyOutput,
} from "../../application/ports/index.ts";
import { MAX_FRAME_BYTES } from "../../domain/audio/telephony-frames.ts";
import { type DomainErrorCode, describeError, isDomainError } from "../../domain/errors.ts";
import {
  base64DecodedLength,
  base64DecodedLengthOfBytes,
  decodeBase64BytesInto,
  decodeBase64Into,
} from "../encoding/base64.ts";
import { errorBody } from "../http/errors.ts";
import { maskPhone } from "../logging/pino-logger.ts";
import { scanMediaFrame } from "./media-frame-scanner.ts";
import { isValidTwilioSignature } from "./signature.ts";
import type { SignedCalls } from "./signed-calls.ts";
import { parseTwilioFrame, type TwilioFrameErrorKind, type TwilioStart } from "./twilio-frames.ts";
import { connectStreamTwiml } from "./twiml.ts";
import { type Corkable, WsTelephonyOutput } from "./ws-telephony-output.ts";

/** Why a media-stream frame could not be used; counted per kind. */
export type BadFrameKind =
  | TwilioFrameErrorKind
  | DomainErrorCode
  | "binary_frame"
  | "out_of_order"
  | "duplicate_stream"
  | "oversized_frame"
  | "media_error"
  | "internal_error";

export interface TwilioRoutesDeps {
  upgradeWebSocket: UpgradeWebSocket<WebSocket, { onError: (error: unknown) => void }>;
  publicBaseUrl?: string;
  authToken?: string;
  signedCalls: SignedCalls;
  createSession(output: TelephonyOutput): MediaStreamSession;
  logger: Logger;
  /** Counts frames that could not be used, by kind. */
  onBadFrame?(kind: BadFrameKind): void;
}

/** Mounted at /twilio: the webhook Twilio calls, and the stream its TwiML points to. */
const VOICE_ROUTE = "/voice";
const MEDIA_STREAM_ROUTE = "/media-stream";
export const MEDIA_STREAM_PATH = `/twilio${MEDIA_STREAM_ROUTE}`;
/** Per connection, only the first few bad frames are logged; all are counted. */
const LOGGED_BAD_FRAMES = 5;
/** ws's error code for a frame over `maxPayload` (it then closes the socket with 1009). */
const OVERSIZED_FRAME = "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH";
/** A connection's decode buffer starts at this size; Twilio's frames are 160 bytes. */
const TYPICAL_FRAME_BYTES = 1024;
/**
 * Close codes of a socket that ended cleanly: 1000 normal closure, 1005 a close frame without a
 * status (RFC 6455 7.4.1). Anything else (1006 when the connection dropped without a close
 * frame, 1011 and the like) means the stream broke off.
 */
const CLEAN_CLOSE_CODES: ReadonlySet<number> = new Set([1000, 1005]);

/** The public base URL Twilio used to reach us: configured, or from Host and X-Forwarded-Proto. */
export function publicBase(c: Context, configured?: string): string {
  if (configured) return configured;
  const proto = (c.req.header("x-forwarded-proto") ?? "").split(",")[0]?.trim() || "http";
  const host =
    (c.req.header("x-forwarded-host") ?? "").split(",")[0]?.trim() ||
    c.req.header("host") ||
    "localhost";
  return `${proto === "https" ? "https" : "http"}://${host}`;
}

const toWs = (base: string) => base.replace(/^http/, "ws");

function pathAndQuery(c: Context): string {
  const url = new URL(c.req.url);
  return `${url.pathname}${url.search}`;
}

/** Webhook form fields that describe the call and are worth keeping with it. */
const FORWARDED_FIELDS = ["From", "To", "CallSid", "FromCountry", "FromState", "FromCity"] as const;

export function twilioRoutes(deps: TwilioRoutesDeps): Hono {
  const app = new Hono();
  const forbidden = (c: Context) =>
    c.json(errorBody("forbidden", "invalid or missing X-Twilio-Signature"), 403);

  app.post(VOICE_ROUTE, async (c) => {
    const form = await c.req.parseBody().catch(() => ({}));
    const params: Record<string, string> = {};
    for (const [key, value] of Object.entries(form)) {
      if (typeof value === "string") params[key] = value;
    }
    const base = publicBase(c, deps.publicBaseUrl);
    if (deps.authToken) {
      const url = `${base}${pathAndQuery(c)}`;
      if (
        !isValidTwilioSignature(deps.authToken, c.req.header("x-twilio-signature"), url, params)
      ) {
        deps.logger.warn({ path: "/twilio/voice" }, "voice webhook refused: bad signature");
        return forbidden(c);
      }
      if (params.CallSid) deps.signedCalls.add(params.CallSid);
    }
    const parameters: Record<string, string> = {
      caller: params.From ?? "",
      callSid: params.CallSid ?? "",
    };
    for (const field of FORWARDED_FIELDS) {
      if (field !== "From" && field !== "CallSid" && params[field])
        parameters[field] = params[field];
    }
    deps.logger.info(
      { callSid: params.CallSid ?? null, caller: maskPhone(params.From) },
      "incoming call",
    );
    const twiml = connectStreamTwiml(`${toWs(base)}${MEDIA_STREAM_PATH}`, parameters);
    return c.body(twiml, 200, { "Content-Type": "text/xml; charset=utf-8" });
  });

  app.get(
    MEDIA_STREAM_ROUTE,
    async (c, next) => {
      if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
        return c.json(errorBody("upgrade_required", "this endpoint speaks WebSocket"), 426);
      }
      if (deps.authToken) {
        const url = `${toWs(publicBase(c, deps.publicBaseUrl))}${pathAndQuery(c)}`;
        if (!isValidTwilioSignature(deps.authToken, c.req.header("x-twilio-signature"), url)) {
          deps.logger.warn({ path: MEDIA_STREAM_PATH }, "media stream refused: bad signature");
          return forbidden(c);
        }
      }
      return next();
    },
    deps.upgradeWebSocket(
      (c) => {
        const transport = transportOf(c.env);
        let session: MediaStreamSession | null = null;
        let output: WsTelephonyOutput | null = null;
        let stopReceived = false;
        let badFrames = 0;
        let log = deps.logger;

        const bad = (kind: BadFrameKind, message: string) => {
          deps.onBadFrame?.(kind);
          if (++badFrames <= LOGGED_BAD_FRAMES)
            log.warn({ kind, message }, "bad media-stream frame");
        };

        // The caller's mu-law, decoded from base64 here; enlarged only for a larger frame.
        let mulaw = new Uint8Array(TYPICAL_FRAME_BYTES);
        const callerAudio = (
          current: MediaStreamSession,
          decodedLength: number,
          decode: (into: Uint8Array) => number,
          timestampMs: number | null,
        ) => {
          // Beyond MAX_FRAME_BYTES the decoder refuses the frame, whatever the buffer's size.
          if (decodedLength > mulaw.length && decodedLength <= MAX_FRAME_BYTES) {
            mulaw = new Uint8Array(MAX_FRAME_BYTES);
          }
          try {
            current.callerAudio(mulaw.subarray(0, decode(mulaw)), timestampMs);
          } catch (error) {
            // A frame that could not be used (bad base64, too large): counted, the call goes on.
            bad(isDomainError(error) ? error.code : "media_error", describeError(error).message);
          }
        };

        const start = (socket: WebSocket, frame: TwilioStart) => {
          if (session) return bad("invalid_frame", "a second start on one stream");
          const params = frame.start.customParameters ?? {};
          const callSid = frame.start.callSid ?? params.callSid ?? null;
          log = deps.logger.child({ streamSid: frame.streamSid, callSid });
          if (deps.authToken && !(callSid && deps.signedCalls.has(callSid))) {
            log.warn({}, "media stream refused: its callSid never came through a signed webhook");
            socket.close(1008, "unknown call");
            return;
          }
          output = new WsTelephonyOutput(socket, transport);
          output.bind(frame.streamSid);
          const current = deps.createSession(output);
          let started: Promise<void>;
          try {
            // Refused synchronously when the streamSid is live or has ended, so that frames in
            // the same burst cannot reach (or a `stop` end) the call that owns it.
            started = current.start({
              streamSid: frame.streamSid,
              callSid,
              caller: params.caller ?? params.From ?? null,
              customParameters: params,
              metadata: regionOf(params),
            });
          } catch (error) {
            if (isDomainError(error) && error.code === "conflict") {
              bad("duplicate_stream", error.message);
              socket.close(1008, "stream already active");
            } else {
              log.error({ err: describeError(error) }, "call could not start");
              socket.close(1011, "internal error");
            }
            return;
          }
          session = current;
          started.catch((error: unknown) => {
            log.error({ err: describeError(error) }, "call could not start");
            session = null;
            socket.close(1011, isDomainError(error) ? error.code : "internal error");
          });
        };

        const onMessage = (socket: WebSocket, data: WebSocket.RawData, isBinary: boolean) => {
          if (isBinary) return bad("binary_frame", "binary frames are not Twilio's protocol");
          // Fifty media frames a second per call: read from the bytes when they have Twilio's
          // plain shape; anything else takes the JSON and zod path below.
          const media = Buffer.isBuffer(data) ? scanMediaFrame(data) : null;
          if (media !== null) {
            if (!session) return bad("out_of_order", "media before start");
            const { payloadStart: from, payloadEnd: to, timestampMs } = media;
            const bytes = data as Buffer;
            const length = base64DecodedLengthOfBytes(bytes, from, to);
            callerAudio(
              session,
              length,
              (into) => decodeBase64BytesInto(bytes, from, to, into),
              timestampMs,
            );
            return;
          }
          const parsed = parseTwilioFrame(data.toString());
          if (!parsed.ok) return bad(parsed.kind, parsed.message);
          const frame = parsed.frame;
          switch (frame.event) {
            case "connected":
              return;
            case "start":
              return start(socket, frame);
            case "media":
              if (!session) return bad("out_of_order", "media before start");
              callerAudio(
                session,
                base64DecodedLength(frame.media.payload),
                (into) => decodeBase64Into(frame.media.payload, into),
                mediaTimestamp(frame.media.timestamp),
              );
              return;
            case "mark":
              session?.mark(frame.mark.name);
              return;
            case "dtmf":
              session?.dtmf(frame.dtmf.digit);
              return;
            case "stop":
              if (!session) return;
              stopReceived = true;
              void session.stop("stop");
              return;
          }
        };

        return {
          onOpen(_event, ws) {
            const socket = ws.raw;
            if (!socket) return;
            // @hono/node-ws reports socket errors through an ErrorEvent, which Node 20 lacks, so
            // they are taken from the ws socket itself.
            socket.on("error", (error: Error & { code?: string }) => {
              if (error.code === OVERSIZED_FRAME) bad("oversized_frame", error.message);
              else log.warn({ err: describeError(error) }, "media-stream socket error");
            });
            // Messages are taken from the ws socket too: node-ws wraps each one in a DOM
            // MessageEvent, which cost more than the rest of its handling at 50 frames a second
            // per call. onOpen runs in the same tick the socket is handed over, before any
            // message can be read, so none is missed; onMessage stays unset so none is wrapped.
            socket.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
              try {
                onMessage(socket, data, isBinary);
              } catch (error) {
                // A throw in a socket listener would end the process: count it and go on.
                bad("internal_error", describeError(error).message);
              }
            });
          },
          onClose(event) {
            if (!session || stopReceived) return;
            // Twilio sends `stop` before it closes; without one, the call ended some other way,
            // and only a clean close leaves it `completed`.
            const clean = CLEAN_CLOSE_CODES.has(event.code);
            if (!clean) log.warn({ code: event.code }, "media stream closed without stop");
            void session.stop("socket_closed", clean ? "completed" : "failed");
          },
        };
      },
      {
        // Where node-ws's missing ErrorEvent lands; the real error is logged in onOpen.
        onError: (error: unknown) =>
          deps.logger.debug({ err: describeError(error) }, "websocket helper error"),
      },
    ),
  );
  return app;
}

/** The TCP socket under the upgraded request (@hono/node-server's `incoming`), if there is one. */
function transportOf(env: unknown): Corkable | null {
  const socket = (env as { incoming?: { socket?: Partial<Corkable> } } | undefined)?.incoming
    ?.socket;
  return typeof socket?.cork === "function" && typeof socket.uncork === "function"
    ? (socket as Corkable)
    : null;
}

function mediaTimestamp(value: string | undefined): number | null {
  if (value === undefined) return null;
  const ms = Number(value);
  return Number.isFinite(ms) ? ms : null;
}

/** What the webhook told us about where and what the caller is. */
function regionOf(params: Record<string, string>): StartCallInput["metadata"] {
  const parts = [params.FromCountry, params.FromState, params.FromCity].filter(
    (p): p is string => typeof p === "string" && p !== "",
  );
  const caller = params.caller ?? params.From ?? "";
  // Twilio addresses say what is calling: a Voice SDK client, a SIP endpoint, or the phone network.
  const deviceType = caller.startsWith("client:")
    ? "twilio-client"
    : caller.startsWith("sip:")
      ? "sip"
      : caller
        ? "phone"
        : null;
  return { region: parts.length > 0 ? parts.join("/") : null, deviceType };
}
