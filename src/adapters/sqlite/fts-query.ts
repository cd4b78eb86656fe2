/** More terms than this add cost, not precision; the rest of a huge query is ignored. */
export const MAX_SEARCH_TERMS = 64;

/**
 * Builds an FTS5 MATCH expression from any user text: every whitespace-separated word becomes
 * an FTS5 string literal (`"word"`, inner quotes doubled), so operators, column filters,
 * prefixes and parentheses in the input are searched as text and never parsed as syntax.
 * The words are ANDed. Returns null when no word is left.
 */
export function toFtsMatchExpression(input: string): string | null {
  const terms = input
    // FTS5 reads its query as a C string: a NUL would end it inside a quoted word.
    .replaceAll("\u0000", " ")
    .split(/\s+/u)
    .filter((term) => term.length > 0)
    .slice(0, MAX_SEARCH_TERMS)
    .map((term) => `"${term.replaceAll('"', '""')}"`);
  return terms.length === 0 ? null : terms.join(" ");
}
