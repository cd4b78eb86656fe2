/**
 * A fake OpenAI Realtime (GA protocol) WebSocket server for tests and the load benchmark.
 *
 * Protocol sources read while writing this (shapes and event names follow them):
 * - Client events: https://developers.openai.com/api/reference/resources/realtime/client-events
 *   (session.update with session.type "realtime", audio.input/output, session.updated answer)
 * - Server events (GA names: response.output_audio.delta, response.output_audio_transcript.done):
 *   https://learn.microsoft.com/en-us/javascript/api/@azure/ai-projects/realtimeservereventresponseaudiotranscriptdone
 * - speech_started.audio_start_ms includes prefix_padding_ms; speech_stopped.audio_end_ms includes
 *   the silence duration:
 *   https://learn.microsoft.com/en-us/javascript/api/@azure/ai-projects/realtimeservereventinputaudiobufferspeechstarted
 *   https://v03.api.js.langchain.com/interfaces/_langchain_openai.OpenAIClient.Beta.Realtime.InputAudioBufferSpeechStoppedEvent.html
 * - conversation.item.truncate {item_id, content_index, audio_end_ms}, answered by
 *   conversation.item.truncated, error when audio_end_ms exceeds the audio:
 *   https://learn.microsoft.com/en-us/javascript/api/%40azure/ai-projects/realtimeclienteventconversationitemtruncate
 * - session expiry: error {type:"invalid_request_error", code:"session_expired", message:"Your
 *   session hit the maximum duration of 60 minutes."} then close 1001:
 *   https://github.com/livekit/agents/issues/2358,
 *   https://github.com/pollen-robotics/reachy_mini_conversation_app/issues/134
 *
 * - input_audio_buffer.commit "will not create a response from the model" (it triggers the
 *   transcription only); committing less than 100 ms is an error input_audio_buffer_commit_empty:
 *   https://platform.openai.com/docs/api-reference/realtime-client-events/input_audio_buffer/commit,
 *   https://github.com/openai/openai-agents-js/issues/748, https://github.com/betalgo/openai/issues/674
 * - response.done's status is completed, cancelled, failed or incomplete, with status_details
 *   {type, reason, error{type, code}} (openai-node RealtimeResponse / RealtimeResponseStatus).
 * - conversation.item.input_audio_transcription.failed {item_id, content_index, error{type, code,
 *   message, param}} (openai-node ConversationItemInputAudioTranscriptionFailedEvent).
 * - An invalid session.update (unknown voice or transcription model) is answered by an `error`
 *   naming its event_id, and the session keeps its previous settings (no session.updated):
 *   openai-node RealtimeErrorEvent.error.event_id; the GA voice list is openai-node's
 *   RealtimeAudioConfigOutput.voice.
 *
 * - Audio formats: openai-node src/resources/realtime/realtime.ts,
 *   `RealtimeAudioFormats = AudioPCM | AudioPCMU | AudioPCMA`, where
 *   `AudioPCM { rate?: 24000; type?: 'audio/pcm' }` ("Only a 24kHz sample rate is supported") and
 *   `AudioPCMU { type?: 'audio/pcmu' }` (G.711 mu-law, 8 kHz, one byte per sample, no rate field).
 *   session.update sets audio.input.format (what input_audio_buffer.append carries) and
 *   audio.output.format (what response.output_audio.delta carries). This fake speaks audio/pcm and
 *   audio/pcmu; it refuses audio/pcma (G.711 A-law, which the real service accepts) with
 *   invalid_value, so a test never silently gets the wrong codec. Any other type is invalid_value.
 *
 * - Function calls (openai-node src/resources/realtime/realtime.ts): session.update's `tools` are
 *   RealtimeFunctionTool {type:"function", name, description, parameters} and `tool_choice` is
 *   'none' | 'auto' | 'required' or a named tool. A call is an output item of a response, after
 *   any audio item before it: response.output_item.added (a `function_call` item, in_progress,
 *   arguments ""), response.function_call_arguments.delta {item_id, call_id, delta} (...),
 *   response.function_call_arguments.done {item_id, call_id, name, arguments},
 *   response.output_item.done (the item completed, with its arguments), and the item in
 *   response.done's `output` (ResponseFunctionCallArgumentsDeltaEvent/DoneEvent,
 *   ResponseOutputItemAddedEvent/DoneEvent; openai-agents-js parses the same events in
 *   packages/agents-realtime/src/openaiRealtimeEvents.ts). The answer is conversation.item.create
 *   of a RealtimeConversationItemFunctionCallOutput {type:"function_call_output", call_id, output};
 *   "the server will check that a function_call item with the same ID exists in the conversation
 *   history" (openai-node ConversationItemWithReference.call_id), and an item created is
 *   confirmed by conversation.item.added then conversation.item.done (GA; openai/openai-openapi
 *   issue 518). A function_call_output creates no response by itself (the client sends
 *   response.create for one; openai-agents-js sendFunctionCallOutput's `startResponse`).
 *   This fake calls what the test tells it to, declared in the session or not.
 *
 * Error codes the docs do not pin down (unknown item, bad JSON, an unknown call_id, a bad
 * tool) are plausible stand-ins.
 */
import { randomBytes } from "node:crypto";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from "node:http";
import type { AddressInfo } from "node:net";
import type { Duplex } from "node:stream";
import { type RawData, type WebSocket, WebSocketServer } from "ws";
import { decodeMuLaw, encodeMuLaw, Resampler } from "../../src/domain/audio/index.ts";
import { Conditions } from "./conditions.ts";
import { tone } from "./signals.ts";
import {
  checkTurnScript,
  replyTo,
  ScriptError,
  SPEECH_MS_PER_CHAR,
  spokenAudio,
  type TurnScript,
} from "./turn-scripts.ts";

export const REALTIME_RATE = 24_000;
/** Sample rate of audio/pcmu (G.711 mu-law), one byte per sample. */
export const PCMU_RATE = 8_000;

/** The audio formats this fake speaks (see the header: audio/pcma is refused). */
export type RealtimeAudioFormatType = "audio/pcm" | "audio/pcmu";

export type JsonObject = { [key: string]: unknown };
export interface RealtimeEvent extends JsonObject {
  type: string;
}

export interface RealtimeErrorBody {
  type: string;
  code: string | null;
  message: string;
  param?: string | null;
  event_id?: string | null;
}

export type RealtimeFault =
  | { kind: "none" }
  /** The HTTP upgrade is answered with this status and no WebSocket. */
  | { kind: "refuse-upgrade"; status: number }
  | { kind: "close-after-ms"; ms: number; code?: number }
  | { kind: "close-after-appends"; appends: number; code?: number }
  /** One `error` event after `afterAppends` appends (default 1), repeated every `everyAppends`. */
  | {
      kind: "error-events";
      afterAppends?: number;
      everyAppends?: number;
      error?: Partial<RealtimeErrorBody>;
    }
  /** Accepts the upgrade and records what arrives, never sends anything. */
  | { kind: "silent" }
  /** Non-JSON text, a JSON array, an unknown event type and a binary frame, now and every N appends. */
  | { kind: "garbage"; everyAppends?: number }
  /** error session_expired then close 1001, after `afterMs` (default 0) or `afterAppends`. */
  | { kind: "session-expiry"; afterMs?: number; afterAppends?: number };

export interface FakeRealtimeOptions {
  /** Expected `Authorization: Bearer <apiKey>`; null accepts anything. */
  apiKey: string | null;
  /** Caller transcript sent in conversation.item.input_audio_transcription.completed. */
  callerTranscript: string;
  assistantTranscript: string;
  /** PCM16 at 24 kHz the assistant "says" in every response (resampled to 8 kHz for audio/pcmu). */
  assistantAudio: Int16Array;
  /** Audio per response.output_audio.delta. */
  deltaMs: number;
  /** Gap between deltas; 0 sends them back to back (one per event-loop turn). */
  deltaIntervalMs: number;
  /** Delay between the committed caller turn and response.created. */
  responseDelayMs: number;
  /** Delay before the caller transcription arrives (the real one is asynchronous). */
  transcriptionDelayMs: number;
  /** Silence that ends a caller turn. Overrides the session's silence_duration_ms when given. */
  silenceMs?: number;
  /** RMS (PCM16 units) above which a 10 ms frame counts as speech. */
  vadThreshold: number;
  /** Subtracted from the detected start in speech_started.audio_start_ms. */
  prefixPaddingMs?: number;
  /** Answer every committed turn with a response (unless the session sets create_response false). */
  autoRespond: boolean;
  /** Keep every appended sample per connection (turn off for long load runs). */
  keepAudio: boolean;
  /** Every response fails with this error (rate limit, quota, server error) and says nothing. */
  responseFailure?: { type: string; code: string; message: string } | null;
  /** Every caller transcription fails. */
  transcriptionFails?: boolean;
  fault: RealtimeFault;
  /**
   * Serve `GET` and `POST /v1/fake/scripts` on this server's HTTP port (off by default): a POSTed
   * TurnScript (JSON, with an optional string `key`) is queued for a coming connection. See
   * `queueScript`.
   */
  scriptEndpoint?: boolean;
  /**
   * Chooses the script of a new connection among the queued ones, at its upgrade (default: the
   * oldest); null leaves it unscripted. The chosen script leaves the queue.
   */
  pickScript?: (
    queued: readonly QueuedScript[],
    conn: FakeRealtimeConnection,
  ) => QueuedScript | null;
  /**
   * Caller turns that no script line covers: "fixed" (default) transcribes them as
   * `callerTranscript` and answers with `assistantTranscript` and `assistantAudio`; "unheard"
   * fails their transcription (audio_unintelligible) and answers that it did not catch that.
   */
  unscripted?: "fixed" | "unheard";
  /** Length of scripted answers' audio per character of their text (default 60 ms). */
  speechMsPerChar?: number;
}

