/**
 * Plays the Twilio side of a bidirectional Media Stream (<Connect><Stream>) against a server.
 *
 * Protocol source: https://www.twilio.com/docs/voice/media-streams/websocket-messages
 * - Twilio → server: connected {protocol:"Call", version:"1.0.0"} (no sequenceNumber); start,
 *   media {track, chunk, timestamp, payload}, dtmf {track:"inbound_track", digit}, mark {name},
 *   stop {accountSid, callSid}; every message after `connected` carries `sequenceNumber` (string,
 *   from "1", counting all messages) and `streamSid`. Media is base64 mu-law, 8000 Hz, mono, 20 ms.
 * - server → Twilio: media {streamSid, media:{payload}}, mark {streamSid, mark:{name}},
 *   clear {streamSid}. A mark comes back once the audio queued before it has played; `clear`
 *   empties the buffer and sends back every pending mark. Cross-checked with
 *   https://docs.fonoster.com/reference/twilio-compatibility (a Twilio-compatible implementation).
 */
import { randomBytes } from "node:crypto";
import { type RawData, WebSocket } from "ws";
import { computeTwilioSignature } from "../../src/adapters/twilio/signature.ts";
import { decodeMuLaw, encodeMuLaw } from "../../src/domain/audio/index.ts";
import { Conditions } from "./conditions.ts";

export const TWILIO_RATE = 8000;
export const FRAME_BYTES = 160;
export const FRAME_MS = 20;
const MULAW_SILENCE = 0xff;
const MULAW_NEGATIVE_ZERO = 0x7f;

export type JsonObject = { [key: string]: unknown };

export interface TwilioSimulatorOptions {
  /**
   * The stream URL, as the TwiML's `<Stream url>` gave it, e.g.
   * ws://127.0.0.1:PORT/twilio/media-stream. (When the server checks signatures, pass the
   * TwiML's `<Parameter>`s, its `streamToken` among them, as `customParameters`.)
   */
  url: string;
  /**
   * Where to dial instead, e.g. ws://127.0.0.1:PORT when `url` is the server's public address:
   * `url`'s path and query are kept, as a proxy in front of the server would forward them.
   */
  connectTo?: string;
  /** Sign the upgrade like Twilio: X-Twilio-Signature over `url` (not `connectTo`). */
  authToken?: string;
  /** Extra upgrade headers, e.g. X-Twilio-Signature. */
  headers?: Record<string, string>;
  streamSid?: string;
  callSid?: string;
  accountSid?: string;
  caller?: string;
  /** Merged over {caller, callSid}. */
  customParameters?: Record<string, string>;
  tracks?: string[];
  /** Pace media at 20 ms per frame (default) or send as fast as possible. */
  realtime?: boolean;
  /** Keep every parsed server message (turn off for long load runs). */
  recordMessages?: boolean;
  /**
   * Leave out frames that are all silence, as Twilio does on some calls: the next frame sent
   * carries the true timestamp (so its `timestamp` jumps), and nothing at all comes while the
   * caller is quiet. Seen in production by others: "For some calls, Twilio does not send silent
   * chunks" (https://github.com/Phonic-Co/phonic-node/pull/32); openai-agents-js pads them in
   * its Twilio transport (packages/agents-extensions/src/TwilioRealtimeTransport.ts).
   */
  omitSilentFrames?: boolean;
  connectTimeoutMs?: number;
}

export interface HeardAudio {
  /** Playback start, ms after the `start` message was sent. */
  atMs: number;
  samples: Int16Array;
}

export interface EchoedMark {
  name: string;
  /** When the audio before it finished playing (or the clear), ms after `start`. */
  atMs: number;
  /** True when a `clear` released it before its audio played. */
  cleared: boolean;
}

export class UpgradeRejectedError extends Error {
  readonly status: number;
  readonly body: string;
  constructor(status: number, body: string) {
    super(`WebSocket upgrade rejected with HTTP ${status}`);
    this.name = "UpgradeRejectedError";
    this.status = status;
    this.body = body;
  }
}

