import { searchTokens } from "../sqlite/bm25.ts";

/**
 * PostgreSQL leaves a word of more than this many bytes out of a tsvector (and out of a
 * tsquery, which would then ask for less than the user typed).
 */
const MAX_LEXEME_BYTES = 2047;

/** One word of a search, as SQLite's FTS5 reads it and as transcripts.search_vector holds it. */
export interface WordQuery {
  /** Its folded tokens: the FTS5 phrase the word is (empty when the word has no token). */
  phrase: string[];
  /**
   * to_tsquery('simple', …) text: those tokens in a row. search_vector holds text folded the
   * same way (callbridge_search_text, migration 0003), so "cafe" finds "Café" and "example"
   * finds "john.doe@example.com", as on SQLite.
   */
  folded: string;
}

const quoted = (lexeme: string): string =>
  `'${lexeme.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;

/**
 * How `word` is searched on PostgreSQL, or null when it cannot be found there at all (a token
 * longer than PostgreSQL indexes).
 */
export function wordQuery(word: string): WordQuery | null {
  const phrase = searchTokens(word);
  if (phrase.some((token) => Buffer.byteLength(token) > MAX_LEXEME_BYTES)) return null;
  return { phrase, folded: phrase.map(quoted).join(" <-> ") };
}
