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
import type { Recording } from "../../domain/recording.ts";
import type { Transcript, TranscriptCut } from "../../domain/transcript.ts";
import { databasePath } from "./database.ts";
import { DatabaseThread, type DatabaseThreadEvents } from "./database-thread.ts";
import type { DatabaseWorkerOptions, RepositoryMethod } from "./worker-protocol.ts";

/**
 * Reader threads by default. Each costs a V8 isolate and a page cache (tens of MB); one keeps
 * the API's reads off the writer, which the search-index catch-ups and checkpoints keep busy.
 */
export const DEFAULT_READER_THREADS = 1;
/** Nice value of the database threads: on a shared core the audio thread runs first. */
export const DATABASE_THREAD_NICE = 10;

export interface ThreadedCallRepositoryOptions extends DatabaseThreadEvents {
  databaseUrl: string;
  /**
   * Applied by the writer thread before it reports ready. Undefined: the database is migrated
   * already, as a cluster's workers find it (their primary migrated it before forking them; two
   * writers applying drizzle's migrations at once would both see them pending).
   */
  migrationsPath: string | undefined;
  /** Read-only connections beside the writer (0: the writer answers reads too). */
  readers?: number;
  searchIndexDelayMs?: number;
  /** See DrizzleCallRepositoryOptions.searchCandidates. */
  searchCandidates?: number;
  /** Linux nice value for every database thread; 0 keeps the server's. */
  nice?: number;
}

/**
 * CallRepository whose SQLite work runs on worker threads, never on the thread that carries
 * the calls' audio. One writer thread owns every write (the write-behind batches, search-index
 * catch-ups and checkpoints); reader threads, on read-only connections that WAL lets run beside
 * the writer, answer reads.
 *
 * Consistency is that of one connection: a read waits until every write issued before it has
 * settled, and a search first asks the writer to index every transcript stored so far.
 */
export class ThreadedCallRepository implements CallRepository {
  private readonly writer: DatabaseThread;
  private readonly readers: DatabaseThread[];
  private writesIssued = 0;
  /** Writes not settled yet, by issue number; a Set iterates in insertion, so oldest first. */
  private readonly unsettled = new Set<number>();
  private waiters: { through: number; resolve: () => void }[] = [];

  private constructor(options: ThreadedCallRepositoryOptions) {
    const base: Omit<DatabaseWorkerOptions, "role"> = {
      databaseUrl: options.databaseUrl,
      searchIndexDelayMs: options.searchIndexDelayMs,
      searchCandidates: options.searchCandidates,
      nice: options.nice ?? DATABASE_THREAD_NICE,
    };
    const events: DatabaseThreadEvents = {
      onBackgroundError: options.onBackgroundError,
      onUnexpectedExit: options.onUnexpectedExit,
    };
    this.writer = new DatabaseThread(
      "callbridge-db-writer",
      { ...base, role: "writer", migrationsPath: options.migrationsPath },
      events,
    );
    // An in-memory database exists only on the writer's connection.
    const readers =
      databasePath(options.databaseUrl) === ":memory:"
        ? 0
        : (options.readers ?? DEFAULT_READER_THREADS);
    this.readers = Array.from(
      { length: readers },
      (_, i) =>
        new DatabaseThread(`callbridge-db-reader-${i + 1}`, { ...base, role: "reader" }, events),
    );
  }

  /**
   * Starts the writer (which migrates the database) and waits for it; the readers start
   * meanwhile and are waited for by the first reads that need them, not by the server's start.
   */
  static async open(options: ThreadedCallRepositoryOptions): Promise<ThreadedCallRepository> {
    const repository = new ThreadedCallRepository(options);
    try {
      await repository.writer.start();
    } catch (error) {
      await repository.close();
      throw error;
    }
    for (const reader of repository.readers) {
      // A reader that cannot start fails the reads sent to it, and is tried again by the next.
      reader.start().catch(() => {});
    }
    return repository;
  }

  /** Commits every pending write, then ends the threads. */
  async close(): Promise<void> {
    await Promise.all(this.readers.map((reader) => reader.close()));
    await this.writer.close();
  }

  private write<T>(method: RepositoryMethod | "catchUpSearchIndex", args: unknown[]): Promise<T> {
    const issued = ++this.writesIssued;
    this.unsettled.add(issued);
    const result = this.writer.call(method, args) as Promise<T>;
    const settled = () => this.settled(issued);
    result.then(settled, settled);
    return result;
  }

  /** A write whose result is its argument (see RETURNS_ITS_ARGUMENT): resolves with it. */
  private async writeReturning<T>(method: RepositoryMethod, entity: T): Promise<T> {
    await this.write(method, [entity]);
    return entity;
  }

  private settled(issued: number): void {
    this.unsettled.delete(issued);
    if (this.waiters.length === 0) return;
    const oldest = this.unsettled.values().next().value ?? Number.POSITIVE_INFINITY;
    const still: typeof this.waiters = [];
    for (const waiter of this.waiters) {
      if (waiter.through < oldest) waiter.resolve();
      else still.push(waiter);
    }
    this.waiters = still;
  }

