import { and, count, desc, eq, gte, inArray, lt, type SQL, sql } from "drizzle-orm";
import { calls, transcripts } from "../../../drizzle/pg-schema.ts";
import type {
  TranscriptHit,
  TranscriptSearchPosition,
  TranscriptSearchQuery,
} from "../../application/ports/index.ts";
import { invalidArgument } from "../../domain/errors.ts";
import type { Speaker } from "../../domain/transcript.ts";
import {
  bm25Score,
  inverseDocumentFrequency,
  measureRow,
  type RowMeasure,
  searchTokens,
} from "../sqlite/bm25.ts";
import {
  distinctTerms,
  distinctWords,
  type SearchTerm,
  searchTerm,
  searchWords,
  termKey,
} from "../sqlite/fts-query.ts";
import {
  COUNT_READ_BUDGET,
  extrapolated,
  MAX_COUNTED_PHRASES,
  MIN_COUNT_PER_PHRASE,
  type PhraseRows,
  SEARCH_CANDIDATES,
} from "../sqlite/transcript-search.ts";
import type { PgDatabase } from "./connection.ts";
import { candidatePlan, type LexemeShares, lexemeShares } from "./search-budget.ts";
import { snippetOf } from "./search-snippet.ts";
import { wordQuery } from "./search-tsquery.ts";

export interface PostgresTranscriptSearchOptions {
  /** Matches ranked per relevance search at most (the newest); default SEARCH_CANDIDATES. */
  candidates?: number;
}

/** Above every seq: "no upper bound" in statements that always take one. */
const NO_BOUND = Number.MAX_SAFE_INTEGER;

/**
 * Up to this many transcripts, BM25's totals (rows, average length) are counted over all of
 * them, as FTS5 keeps them; above, they are estimated (see totals()).
 */
const EXACT_TOTALS_ROWS = 5_000;
/** Transcripts (the newest below the anchor) whose mean length stands for all of them. */
const LENGTH_SAMPLE_ROWS = 1_000;
/**
 * How long an estimate of the totals serves: they move slowly once there are many rows, and
 * sampling costs several ms a search.
 */
const ESTIMATE_TTL_MS = 60_000;

interface Totals {
  rows: number;
  averageRowLength: number;
}

/** What a search asks of every row, prepared once per search. */
interface Prepared {
  /** The row holds every word. */
  match: SQL;
  /** The distinct terms (FTS5's phrases), for the snippets. */
  snippetTerms: SearchTerm[];
  /** Each distinct term (a BM25 key: termKey()) and its tsquery. */
  keyQueries: Map<string, SQL>;
}

type Executor = Pick<PgDatabase, "select">;

/**
 * Full-text search over transcripts on PostgreSQL, with the semantics and ranking of SQLite's
 * TranscriptSearch (src/adapters/sqlite/transcript-search.ts), which the shared contract suite
 * holds both to:
 *
 * - every word must be there; the words are never read as syntax (each becomes a tsquery of
 *   its own lexemes, built here, never parsed from the user's text);
 * - `recent` walks the matches newest first from the cursor (`seq` only grows) and stops at the
 *   page; `relevance` ranks the newest `candidates` matches stored before the first page, and
 *   among those within a read budget (search-budget.ts, PostgreSQL's costs where SQLite has
 *   FTS5's), by BM25 in code (bm25.ts), weighing each word by its rows as SQLite does, and pages
 *   by offset into that ranking;
 * - snippets are FTS5's, computed here (search-snippet.ts).
 *
 * Matching reads transcripts.search_vector (GIN-indexed), which holds the tokens FTS5's
 * unicode61 tokenizer makes (drizzle/pg-schema.ts), so a word finds the same rows on both.
 */
export class PostgresTranscriptSearch {
  private readonly candidates: number;
  private estimate: { totals: Totals; until: number } | undefined;
  private shares: { value: LexemeShares | null; until: number } | undefined;

  constructor(
    private readonly db: PgDatabase,
    options: PostgresTranscriptSearchOptions = {},
  ) {
    this.candidates = Math.max(1, Math.floor(options.candidates ?? SEARCH_CANDIDATES));
  }