/** A script waiting for its connection (see FakeRealtimeOptions.scriptEndpoint). */
export interface QueuedScript {
  script: TurnScript;
  /** Whatever the sender keys it by (e.g. the Twilio streamSid of the call it is for). */
  key: string | null;
  /** performance.now() when it was queued. */
  queuedAt: number;
}

/** Scripts not taken by a connection within this long are dropped. */
const SCRIPT_TTL_MS = 120_000;
const MAX_QUEUED_SCRIPTS = 1000;
const MAX_SCRIPT_BODY_BYTES = 256 * 1024;
export const SCRIPT_PATH = "/v1/fake/scripts";

/** A scripted answer: its text and its audio, cut into deltas in the response's format. */
interface ScriptedAnswer {
  transcript: string;
  chunks: { b64: string; samples: number }[];
  /** Samples of the whole answer at the format's rate. */
  total: number;
}

const DEFAULT_SILENCE_MS = 500;
const DEFAULT_PREFIX_MS = 0;
const VAD_FRAME_MS = 10;

const BETA_SESSION_KEYS = [
  "modalities",
  "input_audio_format",
  "output_audio_format",
  "input_audio_transcription",
  "input_audio_noise_reduction",
  "turn_detection",
  "voice",
  "temperature",
  "max_response_output_tokens",
];

const KNOWN_CLIENT_EVENTS = new Set([
  "session.update",
  "input_audio_buffer.append",
  "input_audio_buffer.commit",
  "input_audio_buffer.clear",
  "conversation.item.create",
  "conversation.item.retrieve",
  "conversation.item.truncate",
  "conversation.item.delete",
  "response.create",
  "response.cancel",
  "output_audio_buffer.clear",
]);

const VOICES = new Set([
  "alloy",
  "ash",
  "ballad",
  "coral",
  "echo",
  "sage",
  "shimmer",
  "verse",
  "marin",
  "cedar",
]);
const TRANSCRIPTION_MODELS = new Set([
  "whisper-1",
  "gpt-4o-transcribe",
  "gpt-4o-mini-transcribe",
  "gpt-4o-transcribe-latest",
]);

/** The format types of openai-node's RealtimeAudioFormats; audio/pcma is refused by this fake. */
const AUDIO_FORMAT_TYPES = ["audio/pcm", "audio/pcmu", "audio/pcma"];

const formatRate = (format: RealtimeAudioFormatType): number =>
  format === "audio/pcmu" ? PCMU_RATE : REALTIME_RATE;

const newId = (prefix: string): string => `${prefix}_${randomBytes(10).toString("hex")}`;

/** Characters of a function call's arguments per response.function_call_arguments.delta. */
const ARGUMENT_DELTA_CHARS = 16;

function plannedCall(name: string, args: JsonObject | string): PlannedCall {
  return {
    name,
    arguments: typeof args === "string" ? args : JSON.stringify(args),
    callId: newId("call"),
    itemId: newId("item"),
  };
}

const isObject = (v: unknown): v is JsonObject =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function deepMerge(base: JsonObject, patch: JsonObject): JsonObject {
  const out: JsonObject = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    const current = out[k];
    out[k] = isObject(v) && isObject(current) ? deepMerge(current, v) : v;
  }
  return out;
}

function getPath(obj: unknown, path: string[]): unknown {
  let cur: unknown = obj;
  for (const key of path) {
    if (!isObject(cur)) return undefined;
    cur = cur[key];
  }
  return cur;
}

/** A function call a response is to make, once its audio (if any) is done. */
interface PlannedCall {
  name: string;
  /** JSON text, as the model writes it. */
  arguments: string;
  callId: string;
  itemId: string;
}

/** A function call this fake made: its item was done, completed, in a response. */
export interface FakeFunctionCall {
  callId: string;
  itemId: string;
  responseId: string;
  name: string;
  arguments: string;
}

/** A function_call_output item the client created, in arrival order. */
export interface FunctionCallOutputRecord {
  callId: string;
  output: string;
  /** False when this connection made no function call with that call_id (answered by an error). */
  accepted: boolean;
  /** performance.now() when it arrived. */
  at: number;
}

interface ActiveResponse {
  id: string;
  itemId: string;
  /** False for a response that only calls functions: no audio item at all. */
  speaks: boolean;
  /** Function calls it makes after its audio, when it completes. */
  calls: PlannedCall[];
  started: boolean;
  nextDelta: number;
  t0: number;
  timer:
    | { kind: "timeout"; handle: NodeJS.Timeout }
    | { kind: "immediate"; handle: NodeJS.Immediate }
    | null;
  samplesSent: number;
  /** The session's output format when the response started; its deltas keep it throughout. */
  format: RealtimeAudioFormatType;
  /** A scripted connection's answer; null: the server's fixed transcript and audio. */
  scripted: ScriptedAnswer | null;
}

function cancelResponseTimer(r: ActiveResponse): void {
  // clearImmediate on a Timeout (or the reverse) corrupts Node's bookkeeping, hence the tag.
  if (r.timer?.kind === "timeout") clearTimeout(r.timer.handle);
  else if (r.timer?.kind === "immediate") clearImmediate(r.timer.handle);
  r.timer = null;
}

export interface ResponseRecord {
  id: string;
  itemId: string;
  status: "in_progress" | "completed" | "cancelled" | "failed";
  deltasSent: number;
  audioMsSent: number;
  /** Format of this response's deltas (the session's audio.output.format.type when it started). */
  format: RealtimeAudioFormatType;
}

export class FakeRealtimeConnection {
  readonly id: number;
  readonly headers: IncomingHttpHeaders;
  readonly requestUrl: string;
  /** Every parsed client event; appends keep `audio_bytes` instead of the base64 text. */
  readonly events: RealtimeEvent[] = [];
  /** Every server event this fake sent (including manual ones). */
  readonly sent: RealtimeEvent[] = [];
  readonly truncates: RealtimeEvent[] = [];
  /** Function calls made (each completed in a response), in order. */
  readonly functionCalls: FakeFunctionCall[] = [];
  /** function_call_output items the client created, accepted or not, in order. */
  readonly functionOutputs: FunctionCallOutputRecord[] = [];
  readonly responses: ResponseRecord[] = [];
  /** Client frames that were not a JSON object with a string `type`. */
  readonly invalidFrames: string[] = [];
  appendCount = 0;
  /** Bytes appended, as decoded from base64 (2 per sample for audio/pcm, 1 for audio/pcmu). */
  audioBytes = 0;
  session: JsonObject;
  closeInfo: { code: number; reason: string } | null = null;
  readonly closed: Promise<{ code: number; reason: string }>;
  /** The script this connection plays (chosen at its upgrade), if any. */
  script: QueuedScript | null = null;
  /** Caller turns committed with speech in them, whose transcript a script line gives. */
  callerTurns = 0;

