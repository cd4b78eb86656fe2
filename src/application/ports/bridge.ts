import type { JsonObject } from "../../domain/analytics.ts";

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
  onClosed(kind: string, message: string): void;
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
  upstreamError(kind: string): void;
  outboundDropped(frames: number): void;
}

export const noMetrics: BridgeMetrics = {
  frameIn() {},
  frameOut() {},
  frameProcessed() {},
  upstreamError() {},
  outboundDropped() {},
};