export const randomSid = (prefix: string): string => prefix + randomBytes(16).toString("hex");

type QueueItem =
  | { kind: "media"; bytes: Uint8Array; startAt: number; endAt: number }
  | { kind: "mark"; name: string; dueAt: number };

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const yieldToLoop = () => new Promise<void>((r) => setImmediate(r));

export class TwilioSimulator {
  readonly streamSid: string;
  readonly callSid: string;
  readonly accountSid: string;
  readonly customParameters: Record<string, string>;
  readonly realtime: boolean;
  readonly omitSilentFrames: boolean;

  /** Parsed server messages in arrival order (when recordMessages). */
  readonly messages: JsonObject[] = [];
  /** Things a real Twilio would reject or ignore: bad JSON, wrong streamSid, unknown events. */
  readonly protocolErrors: string[] = [];
  readonly marksReceived: string[] = [];
  readonly echoedMarks: EchoedMark[] = [];
  mediaReceived = 0;
  mediaBytesReceived = 0;
  clearsReceived = 0;
  framesSent = 0;
  /** Silent frames left out (omitSilentFrames): their time passed, nothing was sent. */
  framesOmitted = 0;
  /** `sequenceNumber` of the last message this simulator sent. */
  sequenceNumber = 0;
  closeInfo: { code: number; reason: string } | null = null;
  /** Resolves when the socket closes, whichever side closed it. */
  readonly finished: Promise<{ code: number; reason: string }>;

  private readonly ws: WebSocket;
  private readonly recordMessages: boolean;
  private readonly conditions = new Conditions();
  private readonly heardChunks: HeardAudio[] = [];
  private startedAt = 0;
  private queue: QueueItem[] = [];
  private queueHead = 0;
  private playheadEnd = 0;
  private markTimer: NodeJS.Timeout | null = null;
  private nextFrameDue = 0;
  private lastTimestamp = -FRAME_MS;
  private lastServerMessageAt = 0;
  private closedAt = Number.POSITIVE_INFINITY;

