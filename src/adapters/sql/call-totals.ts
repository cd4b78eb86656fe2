import { type AnyColumn, count, type SQL, sql } from "drizzle-orm";
import type { CallDayTotals, CallFilter, CallTotals } from "../../application/ports/index.ts";

/** The calls table's columns the totals read, as both schemas name them. */
export interface CallTotalsColumns {
  status: AnyColumn;
  durationSeconds: AnyColumn;
  costUsd: AnyColumn;
  avgResponseLatencyMs: AnyColumn;
  p95ResponseLatencyMs: AnyColumn;
}

/** The call_rollup table's columns, as both schemas name them. */
export interface CallRollupColumns {
  dim: AnyColumn;
  value: AnyColumn;
  hour: AnyColumn;
  calls: AnyColumn;
  active: AnyColumn;
  failed: AnyColumn;
  durationMs: AnyColumn;
  costNanos: AnyColumn;
  costs: AnyColumn;
  latencySumMs: AnyColumn;
  latencies: AnyColumn;
  p95s: AnyColumn;
}

const num = (expression: SQL) => sql<number>`${expression}`.mapWith(Number);

/**
 * One UTC day's sums, read from calls (`day` is the backend's expression of the call's UTC day
 * as epoch days). The same SQL on both backends; one pass over the calls gives every figure
 * but the percentile, the whole period's being the sum of its days.
 */
export const scanDayFields = (c: CallTotalsColumns, day: SQL<number>) => ({
  day,
  calls: count(),
  active: num(sql`count(*) filter (where ${c.status} = 'active')`),
  failed: num(sql`count(*) filter (where ${c.status} = 'failed')`),
  seconds: num(sql`coalesce(sum(${c.durationSeconds}), 0)`),
  costUsd: num(sql`coalesce(sum(${c.costUsd}), 0)`),
  costs: count(c.costUsd),
  latencySumMs: num(sql`coalesce(sum(${c.avgResponseLatencyMs}), 0)`),
  latencies: count(c.avgResponseLatencyMs),
  p95s: count(c.p95ResponseLatencyMs),
});

/** The same sums per UTC day, read from call_rollup's hours (integer division: epoch hours). */
export const rollupDayFields = (r: CallRollupColumns) => ({
  day: num(sql`${r.hour} / 24`),
  calls: num(sql`sum(${r.calls})`),
  active: num(sql`sum(${r.active})`),
  failed: num(sql`sum(${r.failed})`),
  seconds: num(sql`sum(${r.durationMs}) / 1000.0`),
  costUsd: num(sql`sum(${r.costNanos}) / 1000000000.0`),
  costs: num(sql`sum(${r.costs})`),
  latencySumMs: num(sql`sum(${r.latencySumMs})`),
  latencies: num(sql`sum(${r.latencies})`),
  p95s: num(sql`sum(${r.p95s})`),
});

/** What scanDayFields and rollupDayFields give for one day. */
export interface DaySums {
  day: number;
  calls: number;
  active: number;
  failed: number;
  seconds: number;
  costUsd: number;
  costs: number;
  latencySumMs: number;
  latencies: number;
  p95s: number;
}

/** The facts call_rollup keeps a row per value of, by the filter field that names them. */
const ROLLUP_DIMS = {
  status: "status",
  endReason: "end_reason",
  sentiment: "sentiment",
  outcome: "outcome",
  called: "called",
} as const satisfies Partial<Record<keyof CallFilter, string>>;

const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;

/** The rollup rows a period's whole hours add up to: dim/value, hours from ≤ h < to. */
export interface RollupSlice {
  dim: string;
  value: string;
  /** Epoch hours; null where the period is open on that side. */
  fromHour: number | null;
  toHour: number | null;
}

/**
 * How to add up a filter's calls from call_rollup: its whole hours from the rollup, and the
 * calls of the part-hours at either end (a period from the viewer's midnight is whole hours in
 * almost every time zone) read from calls. Null where the rollup cannot answer: a filter on a
 * fact it has no rows per (the caller's number, a duration range) or on two facts at once, or
 * a period inside two hours, which reading its calls answers at least as fast.
 */
export function planRollup(filter: CallFilter): { slice: RollupSlice; edges: CallFilter[] } | null {
  const unsupported =
    filter.caller ??
    filter.callerDigits ??
    filter.callSid ??
    filter.streamSid ??
    filter.analysisStatus ??
    filter.minDurationSeconds ??
    filter.maxDurationSeconds;
  if (unsupported !== undefined) return null;
  const named = (Object.keys(ROLLUP_DIMS) as (keyof typeof ROLLUP_DIMS)[]).filter(
    (key) => filter[key] !== undefined,
  );
  if (named.length > 1) return null;
  const key = named[0];
  const since = filter.since?.getTime();
  const until = filter.until?.getTime();
  const fromHour = since === undefined ? null : Math.ceil(since / HOUR_MS);
  const toHour = until === undefined ? null : Math.floor(until / HOUR_MS);
  if (fromHour !== null && toHour !== null && toHour - fromHour < 1) return null;
  const edges: CallFilter[] = [];
  if (since !== undefined && fromHour !== null && since < fromHour * HOUR_MS) {
    edges.push({ ...filter, until: new Date(fromHour * HOUR_MS) });
  }
  if (until !== undefined && toHour !== null && until > toHour * HOUR_MS) {
    edges.push({ ...filter, since: new Date(toHour * HOUR_MS) });
  }
  return {
    slice: {
      dim: key === undefined ? "" : ROLLUP_DIMS[key],
      value: key === undefined ? "" : String(filter[key]),
      fromHour,
      toHour,
    },
    edges,
  };
}

