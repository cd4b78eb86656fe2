import type { JsonObject, JsonValue } from "../../domain/analytics.ts";
import { type CallPrices, estimateCallCostUsd } from "../../domain/cost.ts";

/** A usage report as the model adapter hands it over (parsed JSON). */
export type UsageReport = Readonly<Record<string, unknown>>;

/**
 * What a call used of OpenAI, summed over its events: the Realtime model's `response.done`
 * usage and the caller transcription's, each kept with its nested details
 * (`input_token_details.cached_tokens_details.audio_tokens` and the like), since prices differ
 * by kind of token. With the prices of the models in use it estimates the call's cost.
 */
export class UsageMeter {
  private readonly tokens: JsonObject = {};
  private readonly transcription: JsonObject = {};

  /** `prices` null: usage is kept, no cost is estimated. */
  constructor(private readonly prices: CallPrices | null = null) {}

  /** One `response.done`'s usage. */
  add(usage: UsageReport): void {
    addNumbers(this.tokens, usage);
  }

  /** One caller transcription's usage (tokens, or seconds of audio). */
  addTranscription(usage: UsageReport): void {
    addNumbers(this.transcription, usage);
  }

  /**
   * The customData / customMetrics entries for the usage so far: `tokenUsage`,
   * `transcriptionUsage` and `estimatedCostUsd`, each only once there is something to say.
   */
  data(): JsonObject {
    const out: JsonObject = {};
    const hasTokens = Object.keys(this.tokens).length > 0;
    const hasTranscription = Object.keys(this.transcription).length > 0;
    if (hasTokens) out.tokenUsage = structuredClone(this.tokens);
    if (hasTranscription) out.transcriptionUsage = structuredClone(this.transcription);
    if (this.prices && (hasTokens || hasTranscription)) {
      const cost = estimateCallCostUsd(
        { tokenUsage: this.tokens, transcriptionUsage: this.transcription },
        this.prices,
      );
      if (cost !== null) out.estimatedCostUsd = cost;
    }
    return out;
  }
}

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value);
const isJsonObject = (value: JsonValue | undefined): value is JsonObject =>
  value !== null && typeof value === "object" && !Array.isArray(value);

/**
 * Adds every finite number of `from` into `into`, recursing into objects. Strings (a usage's
 * `type`), arrays and nulls are not amounts; a key that is a number in one report and an
 * object in another keeps what it first was.
 */
function addNumbers(into: JsonObject, from: UsageReport): void {
  for (const [key, value] of Object.entries(from)) {
    // JSON.parse makes "__proto__" an own key; assigning it would swap the prototype instead.
    if (key === "__proto__") continue;
    const current = into[key];
    if (typeof value === "number") {
      if (!Number.isFinite(value)) continue;
      if (current === undefined) into[key] = value;
      else if (typeof current === "number") into[key] = current + value;
    } else if (isPlainObject(value)) {
      if (current === undefined) {
        const nested: JsonObject = {};
        addNumbers(nested, value);
        if (Object.keys(nested).length > 0) into[key] = nested;
      } else if (isJsonObject(current)) {
        addNumbers(current, value);
      }
    }
  }
}
