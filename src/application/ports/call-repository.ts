import type { Analytics, Sentiment } from "../../domain/analytics.ts";
import type { Call, CallStatus } from "../../domain/call.ts";
import type { CallMetadata } from "../../domain/call-metadata.ts";
import type { AnalysisStatus, CallAnalysis, EndReason } from "../../domain/call-review.ts";
import type { Recording } from "../../domain/recording.ts";
import type { Speaker, Transcript, TranscriptCut } from "../../domain/transcript.ts";

/** Which calls a list, an export or the totals cover; every given field must match. */
export interface CallFilter {
  status?: CallStatus;
  /** The whole number, exactly. */
  caller?: string;
  /** Digits that appear anywhere in the caller's number. */
  callerDigits?: string;
  called?: string;
  callSid?: string;
  streamSid?: string;
  /** On startedAt: since ≤ startedAt < until. */
  since?: Date;
  until?: Date;
  endReason?: EndReason;
  sentiment?: Sentiment;
  outcome?: string;
  analysisStatus?: AnalysisStatus;
  /** On durationSeconds: min ≤ duration ≤ max (a live call, with none, matches neither). */
  minDurationSeconds?: number;
  maxDurationSeconds?: number;
}

/** The list's sort columns, by the Call JSON's names. */
export type CallSortField = "startedAt" | "durationSeconds" | "costUsd" | "p95ResponseLatencyMs";
export type SortOrder = "asc" | "desc";

/**
 * The list's order: by `field`, then startedAt, then id, all in `order`. Calls without a value
 * of `field` (a live call has no duration yet) follow all the others in either order, among
 * themselves by startedAt then id in `order`.
 */
export interface CallSort {
  field: CallSortField;
  order: SortOrder;
}

/**
 * Where a page of the list ends, for the next page to start after. The default sort's position
 * is (startedAt, id) alone, as it was before the list had sorts, so positions handed out then
 * still continue it. Any other sort's names that sort, so that it continues only that one, and,
 * for a field other than startedAt, the last row's `value` of it (null: that row was among the
 * calls without one).
 */
export interface CallListPosition {
  startedAt: Date;
  id: string;
  sort?: CallSort;
  value?: number | null;
}

export interface CallListQuery extends CallFilter {
  limit: number;
  /** Default: startedAt desc (newest first). */
  sort?: CallSort;
  /**
   * The `next` of the previous page: return calls strictly after it in `sort`. A position of
   * another sort is an invalid_argument.
   */
  after?: CallListPosition;
}

/** Calls of one UTC day of a CallTotals. */
export interface CallDayTotals {
  /** YYYY-MM-DD, UTC. */
  date: string;
  calls: number;
  minutes: number;
  failed: number;
  /** Null when no call of the day has a cost. */
  costUsd: number | null;
}

/** What the calls a filter selects add up to. */
export interface CallTotals {
  calls: number;
  /** Calls still running (they have no duration yet). */
  active: number;
  failed: number;
  /** Ended calls' durations. */
  minutes: number;
  /** The mean of the calls' average response latencies; null when none has one. */
  avgResponseLatencyMs: number | null;
  /** The nearest-rank 95th percentile of the calls' p95 response latencies. */
  p95ResponseLatencyMs: number | null;
  costUsd: number | null;
  /** Days with calls, oldest first. */
  days: CallDayTotals[];
}

export interface CallPage {
  data: Call[];
  /** Position of the last row when more rows may follow, else null. */
  next: CallListPosition | null;
}

/** `relevance`: best match first; `recent`: newest transcript first. */
export type TranscriptSearchSort = "relevance" | "recent";

/**
 * Where the next page of a search starts; the repository hands it out with each hit and
 * takes it back unchanged. `recent` is a keyset position (hits stored before `before`);
 * `relevance` is an offset into the ranking of the transcripts stored before `anchor`, so that
 * transcripts stored while a client pages neither shift nor join the pages.
 */
export type TranscriptSearchPosition =
  | { sort: "recent"; before: number }
  | { sort: "relevance"; anchor: number; offset: number };

export interface TranscriptSearchQuery {
  q: string;
  limit: number;
  speaker?: Speaker;
  /** Default `relevance`. */
  sort?: TranscriptSearchSort;
  /** The `next` of the last hit of the previous page; absent for the first page. */
  after?: TranscriptSearchPosition;
  /** Hits to skip from the first, when there is no `after` (which is cheaper to follow). */
  offset?: number;
}

