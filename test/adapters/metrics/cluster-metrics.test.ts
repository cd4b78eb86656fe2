import { describe, expect, it } from "vitest";
import {
  ClusterMetrics,
  type MetricsMessage,
  type WorkerChannel,
  WorkerMetricsLink,
} from "../../../src/adapters/metrics/cluster-metrics.ts";
import { PrometheusMetrics } from "../../../src/adapters/metrics/prometheus-metrics.ts";
import { metricValue, parsePrometheus, samplesOf } from "../../support/prometheus-text.ts";

/**
 * The cluster's /metrics without processes: each worker's link and the primary talk through
 * in-memory channels that deliver asynchronously and clone what they carry, as IPC does
 * (structured clone: the primary sets `serialization: "advanced"`).
 */
interface FakeWorker {
  channel: WorkerChannel;
  link: WorkerMetricsLink;
  metrics: PrometheusMetrics;
}

function startWorker(
  primary: ClusterMetrics,
  index: number,
  options: { answers?: boolean } = {},
): FakeWorker {
  const metrics = new PrometheusMetrics({ worker: index });
  let link: WorkerMetricsLink | null = null;
  const channel: WorkerChannel = {
    index,
    send: (message: MetricsMessage) => {
      if (options.answers === false) return;
      setImmediate(() => link?.handle(structuredClone(message)));
    },
  };
  link = new WorkerMetricsLink((message) =>
    setImmediate(() => primary.handle(channel, structuredClone(message))),
  );
  link.serve(metrics);
  primary.workerReady(channel);
  return { channel, link, metrics };
}

async function scrape(source: { render(): Promise<{ body: string }> }) {
  return parsePrometheus((await source.render()).body);
}

