import type { CallEvent, CallEventBus, CallEventSink } from "../../application/ports/index.ts";
import { LocalSubscribers } from "./local-subscribers.ts";

/** The bus of a single process (SQLite, WORKERS=1): every call runs here, so publish is delivery. */
export class InProcessEventBus implements CallEventBus {
  private readonly subscribers = new LocalSubscribers();
  private closed = false;

  publish(event: CallEvent): void {
    if (!this.closed) this.subscribers.deliver(event);
  }

  subscribe(sink: CallEventSink): () => void {
    if (this.closed) return () => {};
    return this.subscribers.add(sink);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.subscribers.clear();
  }
}
