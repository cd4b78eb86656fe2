import { and, asc, count, desc, eq, gte, isNotNull, isNull, lt, type SQL, sql } from "drizzle-orm";
import {
  analytics,
  callMetadata,
  callRollup,
  calls,
  instances,
  recordings,
  transcriptRowColumns,
  transcripts,
} from "../../../drizzle/pg-schema.ts";
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
import { errorMessage, notFound } from "../../domain/errors.ts";
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
} from "../sqlite/row-mapping.ts";
import { type BatchStatement, batchStatement } from "./batch-insert.ts";
import { type AnyDriverDatabase, connectPostgres, type DriverConnection } from "./connection.ts";
import { migratePostgres } from "./migrate.ts";
import { translatePostgresError, type WriteContext } from "./postgres-errors.ts";
import { PostgresTranscriptSearch } from "./transcript-search.ts";
import { WriteBehindQueue } from "./write-behind-queue.ts";

/** What totalsOfCalls reads of each call. */
const totalsRowFields = {
  startedAt: calls.startedAt,
  status: calls.status,
  durationSeconds: calls.durationSeconds,
  costUsd: calls.costUsd,
  avgResponseLatencyMs: calls.avgResponseLatencyMs,
  p95ResponseLatencyMs: calls.p95ResponseLatencyMs,
};

/**
 * Each value typed as its column, so that the row comparison is one range of the column's index
 * (a double precision value beside an integer column would not be). calls.id has the "C"
 * collation (migration 0002), so ids compare as SQLite's do.
 */
const POSTGRES_KEYSET: KeysetValues = {
  startedAt: (at) => sql`${at.toISOString()}::timestamptz`,
  value: (field, value) =>
    field === "p95ResponseLatencyMs" ? sql`${value}::integer` : sql`${value}::double precision`,
};

export interface PostgresCallRepositoryOptions {
  url: string;
  migrationsPath: string;
  /** Matches a relevance search ranks at most (the newest); see PostgresTranscriptSearch. */
  searchCandidates?: number;
  /** A background write failed as a whole (each row is then retried and settled on its own). */
  onBackgroundError?: (message: string) => void;
  /** Connections in the pool; default DEFAULT_POOL_SIZE. */
  poolSize?: number;
}

type PendingRow =
  | { table: "transcripts"; row: typeof transcripts.$inferInsert }
  | { table: "analytics"; row: typeof analytics.$inferInsert };

/**
 * Rows per statement of a batch. A statement costs the event loop a few microseconds a row to
 * build (array literals, see insertBatch), so a few thousand rows stay a short piece of work.
 */
const ROWS_PER_STATEMENT = 2000;

/**
 * CallRepository on PostgreSQL through Drizzle, with the semantics of the SQLite adapter
 * (DrizzleCallRepository): the same errors, orderings and keyset paging.
 *
 * Transcripts and analytics, written many times a second by every live call, are written
 * behind: all those created in one event-loop turn are committed in one transaction of
 * multi-row INSERTs (see WriteBehindQueue), and each promise settles after that commit. Every
 * method whose answer could depend on them waits for the rows queued before it first, so a read
 * always sees every write created before it; close() commits them before ending the pool.
 */
export class PostgresCallRepository implements CallRepository {
  private readonly writeBehind: WriteBehindQueue<PendingRow>;
  private transcriptSearch: PostgresTranscriptSearch | undefined;

  private constructor(
    private readonly connection: DriverConnection,
    private readonly options: Omit<PostgresCallRepositoryOptions, "url" | "migrationsPath">,
  ) {
    this.writeBehind = new WriteBehindQueue(
      (rows) => this.insertRows(rows),
      (error) =>
        options.onBackgroundError?.(
          `a batch of transcripts/analytics failed and is retried row by row: ${errorMessage(error)}`,
        ),
    );
  }

  private get db(): AnyDriverDatabase {
    return this.connection.db;
  }

  /** Connects, applies the pending migrations (one instance at a time), ready to use. */
  static async open(options: PostgresCallRepositoryOptions): Promise<PostgresCallRepository> {
    await migratePostgres(options.url, options.migrationsPath);
    return PostgresCallRepository.on(connectPostgres(options.url, options.poolSize), options);
  }

  /** A repository on an open connection to a migrated database (the driver bench picks it). */
  static on(
    connection: DriverConnection,
    options: Omit<PostgresCallRepositoryOptions, "url" | "migrationsPath"> = {},
  ): PostgresCallRepository {
    return new PostgresCallRepository(connection, options);
  }

