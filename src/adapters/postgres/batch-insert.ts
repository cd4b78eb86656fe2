import type { analytics, transcripts } from "../../../drizzle/pg-schema.ts";

type TranscriptInsert = typeof transcripts.$inferInsert;
type AnalyticsInsert = typeof analytics.$inferInsert;

/** A column of a batched insert: its name, its PostgreSQL type and how a row gives its value. */
type Column<Row> = readonly [name: string, type: string, value: (row: Row) => unknown];

const iso = (date: Date | undefined): string | null => date?.toISOString() ?? null;
const json = (value: unknown): string | null =>
  value === null || value === undefined ? null : JSON.stringify(value);

// Every column a row is written with; seq is left to PostgreSQL (the insertion order).
const TRANSCRIPT_COLUMNS: ReadonlyArray<Column<TranscriptInsert>> = [
  ["id", "text", (r) => r.id],
  ["call_id", "text", (r) => r.callId],
  ["speaker", "text", (r) => r.speaker],
  ["text", "text", (r) => r.text],
  ["confidence", "float8", (r) => r.confidence ?? null],
  ["offset_ms", "int4", (r) => r.offsetMs ?? null],
  ["interrupted", "bool", (r) => r.interrupted ?? false],
  ["heard_text", "text", (r) => r.heardText ?? null],
  ["heard_ms", "int4", (r) => r.heardMs ?? null],
  ["generated_ms", "int4", (r) => r.generatedMs ?? null],
  ["failed", "bool", (r) => r.failed ?? false],
  ["created_at", "timestamptz", (r) => iso(r.createdAt)],
];

const ANALYTICS_COLUMNS: ReadonlyArray<Column<AnalyticsInsert>> = [
  ["id", "text", (r) => r.id],
  ["call_id", "text", (r) => r.callId],
  ["sentiment", "text", (r) => r.sentiment ?? null],
  ["sentiment_score", "float8", (r) => r.sentimentScore ?? null],
  ["caller_talk_ms", "int4", (r) => r.callerTalkMs],
  ["assistant_talk_ms", "int4", (r) => r.assistantTalkMs],
  ["silence_ms", "int4", (r) => r.silenceMs],
  ["interruptions", "int4", (r) => r.interruptions],
  ["avg_response_latency_ms", "int4", (r) => r.avgResponseLatencyMs ?? null],
  ["p95_response_latency_ms", "int4", (r) => r.p95ResponseLatencyMs ?? null],
  ["custom_metrics", "json", (r) => json(r.customMetrics)],
  ["created_at", "timestamptz", (r) => iso(r.createdAt)],
];

/** A statement with its parameters, named so that each connection prepares it once. */
export interface BatchStatement {
  name: string;
  text: string;
  values: string[];
}

/**
 * `INSERT ... SELECT FROM unnest(one array per column)`: however many rows, one statement with
 * one parameter per column and always the same text, where Drizzle's multi-row `values()` builds
 * a statement of rows x columns parameters (measured: 50 ms of the event loop for 200
 * transcripts, against about 1 ms to fill these arrays). WITH ORDINALITY keeps the rows in the
 * order given, so that seq numbers them in that order. `from` is the first parameter's number.
 */
function unnestInsert<Row>(table: string, columns: ReadonlyArray<Column<Row>>, from: number) {
  const names = columns.map(([name]) => `"${name}"`).join(", ");
  const arrays = columns.map(([, type], i) => `$${from + i}::${type}[]`).join(", ");
  return `INSERT INTO "${table}" (${names}) SELECT ${names} FROM unnest(${arrays}) WITH ORDINALITY AS u(${names}, ord) ORDER BY ord`;
}

const columnArrays = <Row>(columns: ReadonlyArray<Column<Row>>, rows: readonly Row[]) =>
  columns.map(([, , value]) => arrayLiteral(rows.map(value)));

// The two INSERTs as data-modifying CTEs of one statement, which is a transaction of its own: a
// batch of both kinds of rows costs one round trip, not BEGIN, two INSERTs and COMMIT.
const TRANSCRIPTS_ONLY = unnestInsert("transcripts", TRANSCRIPT_COLUMNS, 1);
const ANALYTICS_ONLY = unnestInsert("analytics", ANALYTICS_COLUMNS, 1);
const BOTH = `WITH t AS (${TRANSCRIPTS_ONLY}), a AS (${unnestInsert(
  "analytics",
  ANALYTICS_COLUMNS,
  TRANSCRIPT_COLUMNS.length + 1,
)}) SELECT 1`;

/** The statement that writes these rows, stored whole or not at all; null when there are none. */
export function batchStatement(
  transcriptRows: readonly TranscriptInsert[],
  analyticsRows: readonly AnalyticsInsert[],
): BatchStatement | null {
  const transcriptValues = columnArrays(TRANSCRIPT_COLUMNS, transcriptRows);
  const analyticsValues = columnArrays(ANALYTICS_COLUMNS, analyticsRows);
  if (transcriptRows.length > 0 && analyticsRows.length > 0) {
    return {
      name: "callbridge_batch_transcripts_analytics",
      text: BOTH,
      values: [...transcriptValues, ...analyticsValues],
    };
  }
  if (transcriptRows.length > 0) {
    return {
      name: "callbridge_batch_transcripts",
      text: TRANSCRIPTS_ONLY,
      values: transcriptValues,
    };
  }
  if (analyticsRows.length > 0) {
    return { name: "callbridge_batch_analytics", text: ANALYTICS_ONLY, values: analyticsValues };
  }
  return null;
}

/**
 * The text form of a PostgreSQL array (`{"a","b",NULL}`), which the `::type[]` cast parses. Both
 * drivers pass a string through unchanged, where each has its own (and postgres.js a failing)
 * way of sending a JavaScript array.
 */
export function arrayLiteral(values: readonly unknown[]): string {
  // One string built by appending: a batch has thousands of values, and this is on the loop.
  let literal = "{";
  for (let i = 0; i < values.length; i++) {
    if (i > 0) literal += ",";
    const value = values[i];
    if (value === null || value === undefined) {
      literal += "NULL";
    } else if (typeof value === "number" || typeof value === "boolean") {
      literal += String(value);
    } else {
      const text = String(value);
      literal += `"${NEEDS_ESCAPE.test(text) ? text.replace(ESCAPED, "\\$&") : text}"`;
    }
  }
  return `${literal}}`;
}

const NEEDS_ESCAPE = /["\\]/;
const ESCAPED = /["\\]/g;
