import { type AnyColumn, eq, gte, like, lt, lte, type SQL } from "drizzle-orm";
import type { CallFilter } from "../../application/ports/index.ts";

/** The calls table's filterable columns, as both schemas (SQLite and PostgreSQL) name them. */
export interface CallFilterColumns {
  status: AnyColumn;
  caller: AnyColumn;
  called: AnyColumn;
  callSid: AnyColumn;
  streamSid: AnyColumn;
  startedAt: AnyColumn;
  endReason: AnyColumn;
  sentiment: AnyColumn;
  outcome: AnyColumn;
  analysisStatus: AnyColumn;
  durationSeconds: AnyColumn;
}

/**
 * The WHERE conditions of a CallFilter, the same SQL on both backends. Equality filters each
 * have an index ending in (started_at, id), so a filtered page stays an ordered range scan;
 * the digit and duration filters are checked on the rows that scan visits.
 */
export function callFilterConditions(columns: CallFilterColumns, filter: CallFilter): SQL[] {
  const conditions: SQL[] = [];
  const equal = (column: AnyColumn, value: string | undefined) => {
    if (value !== undefined) conditions.push(eq(column, value));
  };
  equal(columns.status, filter.status);
  equal(columns.caller, filter.caller);
  equal(columns.called, filter.called);
  equal(columns.callSid, filter.callSid);
  equal(columns.streamSid, filter.streamSid);
  equal(columns.endReason, filter.endReason);
  equal(columns.sentiment, filter.sentiment);
  equal(columns.outcome, filter.outcome);
  equal(columns.analysisStatus, filter.analysisStatus);
  // Digits only (the API keeps nothing else), so no LIKE wildcard can come from the client.
  if (filter.callerDigits !== undefined) {
    conditions.push(like(columns.caller, `%${filter.callerDigits.replace(/\D/g, "")}%`));
  }
  if (filter.since !== undefined) conditions.push(gte(columns.startedAt, filter.since));
  if (filter.until !== undefined) conditions.push(lt(columns.startedAt, filter.until));
  if (filter.minDurationSeconds !== undefined) {
    conditions.push(gte(columns.durationSeconds, filter.minDurationSeconds));
  }
  if (filter.maxDurationSeconds !== undefined) {
    conditions.push(lte(columns.durationSeconds, filter.maxDurationSeconds));
  }
  return conditions;
}
