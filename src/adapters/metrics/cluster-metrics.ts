import { AggregatorRegistry, Counter, Gauge, Registry } from "prom-client";
import type { MetricsSource } from "../http/metrics-routes.ts";

/**
 * /metrics of a cluster (WORKERS > 1). Only workers serve HTTP, but a scrape must see every
 * worker: the worker that gets it asks the primary, which collects each worker's registries over
 * IPC and adds them up with prom-client's cluster aggregation (AggregatorRegistry.aggregate, each
 * metric by its `aggregator`: see PrometheusMetrics for which are summed and which keep a
 * `worker` label).
 *
 * prom-client's own round trip (clusterMetrics() and its GET_METRICS requests) is not used: it
 * asks every connected worker, including one still starting that does not listen yet and one
 * just killed, and then fails the whole scrape after 5 s, which is when metrics matter most.
 * Here only workers that are serving are asked, a worker that exits is no longer waited for,
 * and one that does not answer in time is left out of that scrape and counted.
 */

/** A metric as Registry.getMetricsAsJSON() gives it: what crosses the IPC channel. */
export interface MetricJson {
  name: string;
  help: string;
  type: string;
  aggregator: string;
  values: { value: number; labels: Record<string, string | number>; metricName?: string }[];
}

/** What a worker answers a collection with: its two registries (see PrometheusMetrics). */
export interface WorkerMetricsSnapshot {
  summed: MetricJson[];
  perWorker: MetricJson[];
}

/**
 * Our messages on the worker ↔ primary channel, tagged so that they never collide with
 * prom-client's or with the event bus's (`callbridge: "event"`).
 */
export type MetricsMessage =
  | { callbridge: "metrics"; type: "collect"; id: number }
  | ({ callbridge: "metrics"; type: "collected"; id: number } & WorkerMetricsSnapshot)
  | { callbridge: "metrics"; type: "collect-failed"; id: number; message: string }
  | { callbridge: "metrics"; type: "render"; id: number }
  | { callbridge: "metrics"; type: "rendered"; id: number; contentType: string; body: string }
  | { callbridge: "metrics"; type: "render-failed"; id: number; message: string };

export function isMetricsMessage(message: unknown): message is MetricsMessage {
  if (typeof message !== "object" || message === null) return false;
  const { callbridge, type, id } = message as {
    callbridge?: unknown;
    type?: unknown;
    id?: unknown;
  };
  return callbridge === "metrics" && typeof type === "string" && typeof id === "number";
}

/** How long the primary waits for each worker's answer before the scrape goes on without it. */
export const COLLECT_TIMEOUT_MS = 2_000;
/** How long a worker waits for the primary's aggregation: the collection and then some. */
export const RENDER_TIMEOUT_MS = COLLECT_TIMEOUT_MS + 3_000;

/** The registries a worker exposes (PrometheusMetrics's). */
export interface WorkerRegistries {
  registry: Registry;
  processRegistry: Registry;
}

async function snapshotOf({
  registry,
  processRegistry,
}: WorkerRegistries): Promise<WorkerMetricsSnapshot> {
  const summed = (await registry.getMetricsAsJSON()) as unknown as MetricJson[];
  const perWorker =
    processRegistry === registry
      ? []
      : ((await processRegistry.getMetricsAsJSON()) as unknown as MetricJson[]);
  // Each of these series carries its worker's label, so none is ever combined with another
  // worker's, and any aggregator gives it back unchanged, except prom-client's "omit" (on
  // process_start_time_seconds, meant for unlabelled sums), which would drop it.
  return { summed, perWorker: perWorker.map((metric) => ({ ...metric, aggregator: "first" })) };
}

interface Waiting {
  resolve(value: { contentType: string; body: string }): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * A worker's end: answers the primary's collections from its registries, and serves /metrics by
 * asking the primary for every worker's. `send` posts to the primary; the owner passes each
 * message from it to handle().
 */
export class WorkerMetricsLink implements MetricsSource {
  private registries: WorkerRegistries | null = null;
  private nextId = 1;
  private readonly waiting = new Map<number, Waiting>();

