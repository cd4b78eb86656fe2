import WebSocket from "ws";
import type {
  AssistantTool,
  ConversationTurn,
  ModelCloseKind,
  RealtimeConnection,
  RealtimeListener,
  RealtimeModel,
  RealtimeSessionOptions,
  ResponseOutcome,
} from "../../application/ports/index.ts";
import type { JsonObject } from "../../domain/analytics.ts";
import { audioFrame, type FrameSocket } from "../ws/audio-frame.ts";
import { audioMessage } from "../ws/audio-message.ts";
import { parseServerEvent, type RealtimeServerEvent } from "./realtime-events.ts";

export interface RealtimeClientOptions {
  url: string;
  apiKey: string;
  /** Model used to transcribe the caller. */
  transcriptionModel?: string;
  /** Time allowed from connect to `session.created`. */
  connectTimeoutMs?: number;
  /** Caller audio kept while the socket is not open yet; older audio is dropped beyond it. */
  maxQueuedMs?: number;
  /** Time allowed from `session.created` to `session.updated` before the update counts as rejected. */
  sessionUpdateTimeoutMs?: number;
}

/** The id our session.update carries, so that an `error` naming it is known to reject it. */
const SESSION_UPDATE_EVENT_ID = "callbridge_session_update";
/** The commit we send at the end of a call may find nothing to commit; that is no error. */
const COMMIT_EMPTY = "input_audio_buffer_commit_empty";
const COMMIT = JSON.stringify({ type: "input_audio_buffer.commit" });

const APPEND_PREFIX = Buffer.from('{"type":"input_audio_buffer.append","audio":"', "latin1");
const APPEND_SUFFIX = Buffer.from('"}', "latin1");
const TEXT = { binary: false } as const;

/**
 * Client frames carry a masking key (RFC 6455 §5.3), and ws accepts an all-zero key as "nothing
 * to XOR": the frame is then written as it is, with no copy and no pass over its bytes. Masking
 * exists so that script in a browser cannot put bytes of its choosing on the wire to confuse
 * intermediaries (§10.3); this client is a server process talking to its configured endpoint,
 * over TLS in production, and 50 frames a second per call are a real cost.
 */
const zeroMask = (mask: Buffer): void => {
  mask.fill(0);
};

/**
 * Where every client decodes its audio deltas. One buffer serves all calls: a delta is decoded
 * and handed to the listener, which resamples it before returning, all in one synchronous call.
 * Per client it was 16 KB of each call's memory.
 */
let sharedDeltaScratch = Buffer.allocUnsafeSlow(16_384);
const MAX_SHARED_DELTA_SCRATCH = 1 << 20;

/**
 * A conversation turn as a Realtime conversation item (openai-node
 * RealtimeConversationItemUserMessage / AssistantMessage: `input_text` and `output_text` parts).
 */
function conversationItem(turn: ConversationTurn): string {
  const item =
    turn.speaker === "caller"
      ? { type: "message", role: "user", content: [{ type: "input_text", text: turn.text }] }
      : { type: "message", role: "assistant", content: [{ type: "output_text", text: turn.text }] };
  return JSON.stringify({ type: "conversation.item.create", item });
}

/** OpenAI Realtime over a plain `ws` client: one socket per call. */
export class OpenAiRealtimeModel implements RealtimeModel {
  constructor(private readonly options: RealtimeClientOptions) {}

  connect(session: RealtimeSessionOptions, listener: RealtimeListener): RealtimeConnection {
    return new OpenAiRealtimeConnection(this.options, session, listener);
  }
}

/**
 * The session's audio format, the same both ways. openai-node `RealtimeAudioFormats`:
 * `AudioPCM { type: 'audio/pcm', rate?: 24000 }` ("Only a 24kHz sample rate is supported") and
 * `AudioPCMU { type: 'audio/pcmu' }`, G.711 mu-law, which has no rate field (it is 8 kHz).
 */
const PCM16_FORMAT = { type: "audio/pcm", rate: 24000 } as const;
const PCMU_FORMAT = { type: "audio/pcmu" } as const;

