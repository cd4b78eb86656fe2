import { CallEventHub } from "../adapters/http/events/call-event-hub.ts";
import { fanOut } from "../adapters/http/events/fan-out.ts";
import type { AppLogger } from "../adapters/logging/pino-logger.ts";
import type { PrometheusMetrics } from "../adapters/metrics/prometheus-metrics.ts";
import { OpenAiRealtimeModel } from "../adapters/openai/realtime-client.ts";
import { ResponsesAnalyzer } from "../adapters/openai/responses-analyzer.ts";
import { AfinnSentimentAnalyzer } from "../adapters/sentiment/afinn-sentiment.ts";
import { ActivityTracker } from "../adapters/system/activity-tracker.ts";
import { EventLoopWatchdog } from "../adapters/system/event-loop-watchdog.ts";
import { type ScheduledJob, scheduleEvery } from "../adapters/system/interval-scheduler.ts";
import { CallSession } from "../application/bridge/call-session.ts";
import { ExpiredLeaseSweep, InstanceLease } from "../application/call-leases.ts";
import { CallManager } from "../application/call-manager.ts";
import type {
  CallEventBus,
  CallEventSink,
  CallRepository,
  Clock,
  IdGenerator,
  MediaStreamSession,
  TelephonyOutput,
} from "../application/ports/index.ts";
import { PostCallAnalysis } from "../application/post-call-analysis.ts";
import { RecordingRetention } from "../application/retention.ts";
import { type Config, ConfigError } from "../config.ts";
import { type CallPrices, pricesFor } from "../domain/cost.ts";
import { errorMessage } from "../domain/errors.ts";
import { createEventBus } from "./event-bus.ts";
import { createRecordingUploads, type RecordingUploadsJob } from "./recording-storage.ts";
import type { Storage } from "./storage.ts";

const RETENTION_INTERVAL_MS = 60 * 60 * 1000;
/** Transcribes the caller; named here so that its prices are the ones applied. */
const TRANSCRIPTION_MODEL = "gpt-4o-mini-transcribe";

/**
 * Whether the model has refused our session configuration (a bad voice or transcription model):
 * every call then runs without an assistant until the configuration is fixed, so it is logged
 * once and reported by /healthz, not retried call after call.
 */
export class ModelStatus {
  private reason: string | null = null;

  constructor(private readonly logger: AppLogger) {}

  rejected(message: string): void {
    if (this.reason === null) {
      this.logger.error(
        { err: message },
        "OpenAI rejected the session configuration (OPENAI_VOICE, the transcription model or CALL_LANGUAGE): calls are recorded without an assistant",
      );
    }
    this.reason = message;
  }

  degradedReasons(): string[] {
    return this.reason === null ? [] : [`assistant model configuration rejected: ${this.reason}`];
  }
}

export interface BridgeDeps {
  storage: Storage;
  logger: AppLogger;
  metrics: PrometheusMetrics;
  clock: Clock;
  ids: IdGenerator;
}

export interface Bridge {
  callManager: CallManager;
  /** Summary, outcome and fields of each ended call, by the model; closed after the calls end. */
  postCallAnalysis: PostCallAnalysis;
  /** Live feeds (SSE) of call events for the call browser. */
  hub: CallEventHub;
  /** Every instance's call events, which the hub follows; closed after the hub at shutdown. */
  bus: CallEventBus;
  activity: ActivityTracker;
  /** One session per media stream. */
  createSession(output: TelephonyOutput): MediaStreamSession;
  /** What /healthz says about the assistant model's configuration. */
  modelStatus: ModelStatus;
  /**
   * Stops the retention job, the expired-lease sweep and the uploads to object storage (runs in
   * progress complete first).
   */
  stopRetention(): Promise<void>;
  /** Stops renewing this instance's lease and removes it: call once every call has ended. */
  releaseLease(): Promise<void>;
  /** Uploads of finished files to object storage; null without RECORDING_STORAGE_URL. */
  uploads: RecordingUploadsJob | null;
  watchdog: EventLoopWatchdog;
}