export interface TranscriptHit {
  callId: string;
  transcriptId: string;
  speaker: Speaker;
  snippet: string;
  offsetMs: number | null;
  startedAt: Date;
  /** Where a page that ends with this hit continues (in the sort it was found by). */
  next?: TranscriptSearchPosition;
}

/**
 * Durable storage of calls and everything recorded about them.
 * Adapters translate their failures into DomainError (not_found, conflict, ...).
 */
/** A live call's row with its owner's lease, as the expired-lease sweep and recovery see it. */
export interface OwnedActiveCall {
  call: Call;
  /** INSTANCE_ID of the process running it; null for calls stored before owners existed. */
  owner: string | null;
  /** The owner's last renewal and lease end; null when the owner has no lease row. */
  renewedAt: Date | null;
  leaseExpiresAt: Date | null;
}

export interface CallRepository {
  /** Stores a new call run by `owner` (an INSTANCE_ID); null leaves it unowned. */
  createCall(call: Call, owner?: string | null): Promise<Call>;
  updateCall(call: Call): Promise<Call>;
  getCallById(id: string): Promise<Call | null>;
  getCallByStreamSid(streamSid: string): Promise<Call | null>;
  getAllCalls(query: CallListQuery): Promise<CallPage>;
  getActiveCalls(): Promise<Call[]>;
  /** Totals of the calls `filter` selects, and per UTC day. */
  getCallTotals(filter: CallFilter): Promise<CallTotals>;
  /**
   * Stores the post-call analysis (or only its status) on an ended call, leaving its other
   * fields as they are; false when there is no such call (it was deleted meanwhile).
   */
  setCallAnalysis(callId: string, analysis: CallAnalysis): Promise<boolean>;
  /** Deletes the call and, by cascade, its rows; returns the deleted recordings' file keys. */
  deleteCall(id: string): Promise<{ deleted: boolean; fileKeys: string[] }>;

  createRecording(recording: Recording): Promise<Recording>;
  getRecordingById(id: string): Promise<Recording | null>;
  getRecordingsByCallId(callId: string): Promise<Recording[]>;
  /** Recordings of calls that started before `before`, oldest first. */
  getRecordingsOfCallsStartedBefore(before: Date, limit: number): Promise<Recording[]>;
  deleteRecording(id: string): Promise<boolean>;
  /**
   * Records where a recording's file now lives outside the spool (object storage), once the
   * copy there is verified; false when there is no such recording (its call was deleted).
   */
  setRecordingCloudUrl(id: string, cloudUrl: string): Promise<boolean>;

  createTranscript(transcript: Transcript): Promise<Transcript>;
  /**
   * Marks a transcript as interrupted (barge-in), with what the caller heard of it when known.
   * Search then finds it by the heard words only.
   */
  markTranscriptInterrupted(id: string, cut?: TranscriptCut): Promise<void>;
  getTranscriptsByCallId(callId: string): Promise<Transcript[]>;
  /** One transcript (live feeds of another instance read the row an event names). */
  getTranscriptById(id: string): Promise<Transcript | null>;
  countTranscriptsByCallId(callId: string): Promise<number>;
  searchTranscripts(query: TranscriptSearchQuery): Promise<TranscriptHit[]>;

  createAnalytics(analytics: Analytics): Promise<Analytics>;
  getAnalyticsByCallId(callId: string): Promise<Analytics[]>;
  getAnalyticsById(id: string): Promise<Analytics | null>;
  countAnalyticsByCallId(callId: string): Promise<number>;

  createOrUpdateMetadata(metadata: CallMetadata): Promise<CallMetadata>;
  getMetadataByCallId(callId: string): Promise<CallMetadata | null>;

  /** Creates or extends an instance's lease on the calls it owns. */
  renewLease(instanceId: string, renewedAt: Date, leaseExpiresAt: Date): Promise<void>;
  /** Removes an instance's lease (a clean shutdown, once its calls have ended). */
  releaseLease(instanceId: string): Promise<void>;
  /** Every active call, oldest first, with its owner's lease. */
  getOwnedActiveCalls(): Promise<OwnedActiveCall[]>;
  /**
   * Stores `ended` (a failed end) only if the call is still active and still owned by `owner`
   * (null: unowned): of instances racing to fail one call, exactly one gets true.
   */
  failCallIfOwnedBy(ended: Call, owner: string | null): Promise<boolean>;

  /** Cheap liveness probe for /healthz. */
  ping(): Promise<void>;
}
