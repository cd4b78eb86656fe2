import type Database from "better-sqlite3";
import type {
  TranscriptHit,
  TranscriptSearchPosition,
  TranscriptSearchQuery,
} from "../../application/ports/index.ts";
import { invalidArgument } from "../../domain/errors.ts";
import type { Speaker } from "../../domain/transcript.ts";
import { snippetOf } from "../postgres/search-snippet.ts";
import { bm25Score, inverseDocumentFrequency, measureRow, type RowMeasure } from "./bm25.ts";
import {
  distinctTerms,
  type FtsQuery,
  pastTermsStartingWith,
  type SearchTerm,
  searchTerm,
  searchWords,
  termKey,
  toFtsQuery,
} from "./fts-query.ts";

/**
 * How many matches a relevance search ranks at most: the newest ones. Ranking costs a few µs a
 * candidate (reading its text, counting its words); BENCHMARKS.md has what this costs at
 * 1,000,000 transcripts.
 */
export const SEARCH_CANDIDATES = 2_000;

/**
 * Index entries' worth of work a relevance search may spend finding its candidates (about 10 ms
 * at 0.05 µs an entry). A word in most transcripts fills the candidates long before this; several
 * such words that seldom meet would otherwise have FTS5 intersect their whole lists to find a
 * few thousand rows.
 */
const CANDIDATE_READ_BUDGET = 200_000;

/** Index entries read to count how many transcripts hold the query's words, shared among them. */
export const COUNT_READ_BUDGET = 40_000;
export const MIN_COUNT_PER_PHRASE = 500;
/**
 * Distinct words counted at most; each count costs a fraction of a millisecond before it reads
 * anything. A word past these is weighed like the most common of them.
 */
export const MAX_COUNTED_PHRASES = 16;

/**
 * When one word is rare, FTS5 intersects by seeking in the other words' lists from one of its
 * rows to the next instead of reading them: about this many entries' worth of work per row of
 * the rarest word and per word (measured: `order w1234` at 1,000,000 transcripts).
 */
const SEEK_COST = 32;

/** Reading a match's transcript row to check its speaker, in index entries' worth of work. */
const SPEAKER_CHECK_COST = 10;

export interface TranscriptSearchOptions {
  /** Matches ranked per relevance search at most; default SEARCH_CANDIDATES. */
  candidates?: number;
}

/** Above every seq: "no upper bound" in statements that always take one. */
const NO_BOUND = Number.MAX_SAFE_INTEGER;

// The rowid of transcripts_fts is transcripts.seq, which only grows: walking it downwards from
// a bound is "newest first, older than this", and FTS5 stops at LIMIT instead of reading every
// match (a prefix word too, asked as an OR of the words it starts: see MAX_PREFIX_TERMS).
// The speaker is read from the transcript row, so a speaker filter reads on until enough rows
// pass it. Bounds are CASTs because better-sqlite3 binds every number as a REAL, and FTS5
// ignores a rowid bound that is not an INTEGER (it then reads every match above it).
const NEWEST_SQL = `
  SELECT t.seq AS seq, t.id AS transcriptId, t.call_id AS callId, t.speaker AS speaker,
         t.offset_ms AS offsetMs, c.started_at AS startedAtMs,
         coalesce(t.heard_text, t.text) AS text
  FROM transcripts_fts
  JOIN transcripts t ON t.seq = transcripts_fts.rowid
  JOIN calls c ON c.id = t.call_id
  WHERE transcripts_fts MATCH @match AND transcripts_fts.rowid < CAST(@before AS INTEGER)
    AND (@speaker IS NULL OR t.speaker = @speaker)
  ORDER BY transcripts_fts.rowid DESC
  LIMIT @limit OFFSET @offset`;

