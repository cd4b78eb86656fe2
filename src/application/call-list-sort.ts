import type { Call } from "../domain/call.ts";
import { invalidArgument } from "../domain/errors.ts";
import type {
  CallListPosition,
  CallListQuery,
  CallPage,
  CallSort,
  CallSortField,
  SortOrder,
} from "./ports/index.ts";

/** What the list sorts by, in the order a client is offered them; the first is the default. */
export const CALL_SORT_FIELDS = [
  "startedAt",
  "durationSeconds",
  "costUsd",
  "p95ResponseLatencyMs",
] as const satisfies readonly CallSortField[];

export const SORT_ORDERS = ["asc", "desc"] as const satisfies readonly SortOrder[];

/** Newest first: the only order the list had before it could be sorted. */
export const DEFAULT_CALL_SORT: CallSort = { field: "startedAt", order: "desc" };

/** A sort on a column that may be null, whose pages need the row's value of it to continue. */
export type ValueSortField = Exclude<CallSortField, "startedAt">;

export const isDefaultSort = (sort: CallSort): boolean =>
  sort.field === DEFAULT_CALL_SORT.field && sort.order === DEFAULT_CALL_SORT.order;

export const sameSort = (a: CallSort, b: CallSort): boolean =>
  a.field === b.field && a.order === b.order;

/** A sort as its query parameters say it, for messages a client can act on. */
export const describeSort = (sort: CallSort): string => `sort=${sort.field}&order=${sort.order}`;

/** The message for a position followed with a sort other than the one that issued it. */
export const otherSortMessage = (issuedFor: CallSort, asked: CallSort): string =>
  `was issued for ${describeSort(issuedFor)}, not ${describeSort(asked)}`;

/** Where a page starts: after this row, in its sort. `value` is null for a startedAt sort. */
export interface ListStart {
  value: number | null;
  startedAt: Date;
  id: string;
}

/**
 * The sort a list query asks for and where its page starts. A position continues only the sort
 * that issued it (its rows are ordered by another key), so any other is an invalid_argument.
 */
export function listContinuation(query: CallListQuery): { sort: CallSort; after?: ListStart } {
  const sort = query.sort ?? DEFAULT_CALL_SORT;
  const position = query.after;
  if (position === undefined) return { sort };
  const issuedFor = position.sort ?? DEFAULT_CALL_SORT;
  if (!sameSort(issuedFor, sort)) {
    throw invalidArgument(`cursor: ${otherSortMessage(issuedFor, sort)}`);
  }
  const { startedAt, id } = position;
  if (sort.field === "startedAt") return { sort, after: { value: null, startedAt, id } };
  const value = position.value;
  if (value === undefined || (value !== null && !Number.isFinite(value))) {
    throw invalidArgument(`cursor: has no ${sort.field} to continue from`);
  }
  return { sort, after: { value, startedAt, id } };
}

/** The position a page that ends with `call` hands out, in `sort`. */
export function positionAfter(call: Call, sort: CallSort): CallListPosition {
  const position = { startedAt: new Date(call.startedAt.getTime()), id: call.id };
  if (isDefaultSort(sort)) return position;
  if (sort.field === "startedAt") return { ...position, sort: { ...sort } };
  return { ...position, sort: { ...sort }, value: call[sort.field] };
}

/**
 * A page of `limit` calls from rows read in order with one row more than asked, which tells
 * whether another page exists without a count.
 */
export function pageOf(rows: readonly Call[], limit: number, sort: CallSort): CallPage {
  const data = rows.slice(0, Math.max(0, limit));
  const last = data.at(-1);
  const next = rows.length > limit && last ? positionAfter(last, sort) : null;
  return { data, next };
}
