/**
 * BM25 as SQLite FTS5's bm25() computes it (fts5_aux.c: k1 = 1.2, b = 0.75, an IDF of at least
 * 1e-6, the same arithmetic in the same order), for ranking a bounded set of rows here.
 *
 * Why not bm25() itself: before it scores a single row, bm25() counts every row that holds each
 * query word, to weigh the word. For a word in half the transcripts that count reads half the
 * index, whatever LIMIT the query has. Here the counts are an input (the caller bounds what
 * it reads to get them), so ranking costs what its candidates cost.
 */

const K1 = 1.2;
const B = 0.75;
const MIN_IDF = 1e-6;

// unicode61's token characters: letters, numbers and private-use characters.
const SEPARATORS = /[^\p{L}\p{N}\p{Co}]+/u;
const MARKS = /\p{M}/gu;

/**
 * The tokens FTS5's `unicode61 remove_diacritics 2` tokenizer makes of a text, closely enough to
 * count a row's matches and its length: case and diacritics folded, anything that is not a
 * letter, number or private-use character separates. FTS5 still cuts the words of a query
 * itself (fts-query.ts), so a script where the two disagree ranks a little differently, and at
 * worst has its last token matched whole where it could be a prefix, or the other way round.
 */
export function searchTokens(text: string): string[] {
  // Most transcripts are ASCII: scanned by hand, as a regular expression split costs twice this.
  const lower = text.toLowerCase();
  const tokens: string[] = [];
  let start = -1;
  for (let i = 0; i < lower.length; i++) {
    const c = lower.charCodeAt(i);
    if (c >= 0x80) return unicodeTokens(text);
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      tokens.push(lower.slice(start, i));
      start = -1;
    }
  }
  if (start >= 0) tokens.push(lower.slice(start));
  return tokens;
}

function unicodeTokens(text: string): string[] {
  const folded = text.normalize("NFD").replace(MARKS, "").toLowerCase();
  // split() leaves an empty string where the text starts or ends with a separator.
  return folded.split(SEPARATORS).filter((token) => token.length > 0);
}

/** One token and where it lies in the original (not the folded) text. */
export interface TokenSpan {
  text: string;
  start: number;
  end: number;
}

const TOKEN_CHARS = /^[\p{L}\p{N}\p{Co}]+$/u;

/**
 * searchTokens() with where each token lies in `text`: to highlight a match, and to cut a
 * query word at its stem without refolding what comes before.
 */
export function tokensWithOffsets(text: string): TokenSpan[] {
  const tokens: TokenSpan[] = [];
  let current: TokenSpan | null = null;
  let index = 0;
  for (const char of text) {
    const end = index + char.length;
    // ASCII, nearly every character of a transcript, without a normalisation per character.
    const code = char.charCodeAt(0);
    const folded =
      code < 0x80 ? char.toLowerCase() : char.normalize("NFD").replace(MARKS, "").toLowerCase();
    if (folded === "") {
      // A combining mark neither splits nor extends the token it is in.
      if (current) current.end = end;
    } else if (
      code < 0x80
        ? (code >= 0x30 && code <= 0x39) ||
          (code >= 0x41 && code <= 0x5a) ||
          (code >= 0x61 && code <= 0x7a)
        : TOKEN_CHARS.test(folded)
    ) {
      if (current) {
        current.text += folded;
        current.end = end;
      } else {
        current = { text: folded, start: index, end };
      }
    } else if (current) {
      tokens.push(current);
      current = null;
    }
    index = end;
  }
  if (current) tokens.push(current);
  return tokens;
}

/** A row's length in tokens and how many times each phrase occurs in it. */
export interface RowMeasure {
  length: number;
  frequencies: number[];
}

/**
 * Measures a row for BM25, as searchTokens() and phraseFrequency() would, without building the
 * tokens when the text is ASCII and every phrase one token (most searches, most rows).
 * `prefix[i]` makes the last token of phrase i match any token it starts (FTS5's `"…"*`).
 */
export function measureRow(
  text: string,
  phrases: readonly (readonly string[])[],
  prefix: readonly boolean[] = [],
): RowMeasure {
  if (phrases.every((phrase) => phrase.length === 1)) {
    const measured = measureAscii(
      text.toLowerCase(),
      phrases.map((phrase) => phrase[0]!),
      prefix,
    );
    if (measured) return measured;
  }
  const tokens = searchTokens(text);
  return {
    length: tokens.length,
    frequencies: phrases.map((phrase, i) => phraseFrequency(tokens, phrase, prefix[i] ?? false)),
  };
}

/** measureRow() for lower-case ASCII text and one-token phrases; null for any other text. */
function measureAscii(
  lower: string,
  words: readonly string[],
  prefix: readonly boolean[],
): RowMeasure | null {
  const frequencies = words.map(() => 0);
  let length = 0;
  let start = -1;
  for (let i = 0; i <= lower.length; i++) {
    // One separator past the end closes the last token.
    const c = i < lower.length ? lower.charCodeAt(i) : 0x20;
    if (c >= 0x80) return null;
    if ((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)) {
      if (start < 0) start = i;
    } else if (start >= 0) {
      length++;
      for (let w = 0; w < words.length; w++) {
        const word = words[w]!;
        const fits = prefix[w] ? word.length <= i - start : word.length === i - start;
        if (fits && lower.startsWith(word, start)) frequencies[w]!++;
      }
      start = -1;
    }
  }
  return { length, frequencies };
}

/**
 * How many times `phrase` occurs in `tokens`, overlaps included, as FTS5 counts instances; with
 * `prefix`, its last token matches any token that starts with it.
 */
export function phraseFrequency(
  tokens: readonly string[],
  phrase: readonly string[],
  prefix = false,
): number {
  const n = phrase.length;
  if (n === 0) return 0;
  const last = phrase[n - 1]!;
  let count = 0;
  for (let i = 0; i + n <= tokens.length; i++) {
    let j = 0;
    while (j < n - 1 && tokens[i + j] === phrase[j]) j++;
    if (j < n - 1) continue;
    const token = tokens[i + j]!;
    if (prefix ? token.startsWith(last) : token === last) count++;
  }
  return count;
}

/** A phrase's weight from the rows of the index and how many of them hold the phrase. */
export function inverseDocumentFrequency(rows: number, rowsWithPhrase: number): number {
  const idf = Math.log((rows - rowsWithPhrase + 0.5) / (rowsWithPhrase + 0.5));
  // As FTS5: a phrase in more than half the rows would otherwise weigh less than nothing.
  return idf <= 0 ? MIN_IDF : idf;
}

/**
 * A row's BM25 score; higher is better (FTS5's bm25() returns the same number negated, so that
 * an ascending ORDER BY puts the best first).
 */
export function bm25Score(
  frequencies: readonly number[],
  idf: readonly number[],
  rowLength: number,
  averageRowLength: number,
): number {
  let score = 0;
  for (let i = 0; i < idf.length; i++) {
    const f = frequencies[i] ?? 0;
    score += idf[i]! * ((f * (K1 + 1.0)) / (f + K1 * (1 - B + (B * rowLength) / averageRowLength)));
  }
  return score;
}