const CANDIDATES_SQL = `
  SELECT transcripts_fts.rowid AS seq, coalesce(t.heard_text, t.text) AS text
  FROM transcripts_fts JOIN transcripts t ON t.seq = transcripts_fts.rowid
  WHERE transcripts_fts MATCH @match
    AND transcripts_fts.rowid < CAST(@before AS INTEGER)
    AND transcripts_fts.rowid >= CAST(@from AS INTEGER)
    AND (@speaker IS NULL OR t.speaker = @speaker)
  ORDER BY transcripts_fts.rowid DESC
  LIMIT @limit`;

// How many rows hold one phrase, counting no further than @limit of the newest: the lowest seq
// reached tells how densely the phrase occurs when it is more common than that.
const PHRASE_ROWS_SQL = `
  SELECT count(*) AS rows, min(seq) AS lowest FROM (
    SELECT rowid AS seq FROM transcripts_fts
    WHERE transcripts_fts MATCH @phrase AND rowid < CAST(@before AS INTEGER)
    ORDER BY rowid DESC LIMIT @limit)`;

// Every transcript up to this seq is in the index (DeferredFtsIndex moves it in the same
// transaction that indexes them), so a ranking anchored above it never gains a row later.
const INDEXED_THROUGH_SQL = "SELECT indexed_through FROM transcripts_fts_progress";

// FTS5's averages record (rowid 1 of its data table): the indexed rows, then the tokens they
// hold, as SQLite varints. bm25() reads the same two figures.
const TOTALS_SQL = "SELECT block FROM transcripts_fts_data WHERE id = 1";

// The indexed words a prefix starts (migration 0008), for toFtsQuery(): a range of the table's
// primary key. @past is pastTermsStartingWith(@stem).
const TERMS_STARTING_WITH_SQL = `
  SELECT term FROM search_terms WHERE term >= @stem AND term < @past ORDER BY term LIMIT @limit`;

// The joins for the page only, in the order given. Its rows matched already (the same read
// transaction found them); their snippets are cut in code (search-snippet.ts).
const PAGE_SQL = `
  WITH page(seq, position) AS (SELECT value, key FROM json_each(@seqs))
  SELECT t.seq AS seq, t.id AS transcriptId, t.call_id AS callId, t.speaker AS speaker,
         t.offset_ms AS offsetMs, c.started_at AS startedAtMs,
         coalesce(t.heard_text, t.text) AS text
  FROM page
  JOIN transcripts t ON t.seq = page.seq
  JOIN calls c ON c.id = t.call_id
  ORDER BY page.position`;

interface PageRow {
  seq: number;
  transcriptId: string;
  callId: string;
  speaker: Speaker;
  offsetMs: number | null;
  startedAtMs: number;
  /** The text the row is indexed by, for its snippet. */
  text: string;
}

interface Totals {
  rows: number;
  averageRowLength: number;
}

interface Statements {
  newest: Database.Statement;
  candidates: Database.Statement;
  phraseRows: Database.Statement;
  indexedThrough: Database.Statement;
  totals: Database.Statement;
  page: Database.Statement;
  termsStartingWith: Database.Statement;
}

/** What counting a phrase's newest rows told. */
export interface PhraseRows {
  /** Rows before the anchor that hold the phrase: counted, or extrapolated when too many. */
  rows: number;
  /** Of the seqs below the anchor, the share that hold the phrase (near the anchor). */
  density: number;
}

/**
 * Full-text search over transcripts on one connection, at a bounded cost whatever the words:
 *
 * - `recent` walks the matches newest first from the cursor's position and stops at the page:
 *   O(page) for any word. (A speaker filter reads on until it has a page of that speaker's
 *   matches, and words that are each common but seldom together are read until they meet.) A
 *   prefix word (fts-query.ts) is an OR of the indexed words it starts, read as lazily; only one
 *   that starts more than MAX_PREFIX_TERMS words, or that only FTS5 can fold, stays FTS5's prefix
 *   query, which gathers its every match before the first row.
 * - `relevance` ranks by BM25, exactly as FTS5's bm25() would, the newest `candidates` matches
 *   stored before the first page was asked for (so pages hold still while transcripts arrive).
 *   A query with fewer matches is ranked over all of them, unless finding them would mean
 *   reading more than CANDIDATE_READ_BUDGET index entries: words that are each in a large share
 *   of transcripts but seldom together then rank the matches among the newest transcripts that
 *   budget covers. BM25 weighs each word by how many transcripts hold it: counted exactly up to
 *   a few thousand, and beyond that extrapolated from how densely its newest rows lie. A prefix
 *   word weighs as the one phrase `"refund"*` does in FTS5's bm25(), however it is asked: every
 *   token it starts counts, and its rows are those of any of them (not one phrase per word of
 *   its OR, as bm25() would weigh `("refund" OR "refunds")`).
 */
