import type { CallEvent, CallEventSink } from "../../../application/ports/index.ts";
import { analyticsJson, callJson, recordingJson, transcriptJson } from "../api/to-json.ts";

/** The `event:` names of the SSE feeds. */
export type FeedEventName =
  | "call.started"
  | "call.ended"
  | "transcript"
  | "analytics"
  | "recording";

export interface FeedMessage {
  event: FeedEventName;
  callId: string;
  /** The REST API's JSON shape, serialized once for every subscriber. */
  data: string;
}

export interface FeedSubscriber {
  send(message: FeedMessage): void;
  /** The hub is shutting down: the subscriber should end its stream. */
  close(): void;
}

function toMessage(event: CallEvent): FeedMessage {
  switch (event.type) {
    case "call.started":
    case "call.ended":
      return {
        event: event.type,
        callId: event.call.id,
        data: JSON.stringify(callJson(event.call)),
      };
    case "transcript.created":
      return {
        event: "transcript",
        callId: event.transcript.callId,
        data: JSON.stringify(transcriptJson(event.transcript)),
      };
    case "analytics.created":
      return {
        event: "analytics",
        callId: event.analytics.callId,
        data: JSON.stringify(analyticsJson(event.analytics)),
      };
    case "recording.created":
      return {
        event: "recording",
        callId: event.recording.callId,
        data: JSON.stringify(recordingJson(event.recording)),
      };
  }
}

/**
 * Fans call events out to the live feeds in this process. publish() runs inside CallManager's
 * call path, so it never throws and never waits: each subscriber queues what it is sent.
 */
export class CallEventHub implements CallEventSink {
  private readonly everyCall = new Set<FeedSubscriber>();
  private readonly perCall = new Map<string, Set<FeedSubscriber>>();
  private closed = false;

  publish(event: CallEvent): void {
    if (this.closed || this.subscriberCount === 0) return;
    let message: FeedMessage;
    try {
      message = toMessage(event);
    } catch {
      return;
    }
    deliver(this.everyCall, message);
    deliver(this.perCall.get(message.callId), message);
  }

  /** Follows one call, or every call when `callId` is null; returns the unsubscribe function. */
  subscribe(callId: string | null, subscriber: FeedSubscriber): () => void {
    if (this.closed) {
      subscriber.close();
      return () => {};
    }
    let set = this.everyCall;
    if (callId !== null) {
      const existing = this.perCall.get(callId);
      set = existing ?? new Set();
      if (!existing) this.perCall.set(callId, set);
    }
    set.add(subscriber);
    return () => {
      set.delete(subscriber);
      if (callId !== null && set.size === 0 && this.perCall.get(callId) === set) {
        this.perCall.delete(callId);
      }
    };
  }

  /** Whether a feed follows this call now (one of this call, or of every call). */
  follows(callId: string): boolean {
    return this.everyCall.size > 0 || (this.perCall.get(callId)?.size ?? 0) > 0;
  }

  get subscriberCount(): number {
    let count = this.everyCall.size;
    for (const set of this.perCall.values()) count += set.size;
    return count;
  }

  /** Shutdown: every subscriber is told to end, and later ones are ended at once. */
  close(): void {
    this.closed = true;
    const all = [...this.everyCall, ...[...this.perCall.values()].flatMap((set) => [...set])];
    this.everyCall.clear();
    this.perCall.clear();
    for (const subscriber of all) {
      try {
        subscriber.close();
      } catch {
        // One broken subscriber must not keep the others open.
      }
    }
  }
}

function deliver(subscribers: Set<FeedSubscriber> | undefined, message: FeedMessage): void {
  if (!subscribers) return;
  // A copy: a subscriber may unsubscribe itself while being sent to.
  for (const subscriber of [...subscribers]) {
    try {
      subscriber.send(message);
    } catch {
      // A failing feed is that feed's problem, never the call's.
    }
  }
}