  private async read<T>(method: RepositoryMethod, args: unknown[]): Promise<T> {
    if (this.readers.length === 0) return (await this.writer.call(method, args)) as T;
    if (this.unsettled.size > 0) {
      const through = this.writesIssued;
      await new Promise<void>((resolve) => this.waiters.push({ through, resolve }));
    }
    let reader = this.readers[0]!;
    for (const candidate of this.readers) if (candidate.busy < reader.busy) reader = candidate;
    return (await reader.call(method, args)) as T;
  }

  async createCall(call: Call, owner: string | null = null): Promise<Call> {
    await this.write("createCall", [call, owner]);
    return call;
  }

  updateCall(call: Call): Promise<Call> {
    return this.writeReturning("updateCall", call);
  }

  setCallAnalysis(callId: string, analysis: CallAnalysis): Promise<boolean> {
    return this.write("setCallAnalysis", [callId, analysis]);
  }

  getCallById(id: string): Promise<Call | null> {
    return this.read("getCallById", [id]);
  }

  getCallByStreamSid(streamSid: string): Promise<Call | null> {
    return this.read("getCallByStreamSid", [streamSid]);
  }

  getAllCalls(query: CallListQuery): Promise<CallPage> {
    return this.read("getAllCalls", [query]);
  }

  getCallTotals(filter: CallFilter): Promise<CallTotals> {
    return this.read("getCallTotals", [filter]);
  }

  getActiveCalls(): Promise<Call[]> {
    return this.read("getActiveCalls", []);
  }

  renewLease(instanceId: string, renewedAt: Date, leaseExpiresAt: Date): Promise<void> {
    return this.write("renewLease", [instanceId, renewedAt, leaseExpiresAt]);
  }

  releaseLease(instanceId: string): Promise<void> {
    return this.write("releaseLease", [instanceId]);
  }

  getOwnedActiveCalls(): Promise<OwnedActiveCall[]> {
    return this.read("getOwnedActiveCalls", []);
  }

  failCallIfOwnedBy(ended: Call, owner: string | null): Promise<boolean> {
    return this.write("failCallIfOwnedBy", [ended, owner]);
  }

  deleteCall(id: string): Promise<{ deleted: boolean; fileKeys: string[] }> {
    return this.write("deleteCall", [id]);
  }

  createRecording(recording: Recording): Promise<Recording> {
    return this.writeReturning("createRecording", recording);
  }

  getRecordingById(id: string): Promise<Recording | null> {
    return this.read("getRecordingById", [id]);
  }

  getRecordingsByCallId(callId: string): Promise<Recording[]> {
    return this.read("getRecordingsByCallId", [callId]);
  }

  getRecordingsOfCallsStartedBefore(before: Date, limit: number): Promise<Recording[]> {
    return this.read("getRecordingsOfCallsStartedBefore", [before, limit]);
  }

  deleteRecording(id: string): Promise<boolean> {
    return this.write("deleteRecording", [id]);
  }

  setRecordingCloudUrl(id: string, cloudUrl: string): Promise<boolean> {
    return this.write("setRecordingCloudUrl", [id, cloudUrl]);
  }

  createTranscript(transcript: Transcript): Promise<Transcript> {
    return this.writeReturning("createTranscript", transcript);
  }

  markTranscriptInterrupted(id: string, cut?: TranscriptCut): Promise<void> {
    return this.write("markTranscriptInterrupted", cut ? [id, cut] : [id]);
  }

  getTranscriptsByCallId(callId: string): Promise<Transcript[]> {
    return this.read("getTranscriptsByCallId", [callId]);
  }

  getTranscriptById(id: string): Promise<Transcript | null> {
    return this.read("getTranscriptById", [id]);
  }

  countTranscriptsByCallId(callId: string): Promise<number> {
    return this.read("countTranscriptsByCallId", [callId]);
  }

  async searchTranscripts(query: TranscriptSearchQuery): Promise<TranscriptHit[]> {
    // Readers cannot index; the writer indexes everything stored so far, then a reader searches.
    if (this.readers.length > 0) await this.write("catchUpSearchIndex", []);
    return this.read("searchTranscripts", [query]);
  }

  createAnalytics(analytics: Analytics): Promise<Analytics> {
    return this.writeReturning("createAnalytics", analytics);
  }

  getAnalyticsByCallId(callId: string): Promise<Analytics[]> {
    return this.read("getAnalyticsByCallId", [callId]);
  }

  getAnalyticsById(id: string): Promise<Analytics | null> {
    return this.read("getAnalyticsById", [id]);
  }

  countAnalyticsByCallId(callId: string): Promise<number> {
    return this.read("countAnalyticsByCallId", [callId]);
  }

  createOrUpdateMetadata(metadata: CallMetadata): Promise<CallMetadata> {
    return this.writeReturning("createOrUpdateMetadata", metadata);
  }

  getMetadataByCallId(callId: string): Promise<CallMetadata | null> {
    return this.read("getMetadataByCallId", [callId]);
  }

  ping(): Promise<void> {
    return this.write("ping", []);
  }
}