export class TranscriptSearch {
  private readonly candidates: number;
  private statements: Statements | undefined;

  constructor(
    private readonly sqlite: Database.Database,
    options: TranscriptSearchOptions = {},
  ) {
    this.candidates = Math.max(1, Math.floor(options.candidates ?? SEARCH_CANDIDATES));
  }

  search(query: TranscriptSearchQuery): TranscriptHit[] {
    const words = searchWords(query.q);
    if (words.length === 0 || query.limit <= 0) return [];
    const sort = query.sort ?? "relevance";
    const after = query.after;
    if (after !== undefined && after.sort !== sort) {
      throw invalidArgument(`cursor: was issued for sort=${after.sort}, not sort=${sort}`);
    }
    // FTS5 drops a word with no token in it ("!!!") from the query, so it weighs nothing here.
    const terms = words.map(searchTerm).filter((term) => term.tokens.length > 0);
    const snippetTerms = distinctTerms(terms);
    const speaker = query.speaker ?? null;
    const skip = after === undefined ? Math.max(0, Math.floor(query.offset ?? 0)) : 0;
    // One read transaction: every statement below, the prefixes' words included, sees the same
    // snapshot of the database.
    return this.sqlite.transaction(() => {
      const fts = toFtsQuery(words, (stem, limit) => this.termsStartingWith(stem, limit));
      if (fts === null) return [];
      return sort === "recent"
        ? this.newest(
            fts.match,
            snippetTerms,
            speaker,
            query.limit,
            after?.sort === "recent" ? after : undefined,
            skip,
          )
        : this.mostRelevant(
            terms,
            fts,
            speaker,
            query.limit,
            after?.sort === "relevance" ? after : undefined,
            skip,
          );
    })();
  }

  private termsStartingWith(stem: string, limit: number): string[] {
    return this.prepared().termsStartingWith.all({
      stem,
      past: pastTermsStartingWith(stem),
      limit,
    }) as string[];
  }

  private newest(
    match: string,
    snippetTerms: SearchTerm[],
    speaker: Speaker | null,
    limit: number,
    after: { before: number } | undefined,
    offset: number,
  ): TranscriptHit[] {
    const before = after?.before ?? NO_BOUND;
    const rows = this.prepared().newest.all({ match, speaker, before, limit, offset }) as PageRow[];
    return rows.map((row) => toHit(row, snippetTerms, { sort: "recent", before: row.seq }));
  }

