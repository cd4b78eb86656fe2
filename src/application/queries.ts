import type { Analytics } from "../domain/analytics.ts";
import type { Call } from "../domain/call.ts";
import type { CallMetadata } from "../domain/call-metadata.ts";
import {
  conflict,
  invalidArgument,
  isDomainError,
  notFound,
  storageUnavailable,
} from "../domain/errors.ts";
import type { Recording } from "../domain/recording.ts";
import type { Transcript } from "../domain/transcript.ts";
import type {
  CallFilter,
  CallListQuery,
  CallPage,
  CallRepository,
  CallTotals,
  ReadableRecording,
  RecordingStore,
  TranscriptHit,
  TranscriptSearchPosition,
  TranscriptSearchQuery,
} from "./ports/index.ts";

export interface CallQueriesDeps {
  calls: CallRepository;
  recordings: RecordingStore;
}

export interface CallDetail {
  call: Call;
  metadata: CallMetadata | null;
  recordings: Recording[];
  transcriptCount: number;
  analyticsCount: number;
}

export interface SearchPage {
  data: TranscriptHit[];
  /** Where the next page starts when more hits may follow, else null. */
  next: TranscriptSearchPosition | null;
}

export interface RecordingAudio {
  recording: Recording;
  audio: ReadableRecording;
}

/**
 * The read side behind the JSON API, plus deleting a call. Every lookup by an id that does not
 * exist is a not_found DomainError, so callers never have to tell "empty" from "unknown".
 */
export class CallQueries {
  private readonly deps: CallQueriesDeps;

  constructor(deps: CallQueriesDeps) {
    this.deps = deps;
  }

  listCalls(query: CallListQuery): Promise<CallPage> {
    return this.deps.calls.getAllCalls(query);
  }

  callTotals(filter: CallFilter): Promise<CallTotals> {
    return this.deps.calls.getCallTotals(filter);
  }

  async getCall(id: string): Promise<CallDetail> {
    const call = await this.requireCall(id);
    const { calls } = this.deps;
    const [metadata, recordings, transcriptCount, analyticsCount] = await Promise.all([
      calls.getMetadataByCallId(id),
      calls.getRecordingsByCallId(id),
      calls.countTranscriptsByCallId(id),
      calls.countAnalyticsByCallId(id),
    ]);
    return { call, metadata, recordings, transcriptCount, analyticsCount };
  }

  async getTranscripts(callId: string): Promise<Transcript[]> {
    await this.requireCall(callId);
    return this.deps.calls.getTranscriptsByCallId(callId);
  }

  async getAnalytics(callId: string): Promise<Analytics[]> {
    await this.requireCall(callId);
    return this.deps.calls.getAnalyticsByCallId(callId);
  }

  async getMetadata(callId: string): Promise<CallMetadata> {
    await this.requireCall(callId);
    const metadata = await this.deps.calls.getMetadataByCallId(callId);
    if (!metadata) throw notFound(`call ${callId} has no metadata`);
    return metadata;
  }

  async getRecordings(callId: string): Promise<Recording[]> {
    await this.requireCall(callId);
    return this.deps.calls.getRecordingsByCallId(callId);
  }

  /** The recording row and its readable file; a row whose file is gone is not found either. */
  async openRecording(id: string): Promise<RecordingAudio> {
    const recording = await this.deps.calls.getRecordingById(id);
    if (!recording) throw notFound(`recording ${id} not found`);
    const audio = await this.deps.recordings.read(recording.fileKey).catch((error: unknown) => {
      // The store refuses a key outside its grammar. Such a key came from our own database, so
      // it is a server fault (500), not the client's bad request.
      if (isDomainError(error) && error.code === "invalid_argument") {
        throw new Error(`recording ${id} has a file key the store refuses`, { cause: error });
      }
      throw error;
    });
    if (!audio) throw notFound(`the audio file of recording ${id} is missing`);
    return { recording, audio };
  }

  /**
   * Deletes a call, its rows and its files. A call still being recorded is refused: deleting it
   * would leave the live session writing rows for a call that no longer exists and files that
   * nothing points to.
   */
  async deleteCall(id: string, isLive: (callId: string) => boolean): Promise<void> {
    const call = await this.requireCall(id);
    if (call.status === "active" || isLive(id)) {
      throw conflict(`call ${id} is still in progress; it can be deleted once it has ended`);
    }
    const { deleted, fileKeys } = await this.deps.calls.deleteCall(id);
    if (!deleted) throw notFound(`call ${id} not found`);
    // Rows go first so the API never lists a recording whose file is already gone.
    const results = await Promise.allSettled(
      fileKeys.map((fileKey) => this.deps.recordings.delete(fileKey)),
    );
    const failed = results.filter((result) => result.status === "rejected").length;
    if (failed > 0) {
      throw storageUnavailable(
        `call ${id} was deleted but ${failed} of its recording files could not be removed`,
      );
    }
  }

  /**
   * Asks for one hit more than the page so that the last page has no next position. A cursor
   * only means something in the sort that issued it, so the two must agree.
   */
  async search(query: TranscriptSearchQuery): Promise<SearchPage> {
    const sort = query.sort ?? "relevance";
    if (query.after !== undefined && query.after.sort !== sort) {
      throw invalidArgument(`cursor: was issued for sort=${query.after.sort}, not sort=${sort}`);
    }
    const hits = await this.deps.calls.searchTranscripts({ ...query, limit: query.limit + 1 });
    const data = hits.slice(0, query.limit);
    const next = hits.length > query.limit ? (data.at(-1)?.next ?? null) : null;
    return { data, next };
  }

  private async requireCall(id: string): Promise<Call> {
    const call = await this.deps.calls.getCallById(id);
    if (!call) throw notFound(`call ${id} not found`);
    return call;
  }
}
