import type { AnalyticsInput, JsonObject, Sentiment } from "../../domain/analytics.ts";
import type { SentimentAnalyzer } from "../ports/index.ts";

/**
 * Caller voice activity: a 20 ms chunk whose RMS is above about -42 dBFS counts as speech.
 * Telephone line noise sits well below that; quiet speech sits well above.
 */
export const CALLER_VAD_RMS = 260;

/** Nearest-rank percentile of an ascending list. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1]!;
}

/**
 * Live analytics of one call, all on the call's timeline (ms of caller audio received):
 * caller talk from voice activity on the caller track, assistant talk from audio actually
 * played to the caller, silence when neither is heard, barge-ins, and response latency from
 * the end of caller speech to the first assistant audio sent.
 */
export class CallAnalytics {
  private callerTalk = 0;
  private assistantTalk = 0;
  private silence = 0;
  private timeline = 0;
  private lastSpeechEnd: number | null = null;
  private spokeSinceResponse = false;
  private readonly latencies: number[] = [];
  interruptions = 0;
  private callerText = "";

  constructor(private readonly sentiment: SentimentAnalyzer | null = null) {}

  /** One inbound caller chunk (8 kHz) during which `assistantPlayed` samples of the assistant played. */
  callerChunk(pcm8k: Int16Array, assistantPlayed: number): void {
    const ms = pcm8k.length / 8;
    let energy = 0;
    for (let i = 0; i < pcm8k.length; i++) energy += pcm8k[i]! * pcm8k[i]!;
    const speaking = pcm8k.length > 0 && energy / pcm8k.length > CALLER_VAD_RMS * CALLER_VAD_RMS;
    const assistantMs = Math.min(ms, assistantPlayed / 8);
    this.assistantTalk += assistantMs;
    this.timeline += ms;
    if (speaking) {
      this.callerTalk += ms;
      this.lastSpeechEnd = this.timeline;
      this.spokeSinceResponse = true;
    } else {
      this.silence += ms - assistantMs;
    }
  }

  /** The first audio of a new assistant answer was just sent to the caller. */
  responseStarted(): void {
    if (!this.spokeSinceResponse || this.lastSpeechEnd === null) return;
    this.latencies.push(Math.max(0, this.timeline - this.lastSpeechEnd));
    this.spokeSinceResponse = false;
  }

  bargeIn(): void {
    this.interruptions++;
  }

  callerSaid(text: string): void {
    this.callerText = this.callerText ? `${this.callerText} ${text}` : text;
  }

  snapshot(extra: JsonObject = {}): AnalyticsInput {
    const sorted = [...this.latencies].sort((a, b) => a - b);
    const avg = sorted.length === 0 ? null : sorted.reduce((sum, v) => sum + v, 0) / sorted.length;
    const mood = this.mood();
    return {
      callerTalkMs: Math.round(this.callerTalk),
      assistantTalkMs: Math.round(this.assistantTalk),
      silenceMs: Math.round(this.silence),
      interruptions: this.interruptions,
      avgResponseLatencyMs: avg === null ? null : Math.round(avg),
      p95ResponseLatencyMs: percentile(sorted, 95),
      sentiment: mood?.sentiment ?? null,
      sentimentScore: mood?.score ?? null,
      customMetrics: {
        responseLatenciesMs: this.latencies.map((v) => Math.round(v)),
        timelineMs: Math.round(this.timeline),
        ...extra,
      },
    };
  }

  private mood(): { sentiment: Sentiment; score: number } | null {
    if (!this.sentiment || this.callerText.trim() === "") return null;
    const { score, comparative } = this.sentiment.analyze(this.callerText);
    const sentiment: Sentiment = score > 0 ? "positive" : score < 0 ? "negative" : "neutral";
    return { sentiment, score: Math.round(comparative * 1000) / 1000 };
  }
}
