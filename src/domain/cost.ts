import type { JsonObject, JsonValue } from "./analytics.ts";

/**
 * Prices of one OpenAI model in USD: per 1M tokens of each kind, and per minute of audio for a
 * transcription model billed by duration. A kind the model does not bill is 0.
 */
export interface ModelPrices {
  readonly audioIn: number;
  readonly cachedAudioIn: number;
  readonly audioOut: number;
  readonly textIn: number;
  readonly cachedTextIn: number;
  readonly textOut: number;
  readonly perMinute: number;
}

/** Prices by model name (as in the Realtime URL's `model=` or the transcription model). */
export type PriceTable = Readonly<Record<string, ModelPrices>>;

/** The prices of the two models a call uses; null where the table has no entry for one. */
export interface CallPrices {
  readonly realtime: ModelPrices | null;
  readonly transcription: ModelPrices | null;
}

const FREE: ModelPrices = {
  audioIn: 0,
  cachedAudioIn: 0,
  audioOut: 0,
  textIn: 0,
  cachedTextIn: 0,
  textOut: 0,
  perMinute: 0,
};

const entry = (prices: Partial<ModelPrices>): ModelPrices => ({ ...FREE, ...prices });

/**
 * OpenAI's public list prices, as shown on 2026-12-07 (these pages change: OPENAI_PRICES
 * overrides any entry):
 * - gpt-realtime: text $4 / cached $0.40 / out $16, audio $32 / cached $0.40 / out $64 per 1M
 *   (https://developers.openai.com/api/docs/models/compare?model=gpt-realtime for text; the
 *   audio rates as on https://developers.openai.com/api/docs/models/gpt-realtime-1.5, which
 *   lists the same text rates).
 * - gpt-realtime-mini: text $0.60 / $0.06 / $2.40, audio $10 / $0.30 / $20 per 1M
 *   (https://developers.openai.com/api/docs/models/gpt-realtime-2.1-mini, "GPT-Realtime Mini"
 *   in its comparison).
 * - gpt-4o-mini-transcribe: audio in $3, text in $1.25, text out $5 per 1M, about $0.003 a
 *   minute; gpt-4o-transcribe: $6, $2.50, $10, about $0.006 a minute (OpenAI's pricing page,
 *   https://developers.openai.com/api/docs/pricing, transcription section; the model pages,
 *   e.g. https://developers.openai.com/api/docs/models/compare?model=gpt-4o-mini-transcribe,
 *   list the text rates). The Realtime API reports their usage in tokens; `perMinute` prices
 *   a `{ type: "duration" }` usage, which whisper-1 ($0.006 a minute) reports.
 */
export const DEFAULT_PRICES: PriceTable = {
  "gpt-realtime": entry({
    audioIn: 32,
    cachedAudioIn: 0.4,
    audioOut: 64,
    textIn: 4,
    cachedTextIn: 0.4,
    textOut: 16,
  }),
  "gpt-realtime-mini": entry({
    audioIn: 10,
    cachedAudioIn: 0.3,
    audioOut: 20,
    textIn: 0.6,
    cachedTextIn: 0.06,
    textOut: 2.4,
  }),
  "gpt-4o-mini-transcribe": entry({ audioIn: 3, textIn: 1.25, textOut: 5, perMinute: 0.003 }),
  "gpt-4o-transcribe": entry({ audioIn: 6, textIn: 2.5, textOut: 10, perMinute: 0.006 }),
  "whisper-1": entry({ perMinute: 0.006 }),
};

/**
 * The table with `overrides` applied: an entry for a known model changes only the prices it
 * names; an entry for a new model prices what it names and nothing else.
 */
export function withPriceOverrides(
  base: PriceTable,
  overrides: Readonly<Record<string, Partial<ModelPrices>>>,
): PriceTable {
  const table: Record<string, ModelPrices> = { ...base };
  for (const [model, prices] of Object.entries(overrides)) {
    table[model] = { ...(base[model] ?? FREE), ...prices };
  }
  return table;
}

/**
 * A model's prices, by its exact name or else by its name without a snapshot date
 * (`gpt-realtime-2025-08-28` is priced as `gpt-realtime`).
 */
export function pricesFor(table: PriceTable, model: string): ModelPrices | null {
  if (Object.hasOwn(table, model)) return table[model]!;
  const family = model.replace(/-\d{4}-\d{2}-\d{2}$/, "");
  return Object.hasOwn(table, family) ? table[family]! : null;
}

const PER_MILLION = 1 / 1_000_000;

const num = (value: JsonValue | undefined): number =>
  typeof value === "number" && Number.isFinite(value) ? value : 0;
