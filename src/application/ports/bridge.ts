import type { JsonObject } from "../../domain/analytics.ts";
import type { MetadataPatch } from "../../domain/call-metadata.ts";

/**
 * Why a model connection ended: no session in time, the upgrade refused, the socket dropped,
 * the session expired (60 minutes), the server failed (1011), or our session.update was
 * rejected (a configuration error: reconnecting would only fail the same way).
 */
export type ModelCloseKind =
  | "timeout"
  | "refused"
  | "dropped"
  | "expired"
  | "server_error"
  | "rejected"
  | "connect_failed";

/** How a model response ended (openai-node RealtimeResponse.status and status_details). */
export interface ResponseOutcome {
  status: "completed" | "cancelled" | "failed" | "incomplete";
  /** status_details.reason (turn_detected, client_cancelled, max_output_tokens, content_filter). */
  reason: string | null;
  /** status_details.error.code (or type) of a failed response. */
  errorCode: string | null;
  /** The assistant items it produced. */
  itemIds: string[];
}

/** A turn of the conversation so far, replayed into a new model session. */
export interface ConversationTurn {
  speaker: "caller" | "assistant";
  text: string;
}

/**
 * Why a call's media stream ends. `assistant_ended`: the assistant hung up (its `end_call`
 * tool), and the server closed the stream once its last words had played.
 */
export type StopReason = "stop" | "socket_closed" | "shutdown" | "max_duration" | "assistant_ended";

export interface StartCallInput {
  streamSid: string;
  caller?: string | null;
  /** The number that was dialled (the webhook's `To`). */
  called?: string | null;
  callSid?: string | null;
  /** Stored as metadata customData (the stream's custom parameters). */
  customParameters?: Record<string, string>;
  metadata?: MetadataPatch;
}

/** What the Twilio adapter drives: one media stream, one call. */
export interface MediaStreamSession {
  /**
   * Starts the call. Throws at once (a DomainError `conflict`) when the stream is already live
   * or has ended, before any frame can reach another connection's call; the promise settles once
   * the call is stored.
   */
  start(input: StartCallInput): Promise<void>;
  /** One frame of the caller's 8 kHz mu-law; the array may be reused after the call. */
  callerAudio(mulaw: Uint8Array, timestampMs: number | null): void;
  mark(name: string): void;
  dtmf(digit: string): void;
  /**
   * Safe to call again: returns the same promise. `outcome` is the call's final status
   * (default completed): "failed" for a stream that broke off, e.g. a socket closed abnormally.
   */
  stop(reason: StopReason, outcome?: "completed" | "failed"): Promise<void>;
}

export interface SentimentAnalyzer {
  /** AFINN-style: `score` sums word valences, `comparative` is score per word. */
  analyze(text: string): { score: number; comparative: number };
}

/** What the assistant model tells a call. Times are the model's own input-audio clock (ms). */
export interface RealtimeListener {
  /** The session is configured and accepting audio (also after a reconnect). */
  onReady(): void;
  onSpeechStarted(itemId: string | null, audioStartMs: number): void;
  onSpeechStopped(itemId: string | null, audioEndMs: number): void;
  /** PCM16 at 24 kHz; the array is only valid during the call (copy to keep). */
  onAudioDelta(itemId: string, pcm24k: Int16Array): void;
  /** The same in a `pcmu` session: 8 kHz mu-law, only valid during the call. */
  onMuLawDelta(itemId: string, mulaw: Uint8Array): void;
  /** The model finished generating audio for an item (playback may still be going on). */
  onAudioDone(itemId: string): void;
  /** `usage` is the transcription's own (billed apart from the model), when reported. */
  onCallerTranscript(itemId: string, text: string, usage: JsonObject | null): void;
  /** The caller's turn could not be transcribed. */
  onCallerTranscriptFailed(itemId: string, message: string): void;
  onResponseDone(outcome: ResponseOutcome): void;
  onAssistantTranscript(itemId: string, text: string): void;
  onUsage(usage: JsonObject): void;
  /**
   * The model called one of the session's tools, and the call is whole (a call cut off with its
   * response is never delivered). Answer it with RealtimeConnection.answerFunctionCall.
   */
  onFunctionCall(call: FunctionCall): void;
  /** A problem that does not end the connection (an `error` event, an unparseable frame). */
  onError(kind: string, message: string): void;
  /** The connection is gone (refused, dropped, expired, timed out); `kind` names why. */
  onClosed(kind: ModelCloseKind, message: string): void;
}

export interface RealtimeConnection {
  /** PCM16 at 24 kHz. Audio sent before the socket opens is queued (bounded), not lost. */
  appendAudio(pcm24k: Int16Array): void;
  /** 8 kHz mu-law, in a `pcmu` session; queued before the socket opens like appendAudio. */
  appendMuLaw(mulaw: Uint8Array): void;
  /** Tells the model how much of an assistant item the caller actually heard. */
  truncate(itemId: string, audioEndMs: number): void;
  /** Earlier turns of the call, sent as conversation items before any audio of this session. */
  replay(turns: readonly ConversationTurn[]): void;
  /**
   * The result of a function call, for the model to read (it starts no response); dropped when
   * the connection is closed.
   */
  answerFunctionCall(callId: string, output: string): void;
  /**
   * The call is over: commits the caller's last audio, waits (at most `maxWaitMs`) for its
   * transcription and for a response still generating, then closes. Events keep coming to the
   * listener meanwhile.
   */
  drain(maxWaitMs: number): Promise<void>;
  close(): void;
}

/**
 * The model's audio, both ways: `pcm16` is PCM16 at 24 kHz (the Realtime API's default),
 * resampled from and to the phone's 8 kHz; `pcmu` is the phone's own 8 kHz mu-law, passed
 * through with no resampling or re-encoding.
 */
export type ModelAudioFormat = "pcm16" | "pcmu";

export interface RealtimeSessionOptions {
  voice: string;
  /** Default pcm16. */
  audioFormat?: ModelAudioFormat;
  instructions: string;
  /** The caller's language (ISO-639-1), a hint for the transcription. */
  language?: string;
  /** Functions the model may call (none by default). */
  tools?: readonly AssistantTool[];
}

/** A function the model may call: a Realtime session's `function` tool. */
export interface AssistantTool {
  name: string;
  /** When and how the model is to call it: the model reads this. */
  description: string;
  /** JSON Schema of its arguments. */
  parameters: JsonObject;
}

/** A whole call of one of the session's tools, as the model made it. */
export interface FunctionCall {
  /** What the answer names (the Realtime item's `call_id`). */
  callId: string;
  name: string;
  /** The arguments as the model wrote them: JSON text, unchecked. */
  arguments: string;
}

/** The assistant: one connection per call (never a shared, global session). */
export interface RealtimeModel {
  connect(options: RealtimeSessionOptions, listener: RealtimeListener): RealtimeConnection;
}

/** The phone side of one call: Twilio media-stream messages going out. */
export interface TelephonyOutput {
  /** One 20 ms frame of 8 kHz mu-law (160 bytes); the array may be reused after the call. */
  sendAudio(mulaw: Uint8Array): void;
  sendMark(name: string): void;
  sendClear(): void;
  /** Bytes queued on the socket and not yet sent: backpressure. */
  readonly backlogBytes: number;
  close(): void;
}

/** Counters and timings a session reports; the metrics adapter implements it. */
export interface BridgeMetrics {
  frameIn(): void;
  frameOut(): void;
  frameProcessed(seconds: number): void;
  /** A model connection closed (ModelCloseKind) or reported an error (its kind). */
  upstreamError(kind: string): void;
  outboundDropped(frames: number): void;
}