  /** Commits every queued transcript and analytics row. */
  flush(): Promise<void> {
    return this.writeBehind.flush();
  }

  /** Commits the queued rows, then closes every connection. */
  async close(): Promise<void> {
    await this.writeBehind.flush();
    await this.connection.end();
  }

  /** Runs database work and settles with its result or a translated DomainError. */
  private async run<T>(work: () => Promise<T>, context?: WriteContext): Promise<T> {
    try {
      return await work();
    } catch (error) {
      throw translatePostgresError(error, context);
    }
  }

  /** As run(), once the rows queued before it are committed: the work might read or change them. */
  private async runAfterPendingWrites<T>(work: () => Promise<T>): Promise<T> {
    await this.writeBehind.flush();
    return this.run(work);
  }

  /**
   * Writes one batch of queued rows in one transaction: one statement (see batchStatement) up
   * to ROWS_PER_STATEMENT rows, else a transaction of such statements, each built in a turn of
   * the event loop of its own, so that no unbounded piece of synchronous work builds them.
   */
  private async insertRows(rows: readonly PendingRow[]): Promise<void> {
    const statements: BatchStatement[] = [];
    for (let from = 0; from < rows.length; from += ROWS_PER_STATEMENT) {
      if (from > 0) await new Promise((resolve) => setImmediate(resolve));
      const transcriptRows: Array<typeof transcripts.$inferInsert> = [];
      const analyticsRows: Array<typeof analytics.$inferInsert> = [];
      for (const pending of rows.slice(from, from + ROWS_PER_STATEMENT)) {
        if (pending.table === "transcripts") transcriptRows.push(pending.row);
        else analyticsRows.push(pending.row);
      }
      const statement = batchStatement(transcriptRows, analyticsRows);
      if (statement) statements.push(statement);
    }
    await this.connection.runBatch(statements);
  }

  /** Queues a row for the next batch commit; see WriteBehindQueue. */
  private writeLater<T>(row: PendingRow, result: T, context: WriteContext): Promise<T> {
    return this.writeBehind.add(row, result, (error) => translatePostgresError(error, context));
  }

  createCall(call: Call, owner: string | null = null): Promise<Call> {
    return this.run(
      async () => {
        await this.db.insert(calls).values({ ...callToRow(call), owner });
        return call;
      },
      { entity: "call", id: call.id },
    );
  }

  updateCall(call: Call): Promise<Call> {
    return this.run(
      async () => {
        const { id, ...changes } = callToRow(call);
        const updated = await this.db
          .update(calls)
          .set(changes)
          .where(eq(calls.id, id))
          .returning({ id: calls.id });
        if (updated.length === 0) throw notFound(`call ${id} not found`);
        return call;
      },
      { entity: "call", id: call.id },
    );
  }

  setCallAnalysis(callId: string, analysis: CallAnalysis): Promise<boolean> {
    return this.run(
      async () => {
        const updated = await this.db
          .update(calls)
          .set(analysisToRow(analysis))
          .where(eq(calls.id, callId))
          .returning({ id: calls.id });
        return updated.length > 0;
      },
      { entity: "call", id: callId },
    );
  }

  getCallById(id: string): Promise<Call | null> {
    return this.run(async () => {
      const [row] = await this.db.select().from(calls).where(eq(calls.id, id));
      return row ? rowToCall(row) : null;
    });
  }

  getCallByStreamSid(streamSid: string): Promise<Call | null> {
    return this.run(async () => {
      const [row] = await this.db.select().from(calls).where(eq(calls.streamSid, streamSid));
      return row ? rowToCall(row) : null;
    });
  }

  getAllCalls(query: CallListQuery): Promise<CallPage> {
    return this.run(async () => {
      const { sort, after } = listContinuation(query);
      const planned = callPageSegments(
        calls,
        sort,
        after,
        callFilterConditions(calls, query, {
          callers: await this.callerCandidates(query, MAX_CALLER_CANDIDATES.page),
        }),
        POSTGRES_KEYSET,
      );
      // A duration range few calls fall in: the planner would walk the newest-first index and
      // test each call (its estimate assumes matches spread evenly), reading 25,000 rows for a
      // page of a range 0.2% of calls fall in. Ordering by an expression no index has leaves it
      // the duration index and a sort of the few calls in range.
      const segments =
        sort.field === "startedAt" &&
        (await this.fewCallsMatch(durationRangeConditions(calls.durationSeconds, query)))
          ? planned.map((segment) => ({
              ...segment,
              orderBy: [
                sql`(${calls.startedAt} + interval '0 ms') ${sql.raw(sort.order)}`,
                sql`${calls.id} ${sql.raw(sort.order)}`,
              ],
            }))
          : planned;
      // One row more than asked tells whether another page exists without a count.
      const wanted = query.limit + 1;
      const rows: Call[] = [];
      for (const { where, orderBy } of segments) {
        if (rows.length >= wanted) break;
        const segment = await this.db
          .select()
          .from(calls)
          .where(where)
          .orderBy(...orderBy)
          .limit(wanted - rows.length);
        for (const row of segment) rows.push(rowToCall(row));
      }
      return pageOf(rows, query.limit, sort);
    });
  }

