import { type AnyColumn, count, type SQL, sql } from "drizzle-orm";
import type { CallDayTotals, CallTotals } from "../../application/ports/index.ts";

/** The calls table's columns the totals read, as both schemas name them. */
export interface CallTotalsColumns {
  status: AnyColumn;
  durationSeconds: AnyColumn;
  costUsd: AnyColumn;
  avgResponseLatencyMs: AnyColumn;
  p95ResponseLatencyMs: AnyColumn;
}

/** The aggregate of the calls' row (the same SQL on both backends). */
export const totalsFields = (c: CallTotalsColumns) => ({
  calls: count(),
  active: sql<number>`count(*) filter (where ${c.status} = 'active')`.mapWith(Number),
  failed: sql<number>`count(*) filter (where ${c.status} = 'failed')`.mapWith(Number),
  seconds: sql<number>`coalesce(sum(${c.durationSeconds}), 0)`.mapWith(Number),
  avgLatency: sql<number | null>`avg(${c.avgResponseLatencyMs})`.mapWith(Number),
  latencies: count(c.p95ResponseLatencyMs),
  costUsd: sql<number | null>`sum(${c.costUsd})`.mapWith(Number),
});

/** Per day: `day` is the backend's expression of the call's UTC day as epoch days. */
export const dayFields = (c: CallTotalsColumns, day: SQL<number>) => ({
  day,
  calls: count(),
  failed: sql<number>`count(*) filter (where ${c.status} = 'failed')`.mapWith(Number),
  seconds: sql<number>`coalesce(sum(${c.durationSeconds}), 0)`.mapWith(Number),
  costUsd: sql<number | null>`sum(${c.costUsd})`.mapWith(Number),
});

/** Nearest rank: the 0-based position of the 95th percentile among `n` sorted values. */
export const p95Offset = (n: number): number => Math.max(0, Math.ceil(0.95 * n) - 1);

const DAY_MS = 86_400_000;
const round = (value: number, places: number) => {
  const scale = 10 ** places;
  return Math.round(value * scale) / scale;
};
const moneyOrNull = (value: number | null) =>
  value === null || Number.isNaN(value) ? null : round(value, 6);

type TotalsRow = { [K in keyof ReturnType<typeof totalsFields>]: number | null };
type DayRow = { [K in keyof ReturnType<typeof dayFields>]: number | null };

export function toCallTotals(
  row: TotalsRow | undefined,
  p95: number | null,
  days: readonly DayRow[],
): CallTotals {
  const avg = row?.avgLatency ?? null;
  return {
    calls: row?.calls ?? 0,
    active: row?.active ?? 0,
    failed: row?.failed ?? 0,
    minutes: round((row?.seconds ?? 0) / 60, 3),
    avgResponseLatencyMs: avg === null || Number.isNaN(avg) ? null : Math.round(avg),
    p95ResponseLatencyMs: p95,
    costUsd: moneyOrNull(row?.costUsd ?? null),
    days: days.map(
      (d): CallDayTotals => ({
        date: new Date(Number(d.day) * DAY_MS).toISOString().slice(0, 10),
        calls: d.calls ?? 0,
        minutes: round((d.seconds ?? 0) / 60, 3),
        failed: d.failed ?? 0,
        costUsd: moneyOrNull(d.costUsd ?? null),
      }),
    ),
  };
}
