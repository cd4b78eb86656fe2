import { phraseFrequency, searchTokens } from "../../src/adapters/sqlite/bm25.ts";
import { type SearchTerm, searchTerm, searchWords } from "../../src/adapters/sqlite/fts-query.ts";
import { type ListStart, listContinuation, pageOf } from "../../src/application/call-list-sort.ts";
import type {
  CallFilter,
  CallListQuery,
  CallPage,
  CallRepository,
  CallSort,
  CallTotals,
  OwnedActiveCall,
  TranscriptHit,
  TranscriptSearchPosition,
  TranscriptSearchQuery,
} from "../../src/application/ports/index.ts";
import type { Analytics, JsonObject } from "../../src/domain/analytics.ts";
import type { Call } from "../../src/domain/call.ts";
import type { CallMetadata } from "../../src/domain/call-metadata.ts";
import { type CallAnalysis, NO_ANALYSIS } from "../../src/domain/call-review.ts";
import {
  conflict,
  invalidArgument,
  notFound,
  storageUnavailable,
} from "../../src/domain/errors.ts";
import type { Recording } from "../../src/domain/recording.ts";
import {
  type Speaker,
  spokenText,
  type Transcript,
  type TranscriptCut,
} from "../../src/domain/transcript.ts";
import { bm25Ranking, snippetOf } from "./in-memory-search.ts";

export type RepositoryMethod = keyof CallRepository;

/** One call made to the repository, with the arguments it was given. */
export type RepositoryCall = {
  [M in RepositoryMethod]: { method: M; args: Parameters<CallRepository[M]> };
}[RepositoryMethod];

/** A call held by holdNext(): it does nothing until the test lets it go on or fail. */
export interface HeldCall {
  /** Resolves once the held method has been called. */
  readonly reached: Promise<void>;
  /** Does the work now (as of now: a held write sees the state at release time). */
  release(): void;
  /** Rejects the call without doing its work. */
  fail(error?: Error): void;
}

interface StoredTranscript {
  /** As the adapter's AUTOINCREMENT rowid: insertion order, never reused after a delete. */
  seq: number;
  transcript: Transcript;
}

interface Hold {
  reached: () => void;
  gate: Promise<void>;
}

/** The message the SQLite adapter gives every failure it cannot name (sqlite-errors.ts). */
const UNAVAILABLE = "the database could not complete the operation";

/**
 * CallRepository in memory, for unit tests of the application layer, holding to what the SQLite
 * adapter (DrizzleCallRepository) lets a caller observe:
 *
 * - DomainError codes and messages: `conflict` for a duplicate id or streamSid (streamSid named
 *   when both collide, as SQLite reports it), `not_found` for a
 *   child row of a missing call, an update of a missing call or transcript;
 * - orders, ties included: ids compare as SQLite's BINARY collation does (by UTF-8 bytes), and
 *   rows without a key of their own (analytics, recordings' file keys) in insertion order;
 * - every row read is a fresh copy, and JSON columns go through JSON as they do in SQLite, so no
 *   test can change the store by mutating what it read or what it wrote.
 *
 * Where it differs, on purpose:
 * - Every write applies when it is called and its promise settles in a microtask. The adapter
 *   commits transcripts and analytics at the end of the event-loop turn (WriteBehindBatch), so
 *   there a transcript created before its call in the same turn would still succeed; here it is
 *   not_found. Nothing waits on a timer, so vi's fake timers never hold a promise up.
 * - searchTranscripts ranks `relevance` with the adapter's own BM25 over every match (the adapter
 *   ranks the newest 2,000); snippets of rows over 12 tokens are chosen as FTS5 chooses them,
 *   less its preference for windows that start a sentence (see in-memory-search.ts).
 */
export class InMemoryCallRepository implements CallRepository {
  /** While true, every method rejects with storage_unavailable, as on a closed database. */
  unavailable = false;
  /** Every call made, in order, failed ones included. */
  readonly log: RepositoryCall[] = [];

