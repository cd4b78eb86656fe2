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
import {
  type SignedCall,
  type SignedCalls,
  STREAM_TOKEN,
  STREAM_TOKEN_PARAMETER,
} from "./signed-calls.ts";
import { parseTwilioFrame, type TwilioFrameErrorKind, type TwilioStart } from "./twilio-frames.ts";
import { connectStreamTwiml } from "./twiml.ts";
import { readWebhookForm } from "./webhook-body.ts";
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
  | "internal_error"
  /** No `start` came within the start timeout; the socket was closed (1008). */
  | "start_timeout"
  /** MAX_MEDIA_STREAMS were open already; the socket was closed (1013). */
  | "too_many_streams";

export interface TwilioRoutesDeps {
  upgradeWebSocket: UpgradeWebSocket<WebSocket, { onError: (error: unknown) => void }>;
  publicBaseUrl?: string;
  /** Take the public host from X-Forwarded-Host too (a proxy of ours sets it). */
  trustProxy?: boolean;
  authToken?: string;
  signedCalls: SignedCalls;
  /** Request bodies on /twilio/* above this get 413. */
  maxBodyBytes: number;
  /** A media stream without `start` this long after it opened is closed (1008). */
  startTimeoutMs: number;
  /** Media streams open at once; one more is closed at once (1013). */
  maxStreams: number;
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

/** Close codes (RFC 6455 7.4.1; 1013 from the IANA registry). */
const POLICY_VIOLATION = 1008;
const TRY_AGAIN_LATER = 1013;

/**
 * The public base URL Twilio used to reach us: configured, else from Host and X-Forwarded-Proto
 * (as the contract says), and X-Forwarded-Host only behind a proxy we trust (TRUST_PROXY).
 * X-Forwarded-Proto can only pick http or https for the host the client reached; an untrusted
 * X-Forwarded-Host would let the client choose the host its signature is checked against and
 * the one the TwiML sends the call's audio to.
 */
export function publicBase(
  c: Context,
  { configured, trustProxy = false }: { configured?: string; trustProxy?: boolean } = {},
): string {
  if (configured) return configured;
  const first = (name: string) => (c.req.header(name) ?? "").split(",")[0]?.trim();
  const proto = first("x-forwarded-proto") || "http";
  const host = (trustProxy && first("x-forwarded-host")) || c.req.header("host") || "localhost";
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
  const base = (c: Context) =>
    publicBase(c, { configured: deps.publicBaseUrl, trustProxy: deps.trustProxy });
  const forbidden = (c: Context) =>
    c.json(errorBody("forbidden", "invalid or missing X-Twilio-Signature"), 403);
  const tooLarge = (c: Context, what: string) =>
    c.json(errorBody("payload_too_large", `request body ${what}`), 413, { Connection: "close" });
  /** Media-stream sockets open now (each counted from onOpen to onClose). */
  let openStreams = 0;

  // Every /twilio/* request: a declared length over the limit is refused before any byte of
  // the body is read. A body without one (chunked) is counted as it is read, below.
  app.use("*", async (c, next) => {
    const declared = Number(c.req.header("content-length") ?? 0);
    if (declared > deps.maxBodyBytes) return tooLarge(c, `exceeds ${deps.maxBodyBytes} bytes`);
    return next();
  });

  app.post(VOICE_ROUTE, async (c) => {
    // A webhook that cannot be Twilio's is refused before its body is read or parsed.
    if (deps.authToken && !c.req.header("x-twilio-signature")) {
      deps.logger.warn({ path: "/twilio/voice" }, "voice webhook refused: no signature");
      // The connection closes after the answer, so the unread body is not worth receiving.
      c.header("Connection", "close");
      return forbidden(c);
    }
    const form = await readWebhookForm(c.req.raw, deps.maxBodyBytes);
    if (!form.ok) {
      return form.reason === "too_large"
        ? tooLarge(c, `exceeds ${deps.maxBodyBytes} bytes`)
        : tooLarge(c, "has too many form fields");
    }
    const params = form.params;
    const publicUrl = base(c);
    const parameters: Record<string, string> = {
      caller: params.From ?? "",
      callSid: params.CallSid ?? "",
    };
    for (const field of FORWARDED_FIELDS) {
      if (field !== "From" && field !== "CallSid" && params[field])
        parameters[field] = params[field];
    }
    // What the TwiML's <Parameter>s say: the parameters, plus the call's stream token.
    let streamParameters = parameters;
    if (deps.authToken) {
      const url = `${publicUrl}${pathAndQuery(c)}`;
      if (
        !isValidTwilioSignature(deps.authToken, c.req.header("x-twilio-signature"), url, params)
      ) {
        deps.logger.warn({ path: "/twilio/voice" }, "voice webhook refused: bad signature");
        return forbidden(c);
      }
      // Without a CallSid there is no call for a stream to belong to: no token is given, and
      // a stream without one is refused at `start` when signatures are checked. The token is
      // not kept in the stored parameters, so it never reaches the call's metadata.
      if (params.CallSid) {
        const token = deps.signedCalls.issue({
          callSid: params.CallSid,
          caller: params.From || null,
          parameters: { ...parameters },
        });
        streamParameters = { ...parameters, [STREAM_TOKEN_PARAMETER]: token };
      }
    }
    deps.logger.info(
      { callSid: params.CallSid ?? null, caller: maskPhone(params.From) },
      "incoming call",
    );
    const twiml = connectStreamTwiml(`${toWs(publicUrl)}${MEDIA_STREAM_PATH}`, streamParameters);
    return c.body(twiml, 200, { "Content-Type": "text/xml; charset=utf-8" });
  });

  const upgradeGuard = async (c: Context, next: () => Promise<void>) => {
    if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
      return c.json(errorBody("upgrade_required", "this endpoint speaks WebSocket"), 426);
    }
    if (deps.authToken) {
      // Twilio signs the upgrade over the fixed stream URL, the same for every call: a
      // signature seen once would open any number of sockets, so the call's own stream token
      // (in the `start` frame's parameters) is what admits a call, at `start`.
      const url = `${toWs(base(c))}${pathAndQuery(c)}`;
      if (!isValidTwilioSignature(deps.authToken, c.req.header("x-twilio-signature"), url)) {
        deps.logger.warn({ path: MEDIA_STREAM_PATH }, "media stream refused: bad signature");
        return forbidden(c);
      }
    }
    return next();
  };

