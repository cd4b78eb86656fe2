import { CallEventHub } from "../adapters/http/events/call-event-hub.ts";
import { fanOut } from "../adapters/http/events/fan-out.ts";
import type { AppLogger } from "../adapters/logging/pino-logger.ts";
import type { PrometheusMetrics } from "../adapters/metrics/prometheus-metrics.ts";
import { OpenAiRealtimeModel } from "../adapters/openai/realtime-client.ts";
import { AfinnSentimentAnalyzer } from "../adapters/sentiment/afinn-sentiment.ts";
import { ActivityTracker } from "../adapters/system/activity-tracker.ts";
import { EventLoopWatchdog } from "../adapters/system/event-loop-watchdog.ts";
import { type ScheduledJob, scheduleEvery } from "../adapters/system/interval-scheduler.ts";
import { CallSession } from "../application/bridge/call-session.ts";
import { CallManager } from "../application/call-manager.ts";
import type {
  Clock,
  IdGenerator,
  MediaStreamSession,
  TelephonyOutput,
} from "../application/ports/index.ts";
import { RecordingRetention } from "../application/retention.ts";
import type { Config } from "../config.ts";
import { type CallPrices, pricesFor } from "../domain/cost.ts";
import { errorMessage } from "../domain/errors.ts";
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
  /** Live feeds (SSE) of call events for the call browser. */
  hub: CallEventHub;
  activity: ActivityTracker;
  /** One session per media stream. */
  createSession(output: TelephonyOutput): MediaStreamSession;
  /** What /healthz says about the assistant model's configuration. */
  modelStatus: ModelStatus;
  /** Stops the retention job and the uploads to object storage (runs in progress complete first). */
  stopRetention(): Promise<void>;
  /** Uploads of finished files to object storage; null without RECORDING_STORAGE_URL. */
  uploads: RecordingUploadsJob | null;
  watchdog: EventLoopWatchdog;
}

/** The call lifecycle, crash recovery, the model, and the jobs that run beside the calls. */
export async function createBridge(config: Config, deps: BridgeDeps): Promise<Bridge> {
  const { storage, logger, metrics, clock, ids } = deps;
  const { calls, recordings } = storage;
  const hub = new CallEventHub();
  const uploads = createRecordingUploads(storage.archive, {
    calls,
    clock,
    logger,
    metrics,
    isCallLive: (callId) => callManager.isCallActive(callId),
  });
  const events = uploads ? fanOut(metrics, hub, uploads.events) : fanOut(metrics, hub);
  const callManager = new CallManager({ calls, recordings, clock, ids, logger, events });
  metrics.countLiveCalls(() => callManager.activeCount);
  await callManager.recoverInterruptedCalls();
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
  // After recovery: the files of a call a crash left active are finished only once it ran.
  uploads?.start(activity);
  const sentiment = new AfinnSentimentAnalyzer();
  const { apiKey, realtimeUrl, voice, instructions } = config.openai;
  const model = apiKey
    ? new OpenAiRealtimeModel({ url: realtimeUrl, apiKey, transcriptionModel: TRANSCRIPTION_MODEL })
    : null;
  const prices = callPrices(config);
  const modelStatus = new ModelStatus(logger);
  const createSession = (output: TelephonyOutput) =>
    new CallSession({
      callManager,
      model,
      modelOptions: { voice, instructions, language: config.language },
      output,
      logger,
      metrics,
      maxCallSeconds: config.maxCallSeconds,
      modelDrainMs: config.modelDrainMs,
      onModelRejected: (message) => modelStatus.rejected(message),
      analyticsIntervalMs: config.analyticsIntervalSeconds * 1000,
      sentiment,
      language: config.language,
      activity,
      prices,
    });
  const stopRetention = async () => {
    await retention?.stop();
    await uploads?.stop();
  };
  return {
    callManager,
    hub,
    activity,
    createSession,
    stopRetention,
    watchdog,
    modelStatus,
    uploads,
  };
}

function callPrices(config: Config): CallPrices {
  const { prices, realtimeModel } = config.openai;
  return {
    realtime: realtimeModel === null ? null : pricesFor(prices, realtimeModel),
    transcription: pricesFor(prices, TRANSCRIPTION_MODEL),
  };
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