  async search(query: TranscriptSearchQuery): Promise<TranscriptHit[]> {
    const words = searchWords(query.q);
    if (words.length === 0 || query.limit <= 0) return [];
    const sort = query.sort ?? "relevance";
    const after = query.after;
    if (after !== undefined && after.sort !== sort) {
      throw invalidArgument(`cursor: was issued for sort=${after.sort}, not sort=${sort}`);
    }
    const prepared = prepare(distinctWords(words));
    if (prepared === null) return [];
    const speaker = query.speaker ?? null;
    const skip = after === undefined ? Math.max(0, Math.floor(query.offset ?? 0)) : 0;
    if (sort === "recent") {
      const before = after?.sort === "recent" ? after.before : NO_BOUND;
      return this.newest(prepared, speaker, query.limit, before, skip);
    }
    // One snapshot for the several statements of a ranking.
    return this.db.transaction(
      (tx) =>
        this.mostRelevant(
          tx,
          words,
          prepared,
          speaker,
          query.limit,
          after?.sort === "relevance" ? after : undefined,
          skip,
        ),
      { isolationLevel: "repeatable read", accessMode: "read only" },
    );
  }

  private async newest(
    prepared: Prepared,
    speaker: Speaker | null,
    limit: number,
    before: number,
    offset: number,
  ): Promise<TranscriptHit[]> {
    // Newest first from the bound: PostgreSQL walks the seq index backwards and stops at the
    // page when matches are common, or reads a rare word's few rows from the GIN index. The
    // calls are joined to the page only.
    const hits = this.db
      .select({ ...HIT_COLUMNS, text: SPOKEN_TEXT })
      .from(transcripts)
      .where(
        and(
          prepared.match,
          lt(transcripts.seq, before),
          speaker === null ? undefined : eq(transcripts.speaker, speaker),
        ),
      )
      .orderBy(desc(transcripts.seq))
      .limit(limit)
      .offset(offset)
      .as("hits");
    const rows = await this.db
      .select({
        seq: hits.seq,
        id: hits.id,
        callId: hits.callId,
        speaker: hits.speaker,
        offsetMs: hits.offsetMs,
        text: hits.text,
        startedAt: calls.startedAt,
      })
      .from(hits)
      .innerJoin(calls, eq(calls.id, hits.callId))
      .orderBy(desc(hits.seq));
    return rows.map((row) =>
      toHit(row, prepared.snippetTerms, { sort: "recent", before: row.seq }),
    );
  }