  private mostRelevant(
    terms: SearchTerm[],
    { match, termMatches }: FtsQuery,
    speaker: Speaker | null,
    limit: number,
    after: { anchor: number; offset: number } | undefined,
    skip: number,
  ): TranscriptHit[] {
    const statements = this.prepared();
    const anchor = after?.anchor ?? this.indexedThrough() + 1;
    const offset = after?.offset ?? skip;
    // A word given twice weighs twice in BM25, as in FTS5, but is read and counted once.
    const distinct = distinctTerms(terms);
    const keys = distinct.map(termKey);
    const keyOf = terms.map((term) => keys.indexOf(termKey(term)));
    const countLimit = Math.min(
      this.candidates,
      Math.max(MIN_COUNT_PER_PHRASE, Math.floor(COUNT_READ_BUDGET / Math.max(1, keys.length))),
    );
    const readCandidates = (from: number) =>
      statements.candidates.all({
        match,
        speaker,
        before: anchor,
        from,
        limit: this.candidates,
      }) as Array<[seq: number, text: string]>;
    // One word and no speaker: its newest `candidates` matches are read however common it is
    // (the budget below never cuts a single list short of them), and counting the word is
    // reading the first of those, so one statement does for both. That halves the cost of a
    // word FTS5 must gather whole before its first row (a prefix query, MAX_PREFIX_TERMS).
    const oneStatement = distinct.length === 1 && speaker === null;
    let candidates = oneStatement ? readCandidates(0) : [];
    const counted = oneStatement
      ? [
          extrapolated(
            Math.min(countLimit, candidates.length),
            candidates[Math.min(countLimit, candidates.length) - 1]?.[0] ?? null,
            anchor,
            countLimit,
          ),
        ]
      : distinct
          .slice(0, MAX_COUNTED_PHRASES)
          .map((term) => this.termRows(termMatches.get(termKey(term))!, anchor, countLimit));
    const mostCommon = counted.reduce<PhraseRows>(
      (most, rows) => (rows.density > most.density ? rows : most),
      { rows: 0, density: 0 },
    );
    const rowsOf = keys.map((_, k) => counted[k] ?? mostCommon);
    const from = oldestWithinBudget(
      rowsOf.map((rows) => rows.density),
      speaker !== null,
      anchor,
    );
    candidates = oneStatement ? candidates.filter(([seq]) => seq >= from) : readCandidates(from);
    if (offset >= candidates.length) return [];

    const measured = candidates.map(([, text]) =>
      measureRow(
        text,
        distinct.map((term) => term.tokens),
        distinct.map((term) => term.prefix),
      ),
    );
    const totals = this.totals(anchor, measured);
    const idf = keyOf.map((k) =>
      inverseDocumentFrequency(totals.rows, Math.min(rowsOf[k]!.rows, totals.rows)),
    );
    const scored = candidates.map(([seq], i) => {
      const row = measured[i]!;
      const frequencies = keyOf.map((k) => row.frequencies[k]!);
      return { seq, score: bm25Score(frequencies, idf, row.length, totals.averageRowLength) };
    });
    // Equal scores: the newer first.
    scored.sort((a, b) => b.score - a.score || b.seq - a.seq);
    const seqs = scored.slice(offset, offset + limit).map((hit) => hit.seq);
    return this.page(seqs, distinct, (i) => ({
      sort: "relevance",
      anchor,
      offset: offset + i + 1,
    }));
  }

  private indexedThrough(): number {
    const through = this.prepared().indexedThrough.get();
    return typeof through === "number" ? through : NO_BOUND - 1;
  }

  /**
   * Rows before `anchor` that FTS5's `phrase` matches (a term's, FtsQuery.termMatches), reading
   * at most `limit` of its newest: counted exactly below that, extrapolated from the seq range
   * those rows span above it.
   */
  private termRows(phrase: string, anchor: number, limit: number): PhraseRows {
    const { rows, lowest } = this.prepared().phraseRows.get({
      phrase,
      before: anchor,
      limit,
    }) as { rows: number; lowest: number | null };
    return extrapolated(rows, lowest, anchor, limit);
  }

  /**
   * The indexed rows and their average length in tokens, from FTS5's own record; should that
   * record be missing or unreadable, from the seq range and the candidates themselves.
   */
  private totals(anchor: number, measured: RowMeasure[]): Totals {
    const row = this.prepared().totals.get() as { block: unknown } | undefined;
    const block = row?.block instanceof Uint8Array ? row.block : undefined;
    const rows = block ? readVarint(block, 0) : null;
    const tokens = block && rows ? readVarint(block, rows.next) : null;
    if (rows && tokens && rows.value > 0 && tokens.value > 0) {
      return { rows: rows.value, averageRowLength: tokens.value / rows.value };
    }
    const candidateTokens = measured.reduce((sum, row) => sum + row.length, 0);
    return {
      rows: Math.max(anchor - 1, measured.length),
      averageRowLength: Math.max(1, candidateTokens / Math.max(1, measured.length)),
    };
  }

