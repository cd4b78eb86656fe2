import type { CallEvent, CallEventSink } from "../../application/ports/index.ts";

/** The sinks of one process that follow a bus; one that throws does not stop the others. */
export class LocalSubscribers {
  private readonly sinks = new Set<CallEventSink>();

  add(sink: CallEventSink): () => void {
    this.sinks.add(sink);
    return () => {
      this.sinks.delete(sink);
    };
  }

  get size(): number {
    return this.sinks.size;
  }

  deliver(event: CallEvent): void {
    // A copy: a sink may unsubscribe itself while being delivered to.
    for (const sink of [...this.sinks]) {
      try {
        sink.publish(event);
      } catch {
        // Feeds are observers: their failure is never the call's nor another feed's.
      }
    }
  }

  clear(): void {
    this.sinks.clear();
  }
}