  constructor(
    private readonly send: (message: MetricsMessage) => void,
    private readonly timeoutMs = RENDER_TIMEOUT_MS,
  ) {}

  /** What collections are answered from; until it is called, they get empty registries. */
  serve(registries: WorkerRegistries): void {
    this.registries = registries;
  }

  /** Takes a message from the primary; false when it is not one of ours. */
  handle(message: unknown): boolean {
    if (!isMetricsMessage(message)) return false;
    if (message.type === "collect") {
      void this.answer(message.id);
    } else if (message.type === "rendered" || message.type === "render-failed") {
      const waiting = this.waiting.get(message.id);
      if (waiting === undefined) return true;
      this.waiting.delete(message.id);
      clearTimeout(waiting.timer);
      if (message.type === "rendered") {
        waiting.resolve({ contentType: message.contentType, body: message.body });
      } else {
        waiting.reject(
          new Error(`the cluster's metrics could not be rendered: ${message.message}`),
        );
      }
    }
    return true;
  }

  render(): Promise<{ contentType: string; body: string }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error("the cluster primary did not answer with the workers' metrics in time"));
      }, this.timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.send({ callbridge: "metrics", type: "render", id });
    });
  }

  private async answer(id: number): Promise<void> {
    try {
      const snapshot =
        this.registries === null
          ? { summed: [], perWorker: [] }
          : await snapshotOf(this.registries);
      this.send({ callbridge: "metrics", type: "collected", id, ...snapshot });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      this.send({ callbridge: "metrics", type: "collect-failed", id, message });
    }
  }
}

/** The primary's end of one worker's channel. */
export interface WorkerChannel {
  /** The worker's index (1..WORKERS), the same for the worker that replaces it. */
  readonly index: number;
  send(message: MetricsMessage): void;
}

interface Collection {
  pending: Set<WorkerChannel>;
  answers: Map<WorkerChannel, WorkerMetricsSnapshot>;
  finish(): void;
}

/** Counters and histograms only ever grow while their process lives. */
const isCumulative = (metric: MetricJson) =>
  metric.type === "counter" || metric.type === "histogram";

/** Adds sets of series up into one, synchronously (prom-client's aggregation, by `aggregator`). */
function fold(parts: MetricJson[][]): MetricJson[] {
  // aggregate() registers each result with its fields on the metric object itself.
  return AggregatorRegistry.aggregate(parts)
    .getMetricsAsArray()
    .map((metric) => {
      const { name, help, type, aggregator, values } = metric as unknown as MetricJson;
      return { name, help, type, aggregator, values };
    });
}

/**
 * The primary's side: which workers serve, collecting from them, and adding it all up, with the
 * primary's own series (workers serving, restarts, workers missing from the last scrape).
 *
 * A worker that exits takes its counts with it, and a sum that dropped would read as a counter
 * reset to Prometheus, which would then count the whole remaining total again as new. So the
 * cumulative series a worker last reported are kept, as "retired", and added to every later sum:
 * the totals never go down (what it counted after its last scrape is lost with it).
 */
export class ClusterMetrics implements MetricsSource {
  readonly registry = new Registry();
  /** Serving workers by index; a replacement is a new channel under the same index. */
  private readonly workers = new Map<number, WorkerChannel>();
  private readonly collections = new Map<number, Collection>();
  private readonly lastCumulative = new Map<WorkerChannel, MetricJson[]>();
  private retired: MetricJson[] = [];
  private readonly restarts: Counter<"worker">;
  private unanswered = 0;
  private nextId = 1;
  private readonly collectTimeoutMs: number;

