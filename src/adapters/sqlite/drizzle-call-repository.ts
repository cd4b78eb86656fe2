import type Database from "better-sqlite3";
import { and, asc, count, eq, gte, isNotNull, isNull, lt, type SQL, sql } from "drizzle-orm";
import {
  analytics,
  callMetadata,
  callRollup,
  calls,
  instances,
  recordings,
  transcripts,
} from "../../../drizzle/schema.ts";
import { listContinuation, pageOf } from "../../application/call-list-sort.ts";
import type {
  CallFilter,
  CallListQuery,
  CallPage,
  CallRepository,
  CallTotals,
  OwnedActiveCall,
  TranscriptHit,
  TranscriptSearchQuery,
} from "../../application/ports/index.ts";
import type { Analytics } from "../../domain/analytics.ts";
import type { Call } from "../../domain/call.ts";
import type { CallMetadata } from "../../domain/call-metadata.ts";
import type { CallAnalysis } from "../../domain/call-review.ts";
import { notFound } from "../../domain/errors.ts";
import type { Recording } from "../../domain/recording.ts";
import type { Transcript, TranscriptCut } from "../../domain/transcript.ts";
import { callFilterConditions, durationRangeConditions } from "../sql/call-filter-conditions.ts";
import { callPageSegments, type KeysetValues } from "../sql/call-sort.ts";
import {
  type DaySums,
  mergeDays,
  p95Offset,
  planRollup,
  type RollupSlice,
  rollupDayFields,
  scanDayFields,
  toCallTotals,
  totalsOfCalls,
  walkP95Index,
} from "../sql/call-totals.ts";
import { FEW_CALLS, MAX_CALLER_CANDIDATES } from "../sql/list-plan-limits.ts";
import type { AppDatabase } from "./database.ts";
import { DeferredFtsIndex } from "./deferred-fts-index.ts";
import { prepareInsert } from "./prepared-insert.ts";
import {
  analysisToRow,
  analyticsToRow,
  callToRow,
  metadataToRow,
  recordingToRow,
  rowToAnalytics,
  rowToCall,
  rowToMetadata,
  rowToRecording,
  rowToTranscript,
  transcriptToRow,
} from "./row-mapping.ts";
import { translateSqliteError, type WriteContext } from "./sqlite-errors.ts";
import { TranscriptSearch } from "./transcript-search.ts";
import { WriteBehindBatch } from "./write-behind-batch.ts";

/** started_at is epoch milliseconds; the sort columns are SQLite numbers, compared as bound. */
const SQLITE_KEYSET: KeysetValues = {
  startedAt: (at) => sql`${at.getTime()}`,
  value: (_field, value) => sql`${value}`,
};

/** What totalsOfCalls reads of each call. */
const totalsRowFields = {
  startedAt: calls.startedAt,
  status: calls.status,
  durationSeconds: calls.durationSeconds,
  costUsd: calls.costUsd,
  avgResponseLatencyMs: calls.avgResponseLatencyMs,
  p95ResponseLatencyMs: calls.p95ResponseLatencyMs,
};

export interface DrizzleCallRepositoryOptions {
  /** A background full-text catch-up failed (it is retried; a search retries it too). */
  onSearchIndexError?: (error: unknown) => void;
  /** How long a transcript may wait for the full-text index; see DeferredFtsIndex. */
  searchIndexDelayMs?: number;
  /**
   * A reader thread's repository on a read-only connection: it never indexes for search (the
   * writer does, when a search asks it to first) and any write fails.
   */
  readOnly?: boolean;
  /**
   * Matches a relevance search ranks at most (the newest); see TranscriptSearch. Default
   * SEARCH_CANDIDATES.
   */
  searchCandidates?: number;
  /**
   * Below how many matching calls a filtered page is read through the filter's index and sorted,
   * rather than found walking the order's index. Default FEW_CALLS; tests set 0 or a large
   * number to hold both plans to the same pages.
   */
  fewCalls?: number;
}