  getCallTotals(filter: CallFilter): Promise<CallTotals> {
    return this.run(async () => {
      const callers = await this.callerCandidates(filter, MAX_CALLER_CANDIDATES.totals);
      if (callers !== undefined) {
        const rows = await this.db
          .select(totalsRowFields)
          .from(calls)
          .where(and(...callFilterConditions(calls, filter, { callers })));
        const { days, p95 } = totalsOfCalls(rows);
        return toCallTotals(days, p95);
      }
      const plan = planRollup(filter);
      const days = plan
        ? mergeDays(
            await this.rollupDays(plan.slice),
            ...(await Promise.all(plan.edges.map((edge) => this.scanDays(edge)))),
          )
        : await this.scanDays(filter);
      const n = days.reduce((sum, d) => sum + d.p95s, 0);
      return toCallTotals(days, await this.p95Latency(filter, n));
    });
  }

  private scanDays(filter: CallFilter): Promise<DaySums[]> {
    const day = sql<number>`floor(extract(epoch from ${calls.startedAt}) / 86400)`.mapWith(Number);
    return this.db
      .select(scanDayFields(calls, day))
      .from(calls)
      .where(and(...callFilterConditions(calls, filter)))
      .groupBy(day);
  }

  private rollupDays(slice: RollupSlice): Promise<DaySums[]> {
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
      .groupBy(fields.day);
  }

  /**
   * The nearest-rank p95 of the filter's `n` calls with one, asked from the top of the p95
   * index where few calls lie above it (a long period), else from the bottom; PostgreSQL's
   * planner, which knows the columns' statistics, picks the index either way.
   */
  private async p95Latency(filter: CallFilter, n: number): Promise<number | null> {
    if (n === 0) return null;
    const column = calls.p95ResponseLatencyMs;
    const where = and(...callFilterConditions(calls, filter), isNotNull(column));
    const [inTable] = await this.db
      .select({ n: sql<number>`coalesce(sum(${callRollup.p95s}), 0)`.mapWith(Number) })
      .from(callRollup)
      .where(and(eq(callRollup.dim, ""), eq(callRollup.value, "")));
    const fromTop = walkP95Index(n, inTable?.n ?? 0, filter);
    const [row] = await this.db
      .select({ value: column })
      .from(calls)
      .where(where)
      .orderBy(fromTop ? desc(column) : asc(column))
      .limit(1)
      .offset(fromTop ? n - 1 - p95Offset(n) : p95Offset(n));
    return row?.value ?? null;
  }

  /** Whether fewer than FEW_CALLS calls match `conditions` (SQLite's repository says why). */
  private async fewCallsMatch(conditions: SQL[]): Promise<boolean> {
    if (conditions.length === 0) return false;
    const matching = this.db
      .select({ one: sql`1` })
      .from(calls)
      .where(and(...conditions))
      .limit(FEW_CALLS)
      .as("matching");
    const [row] = await this.db.select({ n: count() }).from(matching);
    return (row?.n ?? 0) < FEW_CALLS;
  }

  /** The caller numbers with `callerDigits` in them (SQLite's repository says why). */
  private async callerCandidates(filter: CallFilter, max: number): Promise<string[] | undefined> {
    const digits = filter.callerDigits;
    if (digits === undefined || digits.length < 3) return undefined;
    // pg_trgm's GIN index (migration 0008) answers LIKE '%digits%'.
    const found = await this.db
      .select({ caller: sql<string>`caller` })
      .from(sql`callers`)
      .where(sql`caller LIKE ${`%${digits}%`}`)
      .limit(max + 1);
    return found.length > max ? undefined : found.map((row) => row.caller);
  }

