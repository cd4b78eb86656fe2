import type { z } from "zod";
import type { CallFilter, CallSort } from "../../../application/ports/index.ts";
import type { CallListParams } from "./query-schemas.ts";
import { badRequest } from "./validation.ts";

type FilterParams = Omit<z.output<typeof CallListParams>, "limit" | "cursor" | "sort" | "order">;

/** The filter a list, export or totals request names, its ranges checked. */
export function callFilterOf(params: FilterParams): CallFilter {
  const since = params.since === undefined ? undefined : new Date(params.since);
  const until = params.until === undefined ? undefined : new Date(params.until);
  if (since && until && since.getTime() >= until.getTime()) {
    throw badRequest("until", "must be later than since");
  }
  const { minDuration, maxDuration } = params;
  if (minDuration !== undefined && maxDuration !== undefined && minDuration > maxDuration) {
    throw badRequest("maxDuration", "must not be less than minDuration");
  }
  return {
    status: params.status,
    caller: params.caller,
    callerDigits: params.callerContains,
    called: params.called,
    callSid: params.callSid,
    streamSid: params.streamSid,
    since,
    until,
    endReason: params.endReason,
    sentiment: params.sentiment,
    outcome: params.outcome,
    minDurationSeconds: minDuration,
    maxDurationSeconds: maxDuration,
  };
}

/** The order a list or export request names. */
export const callSortOf = (
  params: Pick<z.output<typeof CallListParams>, "sort" | "order">,
): CallSort => ({
  field: params.sort,
  order: params.order,
});