/**
 * The session's function tools (openai-node RealtimeFunctionTool: `type: 'function'`, `name`,
 * `description`, `parameters` as JSON Schema), and `tool_choice: "auto"` (ToolChoiceOptions
 * `'none' | 'auto' | 'required'`): the model decides when, as end_call needs. A session with no
 * tools says nothing of either and keeps the server's defaults.
 */
function toolsOf(tools: readonly AssistantTool[] | undefined) {
  if (!tools || tools.length === 0) return {};
  return {
    tools: tools.map((tool) => ({
      type: "function",
      name: tool.name,
      description: tool.description,
      parameters: tool.parameters,
    })),
    tool_choice: "auto",
  };
}

export function sessionUpdate(session: RealtimeSessionOptions, transcriptionModel: string): string {
  // The transcription takes an ISO-639-1 code; CALL_LANGUAGE is a BCP 47 tag such as en-US.
  const language = session.language?.split("-")[0]?.toLowerCase();
  const format = session.audioFormat === "pcmu" ? PCMU_FORMAT : PCM16_FORMAT;
  return JSON.stringify({
    type: "session.update",
    event_id: SESSION_UPDATE_EVENT_ID,
    session: {
      type: "realtime",
      instructions: session.instructions,
      output_modalities: ["audio"],
      audio: {
        input: {
          format,
          turn_detection: { type: "server_vad" },
          transcription: { model: transcriptionModel, ...(language ? { language } : {}) },
        },
        output: {
          format,
          voice: session.voice,
        },
      },
      ...toolsOf(session.tools),
    },
  });
}

/**
 * A function call's result as a conversation item (openai-node ConversationItemCreateEvent with
 * RealtimeConversationItemFunctionCallOutput `{ type: 'function_call_output', call_id, output }`;
 * openai-agents-js sendFunctionCallOutput sends the same). No response.create follows: the
 * model reads it with the rest of the conversation and is not made to speak.
 */
function functionCallOutput(callId: string, output: string): string {
  return JSON.stringify({
    type: "conversation.item.create",
    item: { type: "function_call_output", call_id: callId, output },
  });
}

class OpenAiRealtimeConnection implements RealtimeConnection {
  private readonly socket: WebSocket;
  /** The TCP (or TLS) socket under `socket`, known from the upgrade: appends are written there. */
  private raw: FrameSocket | null = null;
  private queue: (string | Buffer)[] = [];
  private queuedMs = 0;
  private closed = false;
  private lastErrorCode: string | null = null;
  private connectTimer: ReturnType<typeof setTimeout> | null;
  private readonly maxQueuedMs: number;
  /** Bytes of input audio per millisecond: 48 for PCM16 at 24 kHz, 8 for mu-law. */
  private readonly bytesPerMs: number;
  private readonly muLaw: boolean;
  private readonly sessionUpdateTimeoutMs: number;
  /** Earlier turns of the call, sent right after session.update. */
  private replayed: string[] = [];
  /** Caller turns committed whose transcription has not come yet. */
  private readonly pendingTranscripts = new Set<string>();
  /** Responses created and not done yet. */
  private readonly openResponses = new Set<string>();
  private draining: { awaitingCommit: boolean; done: () => void; timer: NodeJS.Timeout } | null =
    null;

