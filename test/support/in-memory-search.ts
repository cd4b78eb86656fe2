import { snippetOf as fts5Snippet } from "../../src/adapters/postgres/search-snippet.ts";
import {
  bm25Score,
  inverseDocumentFrequency,
  phraseFrequency,
  searchTokens,
} from "../../src/adapters/sqlite/bm25.ts";
import { type SearchTerm, termKey } from "../../src/adapters/sqlite/fts-query.ts";

/**
 * What InMemoryCallRepository needs of SQLite FTS5 to answer searchTranscripts as the adapter
 * does: BM25 ranking (with the adapter's own arithmetic from bm25.ts) and FTS5's snippet(),
 * which the PostgreSQL adapter ports (search-snippet.ts) and the contract suite holds to
 * SQLite's own output.
 */

/**
 * The seqs of `candidates`, best first, scored as TranscriptSearch scores them: BM25 with each
 * term (a prefix one as the one phrase `"…"*`) weighed by the rows before the anchor that hold
 * it, against the totals of every row (FTS5's own record); equal scores put the newer first.
 */
export function bm25Ranking(
  candidates: ReadonlyArray<{ seq: number; text: string }>,
  textsBeforeAnchor: readonly string[],
  allTexts: readonly string[],
  terms: readonly SearchTerm[],
): number[] {
  const distinct = [...new Map(terms.map((term) => [termKey(term), term])).values()];
  const keyOf = terms.map((term) => distinct.findIndex((d) => termKey(d) === termKey(term)));
  const frequency = (tokens: readonly string[], term: SearchTerm) =>
    phraseFrequency(tokens, term.tokens, term.prefix);
  const tokenized = textsBeforeAnchor.map(searchTokens);
  const rowsWith = distinct.map(
    (term) => tokenized.filter((tokens) => frequency(tokens, term) > 0).length,
  );
  const rows = allTexts.length;
  const totalTokens = allTexts.reduce((sum, text) => sum + searchTokens(text).length, 0);
  const averageRowLength = totalTokens / Math.max(1, rows);
  const idf = keyOf.map((k) => inverseDocumentFrequency(rows, Math.min(rowsWith[k]!, rows)));
  return candidates
    .map(({ seq, text }) => {
      const tokens = searchTokens(text);
      const frequencies = terms.map((term) => frequency(tokens, term));
      return { seq, score: bm25Score(frequencies, idf, tokens.length, averageRowLength) };
    })
    .sort((a, b) => b.score - a.score || b.seq - a.seq)
    .map((hit) => hit.seq);
}

/**
 * FTS5's snippet() for a query's phrases (each distinct phrase counts once, as in FTS5);
 * `prefix[i]` makes phrase i's last token match every token it starts, as `"…"*` does.
 */
export function snippetOf(
  text: string,
  phrases: readonly (readonly string[])[],
  nToken = 12,
  prefix: readonly boolean[] = [],
): string {
  const distinct = [
    ...new Map(
      phrases.map((p, i) => [termKey({ tokens: [...p], prefix: prefix[i] ?? false }), i]),
    ).values(),
  ];
  return fts5Snippet(
    text,
    distinct.map((i) => phrases[i]!),
    nToken,
    distinct.map((i) => prefix[i] ?? false),
  );
}
