import type { StallSummary } from "./stalls.ts";
import type { LatencySummary } from "./stats.ts";

/** What the parent asks the generator process to do (over the fork IPC channel). */
export interface RunRequest {
  type: "run";
  /** ws://127.0.0.1:PORT/twilio/media-stream of the server under test. */
  serverUrl: string;
  calls: number;
  /** Time after the last call started before the measured window opens. */
  warmupS: number;
  /** Length of the measured (steady-state) window. */
  steadyS: number;
  /** Period of the shared timer that sends every call's due frames. */
  tickMs: number;
  /** Every call has a caller turn (tone then silence) this often. */
  turnPeriodMs: number;
  toneMs: number;
  answerMs: number;
  deltaMs: number;
  /** Makes streamSids unique across runs against one database. */
  idPrefix: string;
}

export type GeneratorMessage =
  | { type: "ready"; fakeUrl: string }
  | { type: "ramped"; started: number; failed: number; rampMs: number }
  | { type: "window-start" }
  | { type: "window-end" }
  | { type: "result"; result: GeneratorResult }
  | { type: "error"; message: string };

export interface CallResult {
  streamSid: string;
  framesSent: number;
  /** Frames sent before the bridge's OpenAI socket had sent session.update. */
  framesBeforeModelOpen: number;
  appendsReceived: number;
  /** Twilio `start` sent → the fake saw the bridge's session.update. */
  modelConnectMs: number | null;
  /**
   * `session.audio.output.format.type` of the bridge's session.update (`audio/pcm`,
   * `audio/pcmu`), or null when it named none; the fake answers in that format.
   */
  modelOutputFormat: string | null;
  answers: number;
  outboundExpected: number;
  outboundReceived: number;
  clears: number;
  truncates: number;
  /** Why the call failed, or null. */
  failure: string | null;
}

export interface GeneratorResult {
  calls: CallResult[];
  inbound: LatencySummary;
  outbound: LatencySummary;
  /** Milliseconds by which the timer wheel sent frames after their due time, p99. */
  sendLagP99Ms: number | null;
  /** The generator's own event-loop stalls during the window (they inflate both latencies). */
  stalls: StallSummary;
}
