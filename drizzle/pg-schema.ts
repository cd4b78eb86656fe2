import { getTableColumns, sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  customType,
  doublePrecision,
  index,
  integer,
  json,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
} from "drizzle-orm/pg-core";
import type { JsonObject } from "../src/domain/analytics.ts";
import { ANALYSIS_STATUSES, END_REASONS } from "../src/domain/call-review.ts";

// The PostgreSQL twin of ./schema.ts (SQLite): the same tables, columns, nullability, defaults
// and indexes, which test/adapters/postgres/schema-parity.test.ts holds them to. Times are
// timestamptz with millisecond precision, so keyset paging compares the exact values the
// SQLite side stores as integer milliseconds. What only this side has is full-text search's
// stored search_vector and its GIN index (SQLite's FTS5 table lives in its migrations). JSON is
// `json`, not `jsonb`: it keeps the document as given (key order, number spelling), as SQLite.

const millis = (name: string) =>
  timestamp(name, { withTimezone: true, precision: 3, mode: "date" });

/** Read by search only, in SQL: the adapter never selects or writes it. */
const tsvector = customType<{ data: string }>({ dataType: () => "tsvector" });

export const calls = pgTable(
  "calls",
  {
    id: text("id").primaryKey(),
    streamSid: text("stream_sid").notNull(),
    callSid: text("call_sid"),
    caller: text("caller"),
    status: text("status", { enum: ["active", "completed", "failed"] }).notNull(),
    startedAt: millis("started_at").notNull(),
    endedAt: millis("ended_at"),
    durationSeconds: doublePrecision("duration_seconds"),
    createdAt: millis("created_at").notNull(),
    updatedAt: millis("updated_at").notNull(),
    /** The instance (INSTANCE_ID) running a live call; null on calls stored before issue 19. */
    owner: text("owner"),
    called: text("called"),
    endReason: text("end_reason", { enum: END_REASONS }),
    turns: integer("turns"),
    costUsd: doublePrecision("cost_usd"),
    sentiment: text("sentiment", { enum: ["positive", "neutral", "negative"] }),
    networkQuality: text("network_quality"),
    avgResponseLatencyMs: integer("avg_response_latency_ms"),
    p95ResponseLatencyMs: integer("p95_response_latency_ms"),
    topic: text("topic"),
    analysisStatus: text("analysis_status", { enum: ANALYSIS_STATUSES }),
    summary: text("summary"),
    outcome: text("outcome"),
    analysisFields: json("analysis_fields").$type<JsonObject>(),
  },
  (t) => [
    uniqueIndex("calls_stream_sid_unique").on(t.streamSid),
    index("calls_call_sid_idx").on(t.callSid),
    index("calls_started_at_id_caller_idx").on(t.startedAt, t.id, t.caller),
    index("calls_status_started_at_id_idx").on(t.status, t.startedAt, t.id),
    index("calls_caller_started_at_id_idx").on(t.caller, t.startedAt, t.id),
    index("calls_called_started_at_id_idx").on(t.called, t.startedAt, t.id),
    index("calls_end_reason_started_at_id_idx").on(t.endReason, t.startedAt, t.id),
    index("calls_sentiment_started_at_id_idx").on(t.sentiment, t.startedAt, t.id),
    index("calls_outcome_started_at_id_idx").on(t.outcome, t.startedAt, t.id),
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

/** The calls' totals per hour (./schema.ts says why); kept by triggers (migration 0008). */
export const callRollup = pgTable(
  "call_rollup",
  {
    dim: text("dim").notNull(),
    value: text("value").notNull(),
    hour: integer("hour").notNull(),
    calls: integer("calls").notNull(),
    active: integer("active").notNull(),
    failed: integer("failed").notNull(),
    durationMs: bigint("duration_ms", { mode: "number" }).notNull(),
    costNanos: bigint("cost_nanos", { mode: "number" }).notNull(),
    costs: integer("costs").notNull(),
    latencySumMs: bigint("latency_sum_ms", { mode: "number" }).notNull(),
    latencies: integer("latencies").notNull(),
    p95s: integer("p95s").notNull(),
  },
  (t) => [primaryKey({ columns: [t.dim, t.value, t.hour] })],
);

/**
 * One row per running instance: its lease on the live calls it owns. Another instance marks an
 * owner's calls failed only once `lease_expires_at` has passed (see src/application/call-leases.ts).
 */
export const instances = pgTable("instances", {
  id: text("id").primaryKey(),
  renewedAt: millis("renewed_at").notNull(),
  leaseExpiresAt: millis("lease_expires_at").notNull(),
});

export const recordings = pgTable(
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
    sizeBytes: bigint("size_bytes", { mode: "number" }).notNull(),
    durationSeconds: doublePrecision("duration_seconds").notNull(),
    fileKey: text("file_key").notNull(),
    cloudUrl: text("cloud_url"),
    createdAt: millis("created_at").notNull(),
  },
  (t) => [index("recordings_call_id_idx").on(t.callId)],
);

export const transcripts = pgTable(
  "transcripts",
  {
    // Insertion order, as SQLite's AUTOINCREMENT rowid: search cursors and "recent" walk it.
    seq: bigint("seq", { mode: "number" }).primaryKey().generatedAlwaysAsIdentity(),
    id: text("id").notNull(),
    callId: text("call_id")
      .notNull()
      .references(() => calls.id, { onDelete: "cascade" }),
    speaker: text("speaker", { enum: ["caller", "assistant"] }).notNull(),
    text: text("text").notNull(),
    confidence: doublePrecision("confidence"),
    offsetMs: integer("offset_ms"),
    interrupted: boolean("interrupted").notNull().default(false),
    heardText: text("heard_text"),
    heardMs: integer("heard_ms"),
    generatedMs: integer("generated_ms"),
    failed: boolean("failed").notNull().default(false),
    createdAt: millis("created_at").notNull(),
    // Full-text search: what the caller heard of a turn (all of it unless interrupted), cut as
    // SQLite's unicode61 tokenizer cuts it (callbridge_search_text, migration 0003: diacritics
    // off, split on anything but letters and digits), lower-cased and not stemmed ('simple').
    // Stored rather than an expression index: a plan that walks the seq index (the newest
    // matches of a common word) then tests each row's stored vector (about a µs) instead of
    // running to_tsvector() again (tens of µs a row; relevance took hundreds of ms at 1M rows).
    searchVector: tsvector("search_vector").generatedAlwaysAs(
      sql`to_tsvector('simple', callbridge_search_text(coalesce(heard_text, text)))`,
    ),
  },
  (t) => [
    uniqueIndex("transcripts_id_unique").on(t.id),
    index("transcripts_call_id_offset_ms_seq_idx").on(t.callId, t.offsetMs, t.seq),
    index("transcripts_search_idx").using("gin", t.searchVector),
  ],
);

/** Every transcripts column but search_vector: what reads of turns select (search's own). */
export const transcriptRowColumns = (() => {
  const { searchVector: _searchOnly, ...row } = getTableColumns(transcripts);
  return row;
})();

export const analytics = pgTable(
  "analytics",
  {
    id: text("id").primaryKey(),
    callId: text("call_id")
      .notNull()
      .references(() => calls.id, { onDelete: "cascade" }),
    sentiment: text("sentiment", { enum: ["positive", "neutral", "negative"] }),
    sentimentScore: doublePrecision("sentiment_score"),
    callerTalkMs: integer("caller_talk_ms").notNull(),
    assistantTalkMs: integer("assistant_talk_ms").notNull(),
    silenceMs: integer("silence_ms").notNull(),
    interruptions: integer("interruptions").notNull(),
    avgResponseLatencyMs: integer("avg_response_latency_ms"),
    p95ResponseLatencyMs: integer("p95_response_latency_ms"),
    customMetrics: json("custom_metrics").$type<JsonObject>(),
    createdAt: millis("created_at").notNull(),
    // Insertion order, which breaks ties between snapshots of the same millisecond: SQLite
    // orders those by the table's implicit rowid, PostgreSQL has no such column. Not the key
    // (id is, on both sides).
    seq: bigint("seq", { mode: "number" }).notNull().generatedAlwaysAsIdentity(),
  },
  (t) => [index("analytics_call_id_created_at_idx").on(t.callId, t.createdAt)],
);

export const callMetadata = pgTable("call_metadata", {
  callId: text("call_id")
    .primaryKey()
    .references(() => calls.id, { onDelete: "cascade" }),
  language: text("language"),
  region: text("region"),
  deviceType: text("device_type"),
  networkQuality: text("network_quality"),
  customData: json("custom_data").$type<JsonObject>(),
  updatedAt: millis("updated_at").notNull(),
});
