import type { JsonObject } from "../../domain/analytics.ts";
import type { Speaker } from "../../domain/transcript.ts";

/** One turn of an ended call, as the analysis reads it: the words the other side heard. */
export interface AnalysisTurn {
  readonly speaker: Speaker;
  readonly text: string;
  /** Milliseconds from the call's start; null when unknown. */
  readonly offsetMs: number | null;
}

export interface CallAnalysisInput {
  /** In spoken order. */
  readonly turns: readonly AnalysisTurn[];
}

/** What the model said about a call. */
export interface CallAnalysisResult {
  /** One line. */
  readonly summary: string;
  /** One of the configured outcomes; null only when the analyzer was configured with none. */
  readonly outcome: string | null;
  /** The operator's structured fields; null when none are configured. */
  readonly fields: JsonObject | null;
  /** Tokens the request cost, when the service reported them (for the log line). */
  readonly usage?: { readonly inputTokens: number; readonly outputTokens: number } | null;
}

/**
 * Why an analysis failed. `retryable` says whether asking again later may succeed (a rate limit,
 * a server error, a network failure or a timeout) or would fail the same way (a rejected key, a
 * bad request, an answer that does not fit the schema). `retryAfterMs` is the wait the service
 * asked for, when it named one.
 */
export interface CallAnalysisFailure extends Error {
  readonly retryable: boolean;
  readonly kind: CallAnalysisFailureKind;
  readonly status: number | null;
  readonly retryAfterMs: number | null;
}

export type CallAnalysisFailureKind =
  /** 401/403: the key is wrong or lacks access. */
  | "auth"
  /** 429 with a rate limit (retryable) or an exhausted quota (not). */
  | "rate_limited"
  /** 5xx, or a response the service marked failed on its side. */
  | "server"
  /** Any other 4xx: the request itself is wrong (model name, schema). */
  | "bad_request"
  /** No HTTP answer: connection refused, reset, DNS. */
  | "network"
  | "timeout"
  /** The model refused, stopped early, or answered outside the schema. */
  | "invalid_output"
  /** The caller's signal aborted it (shutdown). */
  | "aborted";

/**
 * Summarises an ended call. Rejects with a CallAnalysisFailure (anything else thrown is a bug,
 * and the use case treats it as not retryable). Each call is one request: retries are the
 * caller's to schedule.
 */
export interface CallAnalyzer {
  analyze(input: CallAnalysisInput, signal?: AbortSignal): Promise<CallAnalysisResult>;
}
