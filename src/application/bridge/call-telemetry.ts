import type { JsonObject } from "../../domain/analytics.ts";
import { type CallFacts, topicFromCallerTurns } from "../../domain/call-review.ts";
import type { CallPrices } from "../../domain/cost.ts";
import type { ActiveCall } from "../active-call.ts";
import type { ActivitySpans, SentimentAnalyzer, StopReason } from "../ports/index.ts";
import { CallAnalytics } from "./call-analytics.ts";
import { NetworkQuality } from "./network-quality.ts";
import type { PendingWrites } from "./pending-writes.ts";
import { UsageMeter } from "./usage-meter.ts";

export interface CallTelemetryDeps {
  call: ActiveCall;
  writes: PendingWrites;
  sentiment: SentimentAnalyzer | null;
  /** Language of the conversation, when configured. */
  language?: string;
  /** How often an analytics snapshot is stored while the call runs. */
  snapshotIntervalMs: number;
  /** Labels the snapshot timer's work, which grows with the call, for the stall watchdog. */
  activity?: ActivitySpans;
  /** Prices of the models in use, for the call's estimated cost (none: no estimate). */
  prices?: CallPrices | null;
}

/** Caller text kept for the topic line: a little more than topicFromCallerTurns uses. */
const TOPIC_SOURCE_CHARS = 200;

/**
 * What is measured about a call while it runs and stored with it: talk-time analytics (a
 * snapshot every interval and a last one at the end), network quality, the model's token usage
 * and the DTMF digits pressed.
 */
export class CallTelemetry {
  private readonly analytics: CallAnalytics;
  private readonly network = new NetworkQuality();
  private readonly usage: UsageMeter;
  private readonly digits: { digit: string; offsetMs: number }[] = [];
  private turns = 0;
  /** The caller's first words, for the call's topic line. */
  private readonly firstCallerTurns: string[] = [];
  private firstCallerChars = 0;
  /** Failed responses by error code ("unknown" when none was given). */
  private readonly failures: Record<string, number> = {};
  /** The model called end_call: the reason it gave (null for none); undefined when it did not. */
  private hangUpReason: string | null | undefined = undefined;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly deps: CallTelemetryDeps) {
    this.analytics = new CallAnalytics(deps.sentiment);
    this.usage = new UsageMeter(deps.prices ?? null);
  }

  get interruptions(): number {
    return this.analytics.interruptions;
  }

  /**
   * One caller chunk (8 kHz) during which `assistantPlayed` assistant samples played.
   * `arrivalMs` is null for silence the bridge filled in: it is talk time, not a network frame.
   */
  callerChunk(
    pcm8k: Int16Array,
    assistantPlayed: number,
    arrivalMs: number | null,
    timestampMs: number | null,
  ): void {
    this.analytics.callerChunk(pcm8k, assistantPlayed);
    if (arrivalMs !== null) this.network.frame(arrivalMs, timestampMs);
  }

  /** `ms` of silence filled in for frames Twilio did not send; `newGap` when it opens a gap. */
  silenceFilled(ms: number, newGap: boolean): void {
    this.network.filled(ms, newGap);
  }

  answerStarted(): void {
    this.analytics.responseStarted();
  }

  bargeIn(): void {
    this.analytics.bargeIn();
  }

  callerSaid(text: string): void {
    this.analytics.callerSaid(text);
    // A commit of silence is transcribed as nothing: no turn was taken.
    if (text.trim() === "") return;
    this.turns++;
    // Enough for topicFromCallerTurns; a long call's words are not kept twice.
    if (this.firstCallerChars <= TOPIC_SOURCE_CHARS) {
      this.firstCallerTurns.push(text);
      this.firstCallerChars += text.length;
    }
  }

  assistantSaid(): void {
    this.turns++;
  }

  addUsage(usage: JsonObject): void {
    this.usage.add(usage);
  }

  /** The caller transcription's own usage (billed apart from the model's). */
  addTranscriptionUsage(usage: JsonObject): void {
    this.usage.addTranscription(usage);
  }

  /** A response the model gave up on: the caller heard nothing of it. */
  responseFailed(code: string | null): void {
    const key = code ?? "unknown";
    this.failures[key] = (this.failures[key] ?? 0) + 1;
  }

  /**
   * The assistant hung up, giving `reason`. Kept even when the caller hangs up before its last
   * words have played: what the assistant meant to do is part of the call's story.
   */
  assistantHungUp(reason: string | null): void {
    this.hangUpReason = reason;
  }

  /** A key pressed at `offsetMs` on the caller's timeline; the digits so far are stored. */
  dtmf(digit: string, offsetMs: number): void {
    this.digits.push({ digit, offsetMs: Math.round(offsetMs) });
    this.deps.writes.track(
      this.deps.call.setMetadata({ customData: { dtmf: this.digits.map((d) => ({ ...d })) } }),
      "dtmf could not be stored",
    );
  }

  startSnapshots(): void {
    this.timer = setInterval(() => this.storeSnapshot(), this.deps.snapshotIntervalMs);
    this.timer.unref?.();
  }

  stopSnapshots(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /**
   * Stores the last analytics snapshot, network quality, language, usage and why the call
   * ended; returns what the call's own row keeps of them.
   */
  async storeFinal(endReason: StopReason): Promise<Partial<CallFacts>> {
    const { call, language } = this.deps;
    const final = this.snapshot();
    const usage = this.usageData();
    await call.addAnalytics(final);
    await call.setMetadata({
      networkQuality: this.network.label,
      ...(language ? { language } : {}),
      customData: {
        network: this.network.summary(),
        endReason,
        ...usage,
        ...(Object.keys(this.failures).length > 0 ? { failedResponses: { ...this.failures } } : {}),
        ...(this.hangUpReason !== undefined
          ? { assistantHangUp: { reason: this.hangUpReason } }
          : {}),
      },
    });
    return {
      turns: this.turns,
      costUsd: typeof usage.estimatedCostUsd === "number" ? usage.estimatedCostUsd : null,
      sentiment: final.sentiment ?? null,
      networkQuality: this.network.label,
      avgResponseLatencyMs: final.avgResponseLatencyMs ?? null,
      p95ResponseLatencyMs: final.p95ResponseLatencyMs ?? null,
      topic: topicFromCallerTurns(this.firstCallerTurns),
    };
  }

  /** tokenUsage, transcriptionUsage and estimatedCostUsd, each once there is one. */
  private usageData(): JsonObject {
    return this.usage.data();
  }

  private snapshot() {
    return this.analytics.snapshot(this.usageData());
  }

  private storeSnapshot(): void {
    const span = this.deps.activity?.begin("analytics snapshot");
    this.deps.writes.track(
      this.deps.call.addAnalytics(this.snapshot()),
      "analytics snapshot could not be stored",
    );
    span?.end();
  }
}
