import { type CallAnalysis, NO_ANALYSIS } from "../domain/call-review.ts";
import { describeError, isDomainError } from "../domain/errors.ts";
import { spokenText } from "../domain/transcript.ts";
import type {
  AnalysisTurn,
  CallAnalysisResult,
  CallAnalyzer,
  CallRepository,
  Logger,
} from "./ports/index.ts";

export interface AnalysisRetryPolicy {
  /** The wait before each retry of a retryable failure: its length is the number of retries. */
  readonly delaysMs: readonly number[];
  /** A service's retry-after may lengthen a wait up to this, never shorten it. */
  readonly maxDelayMs: number;
}

export interface PostCallAnalysisDeps {
  calls: Pick<CallRepository, "getCallById" | "getTranscriptsByCallId" | "setCallAnalysis">;
  /** null: analysis is off (no key, or POST_CALL_ANALYSIS=off); calls are marked `off`. */
  analyzer: CallAnalyzer | null;
  logger: Logger;
  /** Analyses running at once. */
  concurrency?: number;
  retry?: Partial<AnalysisRetryPolicy>;
  /** Calls waiting for a free slot beyond this are marked `failed` at once. */
  maxQueued?: number;
  /** How long close() waits for analyses in flight before abandoning them. */
  closeTimeoutMs?: number;
}

export const DEFAULT_ANALYSIS_CONCURRENCY = 2;
/** Four attempts over about 40 s: long enough to ride out a rate-limit window or a brief outage. */
export const DEFAULT_ANALYSIS_RETRY: AnalysisRetryPolicy = {
  delaysMs: [2_000, 8_000, 30_000],
  maxDelayMs: 60_000,
};
const DEFAULT_MAX_QUEUED = 1_000;
const DEFAULT_CLOSE_TIMEOUT_MS = 5_000;
/** After abandoning, what is left settles as soon as its aborted request does. */
const ABANDON_GRACE_MS = 1_000;

interface Job {
  readonly callId: string;
  /** The `pending` mark: the job's own writes wait for it, so they can never be overwritten by it. */
  readonly marked: Promise<void>;
  readonly enqueuedAtMs: number;
  attempts: number;
  /** Kept across attempts: a failed store of the result retries the store, not the model. */
  result?: CallAnalysisResult;
  retryTimer?: ReturnType<typeof setTimeout>;
}

/**
 * After a call ends, asks the model for its summary, outcome and fields and stores them with the
 * call. Nothing here is on the audio path: enqueue() returns at once and never throws, and the
 * work is a few repository reads and writes and one HTTP request per attempt.
 *
 * - Each call is marked `pending` when enqueued, then `done` or `failed`. A retryable failure (a
 *   rate limit, a server error, the network, a timeout, the database being unavailable) is tried
 *   again after each of `retry.delaysMs`; anything else fails at once.
 * - A call whose caller said nothing (no caller turn with words) is `done` with no summary,
 *   outcome or fields, and no model is asked: there is nothing to summarise, no failure to
 *   report, and any outcome would be a guess.
 * - Without an analyzer every call is marked `off`.
 * - A call found still live is not analysed, and its analysis is reset to none: enqueue a call
 *   only once its end is stored.
 * - At close(), calls not yet started or waiting to retry stay `pending`, and so do analyses
 *   abandoned after the close timeout: a later process may enqueue them again.
 */
export class PostCallAnalysis {
  private readonly deps: PostCallAnalysisDeps;
  private readonly log: Logger;
  private readonly concurrency: number;
  private readonly retry: AnalysisRetryPolicy;
  private readonly maxQueued: number;
  private readonly closeTimeoutMs: number;
  /** Every call enqueued and not finished: queued, running or waiting to retry. */
  private readonly jobs = new Map<string, Job>();
  private readonly queue: Job[] = [];
  private readonly running = new Set<Promise<void>>();
  /** Writes made outside a job (`off`, a full queue). */
  private readonly writes = new Set<Promise<void>>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly shutdown = new AbortController();
  private closing: Promise<void> | null = null;
  /** Jobs whose retryable failure came while closing: left `pending` rather than retried. */
  private leftAtClose = 0;

  constructor(deps: PostCallAnalysisDeps) {
    this.deps = deps;
    this.log = deps.logger.child({ component: "post-call-analysis" });
    this.concurrency = Math.max(1, deps.concurrency ?? DEFAULT_ANALYSIS_CONCURRENCY);
    this.retry = { ...DEFAULT_ANALYSIS_RETRY, ...deps.retry };
    this.maxQueued = Math.max(1, deps.maxQueued ?? DEFAULT_MAX_QUEUED);
    this.closeTimeoutMs = deps.closeTimeoutMs ?? DEFAULT_CLOSE_TIMEOUT_MS;
  }

