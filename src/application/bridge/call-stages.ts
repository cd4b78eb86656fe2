import type { CallPrices } from "../../domain/cost.ts";
import type { ActiveCall } from "../active-call.ts";
import type { CallManager } from "../call-manager.ts";
import type {
  ActivitySpans,
  BridgeMetrics,
  Logger,
  RealtimeListener,
  RealtimeModel,
  RealtimeSessionOptions,
  SentimentAnalyzer,
  TelephonyOutput,
} from "../ports/index.ts";
import { AssistantAudio } from "./assistant-audio.ts";
import { AssistantHangUp, END_CALL_TOOL } from "./assistant-hang-up.ts";
import { CallTelemetry } from "./call-telemetry.ts";
import { CallTranscripts } from "./call-transcripts.ts";
import { CallerAudio } from "./caller-audio.ts";
import { ConversationHistory } from "./conversation-history.ts";
import { ConversationMixer } from "./conversation-mixer.ts";
import { ModelLink } from "./model-link.ts";
import { PendingWrites } from "./pending-writes.ts";
import { Timeline } from "./timeline.ts";

export interface CallSessionDeps {
  callManager: CallManager;
  /** null = record-only mode. */
  model: RealtimeModel | null;
  modelOptions: RealtimeSessionOptions;
  output: TelephonyOutput;
  logger: Logger;
  metrics: BridgeMetrics;
  maxCallSeconds: number;
  reconnectDelaysMs?: readonly number[];
  /** How often an analytics snapshot is stored while the call runs (default 15 s). */
  analyticsIntervalMs?: number;
  sentiment?: SentimentAnalyzer | null;
  /** Language of the conversation, when configured. */
  language?: string;
  /** Also record the stereo conversation track (default true). */
  recordConversation?: boolean;
  /**
   * The assistant may hang up (ASSISTANT_HANG_UP): its session declares the end_call tool.
   * Default false.
   */
  assistantHangUp?: boolean;
  /** Longest wait, beyond the audio still queued, for its last words to play (default 5 s). */
  hangUpGraceMs?: number;
  /** Longest wait for the model to finish with a call that has ended (default 3 s). */
  modelDrainMs?: number;
  /** How long one model session may last before it is renewed (default 60 minutes). */
  modelSessionLimitMs?: number;
  /** The model refused the session configuration (for /healthz). */
  onModelRejected?(message: string): void;
  /** Prices of the models in use, for each call's estimated cost (none: no estimate). */
  prices?: CallPrices | null;
  /** High-resolution monotonic seconds, for the frame latency histogram. */
  now?: () => number;
  activity?: ActivitySpans;
}

/** The stages of a started call. */
export interface Stages {
  call: ActiveCall;
  caller: CallerAudio;
  assistant: AssistantAudio;
  model: ModelLink;
  telemetry: CallTelemetry;
  transcripts: CallTranscripts;
  writes: PendingWrites;
  timeline: Timeline;
  assistantHangUp: AssistantHangUp;
}

/**
 * Wires one started call's stages to each other and to the session's ports; `hangUp` ends the
 * call once the assistant has hung up and its last words have played.
 */
export function createStages(
  call: ActiveCall,
  deps: CallSessionDeps,
  listener: RealtimeListener,
  log: Logger,
  hangUp: () => void,
): Stages {
  const writes = new PendingWrites(log);
  const mixer =
    deps.recordConversation === false
      ? null
      : new ConversationMixer(call.addTrack("conversation", 16_000, 2));
  const telemetry = new CallTelemetry({
    call,
    writes,
    sentiment: deps.sentiment ?? null,
    language: deps.language,
    snapshotIntervalMs: deps.analyticsIntervalMs ?? 15_000,
    activity: deps.activity,
    prices: deps.prices,
  });
  const assistant = new AssistantAudio({
    output: deps.output,
    mixer,
    metrics: deps.metrics,
    onAnswerStarted: () => telemetry.answerStarted(),
  });
  const timeline = new Timeline();
  const history = new ConversationHistory();
  const model = new ModelLink({
    model: deps.model,
    options: deps.assistantHangUp
      ? { ...deps.modelOptions, tools: [...(deps.modelOptions.tools ?? []), END_CALL_TOOL] }
      : deps.modelOptions,
    listener,
    log,
    metrics: deps.metrics,
    timeline,
    onConnect: () => assistant.reset(),
    history: () => history.recent(),
    onRejected: deps.onModelRejected,
    reconnectDelaysMs: deps.reconnectDelaysMs,
    sessionLimitMs: deps.modelSessionLimitMs,
  });
  const caller = new CallerAudio(call, mixer, telemetry, model, timeline);
  const transcripts = new CallTranscripts(call, writes, history);
  const assistantHangUp = new AssistantHangUp({
    assistant,
    hangUp,
    log,
    graceMs: deps.hangUpGraceMs,
  });
  return {
    call,
    caller,
    assistant,
    model,
    telemetry,
    transcripts,
    writes,
    timeline,
    assistantHangUp,
  };
}
