import { searchTokens } from "../sqlite/bm25.ts";
import { tokensWithOffsets } from "./search-snippet.ts";

/**
 * PostgreSQL leaves a word of more than this many bytes out of a tsvector (and out of a
 * tsquery, which would then ask for less than the user typed).
 */
const MAX_LEXEME_BYTES = 2047;

/** PostgreSQL's own reading of a word is asked for only up to this length (hostile input). */
const MAX_WHOLE_WORD_CHARS = 256;

/** One word of a search, as SQLite's FTS5 reads it and as the 'simple' tsvector can find it. */
export interface WordQuery {
  /** Its folded tokens: the FTS5 phrase the word is (empty when the word has no token). */
  phrase: string[];
  /** to_tsquery('simple', …) text: the tokens in a row, each as typed (lower case) or folded. */
  tokens: string;
  /** to_tsquery('simple', …) text: the folded tokens in a row, for a folded search vector. */
  folded: string;
  /**
   * The word as typed when it has several tokens, for phraseto_tsquery('simple', …):
   * PostgreSQL's parser keeps "3.14" or "john@example.com" as one lexeme, which the
   * tokens above (3 <-> 14) would not find.
   */
  whole: string | null;
}

const quoted = (lexeme: string): string =>
  `'${lexeme.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;

/**
 * How `word` is searched on PostgreSQL, or null when it cannot be found there at all (a token
 * longer than PostgreSQL indexes).
 */
export function wordQuery(word: string): WordQuery | null {
  const phrase = searchTokens(word);
  const spans = tokensWithOffsets(word);
  const alternatives: string[] = [];
  for (const span of spans) {
    const typed = word.slice(span.start, span.end).toLowerCase();
    if (Buffer.byteLength(typed) > MAX_LEXEME_BYTES) return null;
    if (Buffer.byteLength(span.text) > MAX_LEXEME_BYTES) return null;
    // The index holds words as written ("café"); SQLite also finds "cafe" for "café".
    alternatives.push(
      typed === span.text ? quoted(typed) : `(${quoted(typed)} | ${quoted(span.text)})`,
    );
  }
  return {
    phrase,
    tokens: alternatives.join(" <-> "),
    folded: phrase.map(quoted).join(" <-> "),
    whole: spans.length > 1 && word.length <= MAX_WHOLE_WORD_CHARS ? word : null,
  };
}