  constructor(
    options: RealtimeClientOptions,
    session: RealtimeSessionOptions,
    private readonly listener: RealtimeListener,
  ) {
    this.maxQueuedMs = options.maxQueuedMs ?? 10_000;
    this.muLaw = session.audioFormat === "pcmu";
    this.bytesPerMs = this.muLaw ? 8 : 48;
    this.sessionUpdateTimeoutMs = options.sessionUpdateTimeoutMs ?? 5_000;
    this.socket = new WebSocket(options.url, {
      headers: { Authorization: `Bearer ${options.apiKey}` },
      perMessageDeflate: false,
      handshakeTimeout: options.connectTimeoutMs ?? 10_000,
      generateMask: zeroMask,
    });
    this.connectTimer = setTimeout(
      () => this.fail("timeout", "no session.created in time"),
      options.connectTimeoutMs ?? 10_000,
    );
    this.connectTimer.unref?.();
    const update = sessionUpdate(session, options.transcriptionModel ?? "gpt-4o-mini-transcribe");
    this.socket.on("upgrade", (response: { socket: FrameSocket }) => {
      this.raw = response.socket;
    });
    this.socket.on("open", () => {
      this.socket.send(update);
      for (const message of this.replayed) this.socket.send(message, TEXT);
      this.replayed = [];
      for (const message of this.queue) this.socket.send(message, TEXT);
      this.queue = [];
      this.queuedMs = 0;
    });
    this.socket.on("message", (data: WebSocket.RawData, isBinary: boolean) => {
      if (isBinary) {
        this.listener.onError("malformed_event", "binary event");
        return;
      }
      // A throw here is an uncaught exception in a socket listener, which ends the process: an
      // event that cannot be handled (e.g. a usage object nested deeper than the stack) is
      // reported like any other invalid event instead.
      try {
        this.handle(data.toString());
      } catch (error) {
        this.listener.onError(
          "invalid_event",
          error instanceof Error ? error.message : "event could not be handled",
        );
      }
    });
    this.socket.on("unexpected-response", (_req, res) => {
      this.fail("refused", `upgrade answered ${res.statusCode ?? "?"}`);
    });
    this.socket.on("error", (error: Error) => {
      this.fail(this.socket.readyState === WebSocket.OPEN ? "dropped" : "refused", error.message);
    });
    this.socket.on("close", (code: number, reason: Buffer) => {
      const text = reason.toString();
      this.fail(
        closeKind(code, text, this.lastErrorCode),
        `closed with ${code}${text ? ` ${text}` : ""}`,
      );
    });
  }

  appendAudio(pcm24k: Int16Array): void {
    if (this.muLaw) return;
    this.append(pcm24k);
  }

  appendMuLaw(mulaw: Uint8Array): void {
    if (!this.muLaw) return;
    this.append(mulaw);
  }

  /** Audio in the session's format, as an append now or queued until the socket opens. */
  private append(audio: Int16Array | Uint8Array): void {
    if (this.closed || audio.byteLength === 0) return;
    if (this.socket.readyState === WebSocket.OPEN) {
      const raw = this.raw;
      // A whole masked frame, straight to the socket; ws's own frames (pongs, the close) are
      // written there too, each whole, so they never interleave with ours.
      if (raw?.writable) raw.write(audioFrame(APPEND_PREFIX, audio, APPEND_SUFFIX, true));
      else this.socket.send(audioMessage(APPEND_PREFIX, audio, APPEND_SUFFIX), TEXT);
      return;
    }
    const message = audioMessage(APPEND_PREFIX, audio, APPEND_SUFFIX);
    // Before the socket opens, caller audio waits here so the first words are not lost.
    this.queue.push(message);
    this.queuedMs += audio.byteLength / this.bytesPerMs;
    while (this.queuedMs > this.maxQueuedMs && this.queue.length > 1) {
      const dropped = this.queue.shift()!;
      const base64 = dropped.length - APPEND_PREFIX.length - APPEND_SUFFIX.length;
      this.queuedMs -= (base64 * 3) / 4 / this.bytesPerMs;
    }
  }

  truncate(itemId: string, audioEndMs: number): void {
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(
      JSON.stringify({
        type: "conversation.item.truncate",
        item_id: itemId,
        content_index: 0,
        audio_end_ms: Math.max(0, Math.floor(audioEndMs)),
      }),
    );
  }

  replay(turns: readonly ConversationTurn[]): void {
    if (this.closed) return;
    const messages = turns.map(conversationItem);
    if (this.socket.readyState === WebSocket.OPEN) {
      for (const message of messages) this.socket.send(message, TEXT);
    } else {
      this.replayed.push(...messages);
    }
  }

