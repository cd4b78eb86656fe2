import type { JsonObject } from "../../domain/analytics.ts";
import type { ActiveCall } from "../active-call.ts";
import type { ActivitySpans, SentimentAnalyzer } from "../ports/index.ts";
import { CallAnalytics } from "./call-analytics.ts";
import { NetworkQuality } from "./network-quality.ts";
import type { PendingWrites } from "./pending-writes.ts";

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
}

/**
 * What is measured about a call while it runs and stored with it: talk-time analytics (a
 * snapshot every interval and a last one at the end), network quality, the model's token usage
 * and the DTMF digits pressed.
 */
export class CallTelemetry {
  private readonly analytics: CallAnalytics;
  private readonly network = new NetworkQuality();
  private readonly usage: Record<string, number> = {};
  private readonly digits: { digit: string; offsetMs: number }[] = [];
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly deps: CallTelemetryDeps) {
    this.analytics = new CallAnalytics(deps.sentiment);
  }

  get interruptions(): number {
    return this.analytics.interruptions;
  }

  /** One caller chunk (8 kHz) during which `assistantPlayed` assistant samples played. */
  callerChunk(
    pcm8k: Int16Array,
    assistantPlayed: number,
    arrivalMs: number,
    timestampMs: number | null,
  ): void {
    this.analytics.callerChunk(pcm8k, assistantPlayed);
    this.network.frame(arrivalMs, timestampMs);
  }

  answerStarted(): void {
    this.analytics.responseStarted();
  }

  bargeIn(): void {
    this.analytics.bargeIn();
  }

  callerSaid(text: string): void {
    this.analytics.callerSaid(text);
  }

  addUsage(usage: JsonObject): void {
    for (const [key, value] of Object.entries(usage)) {
      if (typeof value === "number") this.usage[key] = (this.usage[key] ?? 0) + value;
    }
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

  /** The last analytics snapshot, network quality, language and usage. */
  async storeFinal(): Promise<void> {
    const { call, language } = this.deps;
    await call.addAnalytics(this.snapshot());
    await call.setMetadata({
      networkQuality: this.network.label,
      ...(language ? { language } : {}),
      customData: { network: this.network.summary(), ...this.usageData() },
    });
  }

  private usageData(): JsonObject {
    return Object.keys(this.usage).length > 0 ? { tokenUsage: { ...this.usage } } : {};
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