  private readonly calls = new Map<string, Call>();
  private readonly recordings: Recording[] = [];
  private transcripts: StoredTranscript[] = [];
  private analytics: Analytics[] = [];
  private readonly metadata = new Map<string, CallMetadata>();
  /** calls.owner, by call id. */
  private readonly owners = new Map<string, string | null>();
  /** The instances table: renewedAt and leaseExpiresAt by instance id. */
  private readonly leases = new Map<string, { renewedAt: Date; leaseExpiresAt: Date }>();
  private lastSeq = 0;
  /**
   * DeferredFtsIndex's `indexed_through`, advanced by every search to the newest seq present:
   * a relevance search's anchor. It differs from lastSeq when the newest transcripts were
   * deleted before any search indexed them. (The adapter also catches up on a 1 s timer; that
   * moves only the opaque anchor, never which rows a page holds.)
   */
  private indexedThrough = 0;
  private readonly failures = new Map<RepositoryMethod, Error[]>();
  private readonly holds = new Map<RepositoryMethod, Hold[]>();

  /** The next call of `method` rejects with `error` (default: storage_unavailable) and writes nothing. */
  failNext(method: RepositoryMethod, error: Error = storageUnavailable(UNAVAILABLE)): void {
    const queue = this.failures.get(method) ?? [];
    queue.push(error);
    this.failures.set(method, queue);
  }

  /**
   * The next call of `method` waits until the test releases it: for races such as a slow
   * createCall while the media stream goes on. A failNext() queued for the same method wins.
   */
  holdNext(method: RepositoryMethod): HeldCall {
    let release!: () => void;
    let fail!: (error: Error) => void;
    let reached!: () => void;
    const gate = new Promise<void>((resolve, reject) => {
      release = resolve;
      fail = reject;
    });
    const reachedPromise = new Promise<void>((resolve) => {
      reached = resolve;
    });
    const queue = this.holds.get(method) ?? [];
    queue.push({ reached, gate });
    this.holds.set(method, queue);
    return {
      reached: reachedPromise,
      release,
      fail: (error = storageUnavailable(UNAVAILABLE)) => fail(error),
    };
  }

  /** The arguments of every call made to `method`, in order. */
  callsTo<M extends RepositoryMethod>(method: M): Array<Parameters<CallRepository[M]>> {
    return this.log
      .filter((entry): entry is Extract<RepositoryCall, { method: M }> => entry.method === method)
      .map((entry) => entry.args as Parameters<CallRepository[M]>);
  }

  /** Rows stored now, per table (the adapter's table names), optionally of one call. */
  rowCount(
    table: "calls" | "recordings" | "transcripts" | "analytics" | "call_metadata",
    callId?: string,
  ): number {
    const of = <T extends { callId: string }>(rows: Iterable<T>) =>
      [...rows].filter((row) => callId === undefined || row.callId === callId).length;
    switch (table) {
      case "calls":
        return callId === undefined ? this.calls.size : this.calls.has(callId) ? 1 : 0;
      case "recordings":
        return of(this.recordings);
      case "transcripts":
        return of(this.transcripts.map((row) => row.transcript));
      case "analytics":
        return of(this.analytics);
      case "call_metadata":
        return of(this.metadata.values());
    }
  }

  createCall(call: Call, owner?: string | null): Promise<Call> {
    const args: [Call, (string | null)?] = owner === undefined ? [call] : [call, owner];
    return this.run("createCall", args, () => {
      // When both collide SQLite names the streamSid index, not the primary key.
      if (this.callWithStreamSid(call.streamSid)) {
        throw conflict("a call with this streamSid already exists");
      }
      if (this.calls.has(call.id)) throw conflict("a call with this id already exists");
      this.calls.set(call.id, withAnalysisOf(call, NO_ANALYSIS));
      this.owners.set(call.id, owner ?? null);
      // The adapter hands back its argument, not a row read back.
      return call;
    });
  }