  private readonly ws: WebSocket;
  private readonly server: FakeRealtimeServer;
  private readonly conditions = new Conditions();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly audioChunks: Int16Array[] = [];
  /** Samples sent per assistant item, at `rate` (the item's output format's rate). */
  private readonly assistantItems = new Map<string, { samplesSent: number; rate: number }>();
  private clientTurnDetection: JsonObject | null | undefined = undefined;
  private carryByte: number | null = null;
  private inputFormat: RealtimeAudioFormatType = "audio/pcm";
  private outputFormat: RealtimeAudioFormatType = "audio/pcm";
  /** The part of audioBytes appended as audio/pcmu (the rest is PCM16 at 24 kHz). */
  private pcmuBytes = 0;
  private vadSum = 0;
  private vadCount = 0;
  private vadFrames = 0;
  private speaking = false;
  private silentMs = 0;
  private speechItemId: string | null = null;
  private uncommittedSamples = 0;
  private lastItemId: string | null = null;
  private response: ActiveResponse | null = null;
  /** Function calls for the next response to make (see queueFunctionCall). */
  private plannedCalls: PlannedCall[] = [];
  private fault: RealtimeFault = { kind: "none" };
  /** What the next response says, set by a committed turn when the connection is scripted. */
  private pendingReply: string | null = null;
  private faultAppendBase = 0;
  private faultTimers = new Set<NodeJS.Timeout>();

  constructor(
    server: FakeRealtimeServer,
    id: number,
    ws: WebSocket,
    headers: IncomingHttpHeaders,
    url: string,
  ) {
    this.server = server;
    this.id = id;
    this.ws = ws;
    this.headers = headers;
    this.requestUrl = url;
    this.session = this.defaultSession();
    this.closed = new Promise((resolve) => {
      ws.on("close", (code, reason) => {
        this.closeInfo = { code, reason: reason.toString() };
        this.stopAllTimers();
        resolve(this.closeInfo);
        this.changed();
      });
    });
    ws.on("message", (data, isBinary) => this.onFrame(data, isBinary));
    ws.on("error", () => {
      // A peer that vanishes mid-frame surfaces as 'error' then 'close'; the close is what matters.
    });
  }

  get isOpen(): boolean {
    return this.ws.readyState === this.ws.OPEN;
  }

  /** Called once by the server after the upgrade. */
  start(fault: RealtimeFault): void {
    this.fault = fault;
    if (fault.kind !== "silent") {
      this.emit({ type: "session.created", session: this.session });
    }
    this.applyFault(fault);
  }

  // ---------- manual API ----------

  /** Sends any server event (adds event_id when missing), regardless of fault mode. */
  send(event: RealtimeEvent): void {
    const withId = event.event_id === undefined ? { event_id: newId("event"), ...event } : event;
    this.sent.push(withId);
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(JSON.stringify(withId));
    this.changed();
  }

  sendRaw(data: string | Buffer): void {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(data);
  }

  sendError(error: Partial<RealtimeErrorBody> = {}): void {
    this.send({
      type: "error",
      error: {
        type: error.type ?? "server_error",
        code: error.code ?? "server_error",
        message: error.message ?? "The server had an error while processing your request.",
        param: error.param ?? null,
        event_id: error.event_id ?? null,
      },
    });
  }

  expireSession(): void {
    this.send({
      type: "error",
      error: {
        type: "invalid_request_error",
        code: "session_expired",
        message: "Your session hit the maximum duration of 60 minutes.",
        param: null,
        event_id: null,
      },
    });
    this.close(1001, "Your session hit the maximum duration of 60 minutes.");
  }

