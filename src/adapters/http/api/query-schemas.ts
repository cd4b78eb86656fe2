import { z } from "zod";
import {
  CALL_SORT_FIELDS,
  DEFAULT_CALL_SORT,
  SORT_ORDERS,
} from "../../../application/call-list-sort.ts";
import { END_REASONS } from "../../../domain/call-review.ts";

/**
 * Query parameters arrive as strings; each schema parses one and its output type is what the
 * OpenAPI document shows (an integer `limit`, a date-time `since`).
 */

const integerParam = (min: number, max: number, fallback: number) => {
  const message = `must be an integer from ${min} to ${max}`;
  return z
    .string()
    .regex(/^\d{1,9}$/, message)
    .transform(Number)
    .pipe(z.number().int().min(min, message).max(max, message))
    .default(fallback);
};

const timestampParam = z.union([z.iso.datetime({ offset: true }), z.iso.date()], {
  error: "must be an ISO 8601 date-time with a zone (2026-05-01T12:00:00Z) or a date (2026-05-01)",
});

const exactText = (max: number) =>
  z.string().min(1, "must not be empty").max(max, `must be at most ${max} characters`);

const cursorParam = z
  .string()
  .max(512, "is not a cursor this API issued")
  .describe("opaque; the `nextCursor` of the previous page");

const secondsParam = z
  .string()
  .regex(/^\d{1,7}(\.\d{1,3})?$/, "must be a number of seconds from 0 to 9999999")
  .transform(Number)
  .pipe(z.number().min(0));

/** The list's filters beyond the contract's exact ones (issue 20). */
const CallFilterParams = {
  callerContains: z
    .string()
    .regex(
      /^\+?[\d\s().-]{0,40}$/,
      "must be digits of a phone number (a leading +, spaces, dots, dashes and brackets are ignored)",
    )
    .transform((value) => value.replace(/\D/g, ""))
    .pipe(z.string().min(1, "must contain at least one digit"))
    .optional()
    .describe("calls whose caller's number contains these digits anywhere"),
  called: exactText(256).optional().describe("the number dialled, exactly"),
  endReason: z.enum(END_REASONS, { error: `must be one of ${END_REASONS.join(", ")}` }).optional(),
  sentiment: z
    .enum(["positive", "neutral", "negative"], {
      error: "must be one of positive, neutral, negative",
    })
    .optional(),
  outcome: z
    .string()
    .regex(/^[a-z0-9_]{1,40}$/, "must be an outcome name (a-z, 0-9 and _, at most 40)")
    .optional(),
  minDuration: secondsParam.optional().describe("seconds; calls at least this long"),
  maxDuration: secondsParam.optional().describe("seconds; calls at most this long"),
};

/** The list's order (issue 20), shared by the list and the export so that both say the same. */
export const CallSortParams = {
  sort: z
    .enum(CALL_SORT_FIELDS, { error: `must be one of ${CALL_SORT_FIELDS.join(", ")}` })
    .default(DEFAULT_CALL_SORT.field)
    .describe(
      "the Call field to order by, then startedAt, then id; calls without a value of it (a " +
        "live call has no duration) come after all the others in either order",
    ),
  order: z
    .enum(SORT_ORDERS, { error: "must be asc or desc" })
    .default(DEFAULT_CALL_SORT.order)
    .describe("asc or desc (the default: newest, longest, dearest or slowest first)"),
};

export const MAX_CALLS_PAGE = 200;
export const MAX_SEARCH_PAGE = 100;

export const CallListParams = z.object({
  limit: integerParam(1, MAX_CALLS_PAGE, 50).describe("page size"),
  cursor: cursorParam.optional(),
  status: z
    .enum(["active", "completed", "failed"], {
      error: "must be one of active, completed, failed",
    })
    .optional(),
  caller: exactText(256).optional().describe("exact match; encode a leading + as %2B"),
  callSid: exactText(128).optional().describe("exact match"),
  streamSid: exactText(128).optional().describe("exact match"),
  since: timestampParam.optional().describe("calls that started at or after this instant"),
  until: timestampParam.optional().describe("calls that started before this instant"),
  ...CallFilterParams,
  ...CallSortParams,
});

export const SearchParams = z.object({
  q: z
    .string({ error: "is required (1 to 500 characters)" })
    .trim()
    .min(1, "is required (1 to 500 characters)")
    .max(500, "must be at most 500 characters")
    .describe(
      "words to find (all of them); a word of 4 or more letters also finds the words it begins " +
        "and its other forms (refun, refund and refunds each find refund, refunds, refunded), a " +
        "shorter word or a number only itself; operators and punctuation are searched as text",
    ),
  limit: integerParam(1, MAX_SEARCH_PAGE, 20).describe("page size"),
  cursor: cursorParam.optional(),
  speaker: z.enum(["caller", "assistant"], { error: "must be caller or assistant" }).optional(),
  sort: z
    .enum(["relevance", "recent"], { error: "must be relevance or recent" })
    .default("relevance")
    .describe(
      "relevance: best match first (BM25 over the newest matches, 2,000 at most by default); " +
        "recent: newest first, every match, at the same cost however common the words",
    ),
});

/** Ids are opaque strings of this shape; anything else cannot exist and is answered 404. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;
export const IdParam = z.string().regex(ID_PATTERN);

/** The list's filters alone: what an export or the totals select. */
export const CallFilterQuery = CallListParams.omit({
  limit: true,
  cursor: true,
  sort: true,
  order: true,
});

export const TranscriptFormatParams = z.object({
  format: z
    .enum(["json", "text"], { error: "must be json or text" })
    .default("json")
    .describe("json (the default) or text: one `[mm:ss.mmm] speaker: words` line per turn"),
});
