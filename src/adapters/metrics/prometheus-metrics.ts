import { getHeapSpaceStatistics } from "node:v8";
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";
import type { BridgeMetrics, CallEvent, CallEventSink } from "../../application/ports/index.ts";
import type { EventBusErrorKind } from "../events/event-bus-error-kind.ts";
import type { StoreErrorKind } from "../fs/store-io.ts";
import type { BadFrameKind } from "../twilio/twilio-routes.ts";
import { HotPathHistogram } from "./hot-path-histogram.ts";

/** The `kind` label of callbridge_errors_total (upstream errors are counted by upstreamError). */
export type ErrorKind =
  | "storage_search_index"
  | StoreErrorKind
  | EventBusErrorKind
  | `frame_${BadFrameKind}`;

export interface PrometheusMetricsOptions {
  /**
   * This process is worker `worker` of a cluster (WORKERS > 1): the series that describe the
   * process get a `worker` label (see `processRegistry`).
   */
  worker?: number;
}

/**
 * Everything /metrics exposes, on a registry of its own (so that several servers in one
 * test process do not collide). Counters are cheap increments: the audio path calls them
 * for every frame.
 *
 * In a cluster the primary adds the workers' registries up (cluster-metrics.ts), and each metric
 * is on the registry that says how: `registry` holds what adds up into one total for the server
 * (calls, frames, bytes, errors, HTTP and frame-latency histograms: a sum over workers is the
 * server's own figure, and keeps no worker label so dashboards read the same as with one
 * process); `processRegistry` holds what describes one process (memory, CPU, event-loop delay
 * and stalls, open handles, live calls), where a sum is meaningless or hides the one worker that
 * is in trouble: it keeps a `worker` label, and `sum without (worker)` still gives the total.
 * With one process both are the same registry and no series has a worker label.
 */
export class PrometheusMetrics implements BridgeMetrics, CallEventSink {
  readonly registry = new Registry();
  readonly processRegistry: Registry;
  private readonly framesDropped: Counter;
  private readonly frameLatency: HotPathHistogram;
  /** Counted in plain numbers on the audio path and folded into the counters on scrape. */
  private framesInCount = 0;
  private framesOutCount = 0;
  private framesInFolded = 0;
  private framesOutFolded = 0;
  private readonly eventLoopDelayHistogram: HotPathHistogram;
  private eventLoopStallCount = 0;
  private eventLoopStallsFolded = 0;
  private readonly recordingBytes: Counter;
  private readonly errors: Counter<"kind">;
  private readonly callsTotal: Counter<"status">;
  private readonly httpLatency: Histogram<"method" | "route" | "status">;
  private readonly activeGauge: Gauge;
  private liveCalls: () => number = () => 0;
  private uploadQueue: () => { pending: number; oldestAgeSeconds: number } | null = () => null;
  private readonly uploadFailures: Counter;