  close(code = 1000, reason = ""): void {
    this.stopAllTimers();
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      this.ws.close(code, reason);
    }
  }

  /** Drops the TCP connection without a close frame. */
  terminate(): void {
    this.stopAllTimers();
    this.ws.terminate();
  }

  /**
   * The model calls `name` with `args` (an object to encode, or the JSON text itself): the
   * response in progress, or else the next one, ends with the call after its audio, as a model
   * that says goodbye and then hangs up does. A response cut short (barge-in, cancel, failure)
   * makes no call; the next one that completes does. Returns the call's call_id.
   */
  queueFunctionCall(name: string, args: JsonObject | string = {}): string {
    const call = plannedCall(name, args);
    if (this.response) this.response.calls.push(call);
    else this.plannedCalls.push(call);
    return call.callId;
  }

  /**
   * A response now that only calls `name`, with no audio (as a model that calls a tool without
   * a word). With a response in progress the call is added to that one instead, since the API
   * runs one response at a time. Returns the call's call_id.
   */
  respondWithFunctionCall(name: string, args: JsonObject | string = {}): string {
    if (this.response) return this.queueFunctionCall(name, args);
    const call = plannedCall(name, args);
    this.startResponse(null, { speaks: false, calls: [call] });
    return call.callId;
  }

  /** Switches this connection's fault mode; counters and timers start from now. */
  setFault(fault: RealtimeFault): void {
    for (const t of this.faultTimers) clearTimeout(t);
    this.faultTimers.clear();
    this.fault = fault;
    this.applyFault(fault);
  }

  // ---------- inspection ----------

  /**
   * Every appended sample, in order, as PCM16 (empty when keepAudio is off): at 24 kHz for an
   * audio/pcm connection, decoded mu-law at 8 kHz for an audio/pcmu one (see `inputRate`). A
   * connection that switches formats midway gets both rates one after the other.
   */
  audio(): Int16Array {
    let total = 0;
    for (const c of this.audioChunks) total += c.length;
    const out = new Int16Array(total);
    let offset = 0;
    for (const c of this.audioChunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }

  get appendedMs(): number {
    const pcmBytes = this.audioBytes - this.pcmuBytes;
    return (pcmBytes / 2 / REALTIME_RATE) * 1000 + (this.pcmuBytes / PCMU_RATE) * 1000;
  }

  /** Sample rate of appended audio now: 8000 when the session's input format is audio/pcmu. */
  get inputRate(): number {
    return formatRate(this.inputFormat);
  }

  /** Sample rate of the next response's deltas: 8000 when the output format is audio/pcmu. */
  get outputRate(): number {
    return formatRate(this.outputFormat);
  }

  eventsOfType(type: string): RealtimeEvent[] {
    return this.events.filter((e) => e.type === type);
  }

  sentOfType(type: string): RealtimeEvent[] {
    return this.sent.filter((e) => e.type === type);
  }

  /** Resolves with the first client event of `type` (optionally matching) — past or future. */
  waitForEvent(
    type: string,
    match: (e: RealtimeEvent) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<RealtimeEvent> {
    return this.conditions.waitFor(
      () => this.events.find((e) => e.type === type && match(e)),
      timeoutMs,
      `client event ${type}`,
    );
  }

  /** Resolves with the first server event of `type` this fake sent — past or future. */
  waitForSent(
    type: string,
    match: (e: RealtimeEvent) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<RealtimeEvent> {
    return this.conditions.waitFor(
      () => this.sent.find((e) => e.type === type && match(e)),
      timeoutMs,
      `server event ${type}`,
    );
  }

  waitFor<T>(check: () => T | undefined, timeoutMs = 10_000, label = "condition"): Promise<T> {
    return this.conditions.waitFor(check, timeoutMs, label);
  }

  // ---------- internals ----------

  private changed(): void {
    this.conditions.notify();
    this.server.notifyChange();
  }

  private get silent(): boolean {
    return this.fault.kind === "silent";
  }

  /** Scripted output: suppressed while the connection is in silent mode. */
  private emit(event: RealtimeEvent): void {
    if (this.silent) return;
    this.send(event);
  }

  private after(ms: number, fn: () => void, fault = false): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.faultTimers.delete(t);
      fn();
    }, ms);
    this.timers.add(t);
    if (fault) this.faultTimers.add(t);
  }

  private stopAllTimers(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.faultTimers.clear();
    if (this.response) cancelResponseTimer(this.response);
  }

  private applyFault(fault: RealtimeFault): void {
    this.faultAppendBase = this.appendCount;
    switch (fault.kind) {
      case "close-after-ms":
        this.after(fault.ms, () => this.close(fault.code ?? 1011, "fake: scheduled close"), true);
        break;
      case "garbage":
        this.sendGarbage();
        break;
      case "session-expiry":
        if (fault.afterAppends === undefined) {
          this.after(fault.afterMs ?? 0, () => this.expireSession(), true);
        }
        break;
      default:
        break;
    }
  }

  private onAppendFault(): void {
    const f = this.fault;
    const n = this.appendCount - this.faultAppendBase;
    switch (f.kind) {
      case "close-after-appends":
        if (n === f.appends) this.close(f.code ?? 1011, "fake: closed after appends");
        break;
      case "error-events": {
        const first = f.afterAppends ?? 1;
        const due =
          n === first ||
          (f.everyAppends !== undefined && n > first && (n - first) % f.everyAppends === 0);
        if (due) this.sendError(f.error);
        break;
      }
      case "garbage":
        if (n % (f.everyAppends ?? 50) === 0) this.sendGarbage();
        break;
      case "session-expiry":
        if (f.afterAppends !== undefined && n === f.afterAppends) this.expireSession();
        break;
      default:
        break;
    }
  }

  private sendGarbage(): void {
    this.sendRaw("this is not json {");
    this.sendRaw("[1,2,3]");
    this.sendRaw(JSON.stringify({ type: "fake.unknown_event_type", event_id: newId("event") }));
    this.sendRaw(Buffer.from([0xde, 0xad, 0xbe, 0xef]));
  }

  private defaultSession(): JsonObject {
    const o = this.server.options;
    return {
      type: "realtime",
      object: "realtime.session",
      id: newId("sess"),
      model: new URL(this.requestUrl, "http://x").searchParams.get("model") ?? "gpt-realtime",
      output_modalities: ["audio"],
      instructions: "",
      tools: [],
      tool_choice: "auto",
      max_output_tokens: "inf",
      tracing: null,
      prompt: null,
      include: null,
      expires_at: Math.floor(Date.now() / 1000) + 3600,
      audio: {
        input: {
          format: { type: "audio/pcm", rate: REALTIME_RATE },
          transcription: null,
          noise_reduction: null,
          turn_detection: {
            type: "server_vad",
            threshold: 0.5,
            prefix_padding_ms: o.prefixPaddingMs ?? DEFAULT_PREFIX_MS,
            silence_duration_ms: o.silenceMs ?? DEFAULT_SILENCE_MS,
            create_response: true,
            interrupt_response: true,
            idle_timeout_ms: null,
          },
        },
        output: { format: { type: "audio/pcm", rate: REALTIME_RATE }, voice: "alloy", speed: 1 },
      },
    };
  }

  private onFrame(data: RawData, isBinary: boolean): void {
    // Once this side has started closing it stops acting on input, like the real service.
    if (!this.isOpen) return;
    const text = isBinary ? null : data.toString();
    let parsed: unknown;
    try {
      parsed = text === null ? undefined : JSON.parse(text);
    } catch {
      parsed = undefined;
    }
    if (!isObject(parsed) || typeof parsed.type !== "string") {
      this.invalidFrames.push(text ?? `<binary ${(data as Buffer).length} bytes>`);
      this.emit({
        type: "error",
        error: {
          type: "invalid_request_error",
          code: "invalid_json",
          message: "The client event is not a JSON object with a type.",
          param: null,
          event_id: null,
        },
      });
      this.changed();
      return;
    }
    const event = parsed as RealtimeEvent;
    this.server.options.onClientEvent?.(this, event);
    if (event.type === "input_audio_buffer.append") {
      this.onAppend(event);
    } else {
      this.events.push(event);
      this.dispatch(event);
    }
    this.changed();
  }

  private clientError(event: RealtimeEvent, code: string, message: string, param?: string): void {
    this.emit({
      type: "error",
      error: {
        type: "invalid_request_error",
        code,
        message,
        param: param ?? null,
        event_id: typeof event.event_id === "string" ? event.event_id : null,
      },
    });
  }

  private dispatch(event: RealtimeEvent): void {
    switch (event.type) {
      case "session.update":
        this.onSessionUpdate(event);
        return;
      case "input_audio_buffer.commit":
        if (this.uncommittedSamples < (this.inputRate * 100) / 1000) {
          this.clientError(
            event,
            "input_audio_buffer_commit_empty",
            "Error committing input audio buffer: buffer too small. Expected at least 100ms of audio.",
          );
          return;
        }
        // A client commit transcribes the turn but creates no response. Audio with no speech
        // in it (VAD has committed every turn it heard) transcribes to nothing.
        this.commitTurn(this.speechItemId ?? newId("item"), false, this.speechItemId !== null);
        return;
      case "input_audio_buffer.clear":
        this.uncommittedSamples = 0;
        this.emit({ type: "input_audio_buffer.cleared" });
        return;
      case "conversation.item.truncate":
        this.onTruncate(event);
        return;
      case "conversation.item.create":
        this.onItemCreate(event);
        return;
      case "response.create":
        this.startResponse(event);
        return;
      case "response.cancel":
        if (this.response) this.finishResponse(this.response, "cancelled", "client_cancelled");
        else
          this.clientError(
            event,
            "response_cancel_not_active",
            "Cancellation failed: no active response found",
          );
        return;
      default:
        if (!KNOWN_CLIENT_EVENTS.has(event.type)) {
          this.clientError(
            event,
            "invalid_value",
            `Invalid value: '${event.type}'. Supported values are: ${[...KNOWN_CLIENT_EVENTS].join(", ")}.`,
            "type",
          );
        }
    }
  }

  private onSessionUpdate(event: RealtimeEvent): void {
    const patch = event.session;
    if (!isObject(patch) || patch.type === undefined) {
      this.clientError(
        event,
        "missing_required_parameter",
        "Missing required parameter: 'session.type'.",
        "session.type",
      );
      return;
    }
    const beta = BETA_SESSION_KEYS.find((k) => k in patch);
    if (beta !== undefined) {
      this.clientError(
        event,
        "unknown_parameter",
        `Unknown parameter: 'session.${beta}'.`,
        `session.${beta}`,
      );
      return;
    }
    const voice = getPath(patch, ["audio", "output", "voice"]);
    if (voice !== undefined && !(typeof voice === "string" && VOICES.has(voice))) {
      this.clientError(
        event,
        "invalid_value",
        `Invalid value: '${String(voice)}'. Supported values are: ${[...VOICES].join(", ")}.`,
        "session.audio.output.voice",
      );
      return;
    }
    const model = getPath(patch, ["audio", "input", "transcription", "model"]);
    if (model !== undefined && !(typeof model === "string" && TRANSCRIPTION_MODELS.has(model))) {
      this.clientError(
        event,
        "invalid_value",
        `Invalid value: '${String(model)}'. Supported values are: ${[...TRANSCRIPTION_MODELS].join(", ")}.`,
        "session.audio.input.transcription.model",
      );
      return;
    }
    for (const direction of ["input", "output"] as const) {
      if (!this.formatIsValid(event, patch, direction)) return;
    }
    if (!this.toolsAreValid(event, patch)) return;
    const td = getPath(patch, ["audio", "input", "turn_detection"]);
    if (td === null) this.clientTurnDetection = null;
    else if (isObject(td))
      this.clientTurnDetection = { ...(this.clientTurnDetection ?? {}), ...td };
    let session = deepMerge(this.session, patch);
    for (const direction of ["input", "output"] as const) {
      // A format is one member of a union: a new type replaces the old object rather than
      // merging into it (no stale `rate` on audio/pcmu); audio/pcm reports its only rate.
      // Setting it to null first makes the second deepMerge replace rather than merge.
      const format = getPath(patch, ["audio", direction, "format"]);
      if (isObject(format) && format.type !== undefined) {
        const replaced = format.type === "audio/pcm" ? { rate: REALTIME_RATE, ...format } : format;
        session = deepMerge(session, { audio: { [direction]: { format: null } } });
        session = deepMerge(session, { audio: { [direction]: { format: replaced } } });
      }
    }
    this.session = session;
    this.applyFormats();
    this.emit({ type: "session.updated", session: this.session });
  }

  /** Refuses (and returns false for) a format type the real service rejects or this fake lacks. */
  private formatIsValid(
    event: RealtimeEvent,
    patch: JsonObject,
    direction: "input" | "output",
  ): boolean {
    const format = getPath(patch, ["audio", direction, "format"]);
    if (format === undefined) return true;
    const param = `session.audio.${direction}.format`;
    if (!isObject(format)) {
      this.clientError(
        event,
        "invalid_type",
        `Invalid type for '${param}': expected an object, but got ${format === null ? "null" : typeof format} instead.`,
        param,
      );
      return false;
    }
    const type = format.type;
    if (type === undefined || type === "audio/pcm" || type === "audio/pcmu") return true;
    // audio/pcma (G.711 A-law) is valid for the real service, but this fake only speaks
    // audio/pcm and audio/pcmu: it refuses A-law rather than mistake it for another codec.
    const message =
      type === "audio/pcma"
        ? "Invalid value: 'audio/pcma'. This fake OpenAI Realtime server supports only audio/pcm and audio/pcmu."
        : `Invalid value: '${String(type)}'. Supported values are: ${AUDIO_FORMAT_TYPES.map((t) => `'${t}'`).join(", ")}.`;
    this.clientError(event, "invalid_value", message, `${param}.type`);
    return false;
  }

  /**
   * Refuses (and returns false for) tools the real service would: a function tool needs a name
   * of letters, digits, _ and - (at most 64) and JSON Schema parameters; tool_choice is one of
   * the string modes or a named tool. MCP tools pass unchecked.
   */
  private toolsAreValid(event: RealtimeEvent, patch: JsonObject): boolean {
    const tools = patch.tools;
    if (tools !== undefined) {
      if (!Array.isArray(tools)) {
        this.clientError(
          event,
          "invalid_type",
          "Invalid type for 'session.tools'.",
          "session.tools",
        );
        return false;
      }
      for (const [i, tool] of tools.entries()) {
        const param = `session.tools[${i}]`;
        const fine =
          isObject(tool) &&
          (tool.type === "mcp" ||
            (tool.type === "function" &&
              typeof tool.name === "string" &&
              /^[a-zA-Z0-9_-]{1,64}$/.test(tool.name) &&
              (tool.parameters === undefined || isObject(tool.parameters)) &&
              (tool.description === undefined || typeof tool.description === "string")));
        if (!fine) {
          this.clientError(event, "invalid_value", `Invalid tool at '${param}'.`, param);
          return false;
        }
      }
    }
    const choice = patch.tool_choice;
    if (
      choice !== undefined &&
      !(typeof choice === "string" && ["none", "auto", "required"].includes(choice)) &&
      !isObject(choice)
    ) {
      this.clientError(
        event,
        "invalid_value",
        `Invalid value: '${String(choice)}'. Supported values are: 'none', 'auto', 'required'.`,
        "session.tool_choice",
      );
      return false;
    }
    return true;
  }

  /** Reads both formats back from the session after an update. */
  private applyFormats(): void {
    const typeOf = (direction: "input" | "output"): RealtimeAudioFormatType =>
      getPath(this.session, ["audio", direction, "format", "type"]) === "audio/pcmu"
        ? "audio/pcmu"
        : "audio/pcm";
    const input = typeOf("input");
    this.outputFormat = typeOf("output");
    if (input === this.inputFormat) return;
    const oldRate = this.inputRate;
    this.inputFormat = input;
    // A half PCM16 sample or a partial VAD frame at the old rate means nothing at the new one;
    // the uncommitted audio keeps its duration, counted in samples of the new rate.
    this.carryByte = null;
    this.vadSum = 0;
    this.vadCount = 0;
    this.uncommittedSamples = Math.round((this.uncommittedSamples * this.inputRate) / oldRate);
  }

  private vadSetting(
    optionValue: number | undefined,
    sessionKey: string,
    fallback: number,
  ): number {
    if (optionValue !== undefined) return optionValue;
    const v = this.clientTurnDetection?.[sessionKey];
    return typeof v === "number" ? v : fallback;
  }

  private turnFlag(key: "create_response" | "interrupt_response"): boolean {
    const v = this.clientTurnDetection?.[key];
    return typeof v === "boolean" ? v : true;
  }

  private onAppend(event: RealtimeEvent): void {
    const audio = event.audio;
    if (typeof audio !== "string") {
      this.events.push(event);
      this.clientError(
        event,
        "missing_required_parameter",
        "Missing required parameter: 'audio'.",
        "audio",
      );
      return;
    }
    let bytes = Buffer.from(audio, "base64");
    const { audio: _dropped, ...rest } = event;
    this.events.push({ ...rest, type: event.type, audio_bytes: bytes.length });
    this.appendCount++;
    this.audioBytes += bytes.length;

    if (this.inputFormat === "audio/pcmu") {
      // 8 kHz mu-law, one byte per sample: no half samples to carry between appends.
      this.pcmuBytes += bytes.length;
      this.acceptSamples(decodeMuLaw(bytes));
      return;
    }
    if (this.carryByte !== null) {
      bytes = Buffer.concat([Buffer.of(this.carryByte), bytes]);
      this.carryByte = null;
    }
    if (bytes.length & 1) {
      this.carryByte = bytes[bytes.length - 1]!;
      bytes = bytes.subarray(0, bytes.length - 1);
    }
    if (bytes.byteOffset & 1) bytes = Buffer.from(bytes);
    this.acceptSamples(new Int16Array(bytes.buffer, bytes.byteOffset, bytes.length >> 1));
  }

  /** PCM16 at the input rate, from one append. */
  private acceptSamples(pcm: Int16Array): void {
    if (this.server.options.keepAudio) this.audioChunks.push(pcm);
    this.uncommittedSamples += pcm.length;
    if (this.clientTurnDetection !== null) this.runVad(pcm);
    this.onAppendFault();
  }

  private runVad(pcm: Int16Array): void {
    const frame = (this.inputRate * VAD_FRAME_MS) / 1000;
    let sum = this.vadSum;
    let count = this.vadCount;
    for (let i = 0; i < pcm.length; i++) {
      const s = pcm[i]!;
      sum += s * s;
      if (++count === frame) {
        this.vadFrame(sum / frame);
        sum = 0;
        count = 0;
        if (!this.isOpen) return;
      }
    }
    this.vadSum = sum;
    this.vadCount = count;
  }

  private vadFrame(meanSquare: number): void {
    const threshold = this.server.options.vadThreshold;
    const loud = meanSquare > threshold * threshold;
    const frameStartMs = this.vadFrames * VAD_FRAME_MS;
    this.vadFrames++;
    if (!this.speaking) {
      if (!loud) return;
      this.speaking = true;
      this.silentMs = 0;
      this.speechItemId = newId("item");
      const prefix = this.vadSetting(
        this.server.options.prefixPaddingMs,
        "prefix_padding_ms",
        DEFAULT_PREFIX_MS,
      );
      this.emit({
        type: "input_audio_buffer.speech_started",
        audio_start_ms: Math.max(0, frameStartMs - prefix),
        item_id: this.speechItemId,
      });
      if (this.response && this.turnFlag("interrupt_response")) {
        this.finishResponse(this.response, "cancelled", "turn_detected");
      }
      return;
    }
    if (loud) {
      this.silentMs = 0;
      return;
    }
    this.silentMs += VAD_FRAME_MS;
    const silenceMs = this.vadSetting(
      this.server.options.silenceMs,
      "silence_duration_ms",
      DEFAULT_SILENCE_MS,
    );
    if (this.silentMs < silenceMs) return;
    this.speaking = false;
    const itemId = this.speechItemId ?? newId("item");
    this.emit({
      type: "input_audio_buffer.speech_stopped",
      audio_end_ms: frameStartMs + VAD_FRAME_MS,
      item_id: itemId,
    });
    this.commitTurn(itemId);
    this.speechItemId = null;
  }

  private commitTurn(itemId: string, respond = true, speech = true): void {
    const previous = this.lastItemId;
    this.lastItemId = itemId;
    this.uncommittedSamples = 0;
    this.emit({
      type: "input_audio_buffer.committed",
      previous_item_id: previous,
      item_id: itemId,
    });
    this.emit({
      type: "conversation.item.added",
      previous_item_id: previous,
      item: {
        id: itemId,
        object: "realtime.item",
        type: "message",
        status: "completed",
        role: "user",
        content: [{ type: "input_audio", transcript: null }],
      },
    });
    const heard = speech ? this.scriptedTurn() : { text: undefined, failed: false };
    const transcription = getPath(this.session, ["audio", "input", "transcription"]);
    if (isObject(transcription)) {
      const sendTranscript = () =>
        this.server.options.transcriptionFails || heard.failed
          ? this.emit({
              type: "conversation.item.input_audio_transcription.failed",
              item_id: itemId,
              content_index: 0,
              error: {
                type: "transcription_error",
                code: "audio_unintelligible",
                message: "Audio could not be transcribed.",
                param: null,
              },
            })
          : this.emit({
              type: "conversation.item.input_audio_transcription.completed",
              item_id: itemId,
              content_index: 0,
              transcript: speech ? (heard.text ?? this.server.options.callerTranscript) : "",
              usage: { type: "duration", seconds: 1 },
            });
      const delay = this.server.options.transcriptionDelayMs;
      if (delay > 0) this.after(delay, sendTranscript);
      else sendTranscript();
    }
    if (respond && this.server.options.autoRespond && this.turnFlag("create_response"))
      this.startResponse(null);
  }

  /**
   * A caller turn with speech in it, for a scripted connection (or an unscripted one with
   * `unscripted: "unheard"`): its script line (undefined: the fixed callerTranscript) or a failed
   * transcription, and the answer the next response gives to it.
   */
  private scriptedTurn(): { text: string | undefined; failed: boolean } {
    const index = this.callerTurns++;
    const script = this.script?.script;
    const line = script?.caller[index];
    if (line !== undefined) {
      this.pendingReply = script?.assistant?.[index] ?? replyTo(line);
      return { text: line, failed: false };
    }
    if (this.server.options.unscripted === "unheard") {
      this.pendingReply = replyTo(null);
      return { text: undefined, failed: true };
    }
    this.pendingReply = null;
    return { text: undefined, failed: false };
  }

  private startResponse(
    request: RealtimeEvent | null,
    plan: { speaks: boolean; calls: PlannedCall[] } | null = null,
  ): void {
    if (this.response) {
      if (request)
        this.clientError(
          request,
          "conversation_already_has_active_response",
          `Conversation already has an active response in progress: ${this.response.id}. Wait until the response is finished before creating a new one.`,
        );
      return;
    }
    const r: ActiveResponse = {
      id: newId("resp"),
      itemId: newId("item"),
      started: false,
      nextDelta: 0,
      t0: 0,
      timer: null,
      samplesSent: 0,
      format: this.outputFormat,
      scripted: null,
      speaks: plan?.speaks ?? true,
      // The calls queued for "the next response" are this one's.
      calls: plan ? plan.calls : this.plannedCalls.splice(0),
    };
    if (r.speaks && this.pendingReply !== null) {
      r.scripted = this.server.scriptedAnswer(this.pendingReply, r.format);
      this.pendingReply = null;
    }
    this.response = r;
    this.responses.push({
      id: r.id,
      itemId: r.itemId,
      status: "in_progress",
      deltasSent: 0,
      audioMsSent: 0,
      format: r.format,
    });
    const delay = this.server.options.responseDelayMs;
    if (delay > 0) {
      r.timer = {
        kind: "timeout",
        handle: setTimeout(() => {
          r.timer = null;
          this.beginResponse(r);
        }, delay),
      };
    } else {
      this.beginResponse(r);
    }
  }

  private record(r: ActiveResponse): ResponseRecord {
    return this.responses.find((x) => x.id === r.id)!;
  }

  private beginResponse(r: ActiveResponse): void {
    if (this.response !== r || !this.isOpen) return;
    r.started = true;
    this.assistantItems.set(r.itemId, { samplesSent: 0, rate: formatRate(r.format) });
    const assistantItem = {
      id: r.itemId,
      object: "realtime.item",
      type: "message",
      status: "in_progress",
      role: "assistant",
      content: [],
    };
    this.emit({
      type: "response.created",
      response: {
        id: r.id,
        object: "realtime.response",
        status: "in_progress",
        status_details: null,
        output: [],
        usage: null,
      },
    });
    const failure = this.server.options.responseFailure;
    if (failure) {
      this.response = null;
      this.record(r).status = "failed";
      // A failed response calls nothing: the next one that completes makes its calls.
      this.plannedCalls.unshift(...r.calls);
      this.emit({
        type: "response.done",
        response: {
          id: r.id,
          object: "realtime.response",
          status: "failed",
          status_details: {
            type: "failed",
            reason: null,
            error: { type: failure.type, code: failure.code },
          },
          output: [],
          usage: null,
        },
      });
      return;
    }
    if (!r.speaks) {
      this.finishResponse(r, "completed");
      return;
    }
    this.emit({
      type: "response.output_item.added",
      response_id: r.id,
      output_index: 0,
      item: assistantItem,
    });
    this.emit({
      type: "response.output_audio_transcript.delta",
      response_id: r.id,
      item_id: r.itemId,
      output_index: 0,
      content_index: 0,
      delta: r.scripted?.transcript ?? this.server.options.assistantTranscript,
    });
    r.t0 = performance.now();
    this.pumpDeltas(r);
  }

  private pumpDeltas(r: ActiveResponse): void {
    r.timer = null;
    if (this.response !== r || !this.isOpen) return;
    const chunks = r.scripted?.chunks ?? this.server.deltaChunks(r.format);
    const interval = this.server.options.deltaIntervalMs;
    if (interval <= 0) {
      if (r.nextDelta < chunks.length) {
        this.sendDelta(r, chunks[r.nextDelta]!);
        r.timer = { kind: "immediate", handle: setImmediate(() => this.pumpDeltas(r)) };
        return;
      }
    } else {
      const now = performance.now();
      while (r.nextDelta < chunks.length && r.t0 + r.nextDelta * interval <= now) {
        this.sendDelta(r, chunks[r.nextDelta]!);
        if (this.response !== r) return;
      }
      if (r.nextDelta < chunks.length) {
        const wait = Math.max(0, r.t0 + r.nextDelta * interval - performance.now());
        r.timer = { kind: "timeout", handle: setTimeout(() => this.pumpDeltas(r), wait) };
        return;
      }
    }
    this.finishResponse(r, "completed");
  }

  private sendDelta(r: ActiveResponse, chunk: { b64: string; samples: number }): void {
    r.nextDelta++;
    r.samplesSent += chunk.samples;
    const item = this.assistantItems.get(r.itemId);
    if (item) item.samplesSent = r.samplesSent;
    const rec = this.record(r);
    rec.deltasSent++;
    rec.audioMsSent = (r.samplesSent / formatRate(r.format)) * 1000;
    this.emit({
      type: "response.output_audio.delta",
      response_id: r.id,
      item_id: r.itemId,
      output_index: 0,
      content_index: 0,
      delta: chunk.b64,
    });
  }

  private finishResponse(
    r: ActiveResponse,
    status: "completed" | "cancelled",
    reason?: string,
  ): void {
    cancelResponseTimer(r);
    this.response = null;
    this.record(r).status = status;
    if (status !== "completed") {
      // Its calls come after its audio, which was cut: the next response that completes makes them.
      this.plannedCalls.unshift(...r.calls);
    }
    if (!r.started) {
      // Cancelled before response.created: the real API simply never starts it.
      return;
    }
    const output: JsonObject[] = [];
    let textTokens = 0;
    if (r.speaks) {
      const message = this.finishAudioItem(r, status);
      output.push(message.item);
      textTokens += message.transcript.split(" ").length;
    }
    if (status === "completed") {
      for (const call of r.calls) {
        output.push(this.makeFunctionCall(r, call, output.length));
        // About four characters a token, as OpenAI's rule of thumb has it.
        textTokens += Math.ceil((call.name.length + call.arguments.length) / 4);
      }
    }
    const audioTokens = Math.ceil((r.samplesSent / formatRate(r.format)) * 20);
    const inputAudioTokens = Math.ceil(this.appendedMs / 100);
    this.emit({
      type: "response.done",
      response: {
        id: r.id,
        object: "realtime.response",
        status,
        status_details: status === "cancelled" ? { type: "cancelled", reason } : null,
        output,
        usage: {
          total_tokens: inputAudioTokens + 50 + audioTokens + textTokens,
          input_tokens: inputAudioTokens + 50,
          output_tokens: audioTokens + textTokens,
          input_token_details: {
            text_tokens: 50,
            audio_tokens: inputAudioTokens,
            image_tokens: 0,
            cached_tokens: 0,
          },
          output_token_details: { text_tokens: textTokens, audio_tokens: audioTokens },
        },
      },
    });
  }

  /** The audio item's closing events; returns the item and what it said. */
  private finishAudioItem(
    r: ActiveResponse,
    status: "completed" | "cancelled",
  ): { item: JsonObject; transcript: string } {
    const full = r.scripted?.transcript ?? this.server.options.assistantTranscript;
    // Samples of the whole answer in the response's format (assistantAudio's length for audio/pcm).
    const total = r.scripted
      ? r.scripted.total
      : r.format === "audio/pcm"
        ? this.server.options.assistantAudio.length
        : this.server.deltaChunks(r.format).reduce((n, c) => n + c.samples, 0);
    let transcript = full;
    if (status === "cancelled" && total > 0) {
      const words = full.split(" ");
      transcript = words.slice(0, Math.ceil((words.length * r.samplesSent) / total)).join(" ");
    }
    const ids = { response_id: r.id, item_id: r.itemId, output_index: 0, content_index: 0 };
    this.emit({ type: "response.output_audio.done", ...ids });
    this.emit({ type: "response.output_audio_transcript.done", ...ids, transcript });
    const item = {
      id: r.itemId,
      object: "realtime.item",
      type: "message",
      status: status === "completed" ? "completed" : "incomplete",
      role: "assistant",
      content: [{ type: "output_audio", transcript }],
    };
    this.emit({ type: "response.output_item.done", response_id: r.id, output_index: 0, item });
    return { item, transcript };
  }

  /**
   * One function call as the API streams it: the item added (in progress, no arguments yet),
   * its arguments in deltas, then done, then the item done completed. Returns the item.
   */
  private makeFunctionCall(r: ActiveResponse, call: PlannedCall, outputIndex: number): JsonObject {
    const base = {
      id: call.itemId,
      object: "realtime.item",
      type: "function_call",
      call_id: call.callId,
      name: call.name,
    };
    const at = { response_id: r.id, output_index: outputIndex };
    this.emit({
      type: "response.output_item.added",
      ...at,
      item: { ...base, status: "in_progress", arguments: "" },
    });
    const ids = { ...at, item_id: call.itemId, call_id: call.callId };
    for (let i = 0; i < call.arguments.length; i += ARGUMENT_DELTA_CHARS) {
      this.emit({
        type: "response.function_call_arguments.delta",
        ...ids,
        delta: call.arguments.slice(i, i + ARGUMENT_DELTA_CHARS),
      });
    }
    this.emit({
      type: "response.function_call_arguments.done",
      ...ids,
      name: call.name,
      arguments: call.arguments,
    });
    const item = { ...base, status: "completed", arguments: call.arguments };
    this.emit({ type: "response.output_item.done", ...at, item });
    this.functionCalls.push({
      callId: call.callId,
      itemId: call.itemId,
      responseId: r.id,
      name: call.name,
      arguments: call.arguments,
    });
    return item;
  }

  /**
   * A function_call_output is checked against this connection's calls and confirmed; other
   * items (the bridge's replayed turns) are accepted without a word, as before.
   */
  private onItemCreate(event: RealtimeEvent): void {
    const item = event.item;
    if (!isObject(item) || item.type !== "function_call_output") return;
    for (const key of ["call_id", "output"] as const) {
      if (typeof item[key] !== "string") {
        this.clientError(
          event,
          "missing_required_parameter",
          `Missing required parameter: 'item.${key}'.`,
          `item.${key}`,
        );
        return;
      }
    }
    const callId = item.call_id as string;
    const output = item.output as string;
    const call = this.functionCalls.find((c) => c.callId === callId);
    this.functionOutputs.push({
      callId,
      output,
      accepted: call !== undefined,
      at: performance.now(),
    });
    if (!call) {
      this.clientError(
        event,
        "invalid_value",
        `No function call found with call_id '${callId}'.`,
        "item.call_id",
      );
      return;
    }
    const created = {
      id: typeof item.id === "string" ? item.id : newId("item"),
      object: "realtime.item",
      type: "function_call_output",
      status: "completed",
      call_id: callId,
      output,
    };
    // Appended at the end of the conversation, which is where its call's item is in every
    // test so far: previous_item_id names that item.
    this.emit({ type: "conversation.item.added", previous_item_id: call.itemId, item: created });
    this.emit({ type: "conversation.item.done", previous_item_id: call.itemId, item: created });
  }

  private onTruncate(event: RealtimeEvent): void {
    this.truncates.push(event);
    const itemId = event.item_id;
    const endMs = event.audio_end_ms;
    const item = typeof itemId === "string" ? this.assistantItems.get(itemId) : undefined;
    if (!item) {
      this.clientError(
        event,
        "item_not_found",
        `Item with item_id '${String(itemId)}' not found.`,
        "item_id",
      );
      return;
    }
    const sentMs = (item.samplesSent / item.rate) * 1000;
    if (typeof endMs !== "number" || endMs < 0 || endMs > sentMs + 1) {
      this.clientError(
        event,
        "invalid_value",
        `Audio content of ${Math.floor(sentMs)}ms is already shorter than ${String(endMs)}ms`,
        "audio_end_ms",
      );
      return;
    }
    const r = this.response;
    if (r && r.itemId === itemId) this.finishResponse(r, "cancelled", "client_cancelled");
    this.emit({
      type: "conversation.item.truncated",
      item_id: itemId,
      content_index: typeof event.content_index === "number" ? event.content_index : 0,
      audio_end_ms: endMs,
    });
  }
}