  updateCall(call: Call): Promise<Call> {
    return this.run("updateCall", [call], () => {
      if (!this.calls.has(call.id)) throw notFound(`call ${call.id} not found`);
      const other = this.callWithStreamSid(call.streamSid);
      if (other && other.id !== call.id) {
        throw conflict("a call with this streamSid already exists");
      }
      this.calls.set(call.id, withAnalysisOf(call, this.calls.get(call.id) ?? NO_ANALYSIS));
      return call;
    });
  }

  setCallAnalysis(callId: string, analysis: CallAnalysis): Promise<boolean> {
    return this.run("setCallAnalysis", [callId, analysis], () => {
      const call = this.calls.get(callId);
      if (!call) return false;
      this.calls.set(callId, withAnalysisOf(call, analysis));
      return true;
    });
  }

  getCallById(id: string): Promise<Call | null> {
    return this.run("getCallById", [id], () => {
      const call = this.calls.get(id);
      return call ? copyCall(call) : null;
    });
  }

  getCallByStreamSid(streamSid: string): Promise<Call | null> {
    return this.run("getCallByStreamSid", [streamSid], () => {
      const call = this.callWithStreamSid(streamSid);
      return call ? copyCall(call) : null;
    });
  }

  getAllCalls(query: CallListQuery): Promise<CallPage> {
    return this.run("getAllCalls", [query], () => {
      const { sort, after } = listContinuation(query);
      const order = listOrder(sort);
      const rows = [...this.calls.values()]
        .filter(
          (call) =>
            (after === undefined || order(keyOf(call, sort), after) > 0) &&
            matchesFilter(call, query),
        )
        .sort((a, b) => order(keyOf(a, sort), keyOf(b, sort)))
        .slice(0, Math.max(0, query.limit) + 1)
        .map(copyCall);
      // As the adapter: one row more than asked tells whether another page exists.
      return pageOf(rows, query.limit, sort);
    });
  }

  getCallTotals(filter: CallFilter): Promise<CallTotals> {
    return this.run("getCallTotals", [filter], () => {
      const selected = [...this.calls.values()].filter((call) => matchesFilter(call, filter));
      const sum = (values: (number | null)[]) => {
        const present = values.filter((v): v is number => v !== null);
        return present.length === 0 ? null : present.reduce((a, b) => a + b, 0);
      };
      const round = (value: number, places: number) =>
        Math.round(value * 10 ** places) / 10 ** places;
      const money = (value: number | null) => (value === null ? null : round(value, 6));
      const latencies = selected.map((c) => c.avgResponseLatencyMs).filter((v) => v !== null);
      const p95s = selected
        .map((c) => c.p95ResponseLatencyMs)
        .filter((v): v is number => v !== null)
        .sort((a, b) => a - b);
      const byDay = new Map<string, Call[]>();
      for (const call of selected) {
        const date = call.startedAt.toISOString().slice(0, 10);
        byDay.set(date, [...(byDay.get(date) ?? []), call]);
      }
      return {
        calls: selected.length,
        active: selected.filter((c) => c.status === "active").length,
        failed: selected.filter((c) => c.status === "failed").length,
        minutes: round((sum(selected.map((c) => c.durationSeconds)) ?? 0) / 60, 3),
        avgResponseLatencyMs:
          latencies.length === 0 ? null : Math.round((sum(latencies) ?? 0) / latencies.length),
        p95ResponseLatencyMs:
          p95s.length === 0 ? null : p95s[Math.max(0, Math.ceil(0.95 * p95s.length) - 1)]!,
        costUsd: money(sum(selected.map((c) => c.costUsd))),
        days: [...byDay.entries()]
          .sort(([a], [b]) => (a < b ? -1 : 1))
          .map(([date, day]) => ({
            date,
            calls: day.length,
            minutes: round((sum(day.map((c) => c.durationSeconds)) ?? 0) / 60, 3),
            failed: day.filter((c) => c.status === "failed").length,
            costUsd: money(sum(day.map((c) => c.costUsd))),
          })),
      };
    });
  }

