import { afterEach, describe, expect, it } from "vitest";
import { LogCapture } from "../../support/log-capture.ts";
import { metricValue, parsePrometheus, type Sample } from "../../support/prometheus-text.ts";
import { eventually, startTestServer, type TestServer } from "../../support/test-server.ts";

let server: TestServer | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

async function scrape(s: TestServer): Promise<Sample[]> {
  const res = await fetch(`${s.baseUrl}/metrics`);
  expect(res.status).toBe(200);
  return parsePrometheus(await res.text());
}

/** The test and the server share one event loop: holding it here holds the server's. */
function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spinning on purpose
  }
}

describe("event-loop watchdog in the real server", () => {
  it("measures the loop's delay in /metrics, counts a stall we cause and logs it at warn", async () => {
    const log = new LogCapture();
    server = await startTestServer({ LOG_LEVEL: "info" }, { logDestination: log });
    const s = server;

    const before = await scrape(s);
    const stallsBefore = metricValue(before, "callbridge_event_loop_stalls_total");
    expect(stallsBefore).toBeDefined();
    expect(metricValue(before, "callbridge_event_loop_delay_seconds_count")).toBeGreaterThan(0);

    busyWait(60);
    const after = await eventually(
      async () => {
        const samples = await scrape(s);
        const stalls = metricValue(samples, "callbridge_event_loop_stalls_total")!;
        return stalls > stallsBefore! ? samples : undefined;
      },
      10_000,
      "the stall we caused to be counted",
    );

    // A Prometheus histogram from 1 ms to 1 s, and our delay beyond the 20 ms bucket.
    const buckets = after.filter((x) => x.name === "callbridge_event_loop_delay_seconds_bucket");
    const bounds = buckets.map((b) => b.labels.le);
    expect(bounds[0]).toBe("0.001");
    expect(bounds).toContain("1");
    expect(bounds.at(-1)).toBe("+Inf");
    const count = metricValue(after, "callbridge_event_loop_delay_seconds_count")!;
    expect(buckets.at(-1)!.value).toBe(count);
    const upTo20ms = buckets.find((b) => b.labels.le === "0.02")!.value;
    expect(count - upTo20ms).toBeGreaterThanOrEqual(1);
    expect(metricValue(after, "callbridge_event_loop_delay_seconds_sum")).toBeGreaterThan(0.02);

    const counted = metricValue(after, "callbridge_event_loop_stalls_total")!;
    // The first stall is logged at once; any later one in the window is folded into the line
    // that stopping the server writes. Together the lines account for every stall counted.
    await s.stop();
    server = null;
    const lines = log.withMessage("event loop stalled");
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const line of lines) {
      expect(line.level).toBe("warn");
      expect(Array.isArray(line.running)).toBe(true);
      expect(typeof line.liveCalls).toBe("number");
    }
    const reported = lines.reduce((sum, line) => sum + (line.stalls as number), 0);
    expect(reported).toBeGreaterThanOrEqual(counted);
  });
});