  /** Calls enqueued and not yet finished. */
  get pending(): number {
    return this.jobs.size;
  }

  /** Analyses the call in the background. Never throws; a call already in hand is not added twice. */
  enqueue(callId: string): void {
    if (this.closing !== null) {
      this.log.warn({ callId }, "call not analysed: the server is stopping");
      return;
    }
    if (this.deps.analyzer === null) {
      this.track(this.store(callId, { ...NO_ANALYSIS, analysisStatus: "off" }), callId, "off");
      this.log.debug({ callId }, "post-call analysis is off");
      return;
    }
    if (this.jobs.has(callId)) return;
    if (this.queue.length >= this.maxQueued) {
      this.track(
        this.store(callId, { ...NO_ANALYSIS, analysisStatus: "failed" }),
        callId,
        "failed",
      );
      this.log.warn(
        { callId, queued: this.queue.length },
        "call analysis failed: too many calls are waiting for analysis",
      );
      return;
    }
    const marked = this.store(callId, { ...NO_ANALYSIS, analysisStatus: "pending" }).then(
      () => undefined,
      (error: unknown) => {
        // The outcome is written later all the same, and may succeed.
        this.log.warn(
          { callId, err: describeError(error) },
          "could not mark a call's analysis pending",
        );
      },
    );
    const job: Job = { callId, marked, enqueuedAtMs: Date.now(), attempts: 0 };
    this.jobs.set(callId, job);
    this.queue.push(job);
    this.pump();
  }

  /** Resolves once nothing is queued, running, waiting to retry or being written. */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /**
   * Stops taking calls and cancels pending retries, waits up to the close timeout for the
   * analyses in flight, then abandons the rest (their calls stay `pending`). Safe to call again.
   */
  close(): Promise<void> {
    this.closing ??= this.closeNow();
    return this.closing;
  }

  private async closeNow(): Promise<void> {
    let left = this.queue.length;
    this.queue.length = 0;
    for (const job of this.jobs.values()) {
      if (job.retryTimer === undefined) continue;
      clearTimeout(job.retryTimer);
      job.retryTimer = undefined;
      left++;
    }
    const settled = () => Promise.allSettled([...this.running, ...this.writes]);
    if (!(await within(settled(), this.closeTimeoutMs))) {
      left += this.running.size;
      this.shutdown.abort();
      await within(settled(), ABANDON_GRACE_MS);
    }
    left += this.leftAtClose;
    if (left > 0) this.log.warn({ calls: left }, "calls left pending analysis at shutdown");
    this.jobs.clear();
    this.settleIdle();
  }

  private pump(): void {
    while (this.closing === null && this.running.size < this.concurrency) {
      const job = this.queue.shift();
      if (job === undefined) break;
      const run: Promise<void> = this.attempt(job).finally(() => {
        this.running.delete(run);
        this.pump();
        this.settleIdle();
      });
      this.running.add(run);
    }
  }

  private async attempt(job: Job): Promise<void> {
    const { calls, analyzer } = this.deps;
    const { callId } = job;
    await job.marked;
    job.attempts++;
    try {
      if (job.result === undefined) {
        const call = await calls.getCallById(callId);
        if (call === null) {
          this.finish(job);
          this.log.info({ callId }, "call not analysed: it was deleted");
          return;
        }
        if (call.status === "active") {
          await this.store(callId, NO_ANALYSIS);
          this.finish(job);
          this.log.warn({ callId }, "call not analysed: it is still live");
          return;
        }
        const turns = turnsOf(await calls.getTranscriptsByCallId(callId));
        if (!turns.some((turn) => turn.speaker === "caller")) {
          await this.store(callId, { ...NO_ANALYSIS, analysisStatus: "done" });
          this.finish(job);
          this.log.info({ callId, turns: turns.length }, "call analysed: the caller said nothing");
          return;
        }
        // Checked just above: analysis is on for every job.
        job.result = await analyzer!.analyze({ turns }, this.shutdown.signal);
      }
      const { summary, outcome, fields, usage } = job.result;
      const stored = await this.store(callId, {
        analysisStatus: "done",
        summary,
        outcome,
        analysisFields: fields,
      });
      this.finish(job);
      this.log.info(
        {
          callId,
          outcome,
          attempts: job.attempts,
          ms: Date.now() - job.enqueuedAtMs,
          inputTokens: usage?.inputTokens,
          outputTokens: usage?.outputTokens,
          ...(stored ? {} : { deleted: true }),
        },
        stored ? "call analysed" : "call analysed, but it was deleted meanwhile",
      );
    } catch (error) {
      await this.failed(job, error);
    }
  }

