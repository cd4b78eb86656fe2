import { searchTokens, tokensWithOffsets } from "./bm25.ts";

/** More terms than this add cost, not precision; the rest of a huge query is ignored. */
export const MAX_SEARCH_TERMS = 64;

/**
 * A word's last token shorter than this (in characters) is matched whole; from this length on it is cut to its stem and matched as a prefix. Not shorter, because a prefix costs
 * every match of every word it starts, read before the first row (FTS5 merges their lists, as
 * transcripts_fts has no prefix index; PostgreSQL's GIN index reads a partial match whole): 1
 * or 2 letters would read nearly the whole index on every search. And three-letter words are
 * mostly whole words already ("the", "and", "can"), whose prefixes would add the commonest
 * words there are ("they", "there", "cancel") to every search that has them.
 */
export const MIN_PREFIX_LENGTH = 4;

/**
 * No ending is cut if fewer letters would remain, or no vowel: "uses" → "use", "days" → "day",
 * but "being" and "bring" stay whole.
 */
export const MIN_STEM_LENGTH = 3;

/**
 * A final y (and the ies of its plural) is cut only when this many letters remain: "delivery"
 * and "deliveries" → "deliver", but "party" would become "part", "ready" "read".
 */
const MIN_Y_STEM_LENGTH = 5;

/** One word of a search as every backend matches it. */
export interface SearchTerm {
  /** The word's folded tokens (searchTokens), the last cut to its stem when `prefix`. */
  tokens: string[];
  /** The last token matches every indexed token that starts with it (FTS5 `"…"*`, `:*`). */
  prefix: boolean;
}

/**
 * The words of a search, as FTS5 will see them: split on whitespace, at most MAX_SEARCH_TERMS.
 * FTS5 reads its query as a C string: a NUL would end it inside a quoted word, so it separates.
 */
export function searchWords(input: string): string[] {
  return input
    .replaceAll("\u0000", " ")
    .split(/\s+/u)
    .filter((term) => term.length > 0)
    .slice(0, MAX_SEARCH_TERMS);
}

/**
 * The words without repeats (ASCII case folded, as FTS5 folds it): a word twice asks nothing
 * more of a match, but FTS5 would read its list once for each.
 */
