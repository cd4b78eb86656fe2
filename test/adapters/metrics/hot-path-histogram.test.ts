import { Histogram, Registry } from "prom-client";
import { describe, expect, it } from "vitest";
import { HotPathHistogram } from "../../../src/adapters/metrics/hot-path-histogram.ts";

const BUCKETS = [0.001, 0.005, 0.01, 0.1];

describe("HotPathHistogram", () => {
  it("renders exactly what prom-client's Histogram renders for the same observations", async () => {
    const ours = new Registry();
    const theirs = new Registry();
    const hot = new HotPathHistogram({
      name: "x_seconds",
      help: "h",
      buckets: BUCKETS,
      registers: [ours],
    });
    const reference = new Histogram({
      name: "x_seconds",
      help: "h",
      buckets: BUCKETS,
      registers: [theirs],
    });
    // Bounds themselves (le is ≤), values between, below the first and above the last.
    const values = [0, 0.0005, 0.001, 0.002, 0.005, 0.0051, 0.01, 0.05, 0.1, 0.2, 3, 0.001];
    for (const v of values) {
      hot.observe(v);
      reference.observe(v);
    }
    expect(await ours.metrics()).toBe(await theirs.metrics());
  });

  it("starts from zero and resets to zero", async () => {
    const registry = new Registry();
    const hot = new HotPathHistogram({
      name: "y_seconds",
      help: "h",
      buckets: BUCKETS,
      registers: [registry],
    });
    const empty = await registry.metrics();
    expect(empty).toContain('y_seconds_bucket{le="+Inf"} 0');
    hot.observe(0.002);
    expect(await registry.metrics()).toContain('y_seconds_bucket{le="0.005"} 1');
    expect(await registry.metrics()).toContain("y_seconds_count 1");
    registry.resetMetrics();
    expect(await registry.metrics()).toBe(empty);
  });
});
