/** More terms than this add cost, not precision; the rest of a huge query is ignored. */
export const MAX_SEARCH_TERMS = 64;

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

/** One word as an FTS5 string literal (inner quotes doubled): searched as text, never syntax. */
export const toFtsPhrase = (word: string): string => `"${word.replaceAll('"', '""')}"`;

/**
 * Builds an FTS5 MATCH expression from any user text: every whitespace-separated word becomes
 * an FTS5 string literal (`"word"`, inner quotes doubled), so operators, column filters,
 * prefixes and parentheses in the input are searched as text and never parsed as syntax.
 * The words are ANDed. Returns null when no word is left.
 */
export function toFtsMatchExpression(input: string): string | null {
  const terms = searchWords(input).map(toFtsPhrase);
  return terms.length === 0 ? null : terms.join(" ");
}