  answerFunctionCall(callId: string, output: string): void {
    // The call came on this socket, so it is open unless it has closed since: then the
    // conversation is gone and there is nobody to answer.
    if (this.closed || this.socket.readyState !== WebSocket.OPEN) return;
    this.socket.send(functionCallOutput(callId, output), TEXT);
  }

  drain(maxWaitMs: number): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.socket.readyState !== WebSocket.OPEN || this.draining) {
      this.close();
      return Promise.resolve();
    }
    // Server VAD commits a turn only after ~500 ms of silence: a caller who hangs up right after
    // speaking would never be transcribed. A commit creates no response (input_audio_buffer.commit).
    this.socket.send(COMMIT, TEXT);
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.endDrain(), maxWaitMs);
      timer.unref?.();
      this.draining = { awaitingCommit: true, done: resolve, timer };
    });
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.endDrain();
    this.clearTimer();
    this.queue = [];
    this.socket.removeAllListeners("close");
    this.socket.on("error", () => {});
    if (this.socket.readyState === WebSocket.CONNECTING) this.socket.terminate();
    else this.socket.close(1000, "call ended");
  }

  /** Closes once nothing the call is waiting for is pending any more. */
  private checkDrained(): void {
    const d = this.draining;
    if (
      d &&
      !d.awaitingCommit &&
      this.pendingTranscripts.size === 0 &&
      this.openResponses.size === 0
    ) {
      this.endDrain();
    }
  }

  private endDrain(): void {
    const d = this.draining;
    if (!d) return;
    this.draining = null;
    clearTimeout(d.timer);
    this.close();
    d.done();
  }

  private fail(kind: ModelCloseKind, message: string): void {
    if (this.closed) return;
    this.closed = true;
    this.endDrain();
    this.clearTimer();
    this.queue = [];
    this.socket.removeAllListeners("close");
    this.socket.on("error", () => {});
    this.socket.terminate();
    this.listener.onClosed(kind, message);
  }

  private clearTimer(): void {
    if (this.connectTimer) clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  private handle(text: string): void {
    const parsed = parseServerEvent(text);
    if (parsed.ok === "ignored") return;
    if (!parsed.ok) {
      this.listener.onError(parsed.kind, parsed.message);
      return;
    }
    const event = parsed.event;
    switch (event.type) {
      case "session.created":
        // Connected; the session.update must now be accepted in time, or it was rejected.
        this.clearTimer();
        this.connectTimer = setTimeout(
          () => this.fail("rejected", "no session.updated after session.update"),
          this.sessionUpdateTimeoutMs,
        );
        this.connectTimer.unref?.();
        return;
      case "session.updated":
        this.clearTimer();
        this.listener.onReady();
        return;
      case "input_audio_buffer.committed":
        this.pendingTranscripts.add(event.item_id);
        if (this.draining) this.draining.awaitingCommit = false;
        return;
      case "response.created":
        this.openResponses.add(event.response.id);
        return;
      case "input_audio_buffer.speech_started":
        this.listener.onSpeechStarted(event.item_id ?? null, event.audio_start_ms);
        return;
      case "input_audio_buffer.speech_stopped":
        this.listener.onSpeechStopped(event.item_id ?? null, event.audio_end_ms);
        return;
      case "conversation.item.input_audio_transcription.completed":
        this.pendingTranscripts.delete(event.item_id);
        this.listener.onCallerTranscript(
          event.item_id,
          event.transcript,
          event.usage ? toJsonObject(event.usage) : null,
        );
        this.checkDrained();
        return;
      case "conversation.item.input_audio_transcription.failed":
        this.pendingTranscripts.delete(event.item_id);
        this.listener.onCallerTranscriptFailed(
          event.item_id,
          event.error?.message ?? event.error?.code ?? "transcription failed",
        );
        this.checkDrained();
        return;
      case "response.output_audio.delta":
        this.delta(event.item_id, event.delta);
        return;
      case "response.output_audio.done":
        this.listener.onAudioDone(event.item_id);
        return;
      case "response.output_audio_transcript.done":
        this.listener.onAssistantTranscript(event.item_id, event.transcript);
        return;
      case "response.output_item.done":
        this.outputItemDone(event.item);
        return;
      case "response.done": {
        const { response } = event;
        if (response.id) this.openResponses.delete(response.id);
        if (response.usage) this.listener.onUsage(toJsonObject(response.usage));
        this.listener.onResponseDone(responseOutcome(response));
        this.checkDrained();
        return;
      }
      case "error": {
        this.lastErrorCode = event.error.code ?? null;
        if (event.error.code === COMMIT_EMPTY && this.draining) {
          this.draining.awaitingCommit = false;
          this.checkDrained();
          return;
        }
        if (event.error.event_id === SESSION_UPDATE_EVENT_ID) {
          // The session keeps its defaults (no transcription, another voice): not a call to run.
          this.fail("rejected", event.error.message ?? "session.update was rejected");
          return;
        }
        // Upstream text becomes a metrics label, so only tidy identifiers pass through.
        const raw = event.error.code ?? event.error.type ?? "";
        const kind = /^[a-z0-9_]{1,40}$/.test(raw) ? raw : "error_event";
        this.listener.onError(kind, event.error.message ?? "error event");
        return;
      }
    }
  }

  /** A whole function call goes to the listener; a cut one (status incomplete) is no call. */
  private outputItemDone(item: OutputItem): void {
    if (item.type !== "function_call" || item.status !== "completed") return;
    const { call_id: callId, name, arguments: args } = item;
    if (!callId || typeof name !== "string" || typeof args !== "string") {
      this.listener.onError(
        "invalid_event",
        "a completed function_call item lacks call_id or name",
      );
      return;
    }
    this.listener.onFunctionCall({ callId, name, arguments: args });
  }

  private delta(itemId: string, base64: string): void {
    const maxBytes = Math.ceil((base64.length * 3) / 4);
    let scratch = sharedDeltaScratch;
    if (maxBytes > scratch.length) {
      scratch = Buffer.allocUnsafeSlow(maxBytes * 2);
      // A one-off delta larger than any real one gets a buffer of its own, not kept.
      if (scratch.length <= MAX_SHARED_DELTA_SCRATCH) sharedDeltaScratch = scratch;
    }
    // Buffer#write decodes into the scratch buffer: no allocation per delta.
    const bytes = scratch.write(base64, "base64");
    if (this.muLaw) {
      this.listener.onMuLawDelta(itemId, scratch.subarray(0, bytes));
      return;
    }
    if (bytes % 2 !== 0) {
      this.listener.onError("invalid_event", "odd-length PCM16 delta");
      return;
    }
    const pcm = new Int16Array(scratch.buffer, scratch.byteOffset, bytes / 2);
    this.listener.onAudioDelta(itemId, pcm);
  }
}

function toJsonObject(value: Record<string, unknown>): JsonObject {
  return JSON.parse(JSON.stringify(value)) as JsonObject;
}

/** Why the server closed: its close code and reason, and the error that came before. */
function closeKind(code: number, reason: string, lastErrorCode: string | null): ModelCloseKind {
  if (lastErrorCode === "session_expired" || /expire/i.test(reason)) return "expired";
  if (code === 1011) return "server_error";
  return "dropped";
}

type ResponseDoneBody = Extract<RealtimeServerEvent, { type: "response.done" }>["response"];
type OutputItem = Extract<RealtimeServerEvent, { type: "response.output_item.done" }>["item"];

const STATUSES: readonly ResponseOutcome["status"][] = [
  "completed",
  "cancelled",
  "failed",
  "incomplete",
];

function responseOutcome(response: ResponseDoneBody): ResponseOutcome {
  const status = STATUSES.find((s) => s === response.status) ?? "completed";
  const details = response.status_details;
  return {
    status,
    reason: details?.reason ?? null,
    errorCode: details?.error?.code ?? details?.error?.type ?? null,
    itemIds: (response.output ?? []).flatMap((item) => (item.id ? [item.id] : [])),
  };
}