const obj = (value: JsonValue | undefined): JsonObject | null =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? value : null;

/**
 * The cost of a Realtime model's usage, summed over its `response.done` events (openai-node
 * RealtimeResponseUsage). Cached tokens are a subset of the input tokens, split by
 * `cached_tokens_details` into audio and text. Without details a total is priced as audio
 * (input and output of a voice call are mostly audio), and cached tokens without their split
 * as text first: both overestimate rather than hide a cost.
 */
export function realtimeCostUsd(usage: JsonObject, prices: ModelPrices): number {
  const input = obj(usage.input_token_details);
  const output = obj(usage.output_token_details);
  let audioIn: number;
  let textIn: number;
  let cachedAudio = 0;
  let cachedText = 0;
  if (input) {
    audioIn = num(input.audio_tokens);
    textIn = num(input.text_tokens);
    const cached = num(input.cached_tokens);
    const split = obj(input.cached_tokens_details);
    if (split) {
      cachedAudio = Math.min(audioIn, num(split.audio_tokens));
      cachedText = Math.min(textIn, num(split.text_tokens));
    } else {
      cachedText = Math.min(textIn, cached);
      cachedAudio = Math.min(audioIn, cached - cachedText);
    }
  } else {
    audioIn = num(usage.input_tokens);
    textIn = 0;
  }
  const audioOut = output ? num(output.audio_tokens) : num(usage.output_tokens);
  const textOut = output ? num(output.text_tokens) : 0;
  return (
    ((audioIn - cachedAudio) * prices.audioIn +
      cachedAudio * prices.cachedAudioIn +
      (textIn - cachedText) * prices.textIn +
      cachedText * prices.cachedTextIn +
      audioOut * prices.audioOut +
      textOut * prices.textOut) *
    PER_MILLION
  );
}

/**
 * The cost of the caller's transcription (openai-node: the `usage` of
 * `conversation.item.input_audio_transcription.completed`, TranscriptTextUsageTokens or
 * TranscriptTextUsageDuration), summed: tokens (input split into audio and text by
 * `input_token_details`, else priced as audio; output is text) and `seconds` of audio.
 */
export function transcriptionCostUsd(usage: JsonObject, prices: ModelPrices): number {
  const details = obj(usage.input_token_details);
  const audioIn = details ? num(details.audio_tokens) : num(usage.input_tokens);
  const textIn = details ? num(details.text_tokens) : 0;
  const tokens =
    (audioIn * prices.audioIn +
      textIn * prices.textIn +
      num(usage.output_tokens) * prices.textOut) *
    PER_MILLION;
  return tokens + (num(usage.seconds) / 60) * prices.perMinute;
}

/** Usage of a call, as summed from the model's events (either may be empty). */
export interface CallUsage {
  /** The Realtime model's `response.done` usage, summed field by field, nested ones too. */
  tokenUsage: JsonObject;
  /** The caller transcription's usage, summed the same way. */
  transcriptionUsage: JsonObject;
}

const isEmpty = (o: JsonObject) => Object.keys(o).length === 0;

/**
 * What the call cost in USD, estimated from its usage and list prices; null when some usage is
 * of a model the table does not price (a partial figure would read as the whole).
 */
export function estimateCallCostUsd(usage: CallUsage, prices: CallPrices): number | null {
  let cost = 0;
  if (!isEmpty(usage.tokenUsage)) {
    if (!prices.realtime) return null;
    cost += realtimeCostUsd(usage.tokenUsage, prices.realtime);
  }
  if (!isEmpty(usage.transcriptionUsage)) {
    if (!prices.transcription) return null;
    cost += transcriptionCostUsd(usage.transcriptionUsage, prices.transcription);
  }
  // Micro-dollars: enough for a short call, without float noise in the stored figure.
  return Math.round(cost * 1_000_000) / 1_000_000;
}

/** The usage and cost a call's metadata holds (customData keys written by the bridge). */
export interface StoredUsage {
  tokenUsage: JsonObject | null;
  transcriptionUsage: JsonObject | null;
  estimatedCostUsd: number | null;
}

/** Reads back StoredUsage from a call's customData; null when the call has none. */
export function storedUsage(customData: JsonObject | null): StoredUsage | null {
  if (!customData) return null;
  const tokenUsage = obj(customData.tokenUsage);
  const transcriptionUsage = obj(customData.transcriptionUsage);
  const cost = customData.estimatedCostUsd;
  const estimatedCostUsd = typeof cost === "number" && Number.isFinite(cost) ? cost : null;
  if (!tokenUsage && !transcriptionUsage && estimatedCostUsd === null) return null;
  return { tokenUsage, transcriptionUsage, estimatedCostUsd };
}