  getActiveCalls(): Promise<Call[]> {
    return this.run("getActiveCalls", [], () =>
      [...this.calls.values()]
        .filter((call) => call.status === "active")
        .sort((a, b) => -newestFirst(a, b))
        .map(copyCall),
    );
  }

  renewLease(instanceId: string, renewedAt: Date, leaseExpiresAt: Date): Promise<void> {
    return this.run("renewLease", [instanceId, renewedAt, leaseExpiresAt], () => {
      this.leases.set(instanceId, {
        renewedAt: new Date(renewedAt),
        leaseExpiresAt: new Date(leaseExpiresAt),
      });
    });
  }

  releaseLease(instanceId: string): Promise<void> {
    return this.run("releaseLease", [instanceId], () => {
      this.leases.delete(instanceId);
    });
  }

  getOwnedActiveCalls(): Promise<OwnedActiveCall[]> {
    return this.run("getOwnedActiveCalls", [], () =>
      [...this.calls.values()]
        .filter((call) => call.status === "active")
        .sort((a, b) => -newestFirst(a, b))
        .map((call) => {
          const owner = this.owners.get(call.id) ?? null;
          const lease = owner === null ? undefined : this.leases.get(owner);
          return {
            call: copyCall(call),
            owner,
            renewedAt: lease ? new Date(lease.renewedAt) : null,
            leaseExpiresAt: lease ? new Date(lease.leaseExpiresAt) : null,
          };
        }),
    );
  }

  failCallIfOwnedBy(ended: Call, owner: string | null): Promise<boolean> {
    return this.run("failCallIfOwnedBy", [ended, owner], () => {
      const stored = this.calls.get(ended.id);
      if (stored?.status !== "active") return false;
      if ((this.owners.get(ended.id) ?? null) !== owner) return false;
      this.calls.set(ended.id, copyCall(ended));
      return true;
    });
  }

  deleteCall(id: string): Promise<{ deleted: boolean; fileKeys: string[] }> {
    return this.run("deleteCall", [id], () => {
      const fileKeys = this.recordings.filter((r) => r.callId === id).map((r) => r.fileKey);
      this.owners.delete(id);
      if (!this.calls.delete(id)) return { deleted: false, fileKeys };
      // ON DELETE CASCADE on every child table.
      for (let i = this.recordings.length - 1; i >= 0; i--) {
        if (this.recordings[i]!.callId === id) this.recordings.splice(i, 1);
      }
      this.transcripts = this.transcripts.filter((row) => row.transcript.callId !== id);
      this.analytics = this.analytics.filter((row) => row.callId !== id);
      this.metadata.delete(id);
      return { deleted: true, fileKeys };
    });
  }

  createRecording(recording: Recording): Promise<Recording> {
    return this.run("createRecording", [recording], () => {
      if (this.recordings.some((r) => r.id === recording.id)) {
        throw conflict("a recording with this id already exists");
      }
      this.requireCall(recording.callId);
      this.recordings.push(copyRecording(recording));
      return recording;
    });
  }

  getRecordingById(id: string): Promise<Recording | null> {
    return this.run("getRecordingById", [id], () => {
      const recording = this.recordings.find((r) => r.id === id);
      return recording ? copyRecording(recording) : null;
    });
  }