  constructor(options: { collectTimeoutMs?: number } = {}) {
    this.collectTimeoutMs = options.collectTimeoutMs ?? COLLECT_TIMEOUT_MS;
    const registers = [this.registry];
    const metrics = this;
    new Gauge({
      name: "callbridge_cluster_workers",
      help: "Worker processes serving (started and listening)",
      registers,
      collect() {
        this.set(metrics.workers.size);
      },
    });
    new Gauge({
      name: "callbridge_cluster_workers_unanswered",
      help: "Workers left out of the last scrape: they did not answer in time",
      registers,
      collect() {
        this.set(metrics.unanswered);
      },
    });
    this.restarts = new Counter({
      name: "callbridge_cluster_worker_restarts_total",
      help: "Workers started again after they exited unexpectedly, by worker index",
      labelNames: ["worker"],
      registers,
    });
  }

  /** The worker listens: it is asked from the next scrape on. */
  workerReady(channel: WorkerChannel): void {
    this.workers.set(channel.index, channel);
  }

  /** The worker is gone: no scrape waits for it, and what it had counted stays in the totals. */
  workerExited(channel: WorkerChannel): void {
    if (this.workers.get(channel.index) === channel) this.workers.delete(channel.index);
    for (const collection of this.collections.values()) {
      if (collection.pending.delete(channel) && collection.pending.size === 0) collection.finish();
    }
    const last = this.lastCumulative.get(channel);
    this.lastCumulative.delete(channel);
    if (last !== undefined) this.retired = fold([this.retired, last]);
  }

  workerRestarted(index: number): void {
    this.restarts.inc({ worker: String(index) });
  }

  /** Takes a message from worker `channel`; false when it is not one of ours. */
  handle(channel: WorkerChannel, message: unknown): boolean {
    if (!isMetricsMessage(message)) return false;
    if (message.type === "collected" || message.type === "collect-failed") {
      const collection = this.collections.get(message.id);
      if (collection === undefined || !collection.pending.delete(channel)) return true;
      if (message.type === "collected") {
        const { summed, perWorker } = message;
        collection.answers.set(channel, { summed, perWorker });
      }
      if (collection.pending.size === 0) collection.finish();
    } else if (message.type === "render") {
      const { id } = message;
      this.render().then(
        ({ contentType, body }) =>
          channel.send({ callbridge: "metrics", type: "rendered", id, contentType, body }),
        (error: unknown) =>
          channel.send({
            callbridge: "metrics",
            type: "render-failed",
            id,
            message: error instanceof Error ? error.message : String(error),
          }),
      );
    }
    return true;
  }

  /** Every serving worker's metrics and the primary's own, aggregated. */
  async render(): Promise<{ contentType: string; body: string }> {
    const { asked, answers } = await this.collect();
    this.unanswered = asked - answers.size;
    const parts: MetricJson[][] = [this.retired];
    for (const [channel, snapshot] of answers) {
      // One that exited meanwhile is in the retired counts already, as of its last scrape.
      if (this.workers.get(channel.index) !== channel) continue;
      this.lastCumulative.set(channel, snapshot.summed.filter(isCumulative));
      parts.push(snapshot.summed, snapshot.perWorker);
    }
    parts.push((await this.registry.getMetricsAsJSON()) as unknown as MetricJson[]);
    const aggregated = AggregatorRegistry.aggregate(parts);
    return { contentType: aggregated.contentType, body: await aggregated.metrics() };
  }

  private collect(): Promise<{
    asked: number;
    answers: Map<WorkerChannel, WorkerMetricsSnapshot>;
  }> {
    const id = this.nextId++;
    const channels = [...this.workers.values()];
    return new Promise((resolve) => {
      const answers = new Map<WorkerChannel, WorkerMetricsSnapshot>();
      let timer: NodeJS.Timeout | undefined;
      const finish = () => {
        clearTimeout(timer);
        this.collections.delete(id);
        resolve({ asked: channels.length, answers });
      };
      if (channels.length === 0) {
        finish();
        return;
      }
      this.collections.set(id, { pending: new Set(channels), answers, finish });
      timer = setTimeout(finish, this.collectTimeoutMs);
      for (const channel of channels) channel.send({ callbridge: "metrics", type: "collect", id });
    });
  }
}