  private async mostRelevant(
    tx: Executor,
    words: string[],
    prepared: Prepared,
    speaker: Speaker | null,
    limit: number,
    after: { anchor: number; offset: number } | undefined,
    skip: number,
  ): Promise<TranscriptHit[]> {
    const newest = await newestSeq(tx);
    const anchor = after?.anchor ?? newest + 1;
    const offset = after?.offset ?? skip;
    // As SQLite's TranscriptSearch.mostRelevant(), step for step, so that both rank alike.
    const terms = words.map(searchTerm).filter((term) => term.tokens.length > 0);
    const distinct = distinctTerms(terms);
    const keys = distinct.map(termKey);
    const keyOf = terms.map((term) => keys.indexOf(termKey(term)));
    // Above EXACT_TOTALS_ROWS the totals are estimates, so the ranking is close to SQLite's,
    // not the same, already; there a phrase is counted over its newest MIN_COUNT_PER_PHRASE
    // rows only: finding a word's newest rows walks the seq index through 1/density rows each,
    // and a word in a few % of the transcripts would cost tens of ms to count to 2,000.
    const countLimit = Math.min(
      this.candidates,
      newest > EXACT_TOTALS_ROWS
        ? MIN_COUNT_PER_PHRASE
        : Math.max(MIN_COUNT_PER_PHRASE, Math.floor(COUNT_READ_BUDGET / Math.max(1, keys.length))),
    );
    // Above EXACT_TOTALS_ROWS a word the planner's statistics list is weighed by the share of
    // transcripts they give it: counting the newest rows of a word in a few % of them would walk
    // thousands of rows (tens of ms); the others are rarer than every listed word, so their few
    // rows come cheaply from the GIN index.
    const shares = newest > EXACT_TOTALS_ROWS ? await this.lexemeShares(tx) : null;
    const shareOf = (term: SearchTerm): number | undefined =>
      shares === null ? undefined : termShare(shares, term);
    const readCandidates = (from: number, match: SQL = prepared.match) =>
      tx
        .select({ seq: transcripts.seq, text: SPOKEN_TEXT })
        .from(transcripts)
        .where(
          and(
            match,
            lt(transcripts.seq, anchor),
            gte(transcripts.seq, from),
            speaker === null ? undefined : eq(transcripts.speaker, speaker),
          ),
        )
        .orderBy(desc(transcripts.seq))
        .limit(this.candidates);
    // One uncounted word and no speaker: counting it reads the first of its newest
    // `candidates` matches, so one statement does for both (cut at the budget's bound after).
    const oneStatement =
      keys.length === 1 && speaker === null && shareOf(distinct[0]!) === undefined;
    let candidates = oneStatement ? await readCandidates(0) : [];
    const counted: PhraseRows[] = [];
    if (oneStatement) {
      const rows = Math.min(countLimit, candidates.length);
      counted.push(extrapolated(rows, candidates[rows - 1]?.seq ?? null, anchor, countLimit));
    } else {
      for (const term of distinct.slice(0, MAX_COUNTED_PHRASES)) {
        const share = shareOf(term);
        const keyQuery = prepared.keyQueries.get(termKey(term));
        counted.push(
          share !== undefined
            ? { rows: Math.round(share * (anchor - 1)), density: share }
            : keyQuery
              ? await phraseRows(tx, matches([keyQuery]), anchor, countLimit)
              : { rows: 0, density: 0 },
        );
      }
    }
    const mostCommon = counted.reduce<PhraseRows>(
      (most, rows) => (rows.density > most.density ? rows : most),
      { rows: 0, density: 0 },
    );
    const rowsOf = keys.map((_, k) => counted[k] ?? mostCommon);
    const plan = candidatePlan(
      rowsOf.map((rows) => rows.density),
      anchor,
    );
    const indexed: SQL[] = [];
    const tested: SQL[] = [];
    keys.forEach((key, k) => {
      const query = prepared.keyQueries.get(key);
      if (query) (plan.indexed[k] ? indexed : tested).push(query);
    });
    candidates = oneStatement
      ? candidates.filter((row) => row.seq >= plan.from)
      : await readCandidates(
          plan.from,
          indexed.length > 0 ? matches(indexed, tested) : prepared.match,
        );
    if (offset >= candidates.length) return [];

    const measured = candidates.map((row) =>
      measureRow(
        row.text,
        distinct.map((term) => term.tokens),
        distinct.map((term) => term.prefix),
      ),
    );
    const totals = await this.totals(tx, anchor, newest, measured);
    const idf = keyOf.map((k) =>
      inverseDocumentFrequency(totals.rows, Math.min(rowsOf[k]!.rows, totals.rows)),
    );
    const scored = candidates.map((row, i) => {
      const measure = measured[i]!;
      const frequencies = keyOf.map((k) => measure.frequencies[k]!);
      return {
        seq: row.seq,
        score: bm25Score(frequencies, idf, measure.length, totals.averageRowLength),
      };
    });
    // Equal scores: the newer first.
    scored.sort((a, b) => b.score - a.score || b.seq - a.seq);
    const seqs = scored.slice(offset, offset + limit).map((hit) => hit.seq);
    return page(tx, seqs, prepared.snippetTerms, (i) => ({
      sort: "relevance",
      anchor,
      offset: offset + i + 1,
    }));
  }

  /** The planner's statistics of search_vector (lexemeShares()), kept for ESTIMATE_TTL_MS. */
  private async lexemeShares(tx: Executor): Promise<LexemeShares | null> {
    const now = Date.now();
    if (this.shares === undefined || this.shares.until <= now) {
      const [row] = await tx
        .select({
          elements: sql<string[] | null>`most_common_elems::text::text[]`,
          frequencies: sql<number[] | null>`most_common_elem_freqs`,
        })
        .from(sql`pg_stats`)
        .where(
          sql`schemaname = current_schema() AND tablename = 'transcripts' AND attname = 'search_vector'`,
        );
      this.shares = {
        value: lexemeShares(row?.elements ?? null, row?.frequencies ?? null),
        until: now + ESTIMATE_TTL_MS,
      };
    }
    return this.shares.value;
  }