  getRecordingsByCallId(callId: string): Promise<Recording[]> {
    return this.run("getRecordingsByCallId", [callId], () =>
      this.recordings
        .filter((r) => r.callId === callId)
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime() || compareBinary(a.id, b.id))
        .map(copyRecording),
    );
  }

  getRecordingsOfCallsStartedBefore(before: Date, limit: number): Promise<Recording[]> {
    return this.run("getRecordingsOfCallsStartedBefore", [before, limit], () =>
      this.recordings
        .map((recording) => ({ recording, call: this.calls.get(recording.callId)! }))
        .filter(({ call }) => call.startedAt.getTime() < before.getTime())
        .sort(
          (a, b) => -newestFirst(a.call, b.call) || compareBinary(a.recording.id, b.recording.id),
        )
        .slice(0, Math.max(0, limit))
        .map(({ recording }) => copyRecording(recording)),
    );
  }

  deleteRecording(id: string): Promise<boolean> {
    return this.run("deleteRecording", [id], () => {
      const index = this.recordings.findIndex((r) => r.id === id);
      if (index < 0) return false;
      this.recordings.splice(index, 1);
      return true;
    });
  }

  setRecordingCloudUrl(id: string, cloudUrl: string): Promise<boolean> {
    return this.run("setRecordingCloudUrl", [id, cloudUrl], () => {
      const index = this.recordings.findIndex((r) => r.id === id);
      const recording = this.recordings[index];
      if (!recording) return false;
      this.recordings[index] = { ...recording, cloudUrl };
      return true;
    });
  }

  createTranscript(transcript: Transcript): Promise<Transcript> {
    return this.run("createTranscript", [transcript], () => {
      if (this.transcripts.some((row) => row.transcript.id === transcript.id)) {
        throw conflict("a transcript with this id already exists");
      }
      this.requireCall(transcript.callId);
      this.transcripts.push({ seq: ++this.lastSeq, transcript: copyTranscript(transcript) });
      return transcript;
    });
  }

  markTranscriptInterrupted(id: string, cut?: TranscriptCut): Promise<void> {
    const args: Parameters<CallRepository["markTranscriptInterrupted"]> = cut ? [id, cut] : [id];
    return this.run("markTranscriptInterrupted", args, () => {
      const row = this.transcripts.find((r) => r.transcript.id === id);
      if (!row) throw notFound(`transcript ${id} not found`);
      // Without a cut only the flag changes, as the adapter's UPDATE sets nothing else.
      row.transcript = cut
        ? {
            ...row.transcript,
            interrupted: true,
            heardText: cut.heardText,
            heardMs: cut.heardMs,
            generatedMs: cut.generatedMs,
          }
        : { ...row.transcript, interrupted: true };
    });
  }

  getTranscriptById(id: string): Promise<Transcript | null> {
    return this.run("getTranscriptById", [id], () => {
      const row = this.transcripts.find((r) => r.transcript.id === id);
      return row ? copyTranscript(row.transcript) : null;
    });
  }

  getTranscriptsByCallId(callId: string): Promise<Transcript[]> {
    return this.run("getTranscriptsByCallId", [callId], () =>
      this.transcripts
        .filter((row) => row.transcript.callId === callId)
        // Spoken order, as the adapter: by offset where known, then insertion; unknown last.
        .sort((a, b) => {
          const x = a.transcript.offsetMs;
          const y = b.transcript.offsetMs;
          const unknown = (x === null ? 1 : 0) - (y === null ? 1 : 0);
          return unknown || (x ?? 0) - (y ?? 0) || a.seq - b.seq;
        })
        .map((row) => copyTranscript(row.transcript)),
    );
  }

  countTranscriptsByCallId(callId: string): Promise<number> {
    return this.run(
      "countTranscriptsByCallId",
      [callId],
      () => this.transcripts.filter((row) => row.transcript.callId === callId).length,
    );
  }

  searchTranscripts(query: TranscriptSearchQuery): Promise<TranscriptHit[]> {
    return this.run("searchTranscripts", [query], () => this.search(query));
  }

  createAnalytics(record: Analytics): Promise<Analytics> {
    return this.run("createAnalytics", [record], () => {
      if (this.analytics.some((row) => row.id === record.id)) {
        throw conflict("a analytics record with this id already exists");
      }
      this.requireCall(record.callId);
      this.analytics.push(copyAnalytics(record));
      return record;
    });
  }

  getAnalyticsById(id: string): Promise<Analytics | null> {
    return this.run("getAnalyticsById", [id], () => {
      const row = this.analytics.find((r) => r.id === id);
      return row ? copyAnalytics(row) : null;
    });
  }

  getAnalyticsByCallId(callId: string): Promise<Analytics[]> {
    return this.run("getAnalyticsByCallId", [callId], () =>
      this.analytics
        .filter((row) => row.callId === callId)
        // Array.sort is stable: same-millisecond snapshots stay in insertion (rowid) order.
        .sort((a, b) => a.createdAt.getTime() - b.createdAt.getTime())
        .map(copyAnalytics),
    );
  }

  countAnalyticsByCallId(callId: string): Promise<number> {
    return this.run(
      "countAnalyticsByCallId",
      [callId],
      () => this.analytics.filter((row) => row.callId === callId).length,
    );
  }

  createOrUpdateMetadata(metadata: CallMetadata): Promise<CallMetadata> {
    return this.run("createOrUpdateMetadata", [metadata], () => {
      this.requireCall(metadata.callId);
      // An upsert replaces every column: merging patches is the domain's job (mergeMetadata).
      this.metadata.set(metadata.callId, copyMetadata(metadata));
      return metadata;
    });
  }

  getMetadataByCallId(callId: string): Promise<CallMetadata | null> {
    return this.run("getMetadataByCallId", [callId], () => {
      const metadata = this.metadata.get(callId);
      return metadata ? copyMetadata(metadata) : null;
    });
  }

  ping(): Promise<void> {
    return this.run("ping", [], () => undefined);
  }

  private search(query: TranscriptSearchQuery): TranscriptHit[] {
    // Every search first indexes what waits for the index, whatever it then asks.
    const newest = this.transcripts.reduce((max, row) => Math.max(max, row.seq), 0);
    this.indexedThrough = Math.max(this.indexedThrough, newest);
    const words = searchWords(query.q);
    if (words.length === 0 || query.limit <= 0) return [];
    const sort = query.sort ?? "relevance";
    const after = query.after;
    if (after !== undefined && after.sort !== sort) {
      throw invalidArgument(`cursor: was issued for sort=${after.sort}, not sort=${sort}`);
    }
    // FTS5 drops a quoted word with no token in it ("!!!") from the query. A word of four
    // letters or more matches by its stem, as a prefix (fts-query.ts, searchTerm).
    const terms = words.map(searchTerm).filter((term) => term.tokens.length > 0);
    if (terms.length === 0) return [];
    const speaker: Speaker | null = query.speaker ?? null;
    const skip = after === undefined ? Math.max(0, Math.floor(query.offset ?? 0)) : 0;
    // The adapter indexes what the caller heard of a turn where that is known (migration 0004).
    const holdsAll = (row: StoredTranscript) => {
      const tokens = searchTokens(spokenText(row.transcript));
      return terms.every((term) => phraseFrequency(tokens, term.tokens, term.prefix) > 0);
    };
    const matchesBefore = (before: number) =>
      this.transcripts
        .filter(
          (row) =>
            row.seq < before &&
            (speaker === null || row.transcript.speaker === speaker) &&
            holdsAll(row),
        )
        .sort((a, b) => b.seq - a.seq);

    if (sort === "recent") {
      const before = after?.sort === "recent" ? after.before : Number.POSITIVE_INFINITY;
      return matchesBefore(before)
        .slice(skip, skip + query.limit)
        .map((row) => this.hit(row, terms, { sort: "recent", before: row.seq }));
    }
    const anchor = after?.sort === "relevance" ? after.anchor : this.indexedThrough + 1;
    const offset = after?.sort === "relevance" ? after.offset : skip;
    const candidates = matchesBefore(anchor);
    if (offset >= candidates.length) return [];
    const ranked = bm25Ranking(
      candidates.map((row) => ({ seq: row.seq, text: spokenText(row.transcript) })),
      this.transcripts.filter((row) => row.seq < anchor).map((row) => spokenText(row.transcript)),
      this.transcripts.map((row) => spokenText(row.transcript)),
      terms,
    );
    const bySeq = new Map(candidates.map((row) => [row.seq, row]));
    return ranked
      .slice(offset, offset + query.limit)
      .map((seq, i) =>
        this.hit(bySeq.get(seq)!, terms, { sort: "relevance", anchor, offset: offset + i + 1 }),
      );
  }

  private hit(
    row: StoredTranscript,
    terms: readonly SearchTerm[],
    next: TranscriptSearchPosition,
  ): TranscriptHit {
    const t = row.transcript;
    return {
      callId: t.callId,
      transcriptId: t.id,
      speaker: t.speaker,
      snippet: snippetOf(
        spokenText(t),
        terms.map((term) => term.tokens),
        12,
        terms.map((term) => term.prefix),
      ),
      offsetMs: t.offsetMs,
      startedAt: new Date(this.calls.get(t.callId)!.startedAt.getTime()),
      next,
    };
  }

  private callWithStreamSid(streamSid: string): Call | undefined {
    for (const call of this.calls.values()) if (call.streamSid === streamSid) return call;
    return undefined;
  }

  /** A child row of a missing call fails as the adapter's foreign key does. */
  private requireCall(callId: string): void {
    if (!this.calls.has(callId)) throw notFound(`call ${callId} not found`);
  }

  private run<M extends RepositoryMethod, T>(
    method: M,
    args: Parameters<CallRepository[M]>,
    work: () => T,
  ): Promise<T> {
    this.log.push({ method, args } as RepositoryCall);
    if (this.unavailable) return Promise.reject(storageUnavailable(UNAVAILABLE));
    const failure = this.failures.get(method)?.shift();
    if (failure) return Promise.reject(failure);
    const hold = this.holds.get(method)?.shift();
    if (hold) {
      hold.reached();
      return hold.gate.then(() => this.attempt(work));
    }
    return this.attempt(work);
  }

  private attempt<T>(work: () => T): Promise<T> {
    if (this.unavailable) return Promise.reject(storageUnavailable(UNAVAILABLE));
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(error);
    }
  }
}