export interface StartOptions extends Partial<FakeRealtimeOptions> {
  /** Invoked for every parsed client event before the fake reacts to it. */
  onClientEvent?: (conn: FakeRealtimeConnection, event: RealtimeEvent) => void;
  /** The port to listen on, on 127.0.0.1 (default 0: any free port). */
  port?: number;
}

/** PCM16 at 24 kHz as base64 deltas of `deltaMs`. */
function pcmChunksOf(audio: Int16Array, deltaMs: number): { b64: string; samples: number }[] {
  const per = Math.max(1, Math.round((deltaMs * REALTIME_RATE) / 1000));
  const chunks: { b64: string; samples: number }[] = [];
  for (let i = 0; i < audio.length; i += per) {
    const part = audio.subarray(i, Math.min(audio.length, i + per));
    chunks.push({
      b64: Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString("base64"),
      samples: part.length,
    });
  }
  return chunks;
}

/** PCM16 at 24 kHz, resampled to 8 kHz and mu-law encoded, as base64 deltas of `deltaMs`. */
function pcmuChunksOf(audio: Int16Array, deltaMs: number): { b64: string; samples: number }[] {
  const resampler = new Resampler(REALTIME_RATE, PCMU_RATE);
  const pcm8 = new Int16Array(resampler.maxOutputLength(audio.length) + resampler.maxFlushLength);
  let length = resampler.processInto(audio, pcm8);
  length += resampler.flushInto(pcm8, length);
  const mulaw = Buffer.from(encodeMuLaw(pcm8.subarray(0, length)));
  const per = Math.max(1, Math.round((deltaMs * PCMU_RATE) / 1000));
  const chunks: { b64: string; samples: number }[] = [];
  for (let i = 0; i < mulaw.length; i += per) {
    const part = mulaw.subarray(i, Math.min(mulaw.length, i + per));
    chunks.push({ b64: part.toString("base64"), samples: part.length });
  }
  return chunks;
}

