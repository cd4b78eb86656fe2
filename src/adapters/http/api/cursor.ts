import { z } from "zod";
import type {
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

const CallCursor = z.strictObject({
  s: z.number().int().min(0).max(8.64e15),
  i: z.string().regex(ID_PATTERN),
});

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

function decode<T>(text: string, schema: z.ZodType<T>): T {
  const invalid = badRequest("cursor", "is not a cursor this API issued");
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

export const encodeCallCursor = (position: { startedAt: Date; id: string }): string =>
  encode({ s: position.startedAt.getTime(), i: position.id });

export function decodeCallCursor(text: string): { startedAt: Date; id: string } {
  const { s, i } = decode(text, CallCursor);
  return { startedAt: new Date(s), id: i };
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
