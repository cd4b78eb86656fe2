import {
  index,
  integer,
  primaryKey,
  real,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";
import type { JsonObject } from "../src/domain/analytics.ts";
import { ANALYSIS_STATUSES, END_REASONS } from "../src/domain/call-review.ts";

// Times are integer milliseconds so that keyset paging compares exact values, never strings.

export const calls = sqliteTable(
  "calls",
  {
    id: text("id").primaryKey(),
    streamSid: text("stream_sid").notNull(),
    callSid: text("call_sid"),
    caller: text("caller"),
    status: text("status", { enum: ["active", "completed", "failed"] }).notNull(),
    startedAt: integer("started_at", { mode: "timestamp_ms" }).notNull(),
    endedAt: integer("ended_at", { mode: "timestamp_ms" }),
    durationSeconds: real("duration_seconds"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
    /** The instance (INSTANCE_ID) running a live call; null on calls stored before issue 19. */
    owner: text("owner"),
    // What the list shows and filters by, kept on the call (src/domain/call-review.ts): set when
    // the call ends, and by the post-call analysis after it. Null on calls stored before.
    called: text("called"),
    endReason: text("end_reason", { enum: END_REASONS }),
    turns: integer("turns"),
    costUsd: real("cost_usd"),
    sentiment: text("sentiment", { enum: ["positive", "neutral", "negative"] }),
    networkQuality: text("network_quality"),
    avgResponseLatencyMs: integer("avg_response_latency_ms"),
    p95ResponseLatencyMs: integer("p95_response_latency_ms"),
    topic: text("topic"),
    analysisStatus: text("analysis_status", { enum: ANALYSIS_STATUSES }),
    summary: text("summary"),
    outcome: text("outcome"),
    analysisFields: text("analysis_fields", { mode: "json" }).$type<JsonObject>(),
  },
  (t) => [
    uniqueIndex("calls_stream_sid_unique").on(t.streamSid),
    index("calls_call_sid_idx").on(t.callSid),
    // Keyset paging walks (started_at desc, id desc); each filter gets the same suffix so that
    // a filtered page is still an ordered index range scan.
    // The caller is in it so that a filter on part of the number is tested on the index entry,
    // the row read only for a match (src/adapters/sql/call-filter-conditions.ts).
    index("calls_started_at_id_caller_idx").on(t.startedAt, t.id, t.caller),
    index("calls_status_started_at_id_idx").on(t.status, t.startedAt, t.id),
    index("calls_caller_started_at_id_idx").on(t.caller, t.startedAt, t.id),
    index("calls_called_started_at_id_idx").on(t.called, t.startedAt, t.id),
    index("calls_end_reason_started_at_id_idx").on(t.endReason, t.startedAt, t.id),
    index("calls_sentiment_started_at_id_idx").on(t.sentiment, t.startedAt, t.id),
    index("calls_outcome_started_at_id_idx").on(t.outcome, t.startedAt, t.id),
    // The list's other sorts walk these in either direction. The p95 one also holds every fact
    // the totals filter by, so that their 95th percentile is found walking down from the top
    // of the index without reading a row (src/adapters/sql/call-totals.ts).
    index("calls_duration_seconds_started_at_id_idx").on(t.durationSeconds, t.startedAt, t.id),
    index("calls_cost_usd_started_at_id_idx").on(t.costUsd, t.startedAt, t.id),
    index("calls_p95_latency_started_at_id_facts_idx").on(
      t.p95ResponseLatencyMs,
      t.startedAt,
      t.id,
      t.status,
      t.endReason,
      t.sentiment,
      t.outcome,
      t.called,
    ),
  ],
);

/**
 * The calls' totals per hour of their start, once for all calls (dim '') and once per value of
 * each fact the list filters by (dim 'status', 'end_reason', 'sentiment', 'outcome', 'called'),
 * so that the totals of a long period read hours instead of calls. Kept by triggers on `calls`
 * (migration 0010), in the same transaction as the call's own write; never written by the
 * server. Sums are integers (milliseconds, nano-dollars) so that taking a call's old values
 * out and adding its new ones leaves no rounding behind.
 */
export const callRollup = sqliteTable(
  "call_rollup",
  {
    dim: text("dim").notNull(),
    value: text("value").notNull(),
    /** Epoch hours: floor(started_at / 3,600,000). */
    hour: integer("hour").notNull(),
    calls: integer("calls").notNull(),
    active: integer("active").notNull(),
    failed: integer("failed").notNull(),
    durationMs: integer("duration_ms").notNull(),
    costNanos: integer("cost_nanos").notNull(),
    /** Calls with a cost, so that "no cost at all" stays null rather than 0. */
    costs: integer("costs").notNull(),
    latencySumMs: integer("latency_sum_ms").notNull(),
    /** Calls with an average response latency (the sum's count). */
    latencies: integer("latencies").notNull(),
    /** Calls with a p95 response latency (the percentile's population). */
    p95s: integer("p95s").notNull(),
  },
  (t) => [primaryKey({ columns: [t.dim, t.value, t.hour] })],
);

/**
 * One row per running instance: its lease on the live calls it owns. Another instance marks an
 * owner's calls failed only once `lease_expires_at` has passed (see src/application/call-leases.ts).
 */
export const instances = sqliteTable("instances", {
  id: text("id").primaryKey(),
  renewedAt: integer("renewed_at", { mode: "timestamp_ms" }).notNull(),
  leaseExpiresAt: integer("lease_expires_at", { mode: "timestamp_ms" }).notNull(),
});

export const recordings = sqliteTable(
  "recordings",
  {
    id: text("id").primaryKey(),
    callId: text("call_id")
      .notNull()
      .references(() => calls.id, { onDelete: "cascade" }),
    track: text("track", { enum: ["caller", "conversation"] }).notNull(),
    format: text("format", { enum: ["wav"] }).notNull(),
    codec: text("codec", { enum: ["pcm_s16le"] }).notNull(),
    sampleRate: integer("sample_rate").notNull(),
    channels: integer("channels").notNull(),
    sizeBytes: integer("size_bytes").notNull(),
    durationSeconds: real("duration_seconds").notNull(),
    /** A bare file name inside RECORDING_STORAGE_PATH, never a path. */
    fileKey: text("file_key").notNull(),
    cloudUrl: text("cloud_url"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("recordings_call_id_idx").on(t.callId)],
);

export const transcripts = sqliteTable(
  "transcripts",
  {
    // An INTEGER PRIMARY KEY is the rowid itself: the FTS5 index points at it, and unlike an
    // implicit rowid VACUUM never renumbers it. AUTOINCREMENT keeps it increasing even after
    // the newest row is deleted, so it also records insertion order.
    seq: integer("seq").primaryKey({ autoIncrement: true }),
    id: text("id").notNull(),
    callId: text("call_id")
      .notNull()
      .references(() => calls.id, { onDelete: "cascade" }),
    speaker: text("speaker", { enum: ["caller", "assistant"] }).notNull(),
    text: text("text").notNull(),
    confidence: real("confidence"),
    offsetMs: integer("offset_ms"),
    interrupted: integer("interrupted", { mode: "boolean" }).notNull().default(false),
    // An interrupted assistant turn: what the caller heard of it (an estimate; `text` keeps all
    // the model generated), and of how much audio. Search indexes coalesce(heard_text, text).
    heardText: text("heard_text"),
    heardMs: integer("heard_ms"),
    generatedMs: integer("generated_ms"),
    // A caller turn whose transcription failed: kept, with empty text, at its offset.
    failed: integer("failed", { mode: "boolean" }).notNull().default(false),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [
    uniqueIndex("transcripts_id_unique").on(t.id),
    index("transcripts_call_id_offset_ms_seq_idx").on(t.callId, t.offsetMs, t.seq),
  ],
);

export const analytics = sqliteTable(
  "analytics",
  {
    id: text("id").primaryKey(),
    callId: text("call_id")
      .notNull()
      .references(() => calls.id, { onDelete: "cascade" }),
    sentiment: text("sentiment", { enum: ["positive", "neutral", "negative"] }),
    sentimentScore: real("sentiment_score"),
    callerTalkMs: integer("caller_talk_ms").notNull(),
    assistantTalkMs: integer("assistant_talk_ms").notNull(),
    silenceMs: integer("silence_ms").notNull(),
    interruptions: integer("interruptions").notNull(),
    avgResponseLatencyMs: integer("avg_response_latency_ms"),
    p95ResponseLatencyMs: integer("p95_response_latency_ms"),
    customMetrics: text("custom_metrics", { mode: "json" }).$type<JsonObject>(),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
  },
  (t) => [index("analytics_call_id_created_at_idx").on(t.callId, t.createdAt)],
);

export const callMetadata = sqliteTable("call_metadata", {
  callId: text("call_id")
    .primaryKey()
    .references(() => calls.id, { onDelete: "cascade" }),
  language: text("language"),
  region: text("region"),
  deviceType: text("device_type"),
  networkQuality: text("network_quality"),
  customData: text("custom_data", { mode: "json" }).$type<JsonObject>(),
  updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
});
