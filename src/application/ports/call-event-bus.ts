import type { CallEvent, CallEventSink } from "./call-events.ts";

/**
 * Call events shared by every instance: a live feed on any of them follows every call, wherever
 * it runs. Adapters: one process, the workers of one machine (node:cluster IPC), several machines
 * on one PostgreSQL (LISTEN/NOTIFY).
 */
export interface CallEventBus extends CallEventSink {
  /**
   * Publishes an event of a call this process runs: delivered to local subscribers at once, and
   * to other instances. Never throws, never waits (it runs on the audio path).
   */
  publish(event: CallEvent): void;
  /** Receives every instance's events (this one's included), in order per call. */
  subscribe(sink: CallEventSink): () => void;
  close(): Promise<void>;
}