  private constructor(ws: WebSocket, opts: TwilioSimulatorOptions) {
    this.ws = ws;
    this.streamSid = opts.streamSid ?? randomSid("MZ");
    this.callSid = opts.callSid ?? randomSid("CA");
    this.accountSid = opts.accountSid ?? randomSid("AC");
    this.customParameters = {
      caller: opts.caller ?? "+15555550123",
      callSid: this.callSid,
      ...opts.customParameters,
    };
    this.realtime = opts.realtime ?? true;
    this.omitSilentFrames = opts.omitSilentFrames ?? false;
    this.recordMessages = opts.recordMessages ?? true;
    this.finished = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closedAt = performance.now();
        this.settle(this.closedAt);
        this.closeInfo = { code, reason: reason.toString() };
        if (this.markTimer) clearTimeout(this.markTimer);
        resolve(this.closeInfo);
        this.conditions.notify();
      });
    });
    ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
  }

  /** Opens the socket, then sends `connected` and `start`. */
  static async connect(opts: TwilioSimulatorOptions): Promise<TwilioSimulator> {
    const headers: Record<string, string> = { ...opts.headers };
    if (opts.authToken) {
      headers["X-Twilio-Signature"] = computeTwilioSignature(opts.authToken, opts.url);
    }
    const ws = new WebSocket(dialedUrl(opts), { headers });
    ws.on("error", () => {
      // Errors before open reject below; later ones always end in 'close', which `finished` reports.
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        ws.terminate();
        reject(new Error(`connect to ${opts.url} timed out`));
      }, opts.connectTimeoutMs ?? 10_000);
      ws.once("open", () => {
        clearTimeout(timer);
        resolve();
      });
      ws.once("unexpected-response", (_req, res) => {
        clearTimeout(timer);
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          body += c;
        });
        res.on("end", () => {
          ws.terminate();
          reject(new UpgradeRejectedError(res.statusCode ?? 0, body));
        });
        res.on("error", () => reject(new UpgradeRejectedError(res.statusCode ?? 0, body)));
      });
      ws.once("error", (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const sim = new TwilioSimulator(ws, opts);
    sim.sendStartSequence(opts.tracks ?? ["inbound"]);
    return sim;
  }

  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
  }

  /** Milliseconds since `start` was sent. */
  now(): number {
    return performance.now() - this.startedAt;
  }

  /**
   * Where the line's own clock is: the end of the last frame sent, by its media timestamp (0
   * before any). Ahead of `now()` when audio was sent faster than real time.
   */
  get sentMs(): number {
    return this.lastTimestamp + FRAME_MS;
  }

  // ---------- sending (Twilio → server) ----------

  /**
   * Sends `samples8k` as 20 ms mu-law frames (the last one padded with silence). Real-time pacing
   * uses an absolute schedule that continues across calls, so timer lateness never accumulates.
   */
  async play(samples8k: Int16Array, opts: { realtime?: boolean } = {}): Promise<void> {
    await this.playMuLaw(encodeMuLaw(samples8k), opts);
  }

  async playMuLaw(bytes: Uint8Array, opts: { realtime?: boolean } = {}): Promise<void> {
    const realtime = opts.realtime ?? this.realtime;
    const frames = Math.ceil(bytes.length / FRAME_BYTES);
    if (realtime) this.nextFrameDue = Math.max(this.nextFrameDue, performance.now());
    for (let i = 0; i < frames; i++) {
      if (!this.isOpen) return;
      let frame = bytes.subarray(i * FRAME_BYTES, (i + 1) * FRAME_BYTES);
      if (frame.length < FRAME_BYTES) {
        const padded = new Uint8Array(FRAME_BYTES).fill(MULAW_SILENCE);
        padded.set(frame);
        frame = padded;
      }
      if (realtime) {
        const due = this.nextFrameDue;
        // Timers may fire up to a millisecond early, so re-check rather than trust one sleep.
        for (let wait = due - performance.now(); wait > 0; wait = due - performance.now()) {
          await sleep(wait);
        }
        if (!this.isOpen) return;
        this.nextFrameDue = due + FRAME_MS;
        if (this.omits(frame)) continue;
        this.sendMediaFrame(frame, Math.round(due - this.startedAt));
      } else {
        if (this.omits(frame)) {
          // Its 20 ms still pass on Twilio's clock: the next frame sent is stamped after them.
          this.lastTimestamp += FRAME_MS;
          continue;
        }
        this.sendMediaFrame(frame);
        if (i % 50 === 49) await this.drainSendBuffer();
      }
    }
  }

  /** Sends one media message now; `timestampMs` defaults to the previous one + 20. */
  sendMediaFrame(mulaw: Uint8Array, timestampMs?: number): void {
    this.framesSent++;
    const timestamp = Math.max(this.lastTimestamp + FRAME_MS, timestampMs ?? 0);
    this.lastTimestamp = timestamp;
    this.sendEvent("media", {
      media: {
        track: "inbound",
        chunk: String(this.framesSent),
        timestamp: String(timestamp),
        payload: Buffer.from(mulaw.buffer, mulaw.byteOffset, mulaw.byteLength).toString("base64"),
      },
    });
  }

  sendDtmf(digit: string): void {
    this.sendEvent("dtmf", { dtmf: { track: "inbound_track", digit } });
  }

  sendStop(): void {
    this.sendEvent("stop", { stop: { accountSid: this.accountSid, callSid: this.callSid } });
  }

  /** What Twilio does when the caller hangs up: `stop`, then close the socket. */
  async hangUp(): Promise<{ code: number; reason: string }> {
    if (this.isOpen) {
      this.sendStop();
      this.ws.close(1000, "call ended");
    }
    return this.finished;
  }

  /** Sends anything (e.g. malformed frames for robustness tests). */
  sendRaw(data: string | Buffer): void {
    if (this.isOpen) this.ws.send(data);
  }

  /** A close frame with `code`, or with no status at all for null (the server reads 1005). */
  close(code: number | null = 1000, reason = ""): void {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      if (code === null) this.ws.close();
      else this.ws.close(code, reason);
    }
  }

  terminate(): void {
    this.ws.terminate();
  }

  // ---------- inspection ----------

  /** Audio that has "played" to the caller so far, with its playback times. */
  heard(): HeardAudio[] {
    this.settle(performance.now());
    return this.heardChunks;
  }

  /** Everything the caller heard, concatenated (gaps between chunks are not filled). */
  heardAudio(): Int16Array {
    const chunks = this.heard();
    let total = 0;
    for (const c of chunks) total += c.samples.length;
    const out = new Int16Array(total);
    let offset = 0;
    for (const c of chunks) {
      out.set(c.samples, offset);
      offset += c.samples.length;
    }
    return out;
  }

  /** Milliseconds of server audio queued but not yet played. */
  queuedMs(): number {
    return Math.max(0, this.playheadEnd - performance.now());
  }

  waitFor<T>(check: () => T | undefined, timeoutMs = 10_000, label = "condition"): Promise<T> {
    return this.conditions.waitFor(check, timeoutMs, label);
  }

  waitForMark(name: string, timeoutMs = 10_000): Promise<EchoedMark> {
    return this.waitFor(
      () => this.echoedMarks.find((m) => m.name === name),
      timeoutMs,
      `mark ${name}`,
    );
  }

  waitForMedia(count: number, timeoutMs = 10_000): Promise<number> {
    return this.waitFor(
      () => (this.mediaReceived >= count ? this.mediaReceived : undefined),
      timeoutMs,
      `${count} media messages`,
    );
  }

  /** Resolves once no audio is queued and the server has been quiet for `quietMs`. */
  async waitForPlaybackIdle(quietMs = 200, timeoutMs = 30_000): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const now = performance.now();
      const idleFor = Math.min(now - this.playheadEnd, now - this.lastServerMessageAt);
      if (idleFor >= quietMs || !this.isOpen) return;
      if (now > deadline) throw new Error("timed out waiting for playback to go idle");
      await sleep(Math.max(5, quietMs - idleFor));
    }
  }

  // ---------- internals ----------

  /** True (and counted) when omitSilentFrames leaves this frame out: every sample is zero. */
  private omits(frame: Uint8Array): boolean {
    if (!this.omitSilentFrames) return false;
    // Mu-law has two zeros: 0xFF and 0x7F.
    if (!frame.every((b) => b === MULAW_SILENCE || b === MULAW_NEGATIVE_ZERO)) return false;
    this.framesOmitted++;
    return true;
  }

  private sendStartSequence(tracks: string[]): void {
    this.ws.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
    this.startedAt = performance.now();
    this.lastServerMessageAt = this.startedAt;
    this.sendEvent("start", {
      start: {
        accountSid: this.accountSid,
        streamSid: this.streamSid,
        callSid: this.callSid,
        tracks,
        customParameters: this.customParameters,
        mediaFormat: { encoding: "audio/x-mulaw", sampleRate: TWILIO_RATE, channels: 1 },
      },
    });
  }

  private sendEvent(event: string, body: JsonObject): void {
    if (!this.isOpen) return;
    this.sequenceNumber++;
    this.ws.send(
      JSON.stringify({
        event,
        sequenceNumber: String(this.sequenceNumber),
        ...body,
        streamSid: this.streamSid,
      }),
    );
  }

  private async drainSendBuffer(): Promise<void> {
    await yieldToLoop();
    while (this.isOpen && this.ws.bufferedAmount > 1 << 20) await sleep(5);
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    this.handleMessage(data, isBinary);
    this.conditions.notify();
  }

  private handleMessage(data: RawData, isBinary: boolean): void {
    const now = performance.now();
    this.lastServerMessageAt = now;
    if (isBinary) {
      this.protocolErrors.push("binary frame");
      return;
    }
    let msg: unknown;
    try {
      msg = JSON.parse(data.toString());
    } catch {
      this.protocolErrors.push(`invalid JSON: ${data.toString().slice(0, 80)}`);
      return;
    }
    if (typeof msg !== "object" || msg === null || Array.isArray(msg)) {
      this.protocolErrors.push("message is not a JSON object");
      return;
    }
    const m = msg as JsonObject;
    if (this.recordMessages) this.messages.push(m);
    if (m.streamSid !== this.streamSid) {
      this.protocolErrors.push(`${String(m.event)} with streamSid ${String(m.streamSid)}`);
      return;
    }
    switch (m.event) {
      case "media":
        this.onMedia(m, now);
        break;
      case "mark":
        this.onMark(m, now);
        break;
      case "clear":
        this.clearsReceived++;
        this.onClear(now);
        break;
      default:
        this.protocolErrors.push(`unknown event ${String(m.event)}`);
    }
  }

  private onMedia(m: JsonObject, now: number): void {
    const media = m.media as JsonObject | undefined;
    const payload = media?.payload;
    if (typeof payload !== "string" || payload.length === 0) {
      this.protocolErrors.push("media without payload");
      return;
    }
    const bytes = new Uint8Array(Buffer.from(payload, "base64"));
    if (bytes.length === 0 || Buffer.from(bytes).toString("base64") !== payload) {
      this.protocolErrors.push("media payload is not canonical base64");
      if (bytes.length === 0) return;
    }
    this.mediaReceived++;
    this.mediaBytesReceived += bytes.length;
    const startAt = Math.max(now, this.playheadEnd);
    const endAt = startAt + (bytes.length / TWILIO_RATE) * 1000;
    this.playheadEnd = endAt;
    this.queue.push({ kind: "media", bytes, startAt, endAt });
  }

  private onMark(m: JsonObject, now: number): void {
    const name = (m.mark as JsonObject | undefined)?.name;
    if (typeof name !== "string") {
      this.protocolErrors.push("mark without name");
      return;
    }
    this.marksReceived.push(name);
    this.queue.push({ kind: "mark", name, dueAt: Math.max(now, this.playheadEnd) });
    this.settle(now);
  }

  private onClear(now: number): void {
    this.settle(now);
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const item = this.queue[i]!;
      if (item.kind === "media") {
        if (item.startAt < now) {
          const played = Math.floor(((now - item.startAt) / 1000) * TWILIO_RATE);
          this.hear(item.startAt, item.bytes.subarray(0, Math.min(played, item.bytes.length)));
        }
      } else {
        this.echoMark(item.name, now, true);
      }
    }
    this.queue = [];
    this.queueHead = 0;
    this.playheadEnd = now;
    this.scheduleMarkTimer(now);
  }

  /** Moves everything whose playback time has passed out of the queue. */
  private settle(now: number): void {
    // Playback stops at hang-up: nothing queued after that was heard.
    now = Math.min(now, this.closedAt);
    const q = this.queue;
    while (this.queueHead < q.length) {
      const item = q[this.queueHead]!;
      if (item.kind === "media") {
        if (item.endAt > now) break;
        this.hear(item.startAt, item.bytes);
      } else {
        if (item.dueAt > now) break;
        this.echoMark(item.name, item.dueAt, false);
      }
      this.queueHead++;
    }
    if (this.queueHead > 1024 && this.queueHead * 2 > q.length) {
      this.queue = q.slice(this.queueHead);
      this.queueHead = 0;
    }
    this.scheduleMarkTimer(now);
  }

  private scheduleMarkTimer(now: number): void {
    if (this.markTimer) {
      clearTimeout(this.markTimer);
      this.markTimer = null;
    }
    if (this.closeInfo) return;
    for (let i = this.queueHead; i < this.queue.length; i++) {
      const item = this.queue[i]!;
      if (item.kind !== "mark") continue;
      this.markTimer = setTimeout(
        () => {
          this.markTimer = null;
          this.settle(performance.now());
          this.conditions.notify();
        },
        Math.max(0, item.dueAt - now),
      );
      return;
    }
  }

  private hear(startAt: number, bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    this.heardChunks.push({ atMs: startAt - this.startedAt, samples: decodeMuLaw(bytes) });
  }

  private echoMark(name: string, at: number, cleared: boolean): void {
    if (!this.isOpen) return;
    this.echoedMarks.push({ name, atMs: at - this.startedAt, cleared });
    this.sendEvent("mark", { mark: { name } });
  }
}

