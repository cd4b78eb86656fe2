import { searchTokens } from "../sqlite/bm25.ts";
import { type SearchTerm, searchTerm } from "../sqlite/fts-query.ts";

/**
 * PostgreSQL leaves a word of more than this many bytes out of a tsvector (and out of a
 * tsquery, which would then ask for less than the user typed).
 */
const MAX_LEXEME_BYTES = 2047;

/** One word of a search, as SQLite's FTS5 reads it and as transcripts.search_vector holds it. */
export interface WordQuery {
  /** What the word matches (searchTerm()): FTS5's phrase, and whether its last token is a prefix. */
  term: SearchTerm;
  /**
   * to_tsquery('simple', …) text: the term's tokens in a row, the last with `:*` when a prefix.
   * search_vector holds text folded the same way (callbridge_search_text, migration 0003), so
   * "cafe" finds "Café" and "example" finds "john.doe@example.com", as on SQLite.
   */
  folded: string;
}

const quoted = (lexeme: string): string =>
  `'${lexeme.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;

/**
 * How `word` is searched on PostgreSQL, or null when it cannot be found there at all (a token
 * longer than PostgreSQL indexes). Every lexeme is quoted and `:*` follows the quote, so nothing
 * the user typed is read as tsquery syntax.
 */
export function wordQuery(word: string): WordQuery | null {
  if (searchTokens(word).some((token) => Buffer.byteLength(token) > MAX_LEXEME_BYTES)) {
    return null;
  }
  const term = searchTerm(word);
  const lexemes = term.tokens.map(quoted);
  if (term.prefix) lexemes[lexemes.length - 1] += ":*";
  return { term, folded: lexemes.join(" <-> ") };
}
