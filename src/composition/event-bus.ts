import cluster from "node:cluster";
import { repositoryEventLoader } from "../adapters/events/call-event-loader.ts";
import { ClusterIpcEventBus } from "../adapters/events/cluster-ipc-event-bus.ts";
import { InProcessEventBus } from "../adapters/events/in-process-event-bus.ts";
import {
  PostgresNotifyEventBus,
  type RelayedNotifications,
} from "../adapters/events/postgres-notify-event-bus.ts";
import type { AppLogger } from "../adapters/logging/pino-logger.ts";
import type { PrometheusMetrics } from "../adapters/metrics/prometheus-metrics.ts";
import type { CallEventBus, CallRepository } from "../application/ports/index.ts";
import type { Config } from "../config.ts";

export interface EventBusDeps {
  calls: CallRepository;
  logger: AppLogger;
  metrics: PrometheusMetrics;
  /** Whether a live feed here follows the call: other instances' events are read only then. */
  wanted: (callId: string) => boolean;
  /** Default: whether this process is a node:cluster worker. */
  clusterWorker?: boolean;
}

/**
 * The bus the live feeds hear every instance's calls through: on PostgreSQL, NOTIFY (instances
 * on any machine share the database, and the workers of one machine are such instances too);
 * else the workers of one machine through the cluster primary; else this process alone.
 */
export async function createEventBus(config: Config, deps: EventBusDeps): Promise<CallEventBus> {
  const { calls, logger, metrics, wanted } = deps;
  const onError = metrics.error.bind(metrics);
  const clusterWorker = deps.clusterWorker ?? cluster.isWorker;
  if (config.database.kind === "postgres") {
    const bus = await PostgresNotifyEventBus.open({
      url: config.database.url,
      load: repositoryEventLoader(calls),
      logger,
      wanted,
      onError,
      // One LISTEN per machine: the primary's (relayClusterNotifications).
      relayed: clusterWorker ? processNotifications() : undefined,
    });
    logger.info(
      { instance: bus.instance, listen: clusterWorker ? "the cluster primary's" : "its own" },
      "live feeds follow every instance's calls (PostgreSQL NOTIFY)",
    );
    return bus;
  }
  if (clusterWorker) {
    return new ClusterIpcEventBus({ logger, onError });
  }
  return new InProcessEventBus();
}

/** This worker's channel to the cluster primary, which relays the machine's notifications. */
function processNotifications(): RelayedNotifications {
  return {
    get connected() {
      return process.connected === true;
    },
    on(event, listener) {
      process.on(event, listener);
    },
    off(event, listener) {
      process.off(event, listener);
    },
  };
}