/** Keyset order of the calls list: startedAt desc, then id desc (negative: `a` comes first). */
function newestFirst(a: { startedAt: Date; id: string }, b: { startedAt: Date; id: string }) {
  return b.startedAt.getTime() - a.startedAt.getTime() || compareBinary(b.id, a.id);
}

/** A call's place in a sort: the sorted field's value (null for startedAt), startedAt, id. */
function keyOf(call: Call, sort: CallSort): ListStart {
  const value = sort.field === "startedAt" ? null : call[sort.field];
  return { value, startedAt: call.startedAt, id: call.id };
}

/**
 * The list's order (negative: `a` comes first): by value, startedAt and id in the sort's
 * direction, calls without a value after all those with one in either direction.
 */
function listOrder(sort: CallSort): (a: ListStart, b: ListStart) => number {
  const sign = sort.order === "asc" ? 1 : -1;
  return (a, b) => {
    if ((a.value === null) !== (b.value === null)) return a.value === null ? 1 : -1;
    const byValue = a.value === null || b.value === null ? 0 : a.value - b.value;
    const byTime = a.startedAt.getTime() - b.startedAt.getTime();
    return sign * (byValue || byTime || compareBinary(a.id, b.id));
  };
}

/**
 * SQLite's BINARY collation compares UTF-8 bytes, which is code point order; JavaScript's `<`
 * compares UTF-16 units and puts U+E000..U+FFFF after astral characters instead of before.
 */