  constructor(options: PrometheusMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.worker === undefined) {
      this.processRegistry = this.registry;
    } else {
      this.processRegistry = new Registry();
      this.processRegistry.setDefaultLabels({ worker: String(options.worker) });
    }
    const perProcess = [this.processRegistry];
    const liveCalls = () => this.liveCalls();
    collectDefaultMetrics({ register: this.processRegistry, prefix: "callbridge_" });
    this.activeGauge = new Gauge({
      name: "callbridge_active_calls",
      help: "Calls in progress",
      registers: perProcess,
      collect() {
        this.set(liveCalls());
      },
    });
    // prom-client's heap-space sizes are what V8 reserved; this is what is resident, which is
    // what RSS counts (the young generation's share of it grows with the allocation rate).
    new Gauge({
      name: "callbridge_nodejs_heap_space_physical_bytes",
      help: "Physical (resident) size of each V8 heap space",
      labelNames: ["space"],
      registers: perProcess,
      collect() {
        for (const space of getHeapSpaceStatistics()) {
          this.set({ space: space.space_name.replace(/_space$/, "") }, space.physical_space_size);
        }
      },
    });
    this.callsTotal = new Counter({
      name: "callbridge_calls_total",
      help: "Calls by final or initial status (active = started)",
      labelNames: ["status"],
      registers,
    });
    // collect() runs with `this` bound to the counter; the counts live on this object.
    const metrics = this;
    // Registered with the registry, which is all they need.
    new Counter({
      name: "callbridge_frames_in_total",
      help: "Twilio media frames received",
      registers,
      collect() {
        this.inc(metrics.framesInCount - metrics.framesInFolded);
        metrics.framesInFolded = metrics.framesInCount;
      },
    });
    new Counter({
      name: "callbridge_frames_out_total",
      help: "Media frames sent to Twilio",
      registers,
      collect() {
        this.inc(metrics.framesOutCount - metrics.framesOutFolded);
        metrics.framesOutFolded = metrics.framesOutCount;
      },
    });
    this.framesDropped = new Counter({
      name: "callbridge_frames_out_dropped_total",
      help: "Assistant frames dropped because the Twilio socket was backed up",
      registers,
    });
    this.frameLatency = new HotPathHistogram({
      name: "callbridge_frame_processing_seconds",
      help: "Time to process one inbound audio frame (decode, record, resample, forward)",
      buckets: [
        0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002, 0.005, 0.01,
      ],
      registers,
    });
    // Observed by the watchdog's timer 100 times a second: the cheap histogram, like frames.
    this.eventLoopDelayHistogram = new HotPathHistogram({
      name: "callbridge_event_loop_delay_seconds",
      help: "How late the event loop ran a 10 ms timer: every call's audio waits this long",
      buckets: [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1],
      registers: perProcess,
    });
    new Counter({
      name: "callbridge_event_loop_stalls_total",
      help: "Event-loop delays above the stall threshold (20 ms), logged or folded into a log line",
      registers: perProcess,
      collect() {
        this.inc(metrics.eventLoopStallCount - metrics.eventLoopStallsFolded);
        metrics.eventLoopStallsFolded = metrics.eventLoopStallCount;
      },
    });
    this.recordingBytes = new Counter({
      name: "callbridge_recording_bytes_written_total",
      help: "Bytes of audio written to recording files",
      registers,
    });
    this.errors = new Counter({
      name: "callbridge_errors_total",
      help: "Errors by kind (upstream, storage, bad frames)",
      labelNames: ["kind"],
      registers,
    });
    // Object storage (RECORDING_STORAGE_URL): the spool's upload queue, read on scrape. In a
    // cluster each worker queues its own share of the machine's spool (workerShare): the queue
    // is their sum, and its oldest file the oldest of theirs.
    new Gauge({
      name: "callbridge_recording_uploads_pending",
      help: "Finished recording and sidecar files in the spool waiting for object storage",
      registers,
      collect() {
        this.set(metrics.uploadQueue()?.pending ?? 0);
      },
    });
    new Gauge({
      name: "callbridge_recording_upload_oldest_age_seconds",
      help: "How long the oldest file waiting for object storage has waited (0 when none)",
      registers,
      aggregator: "max",
      collect() {
        this.set(metrics.uploadQueue()?.oldestAgeSeconds ?? 0);
      },
    });
    this.uploadFailures = new Counter({
      name: "callbridge_recording_upload_failures_total",
      help: "Failed attempts to upload a file to object storage (each is retried with backoff)",
      registers,
    });
    this.httpLatency = new Histogram({
      name: "callbridge_http_request_duration_seconds",
      help: "HTTP request latency by route",
      labelNames: ["method", "route", "status"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers,
    });
  }

  frameIn(): void {
    this.framesInCount++;
  }

  frameOut(): void {
    this.framesOutCount++;
  }

  frameProcessed(seconds: number): void {
    this.frameLatency.observe(seconds);
  }

  /** Where the active-calls gauge reads its value at each scrape. */
  countLiveCalls(source: () => number): void {
    this.liveCalls = source;
  }

  /** Where the upload-queue gauges read their values at each scrape. */
  countRecordingUploads(source: () => { pending: number; oldestAgeSeconds: number }): void {
    this.uploadQueue = source;
  }

  recordingUploadFailed(): void {
    this.uploadFailures.inc();
  }

  eventLoopDelay(seconds: number): void {
    this.eventLoopDelayHistogram.observe(seconds);
  }

  eventLoopStall(): void {
    this.eventLoopStallCount++;
  }

  upstreamError(kind: string): void {
    this.errors.inc({ kind: `upstream_${kind}` });
  }

  outboundDropped(frames: number): void {
    this.framesDropped.inc(frames);
  }

  error(kind: ErrorKind): void {
    this.errors.inc({ kind });
  }

  bytesWritten(n: number): void {
    this.recordingBytes.inc(n);
  }

  httpRequest(method: string, route: string, status: number, seconds: number): void {
    this.httpLatency.observe({ method, route, status: String(status) }, seconds);
  }

  publish(event: CallEvent): void {
    if (event.type === "call.started") this.callsTotal.inc({ status: "active" });
    if (event.type === "call.ended") this.callsTotal.inc({ status: event.call.status });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    void this.activeGauge;
    const { contentType } = this.registry;
    if (this.processRegistry === this.registry) {
      return { contentType, body: await this.registry.metrics() };
    }
    // A worker's own series (a cluster's /metrics is the primary's sum: cluster-metrics.ts).
    const [summed, perProcess] = await Promise.all([
      this.registry.metrics(),
      this.processRegistry.metrics(),
    ]);
    return { contentType, body: `${summed}\n${perProcess}` };
  }
}
