import type { Analytics } from "../../domain/analytics.ts";
import type { Call } from "../../domain/call.ts";
import type { Recording } from "../../domain/recording.ts";
import type { Transcript } from "../../domain/transcript.ts";

/** Things that happened to calls, for metrics and live feeds. */
export type CallEvent =
  | { type: "call.started"; call: Call }
  | { type: "call.ended"; call: Call }
  | { type: "transcript.created"; transcript: Transcript }
  | { type: "analytics.created"; analytics: Analytics }
  | { type: "recording.created"; recording: Recording };

export interface CallEventSink {
  publish(event: CallEvent): void;
}