/**
 * CallRepository on SQLite through Drizzle and better-sqlite3. better-sqlite3 is synchronous:
 * each method does its work, transactions included, before its promise settles, so no
 * transaction ever spans an await.
 *
 * Transcripts and analytics, written many times a second by every live call, are written
 * behind: all those created in one event-loop turn are committed in one transaction (see
 * WriteBehindBatch), and each promise settles after that commit. Every method whose answer
 * could depend on them commits the pending rows first, so a read always sees every write
 * created before it; `flush()` does the same before the connection is closed. Transcripts are
 * indexed for search in batches (DeferredFtsIndex), and a search indexes the waiting ones first.
 */
export class DrizzleCallRepository implements CallRepository {
  private transcriptSearch: TranscriptSearch | undefined;
  private insertTranscript: ((row: typeof transcripts.$inferInsert) => void) | undefined;
  private insertAnalytics: ((row: typeof analytics.$inferInsert) => void) | undefined;
  private readonly writeBehind: WriteBehindBatch;
  private readonly searchIndex: DeferredFtsIndex;
  private callersLike: Database.Statement<[string, number], string> | undefined;
  private readonly fewCalls: number;

  /**
   * `sqlite` is the connection behind `db`, used for the statements Drizzle cannot express or
   * would rebuild for every row.
   */
  constructor(
    private readonly db: AppDatabase,
    private readonly sqlite: Database.Database,
    private readonly options: DrizzleCallRepositoryOptions = {},
  ) {
    this.fewCalls = options.fewCalls ?? FEW_CALLS;
    this.writeBehind = new WriteBehindBatch(sqlite);
    this.searchIndex = new DeferredFtsIndex(sqlite, {
      beforeCatchUp: () => this.writeBehind.flush(),
      onError: options.onSearchIndexError,
      delayMs: options.searchIndexDelayMs,
      readOnly: options.readOnly,
    });
  }

  /**
   * Indexes every committed (and pending) transcript for search. searchTranscripts() does this
   * itself on one connection; with a writer and reader threads, the writer does it first.
   */
  catchUpSearchIndex(): Promise<void> {
    return this.run(() => this.searchIndex.catchUp());
  }

  /**
   * Commits every pending transcript and analytics row and indexes the transcripts for search;
   * call it before closing `sqlite`.
   */
  flush(): void {
    this.writeBehind.flush();
    if (this.sqlite.open) this.searchIndex.catchUp();
    else this.searchIndex.cancel();
  }