  private async failed(job: Job, error: unknown): Promise<void> {
    const { callId } = job;
    const failure = failureOf(error);
    if (this.shutdown.signal.aborted) {
      // Abandoned at shutdown: the call stays `pending`.
      this.finish(job);
      return;
    }
    const delay = this.retry.delaysMs[job.attempts - 1];
    if (failure.retryable && delay !== undefined && this.closing !== null) {
      // No retry can run now, and the next process may enqueue it again: not `failed`.
      this.leftAtClose++;
      this.finish(job);
      return;
    }
    if (failure.retryable && delay !== undefined) {
      const waitMs = Math.max(delay, Math.min(failure.retryAfterMs ?? 0, this.retry.maxDelayMs));
      this.log.warn(
        { callId, attempts: job.attempts, retryInMs: waitMs, ...failure.details },
        "call analysis failed; it is retried",
      );
      job.retryTimer = setTimeout(() => {
        job.retryTimer = undefined;
        this.queue.push(job);
        this.pump();
      }, waitMs);
      return;
    }
    try {
      await this.store(callId, { ...NO_ANALYSIS, analysisStatus: "failed" });
    } catch (storeError) {
      this.log.error(
        { callId, err: describeError(storeError) },
        "could not store that a call's analysis failed",
      );
    }
    this.finish(job);
    this.log.warn(
      { callId, attempts: job.attempts, retryable: failure.retryable, ...failure.details },
      "call analysis failed",
    );
  }

  private finish(job: Job): void {
    this.jobs.delete(job.callId);
  }

  private store(callId: string, analysis: CallAnalysis): Promise<boolean> {
    try {
      return this.deps.calls.setCallAnalysis(callId, analysis);
    } catch (error) {
      // enqueue() never throws, whatever a repository does.
      return Promise.reject(error);
    }
  }

  /** A write made outside any job, for close() and idle() to wait on. */
  private track(write: Promise<boolean>, callId: string, status: string): void {
    const tracked: Promise<void> = write
      .then(
        () => undefined,
        (error: unknown) => {
          this.log.error(
            { callId, status, err: describeError(error) },
            "could not store a call's analysis status",
          );
        },
      )
      .finally(() => {
        this.writes.delete(tracked);
        this.settleIdle();
      });
    this.writes.add(tracked);
  }

  private isIdle(): boolean {
    return this.jobs.size === 0 && this.running.size === 0 && this.writes.size === 0;
  }

  private settleIdle(): void {
    if (!this.isIdle()) return;
    for (const resolve of this.idleWaiters.splice(0)) resolve();
  }
}

/** The turns the model reads: the words each side heard, failed transcriptions left out. */
function turnsOf(
  transcripts: Awaited<ReturnType<CallRepository["getTranscriptsByCallId"]>>,
): AnalysisTurn[] {
  const turns: AnalysisTurn[] = [];
  for (const transcript of transcripts) {
    if (transcript.failed) continue;
    const text = spokenText(transcript).trim();
    if (text === "") continue;
    turns.push({ speaker: transcript.speaker, text, offsetMs: transcript.offsetMs });
  }
  return turns;
}

interface FailureView {
  retryable: boolean;
  retryAfterMs: number | null;
  details: Record<string, unknown>;
}

/**
 * What a failure allows. The analyzer's failures say whether they are retryable (the port's
 * CallAnalysisFailure); a database that is unavailable may come back; anything else is a bug
 * that a retry would only repeat.
 */
function failureOf(error: unknown): FailureView {
  const err = describeError(error);
  if (typeof error === "object" && error !== null && "retryable" in error) {
    const failure = error as {
      retryable: unknown;
      kind?: unknown;
      status?: unknown;
      retryAfterMs?: unknown;
    };
    return {
      retryable: failure.retryable === true,
      retryAfterMs: typeof failure.retryAfterMs === "number" ? failure.retryAfterMs : null,
      details: { err, kind: failure.kind, status: failure.status ?? undefined },
    };
  }
  if (isDomainError(error)) {
    return {
      retryable: error.code === "storage_unavailable",
      retryAfterMs: null,
      details: { err },
    };
  }
  return { retryable: false, retryAfterMs: null, details: { err } };
}

/** Whether `work` settled within `ms`; the timer never outlives the wait. */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([work.then(() => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}
