import { type AnyColumn, inArray, like, type SQL, sql } from "drizzle-orm";
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

export interface CallFilterOptions {
  /** The numbers `callerDigits` matches, where the backend's trigram index found them. */
  callers?: readonly string[] | undefined;
  /**
   * False: the duration range is written so that no index can serve it (`+column`), which
   * keeps SQLite's planner on the newest-first index for a page where the range is common; its
   * guess for a range would rather read the whole range by the duration index and sort it.
   * Default true.
   */
  durationByIndex?: boolean;
  /**
   * False: no condition can be served by an index (each column written `+column`, a no-op on
   * any SQLite value), so that SQLite walks the index of the list's sort instead of reading
   * every call a common filter selects and sorting them. SQLite only. Default true.
   */
  byIndex?: boolean;
}

/**
 * The WHERE conditions of a CallFilter, the same SQL on both backends. Equality filters each
 * have an index ending in (started_at, id), so a filtered page stays an ordered range scan;
 * the duration filters, and the digits where no list of numbers is given, are checked on the
 * rows that scan visits.
 */
export function callFilterConditions(
  columns: CallFilterColumns,
  filter: CallFilter,
  { callers, durationByIndex = true, byIndex = true }: CallFilterOptions = {},
): SQL[] {
  const conditions: SQL[] = [];
  // The value bound through the column's own encoder (a Date as the column stores it).
  const compare = (
    column: AnyColumn,
    op: "=" | ">=" | "<" | "<=",
    value: unknown,
    indexed = byIndex,
  ) =>
    indexed
      ? sql`${column} ${sql.raw(op)} ${sql.param(value, column)}`
      : sql`+${column} ${sql.raw(op)} ${sql.param(value, column)}`;
  const equal = (column: AnyColumn, value: string | undefined) => {
    if (value !== undefined) conditions.push(compare(column, "=", value));
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
  const caller = byIndex ? sql`${columns.caller}` : sql`+${columns.caller}`;
  // Digits only (the API keeps nothing else), so no LIKE wildcard can come from the client.
  if (filter.callerDigits !== undefined && callers !== undefined) {
    conditions.push(callers.length === 0 ? sql`1 = 0` : inArray(caller, [...callers]));
  } else if (filter.callerDigits !== undefined) {
    conditions.push(like(caller, `%${filter.callerDigits.replace(/\D/g, "")}%`));
  }
  if (filter.since !== undefined) conditions.push(compare(columns.startedAt, ">=", filter.since));
  if (filter.until !== undefined) conditions.push(compare(columns.startedAt, "<", filter.until));
  const durationIndexed = byIndex && durationByIndex;
  if (filter.minDurationSeconds !== undefined) {
    conditions.push(
      compare(columns.durationSeconds, ">=", filter.minDurationSeconds, durationIndexed),
    );
  }
  if (filter.maxDurationSeconds !== undefined) {
    conditions.push(
      compare(columns.durationSeconds, "<=", filter.maxDurationSeconds, durationIndexed),
    );
  }
  return conditions;
}

/**
 * The filter's duration range alone, as an index on the duration can serve it: what a plan
 * probes to learn how many calls fall in it. Empty without a range.
 */
export function durationRangeConditions(column: AnyColumn, filter: CallFilter): SQL[] {
  const conditions: SQL[] = [];
  if (filter.minDurationSeconds !== undefined) {
    conditions.push(sql`${column} >= ${sql.param(filter.minDurationSeconds, column)}`);
  }
  if (filter.maxDurationSeconds !== undefined) {
    conditions.push(sql`${column} <= ${sql.param(filter.maxDurationSeconds, column)}`);
  }
  return conditions;
}
