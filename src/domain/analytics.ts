import { invalidArgument } from "./errors.ts";

export type Sentiment = "positive" | "neutral" | "negative";

export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface Analytics {
  readonly id: string;
  readonly callId: string;
  readonly sentiment: Sentiment | null;
  readonly sentimentScore: number | null;
  readonly callerTalkMs: number;
  readonly assistantTalkMs: number;
  readonly silenceMs: number;
  readonly interruptions: number;
  readonly avgResponseLatencyMs: number | null;
  readonly p95ResponseLatencyMs: number | null;
  readonly customMetrics: JsonObject | null;
  readonly createdAt: Date;
}

export interface AnalyticsInput {
  sentiment?: Sentiment | null;
  sentimentScore?: number | null;
  callerTalkMs?: number;
  assistantTalkMs?: number;
  silenceMs?: number;
  interruptions?: number;
  avgResponseLatencyMs?: number | null;
  p95ResponseLatencyMs?: number | null;
  customMetrics?: JsonObject | null;
}

const nonNegative = (name: string, value: number | undefined): number => {
  const v = value ?? 0;
  if (!(Number.isFinite(v) && v >= 0))
    throw invalidArgument(`${name} must be a non-negative number`);
  return Math.round(v);
};

const optionalNonNegative = (name: string, value: number | null | undefined): number | null => {
  if (value === null || value === undefined) return null;
  return nonNegative(name, value);
};

export function createAnalytics(
  id: string,
  callId: string,
  input: AnalyticsInput,
  createdAt: Date,
): Analytics {
  const score = input.sentimentScore ?? null;
  if (score !== null && !Number.isFinite(score)) {
    throw invalidArgument("sentimentScore must be a finite number");
  }
  return {
    id,
    callId,
    sentiment: input.sentiment ?? null,
    sentimentScore: score,
    callerTalkMs: nonNegative("callerTalkMs", input.callerTalkMs),
    assistantTalkMs: nonNegative("assistantTalkMs", input.assistantTalkMs),
    silenceMs: nonNegative("silenceMs", input.silenceMs),
    interruptions: nonNegative("interruptions", input.interruptions),
    avgResponseLatencyMs: optionalNonNegative("avgResponseLatencyMs", input.avgResponseLatencyMs),
    p95ResponseLatencyMs: optionalNonNegative("p95ResponseLatencyMs", input.p95ResponseLatencyMs),
    customMetrics: input.customMetrics ?? null,
    createdAt,
  };
}
