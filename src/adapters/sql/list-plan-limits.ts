/**
 * Where the call list and the totals change plans, the same on both backends (README, "The call
 * list and its totals at scale"; BENCHMARKS.md has the figures behind them).
 */

/**
 * More numbers than this with the caller's digits in them: a page tests each call's number
 * newest first instead (such digits are common enough to fill a page soon, and listing every
 * number is what costs: the trigram index reads the whole list of a common trigram). The
 * totals, which read every matching call either way, read by number up to many more.
 */
export const MAX_CALLER_CANDIDATES = { page: 200, totals: 5000 } as const;

/**
 * Fewer calls than this match a filter (or fall in a duration range): read them through the
 * filter's index and sort them, rather than walk the order's index until a page comes by.
 */
export const FEW_CALLS = 1000;