describe("ClusterMetrics", () => {
  it("sums what adds up, keeps a worker label on what describes one process, adds up the workers' shares of the spool", async () => {
    const primary = new ClusterMetrics();
    const one = startWorker(primary, 1);
    const two = startWorker(primary, 2);
    for (let i = 0; i < 3; i++) one.metrics.frameIn();
    for (let i = 0; i < 4; i++) two.metrics.frameIn();
    one.metrics.httpRequest("GET", "/healthz", 200, 0.002);
    two.metrics.httpRequest("GET", "/healthz", 200, 0.02);
    one.metrics.error("storage_search_index");
    one.metrics.countLiveCalls(() => 2);
    two.metrics.countLiveCalls(() => 3);
    one.metrics.eventLoopStall();
    one.metrics.eventLoopDelay(0.004);
    two.metrics.eventLoopDelay(0.3);
    // Each worker queues its own share of the machine's spool (workerShare).
    one.metrics.countRecordingUploads(() => ({ pending: 4, oldestAgeSeconds: 10 }));
    two.metrics.countRecordingUploads(() => ({ pending: 3, oldestAgeSeconds: 12 }));

    // Asked through a worker's /metrics, as a scrape is: the primary aggregates for it.
    const samples = await scrape(one.link);
    expect(samplesOf(samples, "callbridge_frames_in_total")).toEqual([
      { name: "callbridge_frames_in_total", labels: {}, value: 7 },
    ]);
    const route = { method: "GET", route: "/healthz", status: "200" };
    expect(metricValue(samples, "callbridge_http_request_duration_seconds_count", route)).toBe(2);
    expect(
      metricValue(samples, "callbridge_http_request_duration_seconds_bucket", {
        ...route,
        le: "0.005",
      }),
    ).toBe(1);
    expect(
      samplesOf(samples, "callbridge_http_request_duration_seconds_count").every(
        (s) => s.labels.worker === undefined,
      ),
    ).toBe(true);
    expect(metricValue(samples, "callbridge_errors_total", { kind: "storage_search_index" })).toBe(
      1,
    );
    // Per process: one series per worker, labelled; the total is a sum over them.
    expect(metricValue(samples, "callbridge_active_calls", { worker: "1" })).toBe(2);
    expect(metricValue(samples, "callbridge_active_calls", { worker: "2" })).toBe(3);
    expect(metricValue(samples, "callbridge_active_calls")).toBe(5);
    expect(metricValue(samples, "callbridge_event_loop_stalls_total", { worker: "1" })).toBe(1);
    expect(metricValue(samples, "callbridge_event_loop_stalls_total", { worker: "2" })).toBe(0);
    expect(
      metricValue(samples, "callbridge_event_loop_delay_seconds_bucket", {
        worker: "2",
        le: "0.25",
      }),
    ).toBe(0);
    expect(metricValue(samples, "callbridge_event_loop_delay_seconds_count", { worker: "1" })).toBe(
      1,
    );
    for (const name of [
      "callbridge_process_resident_memory_bytes",
      "callbridge_process_cpu_seconds_total",
      "callbridge_nodejs_eventloop_lag_p99_seconds",
      // prom-client would drop it from a sum ("omit"); labelled per worker it is kept.
      "callbridge_process_start_time_seconds",
    ]) {
      expect(samplesOf(samples, name).map((s) => s.labels.worker)).toEqual(
        expect.arrayContaining(["1", "2"]),
      );
    }
    // Both workers list the same spool folder: each file once, not once per worker.
    expect(metricValue(samples, "callbridge_recording_uploads_pending")).toBe(7);
    expect(metricValue(samples, "callbridge_recording_upload_oldest_age_seconds")).toBe(12);
    expect(metricValue(samples, "callbridge_cluster_workers")).toBe(2);
    expect(metricValue(samples, "callbridge_cluster_workers_unanswered")).toBe(0);
  });

  it("leaves out a worker that does not answer in time, and says so", async () => {
    const primary = new ClusterMetrics({ collectTimeoutMs: 100 });
    const one = startWorker(primary, 1);
    startWorker(primary, 2, { answers: false });
    one.metrics.frameIn();
    const began = performance.now();
    const samples = await scrape(primary);
    expect(performance.now() - began).toBeLessThan(2_000);
    expect(metricValue(samples, "callbridge_frames_in_total")).toBe(1);
    expect(samplesOf(samples, "callbridge_active_calls").map((s) => s.labels.worker)).toEqual([
      "1",
    ]);
    expect(metricValue(samples, "callbridge_cluster_workers_unanswered")).toBe(1);
  });

  it("does not wait for a worker that exits during a scrape", async () => {
    const primary = new ClusterMetrics({ collectTimeoutMs: 60_000 });
    startWorker(primary, 1);
    const silent = startWorker(primary, 2, { answers: false });
    const scraping = scrape(primary);
    setTimeout(() => primary.workerExited(silent.channel), 20);
    const samples = await scraping;
    expect(metricValue(samples, "callbridge_cluster_workers")).toBe(1);
  });

  it("keeps what an exited worker counted in the totals, so they never go down", async () => {
    const primary = new ClusterMetrics();
    const one = startWorker(primary, 1);
    const two = startWorker(primary, 2);
    for (let i = 0; i < 5; i++) one.metrics.frameIn();
    two.metrics.frameIn();
    one.metrics.httpRequest("GET", "/api/calls", 200, 0.01);
    expect(metricValue(await scrape(primary), "callbridge_frames_in_total")).toBe(6);

    // Worker 1 dies; the one started in its place counts from zero.
    primary.workerExited(one.channel);
    primary.workerRestarted(1);
    const replacement = startWorker(primary, 1);
    replacement.metrics.frameIn();
    two.metrics.frameIn();
    const after = await scrape(primary);
    expect(metricValue(after, "callbridge_frames_in_total")).toBe(5 + 1 + 1 + 1);
    expect(metricValue(after, "callbridge_http_request_duration_seconds_count")).toBe(1);
    expect(metricValue(after, "callbridge_cluster_worker_restarts_total", { worker: "1" })).toBe(1);
    // A gauge is the live process's alone: the dead worker's is gone, not added.
    replacement.metrics.countLiveCalls(() => 1);
    expect(metricValue(await scrape(primary), "callbridge_active_calls", { worker: "1" })).toBe(1);

    // Another death and restart: the retired counts fold into one set, still all there.
    primary.workerExited(two.channel);
    startWorker(primary, 2);
    expect(metricValue(await scrape(primary), "callbridge_frames_in_total")).toBe(8);
  });

  it("fails a worker's /metrics when the primary does not answer, rather than show its own figures as the cluster's", async () => {
    const link = new WorkerMetricsLink(() => {}, 50);
    await expect(link.render()).rejects.toThrow(/did not answer/);
  });
});