/** `opts.url`, or its path and query at `opts.connectTo`. */
function dialedUrl(opts: TwilioSimulatorOptions): string {
  if (opts.connectTo === undefined) return opts.url;
  // Text, not `new URL()`: the signed URL's exact path is what the server must see.
  const pathAndQuery = /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*(.*)$/i.exec(opts.url)?.[1] ?? "";
  return `${opts.connectTo.replace(/\/+$/, "")}${pathAndQuery}`;
}

const unescapeXml = (value: string): string =>
  value
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&amp;", "&");

/** The `<Stream url>` and `<Parameter>`s of `<Connect><Stream>` TwiML; null without a Stream. */
export function streamOfTwiml(
  xml: string,
): { url: string; parameters: Record<string, string> } | null {
  const url = /<Stream\b[^>]*\burl="([^"]*)"/.exec(xml)?.[1];
  if (url === undefined) return null;
  const parameters: Record<string, string> = {};
  for (const m of xml.matchAll(/<Parameter\b[^>]*?\bname="([^"]*)"[^>]*?\bvalue="([^"]*)"/g)) {
    parameters[unescapeXml(m[1] ?? "")] = unescapeXml(m[2] ?? "");
  }
  return { url: unescapeXml(url), parameters };
}

export interface PlayCallOptions extends TwilioSimulatorOptions {
  samples8k: Int16Array;
  /**
   * After the samples, keep the line open (streaming silence in real-time mode, as Twilio does)
   * until playback is idle and the server has been quiet this long. 0 hangs up right away.
   */
  settleMs?: number;
  /** Give up settling after this long. */
  maxSettleMs?: number;
  /** Send `stop` and close at the end (default); false waits for the server to close. */
  hangUp?: boolean;
}

