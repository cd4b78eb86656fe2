import { z } from "zod";
import { ANALYSIS_STATUSES, END_REASONS } from "../../../domain/call-review.ts";

/**
 * The JSON the API answers with. These schemas are the single source for the serializers'
 * types, the OpenAPI document's components, and the tests that validate real responses.
 * Objects are strict so that an extra field (a file path, say) fails validation.
 */
export const apiSchemas = z.registry<{ id: string }>();

const timestamp = z.iso.datetime().describe("ISO 8601 UTC timestamp");
const jsonObject = z.record(z.string(), z.unknown());

export const CallJson = z
  .strictObject({
    id: z.string(),
    streamSid: z.string(),
    callSid: z.string().nullable(),
    caller: z.string().nullable(),
    status: z.enum(["active", "completed", "failed"]),
    startedAt: timestamp,
    endedAt: timestamp.nullable(),
    durationSeconds: z.number().nullable(),
    createdAt: timestamp,
    updatedAt: timestamp,
    called: z.string().nullable().describe("the number dialled (the webhook's To)"),
    endReason: z.enum(END_REASONS).nullable().describe("why the call ended; null while it runs"),
    turns: z.number().int().nullable().describe("caller and assistant turns"),
    costUsd: z
      .number()
      .nullable()
      .describe("estimated from the model's usage and list prices; null without a price"),
    sentiment: z.enum(["positive", "neutral", "negative"]).nullable().describe("the caller's"),
    networkQuality: z.string().nullable().describe("good, fair or poor: jitter and gaps"),
    avgResponseLatencyMs: z.number().int().nullable(),
    p95ResponseLatencyMs: z.number().int().nullable(),
    topic: z.string().nullable().describe("the caller's first words, shortened"),
    analysisStatus: z
      .enum(ANALYSIS_STATUSES)
      .nullable()
      .describe("the post-call analysis: pending, done, failed, or off (no model asked)"),
    summary: z.string().nullable().describe("one line, by the model after the call"),
    outcome: z.string().nullable().describe("one of ANALYSIS_OUTCOMES, by the model"),
    analysisFields: jsonObject.nullable().describe("the fields ANALYSIS_FIELDS asks for"),
  })
  .register(apiSchemas, { id: "Call" });

export const RecordingJson = z
  .strictObject({
    id: z.string(),
    callId: z.string(),
    track: z.enum(["caller", "conversation"]),
    format: z.literal("wav"),
    codec: z.literal("pcm_s16le"),
    sampleRate: z.number().int(),
    channels: z.number().int(),
    sizeBytes: z.number().int(),
    durationSeconds: z.number(),
    cloudUrl: z.string().nullable(),
    createdAt: timestamp,
  })
  .register(apiSchemas, { id: "Recording" });

export const TranscriptJson = z
  .strictObject({
    id: z.string(),
    callId: z.string(),
    speaker: z.enum(["caller", "assistant"]),
    text: z.string(),
    confidence: z.number().nullable(),
    offsetMs: z.number().int().nullable().describe("milliseconds from the call start"),
    interrupted: z.boolean().describe("true when the caller cut the assistant off"),
    heardText: z
      .string()
      .nullable()
      .describe(
        "of an interrupted assistant turn, an estimate of the words the caller heard before the cut (`text` is all the model generated); search matches these words. null otherwise",
      ),
    heardMs: z
      .number()
      .int()
      .nullable()
      .describe("of an interrupted assistant turn, milliseconds of its audio the caller heard"),
    generatedMs: z
      .number()
      .int()
      .nullable()
      .describe("of an interrupted assistant turn, milliseconds of audio the model had generated"),
    failed: z
      .boolean()
      .describe("true for a caller turn whose transcription failed (its text is empty)"),
    createdAt: timestamp,
  })
  .register(apiSchemas, { id: "Transcript" });

export const AnalyticsJson = z
  .strictObject({
    id: z.string(),
    callId: z.string(),
    sentiment: z.enum(["positive", "neutral", "negative"]).nullable(),
    sentimentScore: z.number().nullable(),
    callerTalkMs: z.number().int(),
    assistantTalkMs: z.number().int(),
    silenceMs: z.number().int(),
    interruptions: z.number().int(),
    avgResponseLatencyMs: z.number().int().nullable(),
    p95ResponseLatencyMs: z.number().int().nullable(),
    customMetrics: jsonObject.nullable(),
    createdAt: timestamp,
  })
  .register(apiSchemas, { id: "Analytics" });

export const CallMetadataJson = z
  .strictObject({
    callId: z.string(),
    language: z.string().nullable(),
    region: z.string().nullable(),
    deviceType: z.string().nullable(),
    networkQuality: z.string().nullable(),
    customData: jsonObject.nullable(),
    updatedAt: timestamp,
  })
  .register(apiSchemas, { id: "CallMetadata" });

