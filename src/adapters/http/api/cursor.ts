import { z } from "zod";
import {
  DEFAULT_CALL_SORT,
  isDefaultSort,
  otherSortMessage,
  SORT_ORDERS,
  sameSort,
} from "../../../application/call-list-sort.ts";
import type {
  CallListPosition,
  CallSort,
  TranscriptSearchPosition,
  TranscriptSearchSort,
} from "../../../application/ports/index.ts";
import { ID_PATTERN } from "./query-schemas.ts";
import { badRequest } from "./validation.ts";

/**
 * Cursors are base64url JSON. They are opaque to clients but not secret: a client that forges
 * one only moves its own position. Decoding is strict (alphabet, JSON shape, and re-encoding to
 * the same text) so that a mangled cursor is a 400 instead of a silently different page.
 */

const BASE64URL = /^[A-Za-z0-9_-]+$/;

const startedAtMs = z.number().int().min(0).max(8.64e15);
const callId = z.string().regex(ID_PATTERN);

/**
 * A call-list cursor: the default sort's is `{s, i}` (startedAt ms, id) as before the list had
 * sorts; any other names its sort (`k`, `o`) and, for a field other than startedAt, the last
 * row's value of it (`v`, null among the calls without one). Each shape has its own keys, so
 * that one is never read as another.
 */
const CallCursor = z.union([
  z.strictObject({ s: startedAtMs, i: callId }),
  z.strictObject({ k: z.literal("startedAt"), o: z.enum(SORT_ORDERS), s: startedAtMs, i: callId }),
  z.strictObject({
    k: z.enum(["durationSeconds", "costUsd"]),
    o: z.enum(SORT_ORDERS),
    v: z.number().nullable(),
    s: startedAtMs,
    i: callId,
  }),
  z.strictObject({
    k: z.literal("p95ResponseLatencyMs"),
    o: z.enum(SORT_ORDERS),
    // What the column (PostgreSQL's integer) can hold, so that no cursor fails its cast.
    v: z.number().int().min(-2_147_483_648).max(2_147_483_647).nullable(),
    s: startedAtMs,
    i: callId,
  }),
]);

/**
 * The deepest relevance offset a cursor holds. Relevance ranks a bounded set of matches (the
 * repository's search candidates, fewer than this), so a deeper one could only be forged.
 */
export const MAX_SEARCH_OFFSET = 100_000;

const seq = z.number().int().min(1).max(Number.MAX_SAFE_INTEGER);

/** Both sorts' cursors, told apart by their keys so that one is never read as the other. */
const SearchCursor = z.union([
  z.strictObject({ b: seq }),
  z.strictObject({ a: seq, o: z.number().int().min(1).max(MAX_SEARCH_OFFSET) }),
]);

const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString("base64url");

const notIssued = () => badRequest("cursor", "is not a cursor this API issued");

function decode<T>(text: string, schema: z.ZodType<T>): T {
  const invalid = notIssued();
  if (!BASE64URL.test(text)) throw invalid;
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
  } catch {
    throw invalid;
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success || encode(parsed.data as object) !== text) throw invalid;
  return parsed.data;
}

export function encodeCallCursor(position: CallListPosition): string {
  const s = position.startedAt.getTime();
  const i = position.id;
  const sort = position.sort ?? DEFAULT_CALL_SORT;
  if (isDefaultSort(sort)) return encode({ s, i });
  if (sort.field === "startedAt") return encode({ k: sort.field, o: sort.order, s, i });
  return encode({ k: sort.field, o: sort.order, v: position.value ?? null, s, i });
}

/** A list cursor, which must have been issued for `sort`. */
export function decodeCallCursor(
  text: string,
  sort: CallSort = DEFAULT_CALL_SORT,
): CallListPosition {
  const cursor = decode(text, CallCursor);
  const position: CallListPosition = { startedAt: new Date(cursor.s), id: cursor.i };
  if ("k" in cursor) {
    const issuedFor: CallSort = { field: cursor.k, order: cursor.o };
    if (!isDefaultSort(issuedFor)) position.sort = issuedFor;
    if ("v" in cursor) position.value = cursor.v;
  }
  // The default sort spelt out is not how this API issues it.
  if (encodeCallCursor(position) !== text) throw notIssued();
  const issuedFor = position.sort ?? DEFAULT_CALL_SORT;
  if (!sameSort(issuedFor, sort)) {
    throw badRequest("cursor", otherSortMessage(issuedFor, sort));
  }
  return position;
}

export const encodeSearchCursor = (position: TranscriptSearchPosition): string =>
  encode(
    position.sort === "recent"
      ? { b: position.before }
      : { a: position.anchor, o: position.offset },
  );

/** A search cursor, which must have been issued for `sort`. */
export function decodeSearchCursor(
  text: string,
  sort: TranscriptSearchSort,
): TranscriptSearchPosition {
  const cursor = decode(text, SearchCursor);
  const position: TranscriptSearchPosition =
    "b" in cursor
      ? { sort: "recent", before: cursor.b }
      : { sort: "relevance", anchor: cursor.a, offset: cursor.o };
  if (position.sort !== sort) {
    throw badRequest(
      "cursor",
      `was issued for sort=${position.sort}; follow it with the sort it came from`,
    );
  }
  return position;
}