export function distinctWords(words: readonly string[]): string[] {
  const seen = new Set<string>();
  return words.filter((word) => {
    const key = /^\p{ASCII}*$/u.test(word) ? word.toLowerCase() : word;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

const VOWEL = /[aeiouy]/;
const isStem = (stem: string): boolean => stem.length >= MIN_STEM_LENGTH && VOWEL.test(stem);

/**
 * A doubled final b, d, g, m, n, p, r or t before ed or ing is one letter of the word
 * ("shipping" → "ship"); a doubled l only when five letters remain ("cancelled" → "cancel", but
 * "called" stays "call", not "cal"); ss and zz stay ("missed").
 */
function undoubled(stem: string): string {
  const last = stem.at(-1)!;
  if (stem.at(-2) !== last || !"bdglmnprt".includes(last)) return stem;
  const shorter = stem.slice(0, -1);
  if (last === "l" && shorter.length < 5) return stem;
  return isStem(shorter) ? shorter : stem;
}

/**
 * A lower-case ASCII word without its plural or inflection ending: "refunds", "refunded",
 * "refunding" → "refund"; "boxes" → "box"; "deliveries", "delivery" → "deliver". The stem is
 * always a prefix of the word, so that, matched as a prefix, it still finds the word itself
 * ("priced" → "pric", which "price" and "pricing" start with too). Any other token is returned
 * as it is.
 */
export function stemOf(token: string): string {
  if (!/^[a-z]+$/.test(token)) return token;
  const cut = (n: number) => token.slice(0, -n);
  if (token.endsWith("ies") && cut(3).length >= MIN_Y_STEM_LENGTH) return cut(3);
  // After s, x, z, ch and sh a plural adds es ("classes", "taxes", "matches"), after one s
  // mostly just s ("cases", "purchases").
  if (/(?:ss|x|z|ch|sh)es$/.test(token) && isStem(cut(2))) return cut(2);
  if (token.endsWith("ing") && isStem(cut(3))) return undoubled(cut(3));
  if (token.endsWith("eed")) return isStem(cut(1)) ? cut(1) : token;
  if (token.endsWith("ed") && isStem(cut(2))) return undoubled(cut(2));
  if (/[^aeiou]y$/.test(token) && cut(1).length >= MIN_Y_STEM_LENGTH) return cut(1);
  // Not "ss", "us", "is": "address", "status", "this".
  if (/[^sui]s$/.test(token) && isStem(cut(1))) return cut(1);
  return token;
}

/**
 * How every backend searches `word`: its tokens in a row, the last one cut to its stem and
 * matched as a prefix when it has at least MIN_PREFIX_LENGTH characters and no digit (numbers
 * are order, phone and card numbers, whose prefixes are other numbers).
 */
export function searchTerm(word: string): SearchTerm {
  const tokens = searchTokens(word);
  const last = tokens.at(-1);
  if (last === undefined || [...last].length < MIN_PREFIX_LENGTH || /\p{N}/u.test(last)) {
    return { tokens, prefix: false };
  }
  return { tokens: [...tokens.slice(0, -1), stemOf(last)], prefix: true };
}

/** A term's identity: its tokens and whether the last is a prefix. */
export const termKey = (term: SearchTerm): string =>
  `${term.tokens.join(" ")}${term.prefix ? "*" : ""}`;

/** The terms without repeats, in the order of their first word. */
export function distinctTerms(terms: readonly SearchTerm[]): SearchTerm[] {
  const byKey = new Map<string, SearchTerm>();
  for (const term of terms) if (!byKey.has(termKey(term))) byKey.set(termKey(term), term);
  return [...byKey.values()];
}

/** Text as an FTS5 string literal (inner quotes doubled): searched as text, never syntax. */
const quoted = (text: string): string => `"${text.replaceAll('"', '""')}"`;

/**
 * A term as an FTS5 phrase, from its folded tokens: for counting and ranking, where the term is
 * what is asked.
 */
export const toFtsTermPhrase = (term: SearchTerm): string =>
  `${quoted(term.tokens.join(" "))}${term.prefix ? "*" : ""}`;

/**
 * One word as an FTS5 phrase: a string literal of the word as typed, so that FTS5 cuts it into
 * the tokens it indexed, with its last token cut to the stem and then `*` when searchTerm()
 * makes it a prefix. The `*` follows the closing quote, the only place FTS5 reads it as an
 * operator; every character of the word stays inside the literal.
 */
export function toFtsPhrase(word: string): string {
  const term = searchTerm(word);
  if (!term.prefix) return quoted(word);
  const last = tokensWithOffsets(word).at(-1)!;
  const stem = term.tokens.at(-1)!;
  // FTS5 folds ASCII case itself, so "Refunds" and "refunds" are one phrase, asked once.
  const typed = /^\p{ASCII}*$/u.test(word) ? word.toLowerCase() : word;
  const text = stem === last.text ? typed : `${typed.slice(0, last.start)}${stem}`;
  return `${quoted(text)}*`;
}

/**
 * An FTS5 MATCH expression for the words (each toFtsPhrase()), ANDed, each asked once. Null when
 * no word is left.
 */
export function toFtsMatch(words: readonly string[]): string | null {
  const phrases = [...new Set(distinctWords(words).map(toFtsPhrase))];
  return phrases.length === 0 ? null : phrases.join(" ");
}

/**
 * A prefix is searched as an OR of the indexed words it starts (toFtsQuery) when there are at
 * most this many of them; a prefix that starts more stays FTS5's prefix query `"…"*`.
 *
 * Why an OR: FTS5 reads an OR of whole words lazily, newest row first, and stops at the page,
 * but a prefix query gathers every match of every word it starts before its first row
 * (transcripts_fts has no prefix index): at 1,000,000 transcripts `"order"*` cost 50 ms however
 * few rows were asked for, `("order" OR "orders" OR …)` a fraction of a millisecond. Why a cap:
 * each word of the OR costs a seek of its own before the first row (about 40 µs at 1,000,000
 * transcripts, measured: 64 rare words 2–3 ms, 256 words 10 ms, 1,111 words 40–50 ms); a stem
 * that starts more than 64 indexed words is mostly a word cut short ("comp"), not a word with
 * its plural and inflections, and its prefix query costs what it costs.
 */
export const MAX_PREFIX_TERMS = 64;

/**
 * Text FTS5's tokenizer (unicode61, remove_diacritics 2) and searchTokens() cut and fold alike:
 * printable ASCII, and the letters of Latin-1 and Latin Extended-A (À to ž;
 * search-terms-index.test.ts checks every one against FTS5). Elsewhere they may differ (Greek and Cyrillic accents, kana
 * voicing marks, Hangul syllables, some combining marks), so only FTS5 can say which tokens a
 * word with such a character starts.
 */
const FOLDS_ALIKE = /^[\x20-\x7e\u00c0-\u017e]*$/u;

/** Whether FTS5 cuts `word` into exactly the tokens searchTokens() does (see FOLDS_ALIKE). */
export const foldsAlike = (word: string): boolean => FOLDS_ALIKE.test(word);

/**
 * The indexed tokens (search_terms, migration 0008) that start with `stem`, in order, at most
 * `limit` of them.
 */
export type IndexedTermsStartingWith = (stem: string, limit: number) => readonly string[];

/** What FTS5 is asked for a search (toFtsQuery). */
export interface FtsQuery {
  /** The MATCH expression of every word, ANDed. */
  match: string;
  /**
   * By termKey(), a MATCH expression for each term with tokens alone: for counting the rows
   * that hold it. The rows it matches are those `match` asks the term's words for.
   */
  termMatches: Map<string, string>;
}

/** An FTS5 phrase of the tokens, the last replaced by `last`. */
const phraseEndingWith = (tokens: readonly string[], last: string): string =>
  quoted([...tokens.slice(0, -1), last].join(" "));

/**
 * The FTS5 expressions for a search's words: toFtsMatch()'s, but a prefix word is an OR of the
 * indexed words its stem starts, `("refund" OR "refunded" OR "refunds")`, looked up with
 * `startingWith`: the same rows, read lazily (see MAX_PREFIX_TERMS). A prefix word stays FTS5's
 * `"refund"*` when its stem starts more than MAX_PREFIX_TERMS indexed words, or when FTS5 could
 * fold the word otherwise than searchTokens() (foldsAlike()): only FTS5 knows which tokens such
 * a word starts. Every word and token stays a quoted FTS5 string; the words are ANDed, each term
 * asked once. A word with no token in it is left out, as FTS5 leaves it out of a query.
 *
 * Null when no row can match: a word's stem starts no indexed word, or no word has a token.
 */
export function toFtsQuery(
  words: readonly string[],
  startingWith: IndexedTermsStartingWith,
): FtsQuery | null {
  const wordsOf = new Map<string, { term: SearchTerm; words: string[] }>();
  for (const word of distinctWords(words)) {
    const term = searchTerm(word);
    if (term.tokens.length === 0) continue;
    const key = termKey(term);
    const entry = wordsOf.get(key);
    if (entry) entry.words.push(word);
    else wordsOf.set(key, { term, words: [word] });
  }
  const phrases = new Set<string>();
  const groups = new Set<string>();
  const termMatches = new Map<string, string>();
  for (const [key, { term, words: termWords }] of wordsOf) {
    if (term.prefix && termWords.every(foldsAlike)) {
      const found = startingWith(term.tokens.at(-1)!, MAX_PREFIX_TERMS + 1);
      if (found.length === 0) return null;
      if (found.length <= MAX_PREFIX_TERMS) {
        const each = found.map((token) => phraseEndingWith(term.tokens, token));
        const group = each.length === 1 ? each[0]! : `(${each.join(" OR ")})`;
        (each.length === 1 ? phrases : groups).add(group);
        termMatches.set(key, group);
        continue;
      }
    }
    for (const word of termWords) phrases.add(toFtsPhrase(word));
    termMatches.set(key, toFtsTermPhrase(term));
  }
  // FTS5 reads a sequence of phrases as AND (as toFtsMatch() asks), but a group only with an
  // explicit AND.
  const match = [[...phrases].join(" "), ...groups].filter((part) => part !== "").join(" AND ");
  return match === "" ? null : { match, termMatches };
}

/**
 * The upper bound of the tokens that start with `stem`, in SQLite's order of text (its bytes,
 * UTF-8, which is code point order): `stem` and U+10FFFF, a noncharacter no token holds, so
 * every token that starts with `stem` sorts between `stem` and it, and no other does.
 */
export const pastTermsStartingWith = (stem: string): string => `${stem}\u{10FFFF}`;

/**
 * Builds an FTS5 MATCH expression from any user text: every whitespace-separated word becomes
 * toFtsPhrase() (a string literal, inner quotes doubled, and `*` after it for a prefix), so
 * operators, column filters, prefixes and parentheses in the input are searched as text and
 * never parsed as syntax. The words are ANDed, a repeated word repeated (FTS5's bm25() weighs it
 * twice, as the search does). Returns null when no word is left.
 */
export function toFtsMatchExpression(input: string): string | null {
  const terms = searchWords(input).map(toFtsPhrase);
  return terms.length === 0 ? null : terms.join(" ");
}