/** Days of several parts of one period (the rollup's hours, the edges' calls), merged by day. */
export function mergeDays(...parts: readonly (readonly DaySums[])[]): DaySums[] {
  const byDay = new Map<number, DaySums>();
  for (const part of parts) {
    for (const row of part) {
      const day = Number(row.day);
      const sum = byDay.get(day);
      if (sum === undefined) {
        byDay.set(day, { ...row, day });
        continue;
      }
      sum.calls += row.calls;
      sum.active += row.active;
      sum.failed += row.failed;
      sum.seconds += row.seconds;
      sum.costUsd += row.costUsd;
      sum.costs += row.costs;
      sum.latencySumMs += row.latencySumMs;
      sum.latencies += row.latencies;
      sum.p95s += row.p95s;
    }
  }
  // A rollup row whose calls were all deleted stays, with nothing in it.
  return [...byDay.values()].filter((d) => d.calls > 0).sort((a, b) => a.day - b.day);
}

/** The columns of one call the totals add up, for totalsOfCalls. */
export interface CallTotalsRow {
  startedAt: Date;
  status: string;
  durationSeconds: number | null;
  costUsd: number | null;
  avgResponseLatencyMs: number | null;
  p95ResponseLatencyMs: number | null;
}

/**
 * The days and the percentile of calls read one by one: for a filter that selects few calls
 * by an index the rollup cannot use (the numbers with some digits in them), one read of each
 * call's row instead of two (the sums, then the percentile).
 */
export function totalsOfCalls(rows: readonly CallTotalsRow[]): {
  days: DaySums[];
  p95: number | null;
} {
  const byDay = new Map<number, DaySums>();
  const p95s: number[] = [];
  for (const row of rows) {
    const day = Math.floor(row.startedAt.getTime() / DAY_MS);
    let sums = byDay.get(day);
    if (sums === undefined) {
      sums = {
        day,
        calls: 0,
        active: 0,
        failed: 0,
        seconds: 0,
        costUsd: 0,
        costs: 0,
        latencySumMs: 0,
        latencies: 0,
        p95s: 0,
      };
      byDay.set(day, sums);
    }
    sums.calls++;
    if (row.status === "active") sums.active++;
    if (row.status === "failed") sums.failed++;
    sums.seconds += row.durationSeconds ?? 0;
    if (row.costUsd !== null) {
      sums.costUsd += row.costUsd;
      sums.costs++;
    }
    if (row.avgResponseLatencyMs !== null) {
      sums.latencySumMs += row.avgResponseLatencyMs;
      sums.latencies++;
    }
    if (row.p95ResponseLatencyMs !== null) {
      sums.p95s++;
      p95s.push(row.p95ResponseLatencyMs);
    }
  }
  p95s.sort((a, b) => a - b);
  return {
    days: [...byDay.values()].sort((a, b) => a.day - b.day),
    p95: p95s.length === 0 ? null : (p95s[p95Offset(p95s.length)] ?? null),
  };
}

/** Nearest rank: the 0-based position of the 95th percentile among `n` sorted values. */
export const p95Offset = (n: number): number => Math.max(0, Math.ceil(0.95 * n) - 1);

/**
 * Whether the percentile is found faster by walking the p95 index down from the top than by
 * sorting the filter's calls. The walk passes every call of the table at or above the answer
 * (about 5% of all `p95sInTable`, the period's share alike); the index holds the start and
 * every fact the totals filter by, so only a filter on something else (the caller, a
 * duration) makes each step a row lookup (taken as 4 index entries). Sorting reads each of the
 * `n` calls the filter selects through its index and looks each up.
 */
export function walkP95Index(n: number, p95sInTable: number, filter: CallFilter): boolean {
  if (n === 0 || p95sInTable === 0) return false;
  const checksRows =
    (filter.caller ??
      filter.callerDigits ??
      filter.callSid ??
      filter.streamSid ??
      filter.analysisStatus ??
      filter.minDurationSeconds ??
      filter.maxDurationSeconds) !== undefined;
  const passed = ((n - p95Offset(n)) / n) * p95sInTable;
  return passed * (checksRows ? 4 : 1) < n * 2;
}

const round = (value: number, places: number) => {
  const scale = 10 ** places;
  return Math.round(value * scale) / scale;
};

export function toCallTotals(days: readonly DaySums[], p95: number | null): CallTotals {
  const all = mergeDays(days.map((d) => ({ ...d, day: 0 })))[0];
  return {
    calls: all?.calls ?? 0,
    active: all?.active ?? 0,
    failed: all?.failed ?? 0,
    minutes: round((all?.seconds ?? 0) / 60, 3),
    avgResponseLatencyMs:
      all === undefined || all.latencies === 0
        ? null
        : Math.round(all.latencySumMs / all.latencies),
    p95ResponseLatencyMs: p95,
    costUsd: all === undefined || all.costs === 0 ? null : round(all.costUsd, 6),
    days: days.map(
      (d): CallDayTotals => ({
        date: new Date(d.day * DAY_MS).toISOString().slice(0, 10),
        calls: d.calls,
        minutes: round(d.seconds / 60, 3),
        failed: d.failed,
        costUsd: d.costs === 0 ? null : round(d.costUsd, 6),
      }),
    ),
  };
}