export const CallUsageJson = z
  .strictObject({
    tokenUsage: jsonObject
      .nullable()
      .describe(
        "the Realtime model's usage (response.done), summed, nested token details included",
      ),
    transcriptionUsage: jsonObject
      .nullable()
      .describe("the caller transcription's usage (tokens or seconds), summed"),
    estimatedCostUsd: z
      .number()
      .nullable()
      .describe(
        "estimated from the usage and list prices (OPENAI_PRICES); null when a model in use has no price",
      ),
  })
  .register(apiSchemas, { id: "CallUsage" });

export const CallDetailJson = z
  .strictObject({
    ...CallJson.shape,
    metadata: CallMetadataJson.nullable(),
    recordings: z.array(RecordingJson),
    transcriptCount: z.number().int(),
    analyticsCount: z.number().int(),
    usage: CallUsageJson.nullable().describe(
      "what the call used of OpenAI and its estimated cost, once stored (at the end of the call); null for a call without any",
    ),
  })
  .register(apiSchemas, { id: "CallDetail" });

export const CallTotalsJson = z
  .strictObject({
    calls: z.number().int(),
    active: z.number().int().describe("calls still running"),
    failed: z.number().int(),
    failureRate: z
      .number()
      .nullable()
      .describe("failed calls among the ended ones; null when none has ended"),
    minutes: z.number().describe("the ended calls' durations"),
    avgResponseLatencyMs: z
      .number()
      .int()
      .nullable()
      .describe("the mean of the calls' average response latencies"),
    p95ResponseLatencyMs: z
      .number()
      .int()
      .nullable()
      .describe("the 95th percentile (nearest rank) of the calls' p95 response latencies"),
    costUsd: z.number().nullable().describe("estimated; null when no call has a cost"),
    days: z
      .array(
        z.strictObject({
          date: z.iso.date().describe("UTC"),
          calls: z.number().int(),
          minutes: z.number(),
          failed: z.number().int(),
          costUsd: z.number().nullable(),
        }),
      )
      .describe("days with calls, oldest first"),
  })
  .register(apiSchemas, { id: "CallTotals" });

const nextCursor = z
  .string()
  .nullable()
  .describe("pass as `cursor` to get the next page; null on the last page");

export const CallPageJson = z
  .strictObject({ data: z.array(CallJson), nextCursor })
  .register(apiSchemas, { id: "CallPage" });

export const TranscriptListJson = z
  .strictObject({ data: z.array(TranscriptJson) })
  .register(apiSchemas, { id: "TranscriptList" });

export const AnalyticsListJson = z
  .strictObject({ data: z.array(AnalyticsJson) })
  .register(apiSchemas, { id: "AnalyticsList" });

export const RecordingListJson = z
  .strictObject({ data: z.array(RecordingJson) })
  .register(apiSchemas, { id: "RecordingList" });

export const SearchHitJson = z
  .strictObject({
    callId: z.string(),
    transcriptId: z.string(),
    speaker: z.enum(["caller", "assistant"]),
    snippet: z.string().describe("matched words are wrapped in [ and ]"),
    offsetMs: z.number().int().nullable(),
    startedAt: timestamp.describe("when the call started"),
  })
  .register(apiSchemas, { id: "SearchHit" });

export const SearchPageJson = z
  .strictObject({ data: z.array(SearchHitJson), nextCursor })
  .register(apiSchemas, { id: "SearchPage" });

/** The body of POST /api/signed-urls. Not strict: a request may carry fields a newer client adds. */
export const SignedUrlRequestJson = z
  .object({
    path: z
      .string()
      .describe("what to open: /api/recordings/{id}/audio, /api/events or /api/calls/{id}/events"),
  })
  .register(apiSchemas, { id: "SignedUrlRequest" });

export const SignedUrlJson = z
  .strictObject({
    url: z.string().describe("the path with expires (unix seconds) and sig; GET only"),
    expiresAt: timestamp.describe("after this the URL is refused (401)"),
  })
  .register(apiSchemas, { id: "SignedUrl" });

export const ErrorJson = z
  .strictObject({
    error: z.strictObject({
      code: z.string().describe("machine-readable, e.g. invalid_request, not_found"),
      message: z.string().describe("for people; a 400 names the offending field first"),
    }),
  })
  .register(apiSchemas, { id: "Error" });

export type CallJson = z.infer<typeof CallJson>;
export type CallTotalsJson = z.infer<typeof CallTotalsJson>;
export type CallDetailJson = z.infer<typeof CallDetailJson>;
export type RecordingJson = z.infer<typeof RecordingJson>;
export type TranscriptJson = z.infer<typeof TranscriptJson>;
export type AnalyticsJson = z.infer<typeof AnalyticsJson>;
export type CallMetadataJson = z.infer<typeof CallMetadataJson>;
export type CallUsageJson = z.infer<typeof CallUsageJson>;
export type SearchHitJson = z.infer<typeof SearchHitJson>;
export type SignedUrlJson = z.infer<typeof SignedUrlJson>;
