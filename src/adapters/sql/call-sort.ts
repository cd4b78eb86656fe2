import { type AnyColumn, and, asc, desc, isNotNull, isNull, type SQL, sql } from "drizzle-orm";
import type { ListStart, ValueSortField } from "../../application/call-list-sort.ts";
import type { CallSort } from "../../application/ports/index.ts";

/** The calls table's columns the list sorts by, as both schemas (SQLite and PostgreSQL) name them. */
export interface CallSortColumns {
  id: AnyColumn;
  startedAt: AnyColumn;
  durationSeconds: AnyColumn;
  costUsd: AnyColumn;
  p95ResponseLatencyMs: AnyColumn;
}

/**
 * How a backend writes a position's values for comparison with their columns: each is compared
 * as the column's own type, or the backend would not range-scan the index on it.
 */
export interface KeysetValues {
  startedAt(at: Date): SQL;
  value(field: ValueSortField, value: number): SQL;
}

/** One query of a page: read in order, up to what the page still needs. */
export interface PageSegment {
  where: SQL | undefined;
  orderBy: SQL[];
}

/**
 * The queries that read a page of the list in `sort` after `after`, to run in order until the
 * page is full. Sorted by startedAt, that is one range of the (…, started_at, id) indexes.
 * Sorted by a column that may be null, the rows with a value come first (one range of the index
 * on (column, started_at, id), in either direction), then, when that page comes up short, the
 * rows without (`column IS NULL`: that index's run of nulls, in started_at, id order). One
 * ORDER BY with NULLS LAST in both directions would match the index in one direction only
 * (SQLite puts nulls first in an ascending index, PostgreSQL last).
 *
 * The null segment orders by the column too, though it is null throughout, so that PostgreSQL
 * sees the index's own order and reads it without sorting. Row-value comparisons keep each
 * keyset condition one index range, ties included.
 */
export function callPageSegments(
  columns: CallSortColumns,
  sort: CallSort,
  after: ListStart | undefined,
  filters: SQL[],
  values: KeysetValues,
): PageSegment[] {
  const direction = sort.order === "asc" ? asc : desc;
  const beyond = sql.raw(sort.order === "asc" ? ">" : "<");
  const timeKeyset = (start: ListStart) =>
    sql`(${columns.startedAt}, ${columns.id}) ${beyond} (${values.startedAt(start.startedAt)}, ${start.id})`;

  if (sort.field === "startedAt") {
    return [
      {
        where: and(...(after === undefined ? [] : [timeKeyset(after)]), ...filters),
        orderBy: [direction(columns.startedAt), direction(columns.id)],
      },
    ];
  }

  const column = columns[sort.field];
  const orderBy = [direction(column), direction(columns.startedAt), direction(columns.id)];
  const withValue = (keyset: SQL[]) => ({
    where: and(isNotNull(column), ...keyset, ...filters),
    orderBy,
  });
  const withoutValue = (keyset: SQL[]) => ({
    where: and(isNull(column), ...keyset, ...filters),
    orderBy,
  });
  if (after === undefined) return [withValue([]), withoutValue([])];
  // A position among the rows without a value is past every row with one.
  if (after.value === null) return [withoutValue([timeKeyset(after)])];
  const valueKeyset = sql`(${column}, ${columns.startedAt}, ${columns.id}) ${beyond} (${values.value(sort.field, after.value)}, ${values.startedAt(after.startedAt)}, ${after.id})`;
  return [withValue([valueKeyset]), withoutValue([])];
}
