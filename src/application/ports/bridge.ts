import type { JsonObject } from "../../domain/analytics.ts";
import type { MetadataPatch } from "../../domain/call-metadata.ts";

/** Why a model connection ended: its socket timed out, was refused, dropped, or expired. */
export type ModelCloseKind = "timeout" | "refused" | "dropped" | "expired" | "connect_failed";

/** Why a call's media stream ends. */
export type StopReason = "stop" | "socket_closed" | "shutdown" | "max_duration";

export interface StartCallInput {
  streamSid: string;
  caller?: string | null;
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
  /** Safe to call again: returns the same promise. */
  stop(reason: StopReason): Promise<void>;
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
  /** The model finished generating audio for an item (playback may still be going on). */
  onAudioDone(itemId: string): void;
  onCallerTranscript(itemId: string, text: string): void;
  onAssistantTranscript(itemId: string, text: string): void;
  onUsage(usage: JsonObject): void;
  /** A problem that does not end the connection (an `error` event, an unparseable frame). */
  onError(kind: string, message: string): void;
  /** The connection is gone (refused, dropped, expired, timed out); `kind` names why. */
  onClosed(kind: ModelCloseKind, message: string): void;
}

export interface RealtimeConnection {
  /** PCM16 at 24 kHz. Audio sent before the socket opens is queued (bounded), not lost. */
  appendAudio(pcm24k: Int16Array): void;
  /** Tells the model how much of an assistant item the caller actually heard. */
  truncate(itemId: string, audioEndMs: number): void;
  close(): void;
}

export interface RealtimeSessionOptions {
  voice: string;
  instructions: string;
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
