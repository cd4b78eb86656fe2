import { type CallAnalysis, type CallFacts, NO_ANALYSIS, NO_FACTS } from "./call-review.ts";
import { invalidArgument, invalidState } from "./errors.ts";

export type CallStatus = "active" | "completed" | "failed";
export const CALL_STATUSES: readonly CallStatus[] = ["active", "completed", "failed"];

/** A call, with what was measured about it by its end and the model's analysis after it. */
export interface Call extends CallFacts, CallAnalysis {
  readonly id: string;
  readonly streamSid: string;
  readonly callSid: string | null;
  readonly caller: string | null;
  /** The number the caller dialled (the webhook's `To`). */
  readonly called: string | null;
  readonly status: CallStatus;
  readonly startedAt: Date;
  readonly endedAt: Date | null;
  readonly durationSeconds: number | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

/** streamSid becomes part of file names, so it is restricted before any path is built. */
const STREAM_SID = /^[A-Za-z0-9_-]{1,64}$/;

export const isValidStreamSid = (value: string): boolean => STREAM_SID.test(value);

export function assertValidStreamSid(value: string): void {
  if (!isValidStreamSid(value)) {
    throw invalidArgument("streamSid must match [A-Za-z0-9_-]{1,64}");
  }
}

export interface NewCall {
  id: string;
  streamSid: string;
  callSid?: string | null;
  caller?: string | null;
  called?: string | null;
  startedAt: Date;
}

export function startCall(input: NewCall): Call {
  assertValidStreamSid(input.streamSid);
  return {
    id: input.id,
    streamSid: input.streamSid,
    callSid: input.callSid ?? null,
    caller: input.caller ?? null,
    called: input.called ?? null,
    status: "active",
    startedAt: input.startedAt,
    endedAt: null,
    durationSeconds: null,
    createdAt: input.startedAt,
    updatedAt: input.startedAt,
    ...NO_FACTS,
    ...NO_ANALYSIS,
  };
}

/** Seconds between start and end, to the millisecond. */
export function durationBetween(startedAt: Date, endedAt: Date): number {
  return Math.round(endedAt.getTime() - startedAt.getTime()) / 1000;
}

/**
 * The only transitions: active → completed and active → failed. `facts` are what was measured
 * by the end; without them the call keeps the ones it has.
 */
export function endCall(
  call: Call,
  outcome: "completed" | "failed",
  endedAt: Date,
  facts?: Partial<CallFacts>,
): Call {
  if (call.status !== "active") {
    throw invalidState(`call ${call.id} is already ${call.status}`);
  }
  if (endedAt.getTime() < call.startedAt.getTime()) {
    throw invalidArgument("endedAt must not be before startedAt");
  }
  return {
    ...call,
    status: outcome,
    endedAt,
    durationSeconds: durationBetween(call.startedAt, endedAt),
    updatedAt: endedAt,
    ...facts,
  };
}

export const isActive = (call: Call): boolean => call.status === "active";