  /** totalsOf(), its estimates kept for ESTIMATE_TTL_MS. */
  private async totals(
    tx: Executor,
    anchor: number,
    newest: number,
    measured: RowMeasure[],
  ): Promise<Totals> {
    if (newest <= EXACT_TOTALS_ROWS) return totalsOf(tx, anchor, newest, measured);
    const now = Date.now();
    if (this.estimate === undefined || this.estimate.until <= now) {
      this.estimate = {
        totals: await totalsOf(tx, anchor, newest, measured),
        until: now + ESTIMATE_TTL_MS,
      };
    }
    const { rows, averageRowLength } = this.estimate.totals;
    return { rows: Math.max(rows, measured.length), averageRowLength };
  }
}

/**
 * The tsqueries of a search's distinct words, or null when it can find nothing: no word has a
 * token (FTS5 drops those words, and a query left empty matches nothing), or a word has one
 * PostgreSQL cannot hold.
 */
function prepare(distinct: string[]): Prepared | null {
  const keyQueries = new Map<string, SQL>();
  const terms: SearchTerm[] = [];
  for (const text of distinct) {
    const word = wordQuery(text);
    if (word === null) return null;
    const key = termKey(word.term);
    if (word.term.tokens.length === 0 || keyQueries.has(key)) continue;
    keyQueries.set(key, sql`to_tsquery('simple', ${word.folded})`);
    terms.push(word.term);
  }
  if (terms.length === 0) return null;
  return {
    // One tsquery for all the words: one test of a row's stored vector, one GIN lookup.
    match: matches([...keyQueries.values()]),
    snippetTerms: terms,
    keyQueries,
  };
}

/**
 * The share of transcripts that hold `term`, from the planner's statistics, when they list it:
 * a prefix is in at least as many as the listed lexemes it starts, and at most in their sum,
 * which is the figure taken (a lexeme not listed is rarer than every listed one). Undefined
 * for a phrase, whose words may seldom meet.
 */
function termShare(shares: LexemeShares, term: SearchTerm): number | undefined {
  if (term.tokens.length !== 1) return undefined;
  const token = term.tokens[0]!;
  if (!term.prefix) return shares.shares.get(token);
  let sum: number | undefined;
  for (const [lexeme, share] of shares.shares) {
    if (lexeme.startsWith(token)) sum = (sum ?? 0) + share;
  }
  return sum === undefined ? undefined : Math.min(1, sum);
}

/**
 * The row holds every one of `indexed` (one tsquery: one GIN lookup, or one test of the stored
 * vector) and of `tested`. ts_match_vq() is what `@@` calls, but the planner does not read an
 * index for a function call: those words are tested on the rows the others find.
 */
function matches(indexed: SQL[], tested: SQL[] = []): SQL {
  const all = (queries: SQL[]) => sql`(${sql.join(queries, sql` && `)})`;
  const found = sql`${transcripts.searchVector} @@ ${all(indexed)}`;
  return tested.length === 0
    ? found
    : sql`(${found} AND ts_match_vq(${transcripts.searchVector}, ${all(tested)}))`;
}

/** The text search reads: what the caller heard of an interrupted turn, else all of it. */
const SPOKEN_TEXT = sql<string>`coalesce(${transcripts.heardText}, ${transcripts.text})`.as("text");

const HIT_COLUMNS = {
  seq: transcripts.seq,
  id: transcripts.id,
  callId: transcripts.callId,
  speaker: transcripts.speaker,
  offsetMs: transcripts.offsetMs,
};

async function newestSeq(tx: Executor): Promise<number> {
  const [row] = await tx
    .select({ newest: sql<number | null>`max(${transcripts.seq})`.mapWith(Number) })
    .from(transcripts);
  return row?.newest ?? 0;
}

/**
 * Rows before `anchor` that hold the phrase, reading at most `limit` of its newest: counted
 * exactly below that, extrapolated from the seq range those rows span above it (as SQLite).
 */