export function compareBinary(a: string, b: string): number {
  if (a === b) return 0;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function matchesFilter(call: Call, filter: CallFilter): boolean {
  const equal = <T>(wanted: T | undefined, value: T) => wanted === undefined || wanted === value;
  const duration = call.durationSeconds;
  return (
    equal(filter.status, call.status) &&
    equal(filter.caller, call.caller) &&
    equal(filter.called, call.called) &&
    equal(filter.callSid, call.callSid) &&
    equal(filter.streamSid, call.streamSid) &&
    equal(filter.endReason, call.endReason) &&
    equal(filter.sentiment, call.sentiment) &&
    equal(filter.outcome, call.outcome) &&
    equal(filter.analysisStatus, call.analysisStatus) &&
    (filter.callerDigits === undefined ||
      (call.caller ?? "\u0000").includes(filter.callerDigits)) &&
    (filter.since === undefined || call.startedAt.getTime() >= filter.since.getTime()) &&
    (filter.until === undefined || call.startedAt.getTime() < filter.until.getTime()) &&
    (filter.minDurationSeconds === undefined ||
      (duration !== null && duration >= filter.minDurationSeconds)) &&
    (filter.maxDurationSeconds === undefined ||
      (duration !== null && duration <= filter.maxDurationSeconds))
  );
}

// Each copy lists every field so that a field added to the domain fails to type-check here
// rather than silently not being stored.

const copyDate = (date: Date): Date => new Date(date.getTime());
const copyDateOrNull = (date: Date | null): Date | null => (date === null ? null : copyDate(date));
/** SQLite keeps JSON as text: what comes back is what JSON.stringify made of it. */
const viaJson = (value: JsonObject | null): JsonObject | null =>
  value === null ? null : (JSON.parse(JSON.stringify(value)) as JsonObject);

const copyCall = (c: Call): Call => ({
  id: c.id,
  streamSid: c.streamSid,
  callSid: c.callSid,
  caller: c.caller,
  called: c.called,
  status: c.status,
  startedAt: copyDate(c.startedAt),
  endedAt: copyDateOrNull(c.endedAt),
  durationSeconds: c.durationSeconds,
  createdAt: copyDate(c.createdAt),
  updatedAt: copyDate(c.updatedAt),
  endReason: c.endReason,
  turns: c.turns,
  costUsd: c.costUsd,
  sentiment: c.sentiment,
  networkQuality: c.networkQuality,
  avgResponseLatencyMs: c.avgResponseLatencyMs,
  p95ResponseLatencyMs: c.p95ResponseLatencyMs,
  topic: c.topic,
  ...copyAnalysis(c),
});

const copyAnalysis = (a: CallAnalysis): CallAnalysis => ({
  analysisStatus: a.analysisStatus,
  summary: a.summary,
  outcome: a.outcome,
  analysisFields: viaJson(a.analysisFields),
});

/** As the adapters: a call's analysis is written by setCallAnalysis only. */
const withAnalysisOf = (call: Call, stored: CallAnalysis): Call =>
  copyCall({ ...call, ...copyAnalysis(stored) });

const copyRecording = (r: Recording): Recording => ({
  id: r.id,
  callId: r.callId,
  track: r.track,
  format: r.format,
  codec: r.codec,
  sampleRate: r.sampleRate,
  channels: r.channels,
  sizeBytes: r.sizeBytes,
  durationSeconds: r.durationSeconds,
  fileKey: r.fileKey,
  cloudUrl: r.cloudUrl,
  createdAt: copyDate(r.createdAt),
});

const copyTranscript = (t: Transcript): Transcript => ({
  id: t.id,
  callId: t.callId,
  speaker: t.speaker,
  text: t.text,
  confidence: t.confidence,
  offsetMs: t.offsetMs,
  interrupted: t.interrupted,
  heardText: t.heardText,
  heardMs: t.heardMs,
  generatedMs: t.generatedMs,
  failed: t.failed,
  createdAt: copyDate(t.createdAt),
});

const copyAnalytics = (a: Analytics): Analytics => ({
  id: a.id,
  callId: a.callId,
  sentiment: a.sentiment,
  sentimentScore: a.sentimentScore,
  callerTalkMs: a.callerTalkMs,
  assistantTalkMs: a.assistantTalkMs,
  silenceMs: a.silenceMs,
  interruptions: a.interruptions,
  avgResponseLatencyMs: a.avgResponseLatencyMs,
  p95ResponseLatencyMs: a.p95ResponseLatencyMs,
  customMetrics: viaJson(a.customMetrics),
  createdAt: copyDate(a.createdAt),
});

const copyMetadata = (m: CallMetadata): CallMetadata => ({
  callId: m.callId,
  language: m.language,
  region: m.region,
  deviceType: m.deviceType,
  networkQuality: m.networkQuality,
  customData: viaJson(m.customData),
  updatedAt: copyDate(m.updatedAt),
});
