import type { Metric, Registry } from "prom-client";

/** What a registry reads from a metric when it renders it (prom-client's shape). */
interface RenderedHistogram {
  name: string;
  help: string;
  type: "histogram";
  aggregator: "sum";
  values: { metricName: string; labels: Record<string, string | number>; value: number }[];
}

/**
 * A label-less Prometheus histogram for the audio path, which observes 50 times a second per
 * call: an observation is a scan of a few bounds and two additions into plain numbers, where
 * prom-client's Histogram hashes a label set and walks objects on every call. The exposition is
 * prom-client's own, built on scrape from these counts.
 */
export class HotPathHistogram {
  readonly name: string;
  readonly help: string;
  readonly type = "histogram" as const;
  readonly aggregator = "sum" as const;
  private readonly bounds: Float64Array;
  /** counts[i]: observations ≤ bounds[i] and > bounds[i - 1]; the last is above every bound. */
  private readonly counts: Float64Array;
  private sum = 0;
  private count = 0;

  constructor(options: {
    name: string;
    help: string;
    buckets: readonly number[];
    registers: Registry[];
  }) {
    this.name = options.name;
    this.help = options.help;
    this.bounds = Float64Array.from([...options.buckets].sort((a, b) => a - b));
    this.counts = new Float64Array(this.bounds.length + 1);
    // prom-client's types name only its own metric classes, but a registry renders any object
    // with this shape (name, help, type, get, reset), as its own custom-metric docs describe.
    for (const registry of options.registers) registry.registerMetric(this as unknown as Metric);
  }

  observe(value: number): void {
    const bounds = this.bounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    this.counts[i]! += 1;
    this.sum += value;
    this.count += 1;
  }

  reset(): void {
    this.counts.fill(0);
    this.sum = 0;
    this.count = 0;
  }

  async get(): Promise<RenderedHistogram> {
    const values: RenderedHistogram["values"] = [];
    let cumulative = 0;
    for (let i = 0; i < this.bounds.length; i++) {
      cumulative += this.counts[i]!;
      values.push({
        metricName: `${this.name}_bucket`,
        labels: { le: this.bounds[i]! },
        value: cumulative,
      });
    }
    values.push({ metricName: `${this.name}_bucket`, labels: { le: "+Inf" }, value: this.count });
    values.push({ metricName: `${this.name}_sum`, labels: {}, value: this.sum });
    values.push({ metricName: `${this.name}_count`, labels: {}, value: this.count });
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    };
  }
}