export interface CallSummary {
  streamSid: string;
  callSid: string;
  framesSent: number;
  framesOmitted: number;
  mediaReceived: number;
  mediaBytesReceived: number;
  marksReceived: string[];
  echoedMarks: EchoedMark[];
  clearsReceived: number;
  heard: HeardAudio[];
  heardAudio: Int16Array;
  protocolErrors: string[];
  close: { code: number; reason: string };
}

/** One whole call: connect, play the samples, optionally wait for the reply, hang up. */
export async function playCall(opts: PlayCallOptions): Promise<CallSummary> {
  const sim = await TwilioSimulator.connect(opts);
  await sim.play(opts.samples8k);
  const settleMs = opts.settleMs ?? 0;
  if (settleMs > 0 && sim.isOpen) {
    const deadline = performance.now() + (opts.maxSettleMs ?? 30_000);
    const quietChunk = new Int16Array((TWILIO_RATE * 100) / 1000);
    let idle = false;
    void sim.waitForPlaybackIdle(settleMs, opts.maxSettleMs ?? 30_000).then(
      () => {
        idle = true;
      },
      () => {
        idle = true;
      },
    );
    while (!idle && sim.isOpen && performance.now() < deadline) {
      if (sim.realtime) await sim.play(quietChunk);
      else await sleep(10);
    }
  }
  const close = opts.hangUp === false ? await sim.finished : await sim.hangUp();
  return {
    streamSid: sim.streamSid,
    callSid: sim.callSid,
    framesSent: sim.framesSent,
    framesOmitted: sim.framesOmitted,
    mediaReceived: sim.mediaReceived,
    mediaBytesReceived: sim.mediaBytesReceived,
    marksReceived: sim.marksReceived,
    echoedMarks: sim.echoedMarks,
    clearsReceived: sim.clearsReceived,
    heard: sim.heard(),
    heardAudio: sim.heardAudio(),
    protocolErrors: sim.protocolErrors,
    close,
  };
}
