import type { Cluster } from "node:cluster";
import { isClusterEventMessage } from "./cluster-event-message.ts";

/**
 * Run by the cluster primary: forwards each worker's call events to every other worker, in the
 * order they came (one channel per worker, and the primary handles messages one at a time).
 * The sender already delivered the event to its own subscribers, so it is not sent back.
 * Returns the function that stops relaying.
 */
export function relayClusterEvents(cluster: Cluster): () => void {
  const relay = (from: { id: number }, message: unknown) => {
    if (!isClusterEventMessage(message)) return;
    for (const worker of Object.values(cluster.workers ?? {})) {
      if (!worker || worker.id === from.id || !worker.isConnected()) continue;
      // A worker that exits meanwhile fails the send; it has no feeds left to miss the event.
      worker.send(message, () => {});
    }
  };
  cluster.on("message", relay);
  return () => {
    cluster.off("message", relay);
  };
}