/** The call lifecycle, crash recovery, the model, and the jobs that run beside the calls. */
export async function createBridge(config: Config, deps: BridgeDeps): Promise<Bridge> {
  const { storage, logger, metrics, clock, ids } = deps;
  const { calls, recordings } = storage;
  const hub = new CallEventHub();
  const bus = await createEventBus(config, {
    calls,
    logger,
    metrics,
    wanted: (callId) => hub.follows(callId),
  });
  bus.subscribe(hub);
  const uploads = createRecordingUploads(storage.archive, {
    calls,
    clock,
    logger,
    metrics,
    isCallLive: (callId) => callManager.isCallActive(callId),
    share: storage.spoolShare,
  });
  const postCallAnalysis = createPostCallAnalysis(config, calls, logger);
  // Each instance analyses the calls it ran, once their end is stored (call.ended).
  const analysisSink: CallEventSink = {
    publish: (event) => {
      if (event.type === "call.ended") postCallAnalysis.enqueue(event.call.id);
    },
  };
  // Metrics and uploads are of this process's calls; the feeds hear every instance's.
  const events = uploads
    ? fanOut(metrics, bus, uploads.events, analysisSink)
    : fanOut(metrics, bus, analysisSink);
  const { instanceId } = storage;
  const callManager = new CallManager({
    calls,
    recordings,
    clock,
    ids,
    logger,
    events,
    instanceId,
  });
  metrics.countLiveCalls(() => callManager.activeCount);
  // Before any call is stored: no instance ever sees a live call of this one without a lease.
  const lease = new InstanceLease({
    calls,
    clock,
    logger,
    instanceId,
    leaseMs: config.instanceLeaseMs,
  });
  await lease.renew();
  await callManager.recoverInterruptedCalls();
  await resumePendingAnalyses(calls, postCallAnalysis, logger);
  // Started after start-up's own synchronous work (migrations, recovery), which holds up no call.
  const activity = new ActivityTracker();
  const watchdog = new EventLoopWatchdog({
    logger,
    activity,
    liveCalls: () => callManager.activeCount,
    onDelay: (seconds) => metrics.eventLoopDelay(seconds),
    onStall: () => metrics.eventLoopStall(),
  }).start();
  const retention = scheduleRetention(config, deps, callManager, activity);
  // The sweep ends calls of other instances: their feeds hear it, this process's metrics do not.
  const membership = scheduleMembership(lease, deps, bus, activity, (streamSid) =>
    callManager.isStreamLive(streamSid),
  );
  // After recovery: the files of a call a crash left active are finished only once it ran.
  uploads?.start(activity);
  const sentiment = new AfinnSentimentAnalyzer();
  const { apiKey, realtimeUrl, voice, instructions, audioFormat, assistantHangUp } = config.openai;
  const model = apiKey
    ? new OpenAiRealtimeModel({ url: realtimeUrl, apiKey, transcriptionModel: TRANSCRIPTION_MODEL })
    : null;
  const prices = callPrices(config);
  const modelStatus = new ModelStatus(logger);
  const createSession = (output: TelephonyOutput) =>
    new CallSession({
      callManager,
      model,
      modelOptions: { voice, instructions, audioFormat, language: config.language },
      output,
      logger,
      metrics,
      maxCallSeconds: config.maxCallSeconds,
      modelDrainMs: config.modelDrainMs,
      assistantHangUp,
      onModelRejected: (message) => modelStatus.rejected(message),
      analyticsIntervalMs: config.analyticsIntervalSeconds * 1000,
      sentiment,
      language: config.language,
      activity,
      prices,
    });
  const stopRetention = async () => {
    await retention?.stop();
    await membership.sweep.stop();
    await uploads?.stop();
  };
  const releaseLease = async () => {
    await membership.renewal.stop();
    try {
      await lease.release();
    } catch (error) {
      // Then the lease just runs out: other instances find no live call of this one anyway.
      logger.warn({ err: errorMessage(error) }, "could not release the call lease");
    }
  };
  return {
    callManager,
    postCallAnalysis,
    releaseLease,
    hub,
    bus,
    activity,
    createSession,
    stopRetention,
    watchdog,
    modelStatus,
    uploads,
  };
}