  /** The hits of `seqs`, in that order; `next(i)` is where a page ending with the i-th goes on. */
  private page(
    seqs: number[],
    snippetTerms: SearchTerm[],
    next: (index: number) => TranscriptSearchPosition,
  ): TranscriptHit[] {
    if (seqs.length === 0) return [];
    const rows = this.prepared().page.all({ seqs: JSON.stringify(seqs) }) as PageRow[];
    const indexOf = new Map(seqs.map((seq, i) => [seq, i]));
    return rows.map((row) => toHit(row, snippetTerms, next(indexOf.get(row.seq) ?? 0)));
  }

  // Prepared on first use: the search may be built before the database is migrated.
  private prepared(): Statements {
    this.statements ??= {
      newest: this.sqlite.prepare(NEWEST_SQL),
      candidates: this.sqlite.prepare(CANDIDATES_SQL).raw(),
      phraseRows: this.sqlite.prepare(PHRASE_ROWS_SQL),
      indexedThrough: this.sqlite.prepare(INDEXED_THROUGH_SQL).pluck(),
      totals: this.sqlite.prepare(TOTALS_SQL),
      page: this.sqlite.prepare(PAGE_SQL),
      termsStartingWith: this.sqlite.prepare(TERMS_STARTING_WITH_SQL).pluck(),
    };
    return this.statements;
  }
}

const toHit = (
  row: PageRow,
  snippetTerms: SearchTerm[],
  next: TranscriptSearchPosition,
): TranscriptHit => ({
  callId: row.callId,
  transcriptId: row.transcriptId,
  speaker: row.speaker,
  snippet: snippetOf(
    row.text,
    snippetTerms.map((term) => term.tokens),
    12,
    snippetTerms.map((term) => term.prefix),
  ),
  offsetMs: row.offsetMs,
  startedAt: new Date(row.startedAtMs),
  next,
});

/** What `rows` newest rows of a phrase, the oldest at `lowest`, tell of all its rows. */
export function extrapolated(
  rows: number,
  lowest: number | null,
  anchor: number,
  limit: number,
): PhraseRows {
  if (rows < limit || lowest === null) {
    return { rows, density: rows / Math.max(1, anchor - 1) };
  }
  const density = rows / Math.max(rows, anchor - lowest);
  return { rows: Math.max(rows, Math.round(density * (anchor - 1))), density };
}

/**
 * The lowest seq worth reading for candidates: finding the matches from `anchor` down to it
 * costs about CANDIDATE_READ_BUDGET index entries' worth of work. FTS5 reads every phrase's
 * entries in the range, or, when one phrase is rare, seeks in the others once per row of the
 * rare one; a speaker filter reads the row of every match (at most as many as the rarest's).
 */
export function oldestWithinBudget(
  densities: number[],
  bySpeaker: boolean,
  anchor: number,
): number {
  if (densities.length === 0) return 0;
  const rarest = Math.min(...densities);
  const read = densities.reduce((sum, d) => sum + d, 0);
  const seek = SEEK_COST * densities.length * rarest;
  const perSeq = Math.min(read, seek) + (bySpeaker ? SPEAKER_CHECK_COST * rarest : 0);
  if (perSeq <= 0) return 0;
  return Math.max(0, Math.floor(anchor - CANDIDATE_READ_BUDGET / perSeq));
}

/** An SQLite varint (big-endian, 7 bits a byte, the ninth byte whole) at `start`. */
function readVarint(bytes: Uint8Array, start: number): { value: number; next: number } | null {
  let value = 0;
  for (let i = 0; i < 9; i++) {
    const byte = bytes[start + i];
    if (byte === undefined) return null;
    if (i === 8) return { value: value * 256 + byte, next: start + 9 };
    value = value * 128 + (byte & 0x7f);
    if (byte < 0x80) return { value, next: start + i + 1 };
  }
  return null;
}