async function phraseRows(
  tx: Executor,
  phrase: SQL,
  anchor: number,
  limit: number,
): Promise<PhraseRows> {
  const newest = tx
    .select({ seq: transcripts.seq })
    .from(transcripts)
    .where(and(phrase, lt(transcripts.seq, anchor)))
    .orderBy(desc(transcripts.seq))
    .limit(limit)
    .as("newest");
  const [row] = await tx
    .select({ rows: count(), lowest: sql<number | null>`min(${newest.seq})`.mapWith(Number) })
    .from(newest);
  return extrapolated(row?.rows ?? 0, row?.lowest ?? null, anchor, limit);
}

/**
 * BM25's totals: the transcripts and their mean length in tokens. FTS5 keeps both for every
 * row it indexes; PostgreSQL has neither, so they are counted over every transcript while there
 * are few (the same figures, so the same ranking as SQLite), and estimated above that: the
 * planner's row count and the mean length of the newest transcripts below the anchor. Above
 * that size the ranking is therefore close to SQLite's, not the same.
 */
async function totalsOf(
  tx: Executor,
  anchor: number,
  newest: number,
  measured: RowMeasure[],
): Promise<Totals> {
  if (newest <= EXACT_TOTALS_ROWS) {
    const texts = await tx.select({ text: SPOKEN_TEXT }).from(transcripts);
    const tokens = texts.reduce((sum, row) => sum + searchTokens(row.text).length, 0);
    if (texts.length > 0 && tokens > 0) {
      return { rows: texts.length, averageRowLength: tokens / texts.length };
    }
  } else {
    const sample = await tx
      .select({
        text: SPOKEN_TEXT,
        estimate:
          sql<number>`(SELECT reltuples FROM pg_class WHERE oid = 'transcripts'::regclass)`.mapWith(
            Number,
          ),
      })
      .from(transcripts)
      .where(lt(transcripts.seq, anchor))
      .orderBy(desc(transcripts.seq))
      .limit(LENGTH_SAMPLE_ROWS);
    const estimate = sample[0]?.estimate ?? -1;
    const tokens = sample.reduce((sum, row) => sum + searchTokens(row.text).length, 0);
    if (sample.length > 0 && tokens > 0) {
      return {
        rows: Math.max(estimate > 0 ? estimate : anchor - 1, measured.length),
        averageRowLength: tokens / sample.length,
      };
    }
  }
  const candidateTokens = measured.reduce((sum, row) => sum + row.length, 0);
  return {
    rows: Math.max(anchor - 1, measured.length),
    averageRowLength: Math.max(1, candidateTokens / Math.max(1, measured.length)),
  };
}

/** The hits of `seqs`, in that order; `next(i)` is where a page ending with the i-th goes on. */
async function page(
  tx: Executor,
  seqs: number[],
  snippetTerms: SearchTerm[],
  next: (index: number) => TranscriptSearchPosition,
): Promise<TranscriptHit[]> {
  if (seqs.length === 0) return [];
  const rows = await tx
    .select({ ...HIT_COLUMNS, text: SPOKEN_TEXT, startedAt: calls.startedAt })
    .from(transcripts)
    .innerJoin(calls, eq(calls.id, transcripts.callId))
    .where(inArray(transcripts.seq, seqs));
  const bySeq = new Map(rows.map((row) => [row.seq, row]));
  const hits: TranscriptHit[] = [];
  seqs.forEach((seq, i) => {
    const row = bySeq.get(seq);
    if (row) hits.push(toHit(row, snippetTerms, next(i)));
  });
  return hits;
}

interface HitRow {
  seq: number;
  id: string;
  callId: string;
  speaker: Speaker;
  offsetMs: number | null;
  text: string;
  startedAt: Date;
}

const toHit = (
  row: HitRow,
  snippetTerms: SearchTerm[],
  next: TranscriptSearchPosition,
): TranscriptHit => ({
  callId: row.callId,
  transcriptId: row.id,
  speaker: row.speaker,
  snippet: snippetOf(
    row.text,
    snippetTerms.map((term) => term.tokens),
    12,
    snippetTerms.map((term) => term.prefix),
  ),
  offsetMs: row.offsetMs,
  startedAt: row.startedAt,
  next,
});