  const mediaStream = deps.upgradeWebSocket(
    (c) => {
      const transport = transportOf(c.env);
      let session: MediaStreamSession | null = null;
      let startTimer: ReturnType<typeof setTimeout> | null = null;
      let counted = false;
      let output: WsTelephonyOutput | null = null;
      let stopReceived = false;
      let badFrames = 0;
      let log = deps.logger;

      const bad = (kind: BadFrameKind, message: string) => {
        deps.onBadFrame?.(kind);
        if (++badFrames <= LOGGED_BAD_FRAMES) log.warn({ kind, message }, "bad media-stream frame");
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
        if (startTimer) clearTimeout(startTimer);
        startTimer = null;
        // The stream token is a credential: it is read here and kept nowhere else.
        const { [STREAM_TOKEN_PARAMETER]: token, ...sent } = frame.start.customParameters ?? {};
        let signed: SignedCall | null = null;
        if (deps.authToken) {
          // The token is used up here, and its CallSid with it: one stream per signed call.
          // It must be one we issued, unexpired, unused, and issued for this start's CallSid.
          const callSid = frame.start.callSid;
          signed =
            token && callSid && STREAM_TOKEN.test(token)
              ? deps.signedCalls.take(token, callSid, sent)
              : null;
          log = deps.logger.child({ streamSid: frame.streamSid, callSid: callSid ?? null });
          if (!signed) {
            log.warn(
              { hasToken: token !== undefined },
              "media stream refused: no stream token, or one unknown, expired, used or not its call's",
            );
            socket.close(POLICY_VIOLATION, "unknown call");
            return;
          }
        }
        // With signatures on, who called (and from where) is what the signed webhook said,
        // never what the stream's own parameters claim: they are only our TwiML's echo.
        const params = signed ? signed.parameters : sent;
        const callSid = signed ? signed.callSid : (frame.start.callSid ?? sent.callSid ?? null);
        const caller = signed ? signed.caller : (sent.caller ?? sent.From ?? null);
        log = deps.logger.child({ streamSid: frame.streamSid, callSid });
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
            caller,
            called: params.To || null,
            customParameters: params,
            metadata: regionOf(params),
          });
        } catch (error) {
          if (isDomainError(error) && error.code === "conflict") {
            bad("duplicate_stream", error.message);
            socket.close(POLICY_VIOLATION, "stream already active");
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
          if (openStreams >= deps.maxStreams) {
            // Counted, not logged one by one: a flood of sockets would flood the log too.
            deps.onBadFrame?.("too_many_streams");
            socket.close(TRY_AGAIN_LATER, "try again later");
            return;
          }
          openStreams++;
          counted = true;
          // A socket that never starts a call would hold a slot (and a file descriptor)
          // for as long as the peer likes.
          startTimer = setTimeout(() => {
            startTimer = null;
            if (socket.readyState !== socket.OPEN) return;
            bad("start_timeout", `no start within ${deps.startTimeoutMs} ms`);
            socket.close(POLICY_VIOLATION, "no start");
          }, deps.startTimeoutMs);
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
          if (startTimer) clearTimeout(startTimer);
          startTimer = null;
          if (counted) openStreams--;
          counted = false;
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
  );
  app.get(MEDIA_STREAM_ROUTE, upgradeGuard, mediaStream);
  return app;
}

/** The TCP socket under the upgraded request (@hono/node-server's `incoming`), if there is one. */
function transportOf(env: unknown): Corkable | null {
  const socket = (env as { incoming?: { socket?: Partial<Corkable> } } | undefined)?.incoming
    ?.socket;
  return typeof socket?.cork === "function" &&
    typeof socket.uncork === "function" &&
    typeof socket.write === "function"
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