  getActiveCalls(): Promise<Call[]> {
    return this.run(async () =>
      (
        await this.db
          .select()
          .from(calls)
          .where(eq(calls.status, "active"))
          .orderBy(asc(calls.startedAt), asc(calls.id))
      ).map(rowToCall),
    );
  }

  deleteCall(id: string): Promise<{ deleted: boolean; fileKeys: string[] }> {
    return this.runAfterPendingWrites(() =>
      this.db.transaction(async (tx) => {
        // Locking the call first keeps a recording from being added between reading the keys
        // and deleting (its foreign key check needs a share lock on this row).
        const locked = await tx
          .select({ id: calls.id })
          .from(calls)
          .where(eq(calls.id, id))
          .for("update");
        if (locked.length === 0) return { deleted: false, fileKeys: [] };
        const keys = await tx
          .select({ fileKey: recordings.fileKey })
          .from(recordings)
          .where(eq(recordings.callId, id));
        await tx.delete(calls).where(eq(calls.id, id));
        return { deleted: true, fileKeys: keys.map((row) => row.fileKey) };
      }),
    );
  }

  createRecording(recording: Recording): Promise<Recording> {
    return this.run(
      async () => {
        await this.db.insert(recordings).values(recordingToRow(recording));
        return recording;
      },
      { entity: "recording", id: recording.id, callId: recording.callId },
    );
  }

  getRecordingById(id: string): Promise<Recording | null> {
    return this.run(async () => {
      const [row] = await this.db.select().from(recordings).where(eq(recordings.id, id));
      return row ? rowToRecording(row) : null;
    });
  }

  getRecordingsByCallId(callId: string): Promise<Recording[]> {
    return this.run(async () =>
      (
        await this.db
          .select()
          .from(recordings)
          .where(eq(recordings.callId, callId))
          .orderBy(asc(recordings.createdAt), asc(recordings.id))
      ).map(rowToRecording),
    );
  }

  getRecordingsOfCallsStartedBefore(before: Date, limit: number): Promise<Recording[]> {
    return this.run(async () =>
      (
        await this.db
          .select({ recording: recordings })
          .from(recordings)
          .innerJoin(calls, eq(calls.id, recordings.callId))
          .where(lt(calls.startedAt, before))
          .orderBy(asc(calls.startedAt), asc(calls.id), asc(recordings.id))
          .limit(limit)
      ).map((row) => rowToRecording(row.recording)),
    );
  }

  deleteRecording(id: string): Promise<boolean> {
    return this.run(
      async () =>
        (
          await this.db
            .delete(recordings)
            .where(eq(recordings.id, id))
            .returning({ id: recordings.id })
        ).length > 0,
    );
  }

  setRecordingCloudUrl(id: string, cloudUrl: string): Promise<boolean> {
    return this.run(
      async () =>
        (
          await this.db
            .update(recordings)
            .set({ cloudUrl })
            .where(eq(recordings.id, id))
            .returning({ id: recordings.id })
        ).length > 0,
    );
  }

  createTranscript(transcript: Transcript): Promise<Transcript> {
    return this.writeLater({ table: "transcripts", row: transcriptToRow(transcript) }, transcript, {
      entity: "transcript",
      id: transcript.id,
      callId: transcript.callId,
    });
  }

  markTranscriptInterrupted(id: string, cut?: TranscriptCut): Promise<void> {
    return this.runAfterPendingWrites(async () => {
      const updated = await this.db
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
        .returning({ seq: transcripts.seq });
      if (updated.length === 0) throw notFound(`transcript ${id} not found`);
    });
  }

  getTranscriptsByCallId(callId: string): Promise<Transcript[]> {
    return this.runAfterPendingWrites(async () =>
      (
        await this.db
          .select(transcriptRowColumns)
          .from(transcripts)
          .where(eq(transcripts.callId, callId))
          // Spoken order: by offset from call start where known (a caller's transcription can
          // arrive after the assistant has begun answering), then by insertion; unknown last.
          .orderBy(sql`${transcripts.offsetMs} ASC NULLS LAST`, asc(transcripts.seq))
      ).map(rowToTranscript),
    );
  }

  getTranscriptById(id: string): Promise<Transcript | null> {
    return this.runAfterPendingWrites(async () => {
      const [row] = await this.db
        .select(transcriptRowColumns)
        .from(transcripts)
        .where(eq(transcripts.id, id));
      return row ? rowToTranscript(row) : null;
    });
  }

