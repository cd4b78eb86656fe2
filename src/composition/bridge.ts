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
import { errorMessage } from "../domain/errors.ts";
import type { Storage } from "./storage.ts";

const RETENTION_INTERVAL_MS = 60 * 60 * 1000;

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
  /** Stops the retention job (its run in progress completes first). */
  stopRetention(): Promise<void>;
  watchdog: EventLoopWatchdog;
}

/** The call lifecycle, crash recovery, the model, and the jobs that run beside the calls. */
export async function createBridge(config: Config, deps: BridgeDeps): Promise<Bridge> {
  const { storage, logger, metrics, clock, ids } = deps;
  const { calls, recordings } = storage;
  const hub = new CallEventHub();
  const events = fanOut(metrics, hub);
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
  const sentiment = new AfinnSentimentAnalyzer();
  const { apiKey, realtimeUrl, voice, instructions } = config.openai;
  const model = apiKey ? new OpenAiRealtimeModel({ url: realtimeUrl, apiKey }) : null;
  const createSession = (output: TelephonyOutput) =>
    new CallSession({
      callManager,
      model,
      modelOptions: { voice, instructions },
      output,
      logger,
      metrics,
      maxCallSeconds: config.maxCallSeconds,
      analyticsIntervalMs: config.analyticsIntervalSeconds * 1000,
      sentiment,
      language: config.language,
      activity,
    });
  const stopRetention = async () => {
    await retention?.stop();
  };
  return { callManager, hub, activity, createSession, stopRetention, watchdog };
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
      }).run(),
    {
      intervalMs: RETENTION_INTERVAL_MS,
      runAtStart: true,
      activity: { spans: activity, label: "retention run" },
      onError: (error) => logger.error({ err: errorMessage(error) }, "retention run failed"),
    },
  );
}
