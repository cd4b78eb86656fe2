import type { Cluster } from "node:cluster";
import type { Logger } from "../../application/ports/index.ts";
import { PostgresNotificationListener } from "./postgres-notification-listener.ts";

/**
 * A PostgreSQL notification the cluster primary heard, passed on to its workers. Tagged apart
 * from the workers' own messages (`event`, prom-client's, the metrics round trip).
 */
export interface ClusterNotificationMessage {
  callbridge: "notification";
  payload: string;
}

export function isClusterNotificationMessage(
  message: unknown,
): message is ClusterNotificationMessage {
  return (
    typeof message === "object" &&
    message !== null &&
    (message as { callbridge?: unknown }).callbridge === "notification" &&
    typeof (message as { payload?: unknown }).payload === "string"
  );
}

export interface ClusterNotificationRelayOptions {
  url: string;
  channel: string;
  logger: Logger;
  reconnectDelaysMs?: readonly number[];
  heartbeatMs?: number;
}

/**
 * Run by the cluster primary on PostgreSQL: one LISTEN for the whole machine, each notification
 * sent on to every worker. PostgreSQL's work per notification grows with the connections that
 * listen (BENCHMARKS.md, "Several processes and machines": about 0.03 ms each), so one per
 * machine instead of one per worker keeps it to the number of machines. Each worker still
 * sends its own NOTIFYs and tells its own apart by the instance they carry.
 */
export async function relayClusterNotifications(
  cluster: Cluster,
  options: ClusterNotificationRelayOptions,
): Promise<{ close(): Promise<void> }> {
  const listener = new PostgresNotificationListener({
    url: options.url,
    channel: options.channel,
    logger: options.logger,
    reconnectDelaysMs: options.reconnectDelaysMs,
    heartbeatMs: options.heartbeatMs,
    onNotification: (payload) => {
      const message: ClusterNotificationMessage = { callbridge: "notification", payload };
      for (const worker of Object.values(cluster.workers ?? {})) {
        if (!worker?.isConnected()) continue;
        // A worker that exits meanwhile fails the send; it has no feeds left to miss the event.
        worker.send(message, () => {});
      }
    },
  });
  await listener.start();
  return { close: () => listener.close() };
}
