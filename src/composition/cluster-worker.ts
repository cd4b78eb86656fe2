import cluster from "node:cluster";
import { type MetricsMessage, WorkerMetricsLink } from "../adapters/metrics/cluster-metrics.ts";
import { workerIndexFrom } from "./worker-identity.ts";

/** What a process the cluster primary forked (src/composition/cluster.ts) knows of its place. */
export interface ClusterWorker {
  /** 1 to WORKERS; a worker restarted in its place has the same index (and instance id). */
  index: number;
  /** /metrics of the whole cluster, through the primary; it collects from `serve()`'s registries. */
  metrics: WorkerMetricsLink;
}

/**
 * This process's part in a cluster our primary started, with its channel to the primary wired;
 * null when it runs alone (WORKERS=1), or as a worker of something else's node:cluster.
 */
export function joinCluster(
  env: Record<string, string | undefined> = process.env,
): ClusterWorker | null {
  const index = workerIndexFrom(env);
  if (!cluster.isWorker || index === null) return null;
  const metrics = new WorkerMetricsLink(sendToPrimary);
  process.on("message", (message: unknown) => {
    metrics.handle(message);
  });
  return { index, metrics };
}

function sendToPrimary(message: MetricsMessage): void {
  // Once the primary is gone the channel is closed, and a send without a callback would throw
  // its error as an 'error' event; the request it carried times out instead.
  if (process.connected) process.send?.(message, undefined, undefined, () => {});
}
