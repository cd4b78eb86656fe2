import {
  bm25Score,
  inverseDocumentFrequency,
  phraseFrequency,
  searchTokens,
} from "../../src/adapters/sqlite/bm25.ts";

/**
 * What InMemoryCallRepository needs of SQLite FTS5 to answer searchTranscripts as the adapter
 * does: BM25 ranking (with the adapter's own arithmetic from bm25.ts) and FTS5's snippet().
 */

/** One token of a text and where it lies in the original (not the folded) text. */
interface Token {
  text: string;
  start: number;
  end: number;
}

const TOKEN_CHARS = /^[\p{L}\p{N}\p{Co}]+$/u;
const MARKS = /\p{M}/gu;

/**
 * searchTokens() with the position of each token in the original text, which highlighting
 * needs and searchTokens() loses by folding the text first. Code point by code point: one whose
 * folding is empty (a combining mark) neither splits nor extends the token it is in.
 */
export function tokensWithOffsets(text: string): Token[] {
  const tokens: Token[] = [];
  let current: Token | null = null;
  let index = 0;
  for (const char of text) {
    const folded = char.normalize("NFD").replace(MARKS, "").toLowerCase();
    const end = index + char.length;
    if (folded === "") {
      if (current) current.end = end;
    } else if (TOKEN_CHARS.test(folded)) {
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

/**
 * The seqs of `candidates`, best first, scored as TranscriptSearch scores them: BM25 with each
 * phrase weighed by the rows before the anchor that hold it, against the totals of every row
 * (FTS5's own record); equal scores put the newer first.
 */
export function bm25Ranking(
  candidates: ReadonlyArray<{ seq: number; text: string }>,
  textsBeforeAnchor: readonly string[],
  allTexts: readonly string[],
  phrases: readonly (readonly string[])[],
): number[] {
  const keys = [...new Set(phrases.map((phrase) => phrase.join(" ")))];
  const keyOf = phrases.map((phrase) => keys.indexOf(phrase.join(" ")));
  const tokenized = textsBeforeAnchor.map(searchTokens);
  const rowsWith = keys.map(
    (key) => tokenized.filter((tokens) => phraseFrequency(tokens, key.split(" ")) > 0).length,
  );
  const rows = allTexts.length;
  const totalTokens = allTexts.reduce((sum, text) => sum + searchTokens(text).length, 0);
  const averageRowLength = totalTokens / Math.max(1, rows);
  const idf = keyOf.map((k) => inverseDocumentFrequency(rows, Math.min(rowsWith[k]!, rows)));
  return candidates
    .map(({ seq, text }) => {
      const tokens = searchTokens(text);
      const frequencies = phrases.map((phrase) => phraseFrequency(tokens, phrase));
      return { seq, score: bm25Score(frequencies, idf, tokens.length, averageRowLength) };
    })
    .sort((a, b) => b.score - a.score || b.seq - a.seq)
    .map((hit) => hit.seq);
}

/** One match of one query phrase: tokens [pos, pos + size). */
interface Instance {
  phrase: number;
  pos: number;
  size: number;
}

/**
 * FTS5's `snippet(transcripts_fts, 0, '[', ']', '…', 12)` (fts5_aux.c): the window of `nToken`
 * tokens that holds the most distinct phrases (or starts the sentence of a match, for rows
 * longer than the window), matches in brackets, overlapping matches merged into one, an
 * ellipsis where the row goes on beyond the window.
 */
export function snippetOf(
  text: string,
  phrases: readonly (readonly string[])[],
  nToken = 12,
): string {
  const tokens = tokensWithOffsets(text);
  const distinct = [...new Map(phrases.map((p) => [p.join(" "), p])).values()];
  const instances: Instance[] = [];
  distinct.forEach((phrase, index) => {
    for (let pos = 0; pos + phrase.length <= tokens.length; pos++) {
      if (phrase.every((token, j) => tokens[pos + j]!.text === token)) {
        instances.push({ phrase: index, pos, size: phrase.length });
      }
    }
  });
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
        const bonus = start === 0 ? 120 : 100;
        const sentenceScore = windowScore(start).score + bonus;
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
function sentenceStartTokens(text: string, tokens: readonly Token[]): number[] {
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
