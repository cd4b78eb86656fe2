import { z } from "zod";
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

/** Deeper than this, ranked offset paging gets slow; a narrower query is the better answer. */
export const MAX_SEARCH_OFFSET = 10_000;

const SearchCursor = z.strictObject({
  o: z.number().int().min(1).max(MAX_SEARCH_OFFSET),
});

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

export const encodeSearchCursor = (offset: number): string => encode({ o: offset });

export const decodeSearchCursor = (text: string): number => decode(text, SearchCursor).o;