  countTranscriptsByCallId(callId: string): Promise<number> {
    return this.runAfterPendingWrites(async () => {
      const [row] = await this.db
        .select({ n: count() })
        .from(transcripts)
        .where(eq(transcripts.callId, callId));
      return row?.n ?? 0;
    });
  }

  searchTranscripts(query: TranscriptSearchQuery): Promise<TranscriptHit[]> {
    return this.runAfterPendingWrites(() => {
      const { connection } = this;
      if (connection.driver !== "pg") throw new Error("search runs on the pg driver only");
      this.transcriptSearch ??= new PostgresTranscriptSearch(connection.db, {
        candidates: this.options.searchCandidates,
      });
      return this.transcriptSearch.search(query);
    });
  }

  createAnalytics(record: Analytics): Promise<Analytics> {
    return this.writeLater({ table: "analytics", row: analyticsToRow(record) }, record, {
      entity: "analytics record",
      id: record.id,
      callId: record.callId,
    });
  }

  getAnalyticsByCallId(callId: string): Promise<Analytics[]> {
    return this.runAfterPendingWrites(async () =>
      (
        await this.db
          .select()
          .from(analytics)
          .where(eq(analytics.callId, callId))
          // seq breaks ties between snapshots taken within the same millisecond.
          .orderBy(asc(analytics.createdAt), asc(analytics.seq))
      ).map(rowToAnalytics),
    );
  }

  getAnalyticsById(id: string): Promise<Analytics | null> {
    return this.runAfterPendingWrites(async () => {
      const [row] = await this.db.select().from(analytics).where(eq(analytics.id, id));
      return row ? rowToAnalytics(row) : null;
    });
  }

  countAnalyticsByCallId(callId: string): Promise<number> {
    return this.runAfterPendingWrites(async () => {
      const [row] = await this.db
        .select({ n: count() })
        .from(analytics)
        .where(eq(analytics.callId, callId));
      return row?.n ?? 0;
    });
  }

  createOrUpdateMetadata(metadata: CallMetadata): Promise<CallMetadata> {
    return this.run(
      async () => {
        const { callId, ...changes } = metadataToRow(metadata);
        await this.db
          .insert(callMetadata)
          .values({ callId, ...changes })
          .onConflictDoUpdate({ target: callMetadata.callId, set: changes });
        return metadata;
      },
      { entity: "metadata", id: metadata.callId, callId: metadata.callId },
    );
  }

  getMetadataByCallId(callId: string): Promise<CallMetadata | null> {
    return this.run(async () => {
      const [row] = await this.db
        .select()
        .from(callMetadata)
        .where(eq(callMetadata.callId, callId));
      return row ? rowToMetadata(row) : null;
    });
  }

  renewLease(instanceId: string, renewedAt: Date, leaseExpiresAt: Date): Promise<void> {
    return this.run(async () => {
      await this.db
        .insert(instances)
        .values({ id: instanceId, renewedAt, leaseExpiresAt })
        .onConflictDoUpdate({ target: instances.id, set: { renewedAt, leaseExpiresAt } });
    });
  }

  releaseLease(instanceId: string): Promise<void> {
    return this.run(async () => {
      await this.db.delete(instances).where(eq(instances.id, instanceId));
    });
  }

  getOwnedActiveCalls(): Promise<OwnedActiveCall[]> {
    return this.run(async () =>
      (
        await this.db
          .select({
            call: calls,
            renewedAt: instances.renewedAt,
            expires: instances.leaseExpiresAt,
          })
          .from(calls)
          .leftJoin(instances, eq(instances.id, calls.owner))
          .where(eq(calls.status, "active"))
          .orderBy(asc(calls.startedAt), asc(calls.id))
      ).map(({ call, renewedAt, expires }) => ({
        call: rowToCall(call),
        owner: call.owner,
        renewedAt,
        leaseExpiresAt: expires,
      })),
    );
  }

  failCallIfOwnedBy(ended: Call, owner: string | null): Promise<boolean> {
    return this.run(
      async () => {
        const { id, ...changes } = callToRow(ended);
        const updated = await this.db
          .update(calls)
          .set(changes)
          .where(
            and(
              eq(calls.id, id),
              eq(calls.status, "active"),
              owner === null ? isNull(calls.owner) : eq(calls.owner, owner),
            ),
          )
          .returning({ id: calls.id });
        return updated.length === 1;
      },
      { entity: "call", id: ended.id },
    );
  }

  ping(): Promise<void> {
    return this.run(async () => {
      await this.db.execute(sql`SELECT 1`);
    });
  }
}
