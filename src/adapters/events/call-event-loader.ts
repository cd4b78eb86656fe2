import type { CallEvent, CallRepository } from "../../application/ports/index.ts";

/** An event named by what it is about, not carrying the row: what crosses between machines. */
export interface CallEventRef {
  type: CallEvent["type"];
  callId: string;
  /** The row's id: the call's for call events, else the transcript's, analytics' or recording's. */
  id: string;
}

/** The event again, its row read from the database; null while the row cannot be found. */
export type CallEventLoader = (ref: CallEventRef) => Promise<CallEvent | null>;

export function refOf(event: CallEvent): CallEventRef {
  switch (event.type) {
    case "call.started":
    case "call.ended":
      return { type: event.type, callId: event.call.id, id: event.call.id };
    case "transcript.created":
      return { type: event.type, callId: event.transcript.callId, id: event.transcript.id };
    case "analytics.created":
      return { type: event.type, callId: event.analytics.callId, id: event.analytics.id };
    case "recording.created":
      return { type: event.type, callId: event.recording.callId, id: event.recording.id };
  }
}

type EventReads = Pick<
  CallRepository,
  "getCallById" | "getRecordingById" | "getTranscriptById" | "getAnalyticsById"
>;

/**
 * Reads events' rows through the repository. A call event gets the call as it is now, which for
 * call.ended is the ended call (stored before the event is published).
 */
export function repositoryEventLoader(calls: EventReads): CallEventLoader {
  return async (ref) => {
    switch (ref.type) {
      case "call.started":
      case "call.ended": {
        const call = await calls.getCallById(ref.callId);
        return call ? { type: ref.type, call } : null;
      }
      case "transcript.created": {
        const transcript = await calls.getTranscriptById(ref.id);
        return transcript && transcript.callId === ref.callId
          ? { type: ref.type, transcript }
          : null;
      }
      case "analytics.created": {
        const analytics = await calls.getAnalyticsById(ref.id);
        return analytics && analytics.callId === ref.callId ? { type: ref.type, analytics } : null;
      }
      case "recording.created": {
        const recording = await calls.getRecordingById(ref.id);
        return recording && recording.callId === ref.callId ? { type: ref.type, recording } : null;
      }
    }
  };
}