  /** Runs synchronous database work and settles with its result or a translated DomainError. */
  private run<T>(work: () => T, context?: WriteContext): Promise<T> {
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(translateSqliteError(error, context));
    }
  }

  /** As run(), after committing the pending rows, which the work might read or change. */
  private runAfterPendingWrites<T>(work: () => T, context?: WriteContext): Promise<T> {
    this.writeBehind.flush();
    return this.run(work, context);
  }

  /** Queues a write for the next batch commit; see WriteBehindBatch. */
  private writeLater<T>(write: () => void, result: T, context: WriteContext): Promise<T> {
    return this.writeBehind.add(write, result, (error) => translateSqliteError(error, context));
  }

  createCall(call: Call, owner: string | null = null): Promise<Call> {
    return this.run(
      () => {
        this.db
          .insert(calls)
          .values({ ...callToRow(call), owner })
          .run();
        return call;
      },
      { entity: "call", id: call.id },
    );
  }

  updateCall(call: Call): Promise<Call> {
    return this.run(
      () => {
        const { id, ...changes } = callToRow(call);
        const result = this.db.update(calls).set(changes).where(eq(calls.id, id)).run();
        if (result.changes === 0) throw notFound(`call ${id} not found`);
        return call;
      },
      { entity: "call", id: call.id },
    );
  }

  setCallAnalysis(callId: string, analysis: CallAnalysis): Promise<boolean> {
    return this.run(
      () =>
        this.db.update(calls).set(analysisToRow(analysis)).where(eq(calls.id, callId)).run()
          .changes > 0,
      { entity: "call", id: callId },
    );
  }

  getCallById(id: string): Promise<Call | null> {
    return this.run(() => {
      const row = this.db.select().from(calls).where(eq(calls.id, id)).get();
      return row ? rowToCall(row) : null;
    });
  }

  getCallByStreamSid(streamSid: string): Promise<Call | null> {
    return this.run(() => {
      const row = this.db.select().from(calls).where(eq(calls.streamSid, streamSid)).get();
      return row ? rowToCall(row) : null;
    });
  }

  getAllCalls(query: CallListQuery): Promise<CallPage> {
    return this.run(() => {
      const { sort, after } = listContinuation(query);
      const callers = this.callerCandidates(query, MAX_CALLER_CANDIDATES.page);
      const segments = callPageSegments(
        calls,
        sort,
        after,
        sort.field === "startedAt"
          ? callFilterConditions(calls, query, {
              callers,
              // A range few calls fall in is read by the duration index and sorted (a range 0.2%
              // of calls fall in has the newest-first scan read 25,000 rows for a page).
              durationByIndex: this.fewCallsMatch(
                durationRangeConditions(calls.durationSeconds, query),
              ),
            })
          : callFilterConditions(calls, query, {
              callers,
              byIndex: this.fewCallsMatch(callFilterConditions(calls, query, { callers })),
            }),
        SQLITE_KEYSET,
      );
      // One row more than asked tells whether another page exists without a count.
      const wanted = query.limit + 1;
      const rows: Call[] = [];
      for (const { where, orderBy } of segments) {
        if (rows.length >= wanted) break;
        const segment = this.db
          .select()
          .from(calls)
          .where(where)
          .orderBy(...orderBy)
          .limit(wanted - rows.length)
          .all();
        for (const row of segment) rows.push(rowToCall(row));
      }
      return pageOf(rows, query.limit, sort);
    });
  }

  getCallTotals(filter: CallFilter): Promise<CallTotals> {
    return this.run(() => {
      const callers = this.callerCandidates(filter, MAX_CALLER_CANDIDATES.totals);
      if (callers !== undefined) {
        const rows = this.db
          .select(totalsRowFields)
          .from(calls)
          .where(and(...callFilterConditions(calls, filter, { callers })))
          .all();
        const { days, p95 } = totalsOfCalls(rows);
        return toCallTotals(days, p95);
      }
      const plan = planRollup(filter);
      const days = plan
        ? mergeDays(this.rollupDays(plan.slice), ...plan.edges.map((edge) => this.scanDays(edge)))
        : this.scanDays(filter);
      const n = days.reduce((sum, d) => sum + d.p95s, 0);
      return toCallTotals(days, this.p95Latency(filter, n));
    });
  }

  private scanDays(filter: CallFilter): DaySums[] {
    // started_at is epoch ms: integer division (by an integer literal, not a bound
    // parameter, which SQLite may take as real) is the UTC day.
    const day = sql<number>`${calls.startedAt} / 86400000`.mapWith(Number);
    return this.db
      .select(scanDayFields(calls, day))
      .from(calls)
      .where(and(...callFilterConditions(calls, filter)))
      .groupBy(day)
      .all();
  }

  private rollupDays(slice: RollupSlice): DaySums[] {
    const fields = rollupDayFields(callRollup);
    return this.db
      .select(fields)
      .from(callRollup)
      .where(
        and(
          eq(callRollup.dim, slice.dim),
          eq(callRollup.value, slice.value),
          slice.fromHour === null ? undefined : gte(callRollup.hour, slice.fromHour),
          slice.toHour === null ? undefined : lt(callRollup.hour, slice.toHour),
        ),
      )
      .groupBy(fields.day)
      .all();
  }

  /**
   * The nearest-rank p95 of the filter's `n` calls with one: from the top of the p95 index
   * where few calls lie above it (a long period), else by sorting the filter's calls.
   */
  private p95Latency(filter: CallFilter, n: number): number | null {
    if (n === 0) return null;
    const column = calls.p95ResponseLatencyMs;
    const where = and(...callFilterConditions(calls, filter), isNotNull(column));
    const inTable = this.db
      .select({ n: sql<number>`coalesce(sum(${callRollup.p95s}), 0)`.mapWith(Number) })
      .from(callRollup)
      .where(and(eq(callRollup.dim, ""), eq(callRollup.value, "")))
      .get();
    if (walkP95Index(n, inTable?.n ?? 0, filter)) {
      // SQLite's planner would rather read the period through calls_started_at_id_idx and
      // sort it; INDEXED BY makes it walk down from the highest value instead.
      const row = this.db.get<{ value: number } | undefined>(
        sql`SELECT ${column} AS value FROM ${calls}
          INDEXED BY calls_p95_latency_started_at_id_facts_idx
          WHERE ${where} ORDER BY ${column} DESC LIMIT 1 OFFSET ${n - 1 - p95Offset(n)}`,
      );
      return row?.value ?? null;
    }
    const row = this.db
      .select({ value: column })
      .from(calls)
      .where(where)
      .orderBy(asc(column))
      .limit(1)
      .offset(p95Offset(n))
      .get();
    return row?.value ?? null;
  }

  /**
   * Whether so few calls match `conditions` that reading them all through their index and
   * sorting them beats walking the order's index until a page of them comes by. False for no
   * conditions.
   */
  private fewCallsMatch(conditions: SQL[]): boolean {
    if (conditions.length === 0) return false;
    const matching = this.db
      .select({ one: sql`1` })
      .from(calls)
      .where(and(...conditions))
      .limit(this.fewCalls)
      .as("matching");
    const row = this.db.select({ n: count() }).from(matching).get();
    return (row?.n ?? 0) < this.fewCalls;
  }

  /**
   * The caller numbers with `callerDigits` in them, from the trigram index of every number
   * (migration 0010), so that the calls are read by number; undefined where testing each call
   * is as fast: fewer than 3 digits (no trigram) or over `max` numbers (MAX_CALLER_CANDIDATES).
   */
  private callerCandidates(filter: CallFilter, max: number): string[] | undefined {
    const digits = filter.callerDigits;
    if (digits === undefined || digits.length < 3) return undefined;
    this.callersLike ??= this.sqlite
      .prepare<[string, number], string>(
        "SELECT caller FROM callers_fts WHERE caller LIKE ? LIMIT ?",
      )
      .pluck();
    const found = this.callersLike.all(`%${digits}%`, max + 1);
    return found.length > max ? undefined : found;
  }

  getActiveCalls(): Promise<Call[]> {
    return this.run(() =>
      this.db
        .select()
        .from(calls)
        .where(eq(calls.status, "active"))
        .orderBy(asc(calls.startedAt), asc(calls.id))
        .all()
        .map(rowToCall),
    );
  }

  deleteCall(id: string): Promise<{ deleted: boolean; fileKeys: string[] }> {
    return this.runAfterPendingWrites(() =>
      this.db.transaction(
        (tx) => {
          const fileKeys = tx
            .select({ fileKey: recordings.fileKey })
            .from(recordings)
            .where(eq(recordings.callId, id))
            .all()
            .map((row) => row.fileKey);
          const result = tx.delete(calls).where(eq(calls.id, id)).run();
          return { deleted: result.changes > 0, fileKeys };
        },
        // IMMEDIATE takes the write lock first, so the keys read are those of the rows deleted.
        { behavior: "immediate" },
      ),
    );
  }

  createRecording(recording: Recording): Promise<Recording> {
    return this.run(
      () => {
        this.db.insert(recordings).values(recordingToRow(recording)).run();
        return recording;
      },
      { entity: "recording", id: recording.id, callId: recording.callId },
    );
  }

  getRecordingById(id: string): Promise<Recording | null> {
    return this.run(() => {
      const row = this.db.select().from(recordings).where(eq(recordings.id, id)).get();
      return row ? rowToRecording(row) : null;
    });
  }

  getRecordingsByCallId(callId: string): Promise<Recording[]> {
    return this.run(() =>
      this.db
        .select()
        .from(recordings)
        .where(eq(recordings.callId, callId))
        .orderBy(asc(recordings.createdAt), asc(recordings.id))
        .all()
        .map(rowToRecording),
    );
  }

  getRecordingsOfCallsStartedBefore(before: Date, limit: number): Promise<Recording[]> {
    return this.run(() =>
      this.db
        .select({ recording: recordings })
        .from(recordings)
        .innerJoin(calls, eq(calls.id, recordings.callId))
        .where(lt(calls.startedAt, before))
        .orderBy(asc(calls.startedAt), asc(calls.id), asc(recordings.id))
        .limit(limit)
        .all()
        .map((row) => rowToRecording(row.recording)),
    );
  }

  deleteRecording(id: string): Promise<boolean> {
    return this.run(
      () => this.db.delete(recordings).where(eq(recordings.id, id)).run().changes > 0,
    );
  }

  setRecordingCloudUrl(id: string, cloudUrl: string): Promise<boolean> {
    return this.run(
      () =>
        this.db.update(recordings).set({ cloudUrl }).where(eq(recordings.id, id)).run().changes > 0,
    );
  }

  createTranscript(transcript: Transcript): Promise<Transcript> {
    return this.writeLater(
      () => {
        // seq is the rowid: SQLite numbers it.
        this.insertTranscript ??= prepareInsert(this.sqlite, transcripts, ["seq"]);
        this.insertTranscript(transcriptToRow(transcript));
        this.searchIndex.rowsAdded();
      },
      transcript,
      { entity: "transcript", id: transcript.id, callId: transcript.callId },
    );
  }

  markTranscriptInterrupted(id: string, cut?: TranscriptCut): Promise<void> {
    return this.runAfterPendingWrites(() => {
      // Setting heard_text re-indexes the row for search (the update trigger of migration 0004).
      const result = this.db
        .update(transcripts)
        .set(
          cut
            ? {
                interrupted: true,
                heardText: cut.heardText,
                heardMs: cut.heardMs,
                generatedMs: cut.generatedMs,
              }
            : { interrupted: true },
        )
        .where(eq(transcripts.id, id))
        .run();
      if (result.changes === 0) throw notFound(`transcript ${id} not found`);
    });
  }

  getTranscriptsByCallId(callId: string): Promise<Transcript[]> {
    return this.runAfterPendingWrites(() =>
      this.db
        .select()
        .from(transcripts)
        .where(eq(transcripts.callId, callId))
        // Spoken order: by offset from call start where known (a caller's transcription can
        // arrive after the assistant has begun answering), then by insertion; unknown last.
        .orderBy(
          sql`${transcripts.offsetMs} IS NULL`,
          asc(transcripts.offsetMs),
          asc(transcripts.seq),
        )
        .all()
        .map(rowToTranscript),
    );
  }

  getTranscriptById(id: string): Promise<Transcript | null> {
    return this.runAfterPendingWrites(() => {
      const row = this.db.select().from(transcripts).where(eq(transcripts.id, id)).get();
      return row ? rowToTranscript(row) : null;
    });
  }

  countTranscriptsByCallId(callId: string): Promise<number> {
    return this.runAfterPendingWrites(
      () =>
        this.db.select({ n: count() }).from(transcripts).where(eq(transcripts.callId, callId)).get()
          ?.n ?? 0,
    );
  }

  searchTranscripts(query: TranscriptSearchQuery): Promise<TranscriptHit[]> {
    return this.run(() => {
      this.searchIndex.catchUp();
      this.transcriptSearch ??= new TranscriptSearch(this.sqlite, {
        candidates: this.options.searchCandidates,
      });
      return this.transcriptSearch.search(query);
    });
  }

  createAnalytics(record: Analytics): Promise<Analytics> {
    return this.writeLater(
      () => {
        this.insertAnalytics ??= prepareInsert(this.sqlite, analytics);
        this.insertAnalytics(analyticsToRow(record));
      },
      record,
      { entity: "analytics record", id: record.id, callId: record.callId },
    );
  }

  getAnalyticsByCallId(callId: string): Promise<Analytics[]> {
    return this.runAfterPendingWrites(() =>
      this.db
        .select()
        .from(analytics)
        .where(eq(analytics.callId, callId))
        // rowid breaks ties between snapshots taken within the same millisecond.
        .orderBy(asc(analytics.createdAt), sql`${analytics}.rowid`)
        .all()
        .map(rowToAnalytics),
    );
  }

  getAnalyticsById(id: string): Promise<Analytics | null> {
    return this.runAfterPendingWrites(() => {
      const row = this.db.select().from(analytics).where(eq(analytics.id, id)).get();
      return row ? rowToAnalytics(row) : null;
    });
  }

  countAnalyticsByCallId(callId: string): Promise<number> {
    return this.runAfterPendingWrites(
      () =>
        this.db.select({ n: count() }).from(analytics).where(eq(analytics.callId, callId)).get()
          ?.n ?? 0,
    );
  }

  createOrUpdateMetadata(metadata: CallMetadata): Promise<CallMetadata> {
    return this.run(
      () => {
        const { callId, ...changes } = metadataToRow(metadata);
        this.db
          .insert(callMetadata)
          .values({ callId, ...changes })
          .onConflictDoUpdate({ target: callMetadata.callId, set: changes })
          .run();
        return metadata;
      },
      { entity: "metadata", id: metadata.callId, callId: metadata.callId },
    );
  }

  getMetadataByCallId(callId: string): Promise<CallMetadata | null> {
    return this.run(() => {
      const row = this.db.select().from(callMetadata).where(eq(callMetadata.callId, callId)).get();
      return row ? rowToMetadata(row) : null;
    });
  }

  renewLease(instanceId: string, renewedAt: Date, leaseExpiresAt: Date): Promise<void> {
    return this.run(() => {
      this.db
        .insert(instances)
        .values({ id: instanceId, renewedAt, leaseExpiresAt })
        .onConflictDoUpdate({ target: instances.id, set: { renewedAt, leaseExpiresAt } })
        .run();
    });
  }

  releaseLease(instanceId: string): Promise<void> {
    return this.run(() => {
      this.db.delete(instances).where(eq(instances.id, instanceId)).run();
    });
  }

  getOwnedActiveCalls(): Promise<OwnedActiveCall[]> {
    return this.run(() =>
      this.db
        .select({ call: calls, renewedAt: instances.renewedAt, expires: instances.leaseExpiresAt })
        .from(calls)
        .leftJoin(instances, eq(instances.id, calls.owner))
        .where(eq(calls.status, "active"))
        .orderBy(asc(calls.startedAt), asc(calls.id))
        .all()
        .map(({ call, renewedAt, expires }) => ({
          call: rowToCall(call),
          owner: call.owner,
          renewedAt,
          leaseExpiresAt: expires,
        })),
    );
  }

  failCallIfOwnedBy(ended: Call, owner: string | null): Promise<boolean> {
    return this.run(
      () => {
        const { id, ...changes } = callToRow(ended);
        const result = this.db
          .update(calls)
          .set(changes)
          .where(
            and(
              eq(calls.id, id),
              eq(calls.status, "active"),
              owner === null ? isNull(calls.owner) : eq(calls.owner, owner),
            ),
          )
          .run();
        return result.changes === 1;
      },
      { entity: "call", id: ended.id },
    );
  }

  ping(): Promise<void> {
    return this.run(() => {
      this.sqlite.prepare("SELECT 1").get();
    });
  }
}
