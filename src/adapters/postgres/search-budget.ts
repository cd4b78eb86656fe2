/**
 * How a relevance search on PostgreSQL finds its candidates at a bounded cost, from the
 * estimated share of transcripts each word is in. PostgreSQL can find the newest matches two
 * ways, measured at 1,000,000 transcripts on the reference machine (BENCHMARKS.md):
 *
 * - walking the seq index newest first and testing each row's stored search_vector: about
 *   0.5 µs a row (46,420 rows in 23–26 ms), however rare the match;
 * - reading the words' GIN posting lists, then fetching every match: a word in half of the
 *   transcripts costs about 9 ms to read before anything is fetched, a fetch about 2–10 µs.
 *
 * A word in a few % of the transcripts makes both slow over the whole table (50,000 rows walked,
 * or 40,000 fetched, for its 2,000 newest matches), and so does a rare word beside common ones
 * read from the index. So: the words in more than INDEXED_SHARE of the transcripts are tested on
 * the row, not read from the index (the rarest word always is); when the indexed words match at
 * most FETCH_BUDGET_MATCHES transcripts the index finds all of them, and otherwise the newest
 * WALK_BUDGET_ROWS transcripts are walked. Relevance then ranks the matches found: the newest
 * ones, as SQLite's oldestWithinBudget() cuts the range with FTS5's costs.
 */

/** Transcripts the walk may test: about 15 ms. */
export const WALK_BUDGET_ROWS = 30_000;

/** Matches of the indexed words the GIN path may fetch: about 10–20 ms. */
export const FETCH_BUDGET_MATCHES = 4_000;

/** A word in more of the transcripts than this is tested on the row, not read from the index. */
export const INDEXED_SHARE = 0.1;

export interface CandidatePlan {
  /** The lowest seq read. */
  from: number;
  /** Per word: read from the GIN index (true) or tested on each row found (false). */
  indexed: boolean[];
}

/** The plan for words in `shares` of the transcripts (0 to 1 each), below seq `anchor`. */
export function candidatePlan(shares: number[], anchor: number): CandidatePlan {
  if (shares.length === 0) return { from: 0, indexed: [] };
  const rarest = shares.indexOf(Math.min(...shares));
  const indexed = shares.map((share, k) => k === rarest || share <= INDEXED_SHARE);
  // The words taken as independent: the share that holds every indexed word.
  const together = shares.reduce(
    (product, share, k) => (indexed[k] ? product * share : product),
    1,
  );
  const rows = Math.max(0, anchor - 1);
  const from = together * rows <= FETCH_BUDGET_MATCHES ? 0 : Math.max(0, anchor - WALK_BUDGET_ROWS);
  return { from, indexed };
}

/**
 * The share of transcripts each lexeme is in, from the planner's statistics of search_vector:
 * the most common ones only (a lexeme not listed is rarer than every listed one).
 */
export interface LexemeShares {
  /** Lexeme → share of sampled transcripts holding it. */
  shares: Map<string, number>;
}

/**
 * pg_stats' most_common_elems and most_common_elem_freqs of a tsvector column (ts_typanalyze):
 * one frequency per element, followed by the lowest and highest of them (and, in some versions,
 * the share of empty vectors). Null when the column has no statistics yet (not analysed).
 */
export function lexemeShares(
  elements: string[] | null,
  frequencies: number[] | null,
): LexemeShares | null {
  if (elements === null || frequencies === null || elements.length === 0) return null;
  if (frequencies.length < elements.length) return null;
  const shares = new Map<string, number>();
  elements.forEach((element, i) => {
    shares.set(element, frequencies[i]!);
  });
  return { shares };
}