type ResolvedOptions = FakeRealtimeOptions & {
  onClientEvent?: (conn: FakeRealtimeConnection, event: RealtimeEvent) => void;
};

export class FakeRealtimeServer {
  readonly connections: FakeRealtimeConnection[] = [];
  /** Upgrades refused by auth or a refuse-upgrade fault. */
  readonly rejectedUpgrades: { status: number; headers: IncomingHttpHeaders }[] = [];
  options: ResolvedOptions;
  readonly port: number;

  private readonly http: Server;
  private readonly wss: WebSocketServer;
  private readonly conditions = new Conditions();
  private chunkCache: { b64: string; samples: number }[] | null = null;
  private pcmuChunkCache: { b64: string; samples: number }[] | null = null;
  private readonly scriptQueue: QueuedScript[] = [];

  private constructor(http: Server, wss: WebSocketServer, options: ResolvedOptions) {
    this.http = http;
    this.wss = wss;
    this.options = options;
    this.port = (http.address() as AddressInfo).port;
  }

  static async start(opts: StartOptions = {}): Promise<FakeRealtimeServer> {
    const options: ResolvedOptions = {
      apiKey: "sk-test-fake",
      callerTranscript: "hello",
      assistantTranscript: "Hi there, how can I help you today?",
      assistantAudio: tone(440, 1000, REALTIME_RATE, 0.5),
      deltaMs: 100,
      deltaIntervalMs: 0,
      responseDelayMs: 0,
      transcriptionDelayMs: 0,
      vadThreshold: 500,
      autoRespond: true,
      keepAudio: true,
      fault: { kind: "none" },
      ...opts,
    };
    const http = createServer();
    const wss = new WebSocketServer({ noServer: true, maxPayload: 16 * 1024 * 1024 });
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(opts.port ?? 0, "127.0.0.1", () => resolve());
    });
    const server = new FakeRealtimeServer(http, wss, options);
    http.on("request", (req, res) => server.onRequest(req, res));
    http.on("upgrade", (req, socket, head) => server.onUpgrade(req, socket, head));
    return server;
  }

  /**
   * Queues `script` for a coming connection, which takes it at its upgrade (the oldest, unless
   * `pickScript` chooses). Scripts nobody took within two minutes are dropped.
   */
  queueScript(script: TurnScript, key: string | null = null): QueuedScript {
    this.pruneScripts();
    if (this.scriptQueue.length >= MAX_QUEUED_SCRIPTS) {
      throw new ScriptError(`${MAX_QUEUED_SCRIPTS} scripts are already waiting`);
    }
    const queued: QueuedScript = {
      script: checkTurnScript(script),
      key,
      queuedAt: performance.now(),
    };
    this.scriptQueue.push(queued);
    return queued;
  }

  /** Scripts waiting for a connection, oldest first. */
  get queuedScripts(): readonly QueuedScript[] {
    this.pruneScripts();
    return this.scriptQueue;
  }

  /** The text and audio of a scripted answer, in deltas of `format`. */
  scriptedAnswer(transcript: string, format: RealtimeAudioFormatType): ScriptedAnswer {
    const msPerChar = this.options.speechMsPerChar ?? SPEECH_MS_PER_CHAR;
    const audio = spokenAudio(transcript, REALTIME_RATE, msPerChar);
    const chunks =
      format === "audio/pcmu"
        ? pcmuChunksOf(audio, this.options.deltaMs)
        : pcmChunksOf(audio, this.options.deltaMs);
    return { transcript, chunks, total: chunks.reduce((n, c) => n + c.samples, 0) };
  }

  /** ws://127.0.0.1:PORT/v1/realtime?model=gpt-realtime */
  get url(): string {
    return `ws://127.0.0.1:${this.port}/v1/realtime?model=gpt-realtime`;
  }

  /** Changes behaviour for later turns/connections (e.g. transcript, deltaIntervalMs). */
  setOptions(patch: Partial<FakeRealtimeOptions>): void {
    this.options = { ...this.options, ...patch };
    if (patch.assistantAudio !== undefined || patch.deltaMs !== undefined) {
      this.chunkCache = null;
      this.pcmuChunkCache = null;
    }
  }

  /** New connections get this fault; open ones switch to it now (refuse-upgrade only affects new). */
  setFault(fault: RealtimeFault): void {
    this.options = { ...this.options, fault };
    if (fault.kind === "refuse-upgrade") return;
    for (const c of this.connections) if (c.isOpen) c.setFault(fault);
  }

  get openConnections(): FakeRealtimeConnection[] {
    return this.connections.filter((c) => c.isOpen);
  }

  get totalAppends(): number {
    return this.connections.reduce((n, c) => n + c.appendCount, 0);
  }

  /** Resolves with the `index`-th connection (0-based) once it exists. */
  waitForConnection(index = 0, timeoutMs = 10_000): Promise<FakeRealtimeConnection> {
    return this.conditions.waitFor(
      () => this.connections[index],
      timeoutMs,
      `connection #${index}`,
    );
  }

  waitFor<T>(check: () => T | undefined, timeoutMs = 10_000, label = "condition"): Promise<T> {
    return this.conditions.waitFor(check, timeoutMs, label);
  }

  /** Re-evaluates server-level waits; connections call it whenever their state changes. */
  notifyChange(): void {
    this.conditions.notify();
  }

  /**
   * Base64 deltas of the assistant audio in `format`, computed once per audio/deltaMs setting:
   * PCM16 at 24 kHz, or for audio/pcmu the same audio resampled to 8 kHz and mu-law encoded.
   * `samples` counts samples at the format's rate.
   */
  deltaChunks(format: RealtimeAudioFormatType = "audio/pcm"): { b64: string; samples: number }[] {
    if (format === "audio/pcmu") return this.pcmuDeltaChunks();
    if (this.chunkCache) return this.chunkCache;
    const audio = this.options.assistantAudio;
    const per = Math.max(1, Math.round((this.options.deltaMs * REALTIME_RATE) / 1000));
    const chunks: { b64: string; samples: number }[] = [];
    for (let i = 0; i < audio.length; i += per) {
      const part = audio.subarray(i, Math.min(audio.length, i + per));
      chunks.push({
        b64: Buffer.from(part.buffer, part.byteOffset, part.byteLength).toString("base64"),
        samples: part.length,
      });
    }
    this.chunkCache = chunks;
    return chunks;
  }

  private pruneScripts(): void {
    const oldest = performance.now() - SCRIPT_TTL_MS;
    while (this.scriptQueue.length > 0 && this.scriptQueue[0]!.queuedAt < oldest) {
      this.scriptQueue.shift();
    }
  }

  /** The script a new connection plays: `pickScript`'s choice, or the oldest queued. */
  private takeScript(conn: FakeRealtimeConnection): QueuedScript | null {
    const queued = this.queuedScripts;
    if (queued.length === 0) return null;
    const pick = this.options.pickScript;
    const chosen = pick ? pick(queued, conn) : queued[0]!;
    const index = chosen ? this.scriptQueue.indexOf(chosen) : -1;
    if (index < 0) return null;
    this.scriptQueue.splice(index, 1);
    return chosen;
  }

  /** Plain HTTP: the script endpoint when it is on; anything else wants a WebSocket. */
  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? "/").split("?")[0];
    if (!this.options.scriptEndpoint || path !== SCRIPT_PATH) {
      res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket upgrade required");
      return;
    }
    const reply = (status: number, body: JsonObject) =>
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    if (req.method === "GET") {
      reply(200, { service: "fake-openai-realtime", queued: this.queuedScripts.length });
      return;
    }
    if (req.method !== "POST") {
      res.setHeader("allow", "GET, POST");
      reply(405, { error: { message: `${req.method} is not allowed here` } });
      return;
    }
    const parts: Buffer[] = [];
    let size = 0;
    req.on("data", (part: Buffer) => {
      size += part.length;
      if (size <= MAX_SCRIPT_BODY_BYTES) parts.push(part);
    });
    req.on("end", () => {
      if (size > MAX_SCRIPT_BODY_BYTES) {
        reply(413, { error: { message: `a script is at most ${MAX_SCRIPT_BODY_BYTES} bytes` } });
        return;
      }
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(parts).toString("utf8"));
      } catch {
        reply(400, { error: { message: "the body is not JSON" } });
        return;
      }
      const key = isObject(body) ? body.key : undefined;
      if (key !== undefined && key !== null && typeof key !== "string") {
        reply(400, { error: { message: "key must be a string" } });
        return;
      }
      try {
        const queued = this.queueScript(body as TurnScript, key ?? null);
        reply(201, {
          key: queued.key,
          callerLines: queued.script.caller.length,
          queued: this.scriptQueue.length,
        });
      } catch (error) {
        if (!(error instanceof ScriptError)) throw error;
        reply(400, { error: { message: error.message } });
      }
    });
    req.on("error", () => {
      // A client that goes away mid-body gets no answer.
    });
  }

  private pcmuDeltaChunks(): { b64: string; samples: number }[] {
    if (this.pcmuChunkCache) return this.pcmuChunkCache;
    const audio = this.options.assistantAudio;
    const resampler = new Resampler(REALTIME_RATE, PCMU_RATE);
    const pcm8 = new Int16Array(resampler.maxOutputLength(audio.length) + resampler.maxFlushLength);
    let length = resampler.processInto(audio, pcm8);
    length += resampler.flushInto(pcm8, length);
    const mulaw = Buffer.from(encodeMuLaw(pcm8.subarray(0, length)));
    const per = Math.max(1, Math.round((this.options.deltaMs * PCMU_RATE) / 1000));
    const chunks: { b64: string; samples: number }[] = [];
    for (let i = 0; i < mulaw.length; i += per) {
      const part = mulaw.subarray(i, Math.min(mulaw.length, i + per));
      chunks.push({ b64: part.toString("base64"), samples: part.length });
    }
    this.pcmuChunkCache = chunks;
    return chunks;
  }

  async close(): Promise<void> {
    for (const c of this.connections) c.terminate();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private reject(
    socket: Duplex,
    status: number,
    headers: IncomingHttpHeaders,
    body: JsonObject,
  ): void {
    this.rejectedUpgrades.push({ status, headers });
    const text = JSON.stringify(body);
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? "Error"}\r\n` +
        "Content-Type: application/json\r\n" +
        `Content-Length: ${Buffer.byteLength(text)}\r\n` +
        "Connection: close\r\n\r\n" +
        text,
    );
    this.conditions.notify();
  }

  private onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on("error", () => {
      // Clients that give up mid-handshake reset the socket; nothing to report.
    });
    const url = req.url ?? "/";
    if (!url.startsWith("/v1/realtime")) {
      this.reject(socket, 404, req.headers, { error: { message: `no route ${url}` } });
      return;
    }
    const fault = this.options.fault;
    if (fault.kind === "refuse-upgrade") {
      this.reject(socket, fault.status, req.headers, {
        error: { type: "server_error", code: null, message: "fake: upgrade refused", param: null },
      });
      return;
    }
    const key = this.options.apiKey;
    if (key !== null && req.headers.authorization !== `Bearer ${key}`) {
      this.reject(socket, 401, req.headers, {
        error: {
          type: "invalid_request_error",
          code: "invalid_api_key",
          message: "Incorrect API key provided.",
          param: null,
        },
      });
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const conn = new FakeRealtimeConnection(this, this.connections.length, ws, req.headers, url);
      this.connections.push(conn);
      conn.script = this.takeScript(conn);
      conn.start(this.options.fault);
      void conn.closed.then(() => this.conditions.notify());
      this.conditions.notify();
    });
  }
}
