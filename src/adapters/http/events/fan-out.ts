import type { CallEvent, CallEventSink } from "../../../application/ports/index.ts";

/** One sink that publishes to each of `sinks`; one that throws does not stop the others. */
export function fanOut(...sinks: CallEventSink[]): CallEventSink {
  return {
    publish(event: CallEvent): void {
      for (const sink of sinks) {
        try {
          sink.publish(event);
        } catch {
          // Metrics and feeds are observers: their failure must not fail the call.
        }
      }
    },
  };
}
