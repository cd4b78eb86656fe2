import { type TokenSpan, tokensWithOffsets } from "../sqlite/bm25.ts";

export { tokensWithOffsets };

/**
 * SQLite FTS5's `snippet(transcripts_fts, 0, '[', ']', '…', 12)` (fts5_aux.c), computed here for
 * both backends: the window of a dozen tokens holding the most distinct query phrases (or the
 * sentence a match starts, when the row is longer than the window), each match in brackets,
 * overlapping matches merged, an ellipsis where the text goes on. ts_headline() cuts and marks by
 * its own rules (fragments, its own parser's tokens), so its output could not match SQLite's; and
 * SQLite's own snippet() would run the query's MATCH again for every row of a page, which for a
 * prefix word means FTS5 gathering that prefix's whole match list once per row.
 */

/** One match of one query phrase: tokens [pos, pos + size). */
interface Instance {
  phrase: number;
  pos: number;
  size: number;
}

/**
 * The snippet of `text` for a query whose FTS5 phrases are `phrases` (one per distinct word of
 * the query, in its order, as the folded tokens of that word; a word without tokens is an empty
 * phrase that matches nothing). `prefix[i]` makes the last token of phrase i match any token
 * that starts with it, as FTS5's `"…"*` does; the whole token is marked.
 */
export function snippetOf(
  text: string,
  phrases: readonly (readonly string[])[],
  nToken = 12,
  prefix: readonly boolean[] = [],
): string {
  const tokens = tokensWithOffsets(text);
  const instances: Instance[] = [];
  phrases.forEach((phrase, index) => {
    const n = phrase.length;
    if (n === 0) return;
    const last = phrase[n - 1]!;
    for (let pos = 0; pos + n <= tokens.length; pos++) {
      const lastToken = tokens[pos + n - 1]!.text;
      if (
        (prefix[index] ? lastToken.startsWith(last) : lastToken === last) &&
        phrase.every((token, j) => j === n - 1 || tokens[pos + j]!.text === token)
      ) {
        instances.push({ phrase: index, pos, size: n });
      }
    }
  });
  // FTS5 lists a row's instances by position, the lower phrase first at the same position.
  instances.sort((a, b) => a.pos - b.pos || a.phrase - b.phrase);
  const nDoc = tokens.length;

  // fts5SnippetScore(): 1000 for each phrase first seen in the window, 1 for each repeat.
  const windowScore = (from: number) => {
    const seen = new Set<number>();
    let score = 0;
    let first = -1;
    let last = 0;
    for (const instance of instances) {
      if (instance.pos < from || instance.pos >= from + nToken) continue;
      score += seen.has(instance.phrase) ? 1 : 1000;
      seen.add(instance.phrase);
      if (first < 0) first = instance.pos;
      last = instance.pos + instance.size;
    }
    let adjusted = first - Math.trunc((nToken - (last - first)) / 2);
    if (adjusted + nToken > nDoc) adjusted = nDoc - nToken;
    return { score, adjusted: Math.max(0, adjusted) };
  };
  const sentenceStarts = sentenceStartTokens(text, tokens);
  let bestScore = 0;
  let bestStart = 0;
  for (const instance of instances) {
    const { score, adjusted } = windowScore(instance.pos);
    if (score > bestScore) {
      bestScore = score;
      bestStart = adjusted;
    }
    if (sentenceStarts.length > 0 && nDoc > nToken) {
      let jj = 0;
      while (jj < sentenceStarts.length - 1 && sentenceStarts[jj + 1]! <= instance.pos) jj++;
      const start = sentenceStarts[jj]!;
      if (start < instance.pos) {
        const sentenceScore = windowScore(start).score + (start === 0 ? 120 : 100);
        if (sentenceScore > bestScore) {
          bestScore = sentenceScore;
          bestStart = start;
        }
      }
    }
  }

  const rangeEnd = bestStart + nToken - 1;
  let out = bestStart > 0 ? "…" : "";
  let offset = bestStart > 0 ? (tokens[bestStart]?.start ?? 0) : 0;
  for (const [from, to] of mergedInstances(instances)) {
    if (from < bestStart || from > rangeEnd) continue;
    const last = Math.min(to, rangeEnd, nDoc - 1);
    out += `${text.slice(offset, tokens[from]!.start)}[${text.slice(tokens[from]!.start, tokens[last]!.end)}]`;
    offset = tokens[last]!.end;
  }
  if (rangeEnd >= nDoc - 1) return out + text.slice(offset);
  return `${out}${text.slice(offset, tokens[rangeEnd]!.end)}…`;
}

/** fts5CInstIterNext(): instances that overlap are one highlight (adjacent ones are not). */
function mergedInstances(instances: readonly Instance[]): Array<[number, number]> {
  const merged: Array<[number, number]> = [];
  for (const { pos, size } of instances) {
    const end = pos + size - 1;
    const last = merged.at(-1);
    if (last && pos <= last[1]) last[1] = Math.max(last[1], end);
    else merged.push([pos, end]);
  }
  return merged;
}

/**
 * fts5SentenceFinderCb(): the first token, and every token after whitespace that follows a
 * `.` or `:`.
 */
function sentenceStartTokens(text: string, tokens: readonly TokenSpan[]): number[] {
  const starts: number[] = [];
  tokens.forEach((token, pos) => {
    if (pos === 0) {
      starts.push(0);
      return;
    }
    let i = token.start - 1;
    while (i >= 0 && " \t\n\r".includes(text[i]!)) i--;
    if (i !== token.start - 1 && i >= 0 && (text[i] === "." || text[i] === ":")) starts.push(pos);
  });
  return starts;
}
