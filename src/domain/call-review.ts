import type { JsonObject, Sentiment } from "./analytics.ts";

/**
 * Why a call ended, as the person reviewing calls asks it:
 * - `caller_hung_up`: Twilio sent `stop` (the call ended on the phone side);
 * - `assistant_ended`: the assistant hung up (ASSISTANT_HANG_UP), once its last words had played;
 * - `stream_closed`: the media stream closed cleanly without `stop`;
 * - `network_drop`: the media stream's socket was lost (no `stop`, no clean close);
 * - `max_duration`: MAX_CALL_SECONDS was reached;
 * - `model_failure`: the model was lost for good during the call, which went on record-only
 *   until it ended (whatever ended it: the caller most likely hung up on a silent line);
 * - `server_shutdown`: this server stopped while the call ran;
 * - `server_crash`: the process running the call died; a restart or another instance ended it.
 */
export const END_REASONS = [
  "caller_hung_up",
  "assistant_ended",
  "stream_closed",
  "network_drop",
  "max_duration",
  "model_failure",
  "server_shutdown",
  "server_crash",
] as const;

export type EndReason = (typeof END_REASONS)[number];

/** Network quality labels, as NetworkQuality computes them. */
export type NetworkQualityLabel = "good" | "fair" | "poor";

/**
 * What was measured about a call by its end, kept on the call itself so that the list can show
 * and filter by it without reading the call's other rows. Null until the call has ended (and
 * for calls stored before these existed).
 */
export interface CallFacts {
  readonly endReason: EndReason | null;
  /** Caller turns plus assistant turns. */
  readonly turns: number | null;
  /** Estimated from the usage the model reported; null without prices or usage. */
  readonly costUsd: number | null;
  readonly sentiment: Sentiment | null;
  readonly networkQuality: string | null;
  readonly avgResponseLatencyMs: number | null;
  readonly p95ResponseLatencyMs: number | null;
  /** The caller's first words, shortened: what the call was about when there is no summary. */
  readonly topic: string | null;
}

export const NO_FACTS: CallFacts = Object.freeze({
  endReason: null,
  turns: null,
  costUsd: null,
  sentiment: null,
  networkQuality: null,
  avgResponseLatencyMs: null,
  p95ResponseLatencyMs: null,
  topic: null,
});

/**
 * `pending`: the call ended and its analysis is queued or being retried; `done`; `failed`: the
 * model could not give one after every retry; `off`: no analysis is made (no key, or disabled);
 * null for a live call.
 */
export const ANALYSIS_STATUSES = ["pending", "done", "failed", "off"] as const;

export type AnalysisStatus = (typeof ANALYSIS_STATUSES)[number];

/** What ANALYSIS_OUTCOMES is when unset: the outcomes the model chooses from. */
export const DEFAULT_OUTCOMES: readonly string[] = [
  "resolved",
  "unresolved",
  "needs_follow_up",
  "spam",
];

/** The post-call analysis of a call, by the model, stored with it. */
export interface CallAnalysis {
  readonly analysisStatus: AnalysisStatus | null;
  /** One line: what the call was about and how it went. */
  readonly summary: string | null;
  /** One of the configured outcomes (resolved, unresolved, needs_follow_up, spam by default). */
  readonly outcome: string | null;
  /** The operator's structured fields, as their configured JSON schema describes them. */
  readonly analysisFields: JsonObject | null;
}

export const NO_ANALYSIS: CallAnalysis = Object.freeze({
  analysisStatus: null,
  summary: null,
  outcome: null,
  analysisFields: null,
});

const TOPIC_MAX = 120;

/**
 * The first caller turns, joined and cut at a word boundary to TOPIC_MAX characters with an
 * ellipsis: a topic line when no model summarises the call.
 */
export function topicFromCallerTurns(turns: readonly string[]): string | null {
  let text = "";
  for (const turn of turns) {
    const words = turn.trim().replace(/\s+/g, " ");
    if (words === "") continue;
    text = text === "" ? words : `${text} ${words}`;
    if (text.length > TOPIC_MAX) break;
  }
  if (text === "") return null;
  if (text.length <= TOPIC_MAX) return text;
  const cut = text.slice(0, TOPIC_MAX);
  const space = cut.lastIndexOf(" ");
  return `${(space > TOPIC_MAX / 2 ? cut.slice(0, space) : cut).replace(/[\s,.;:!?-]+$/, "")}…`;
}