/** Without a key (or with POST_CALL_ANALYSIS=off) every ended call is marked `off`. */
function createPostCallAnalysis(
  config: Config,
  calls: CallRepository,
  logger: AppLogger,
): PostCallAnalysis {
  const { analysis, openai } = config;
  let analyzer: ResponsesAnalyzer | null = null;
  if (analysis.enabled && openai.apiKey) {
    try {
      analyzer = new ResponsesAnalyzer({
        baseUrl: openai.baseUrl,
        apiKey: openai.apiKey,
        model: analysis.model,
        outcomes: analysis.outcomes,
        fields: analysis.fields,
      });
    } catch (error) {
      // A schema that strict structured outputs cannot express: said at start, as config.
      const reason = errorMessage(error).replace(/^ANALYSIS_FIELDS:?\s*/, "");
      throw new ConfigError("ANALYSIS_FIELDS", reason);
    }
  }
  return new PostCallAnalysis({ calls, analyzer, logger });
}

/** Calls a shutdown or crash left `pending` (at most a few hundred, newest first) go again. */
async function resumePendingAnalyses(
  calls: CallRepository,
  analysis: PostCallAnalysis,
  logger: AppLogger,
): Promise<void> {
  const page = await calls.getAllCalls({ limit: 200, analysisStatus: "pending" });
  for (const call of page.data) {
    if (call.status !== "active") analysis.enqueue(call.id);
  }
  if (page.data.length > 0) {
    logger.info({ calls: page.data.length }, "resuming post-call analyses left pending");
  }
}

function callPrices(config: Config): CallPrices {
  const { prices, realtimeModel } = config.openai;
  return {
    realtime: realtimeModel === null ? null : pricesFor(prices, realtimeModel),
    transcription: pricesFor(prices, TRANSCRIPTION_MODEL),
  };
}

/** The lease renewal, and the sweep of calls whose owner's lease ran out, at the same pace. */
function scheduleMembership(
  lease: InstanceLease,
  { storage, logger, clock }: BridgeDeps,
  events: CallEventSink,
  activity: ActivityTracker,
  isLive: (streamSid: string) => boolean,
): { renewal: ScheduledJob; sweep: ScheduledJob } {
  const intervalMs = lease.renewEveryMs;
  const renewal = scheduleEvery(() => lease.renew(), {
    intervalMs,
    activity: { spans: activity, label: "lease renewal" },
    onError: (error) =>
      logger.error({ err: errorMessage(error) }, "call lease renewal failed; retrying"),
  });
  const sweeper = new ExpiredLeaseSweep({
    calls: storage.calls,
    recordings: storage.recordings,
    clock,
    logger,
    instanceId: lease.instanceId,
    lock: storage.jobs,
    events,
    isLive,
  });
  const sweep = scheduleEvery(() => sweeper.run(), {
    intervalMs,
    runAtStart: true,
    activity: { spans: activity, label: "expired-lease sweep" },
    onError: (error) => logger.error({ err: errorMessage(error) }, "expired-lease sweep failed"),
  });
  return { renewal, sweep };
}

function scheduleRetention(
  config: Config,
  { storage, logger, clock }: BridgeDeps,
  callManager: CallManager,
  activity: ActivityTracker,
): ScheduledJob | null {
  const retentionDays = config.recordingRetentionDays;
  if (retentionDays === undefined) return null;
  const { calls, recordings } = storage;
  const isCallActive = (callId: string) => callManager.isCallActive(callId);
  return scheduleEvery(
    () =>
      new RecordingRetention({
        calls,
        recordings,
        clock,
        logger,
        retentionDays,
        isCallActive,
        lock: storage.jobs,
      }).run(),
    {
      intervalMs: RETENTION_INTERVAL_MS,
      runAtStart: true,
      activity: { spans: activity, label: "retention run" },
      onError: (error) => logger.error({ err: errorMessage(error) }, "retention run failed"),
    },
  );
}
