import { invalidArgument, invalidState } from "./errors.ts";

export type CallStatus = "active" | "completed" | "failed";
export const CALL_STATUSES: readonly CallStatus[] = ["active", "completed", "failed"];

export interface Call {
  readonly id: string;
  readonly streamSid: string;
  readonly callSid: string | null;
  readonly caller: string | null;
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
  startedAt: Date;
}

export function startCall(input: NewCall): Call {
  assertValidStreamSid(input.streamSid);
  return {
    id: input.id,
    streamSid: input.streamSid,
    callSid: input.callSid ?? null,
    caller: input.caller ?? null,
    status: "active",
    startedAt: input.startedAt,
    endedAt: null,
    durationSeconds: null,
    createdAt: input.startedAt,
    updatedAt: input.startedAt,
  };
}

/** Seconds between start and end, to the millisecond. */
export function durationBetween(startedAt: Date, endedAt: Date): number {
  return Math.round(endedAt.getTime() - startedAt.getTime()) / 1000;
}

/** The only transitions: active → completed and active → failed. */
export function endCall(call: Call, outcome: "completed" | "failed", endedAt: Date): Call {
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
  };
}

export const isActive = (call: Call): boolean => call.status === "active";
