import type { JsonObject } from "../domain/analytics.ts";
import { type AnalyticsInput, createAnalytics } from "../domain/analytics.ts";
import { decodeBase64Into } from "../domain/base64.ts";
import { type Call, endCall as endCallState, startCall as newCall } from "../domain/call.ts";
import { type CallMetadata, type MetadataPatch, mergeMetadata } from "../domain/call-metadata.ts";
import { conflict, invalidState, isDomainError, notFound } from "../domain/errors.ts";
import { RECORDING_SAMPLE_RATE, type Recording } from "../domain/recording.ts";
import { createTranscript, type Transcript } from "../domain/transcript.ts";
import { LiveCall } from "./live-call.ts";
import type {
  CallEventSink,
  CallRepository,
  Clock,
  FinishedRecording,
  IdGenerator,
  Logger,
  RecordingSpec,
  RecordingStore,
  RecordingWriter,
} from "./ports/index.ts";
import { renderTranscriptText } from "./transcript-text.ts";
import { UnavailableRecordingWriter } from "./unavailable-recording-writer.ts";

export interface CallManagerDeps {
  calls: CallRepository;
  recordings: RecordingStore;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  events?: CallEventSink;
}

export interface StartCallInput {
  streamSid: string;
  caller?: string | null;
  callSid?: string | null;
  /** Stored as metadata customData (the stream's custom parameters). */
  customParameters?: Record<string, string>;
  metadata?: MetadataPatch;
}

/** How many ended streamSids are remembered, to tell "ended" apart from "never started". */
const RECENTLY_ENDED_LIMIT = 4096;

/**
 * The seed's call lifecycle: startCall → addAudioChunk / addTranscript / addAnalytics /
 * setMetadata → endCall. Audio is streamed to the RecordingStore as it arrives, so a call's
 * memory does not grow with its length and a crash loses at most the store's buffer.
 */
export class CallManager {
  private readonly live = new Map<string, LiveCall>();
  private readonly recentlyEnded = new Set<string>();
  private readonly metadataWrites = new Map<string, Promise<CallMetadata>>();
  private readonly deps: CallManagerDeps;

  constructor(deps: CallManagerDeps) {
    this.deps = deps;
  }

  get activeCount(): number {
    return this.live.size;
  }

  activeStreamSids(): string[] {
    return [...this.live.keys()];
  }

  isCallActive(callId: string): boolean {
    for (const liveCall of this.live.values()) if (liveCall.call.id === callId) return true;
    return false;
  }

  getLiveCall(streamSid: string): Call | null {
    return this.live.get(streamSid)?.call ?? null;
  }

  /**
   * Starts a call. A duplicate or invalid stream is refused synchronously (the call throws), so
   * a caller can never act on another connection's live call; the rest completes in the promise.
   */
  startCall(input: StartCallInput): Promise<Call> {
    const { clock, ids } = this.deps;
    if (this.live.has(input.streamSid) || this.recentlyEnded.has(input.streamSid)) {
      throw conflict(`stream ${input.streamSid} has already started`);
    }
    const call = newCall({
      id: ids.newId(),
      streamSid: input.streamSid,
      caller: input.caller ?? null,
      callSid: input.callSid ?? null,
      startedAt: clock.now(),
    });
    // Reserve the streamSid before the first await so a duplicate start cannot race in.
    const writer = this.createWriter({
      streamSid: call.streamSid,
      startedAtMs: call.startedAt.getTime(),
      track: "caller",
      sampleRate: RECORDING_SAMPLE_RATE,
      channels: 1,
    });
    const liveCall = new LiveCall(call, writer);
    this.live.set(call.streamSid, liveCall);
    return this.persistStart(liveCall, input);
  }

  private async persistStart(liveCall: LiveCall, input: StartCallInput): Promise<Call> {
    const call = liveCall.call;
    try {
      await this.deps.calls.createCall(call);
    } catch (error) {
      this.live.delete(call.streamSid);
      // The call was never stored: its files would belong to nothing.
      for (const writer of liveCall.writers()) {
        await writer
          .finalize()
          .then((finished) => this.deps.recordings.delete(finished.fileKey))
          .catch(() => undefined);
      }
      throw error;
    }
    const customData: JsonObject | undefined = input.customParameters
      ? { ...input.customParameters }
      : undefined;
    if (customData || input.metadata) {
      await this.setMetadata(call.streamSid, { ...input.metadata, customData });
    }
    this.deps.events?.publish({ type: "call.started", call });
    return call;
  }

  /** Twilio's base64 mu-law payload → the 16 kHz PCM16 caller recording. */
  addAudioChunk(streamSid: string, base64Audio: string): void {
    const liveCall = this.requireLive(streamSid);
    const bytes = decodeBase64Into(base64Audio, liveCall.payloadScratch);
    liveCall.appendMuLaw(liveCall.payloadScratch.subarray(0, bytes));
  }

  /** Hot-path variant for callers that decoded the frame already (8 kHz PCM16). */
  addCallerPcm8k(streamSid: string, samples: Int16Array): void {
    this.requireLive(streamSid).appendPcm8k(samples);
  }

  /**
   * For callers that resampled the caller's audio to the recording rate already (16 kHz PCM16),
   * as the conversation mixer does: one resampling serves both tracks. A call uses this or
   * addCallerPcm8k, never both.
   */
  addCallerPcm16k(streamSid: string, samples: Int16Array): void {
    this.requireLive(streamSid).callerWriter.append(samples);
  }

  async addTranscript(
    streamSid: string,
    speaker: string,
    text: string,
    confidence?: number | null,
    offsetMs?: number | null,
    interrupted?: boolean,
  ): Promise<Transcript> {
    const call = await this.requireCall(streamSid);
    const transcript = createTranscript({
      id: this.deps.ids.newId(),
      callId: call.id,
      speaker,
      text,
      confidence: confidence ?? null,
      offsetMs: offsetMs ?? null,
      interrupted: interrupted ?? false,
      createdAt: this.deps.clock.now(),
    });
    const saved = await this.deps.calls.createTranscript(transcript);
    this.deps.events?.publish({ type: "transcript.created", transcript: saved });
    return saved;
  }

  async markInterrupted(transcriptId: string): Promise<void> {
    await this.deps.calls.markTranscriptInterrupted(transcriptId);
  }

  async addAnalytics(streamSid: string, input: AnalyticsInput) {
    const call = await this.requireCall(streamSid);
    const analytics = createAnalytics(this.deps.ids.newId(), call.id, input, this.deps.clock.now());
    const saved = await this.deps.calls.createAnalytics(analytics);
    this.deps.events?.publish({ type: "analytics.created", analytics: saved });
    return saved;
  }

  /** Read-merge-write, serialized per stream so concurrent updates never overwrite each other. */
  setMetadata(streamSid: string, patch: MetadataPatch): Promise<CallMetadata> {
    const previous = this.metadataWrites.get(streamSid) ?? Promise.resolve();
    const next = previous
      .catch(() => undefined)
      .then(async () => {
        const call = await this.requireCall(streamSid);
        const current = await this.deps.calls.getMetadataByCallId(call.id);
        const merged = mergeMetadata(call.id, current, patch, this.deps.clock.now());
        return this.deps.calls.createOrUpdateMetadata(merged);
      });
    this.metadataWrites.set(streamSid, next);
    const forget = () => {
      if (this.metadataWrites.get(streamSid) === next) this.metadataWrites.delete(streamSid);
    };
    next.then(forget, forget);
    return next;
  }

  /**
   * Ends a live call: finalizes its recording, stores the Recording row and the sidecar files,
   * then sets status and duration. Calling it again for the same stream returns the same result.
   */
  endCall(streamSid: string, outcome: "completed" | "failed" = "completed"): Promise<Call> {
    const liveCall = this.live.get(streamSid);
    if (!liveCall) {
      if (this.recentlyEnded.has(streamSid)) {
        return Promise.reject(invalidState(`stream ${streamSid} has already ended`));
      }
      return Promise.reject(notFound(`no active call for stream ${streamSid}`));
    }
    if (!liveCall.ending) liveCall.ending = this.finish(liveCall, outcome);
    return liveCall.ending;
  }

  /** Ends every live call (graceful shutdown). */
  async endAll(outcome: "completed" | "failed" = "completed"): Promise<void> {
    await Promise.allSettled([...this.live.keys()].map((sid) => this.endCall(sid, outcome)));
  }

  /**
   * After a crash: unfinished recordings become valid files with Recording rows, and calls left
   * `active` by the dead process are marked `failed`, ending when their audio ended.
   */
  async recoverInterruptedCalls(): Promise<{ calls: number; recordings: number }> {
    const { calls, recordings, logger } = this.deps;
    const recovered = await recordings.recoverPartials();
    const audioEnd = new Map<string, number>();
    let recordingRows = 0;
    for (const finished of recovered) {
      const call = await calls.getCallByStreamSid(finished.streamSid);
      if (!call) {
        logger.warn(
          { fileKey: finished.fileKey },
          "recovered recording has no call row; kept on disk",
        );
        continue;
      }
      await calls.createRecording(this.recordingRow(call, finished));
      recordingRows++;
      const end = call.startedAt.getTime() + Math.round(finished.durationSeconds * 1000);
      audioEnd.set(call.id, Math.max(audioEnd.get(call.id) ?? 0, end));
    }
    const stale = await calls.getActiveCalls();
    for (const call of stale) {
      if (this.live.has(call.streamSid)) continue;
      // A crash after a recording's rename but before its row leaves a final file with no row.
      const known = new Set((await calls.getRecordingsByCallId(call.id)).map((r) => r.fileKey));
      for (const finished of await recordings.findFinished(
        call.streamSid,
        call.startedAt.getTime(),
      )) {
        if (known.has(finished.fileKey)) continue;
        await calls.createRecording(this.recordingRow(call, finished));
        recordingRows++;
        const end = call.startedAt.getTime() + Math.round(finished.durationSeconds * 1000);
        audioEnd.set(call.id, Math.max(audioEnd.get(call.id) ?? 0, end));
      }
      const endedAt = new Date(audioEnd.get(call.id) ?? this.deps.clock.now().getTime());
      const safeEnd = endedAt < call.startedAt ? call.startedAt : endedAt;
      await calls.updateCall(endCallState(call, "failed", safeEnd));
    }
    if (stale.length > 0 || recordingRows > 0) {
      logger.warn(
        { calls: stale.length, recordings: recordingRows },
        "recovered calls interrupted by a previous crash",
      );
    }
    return { calls: stale.length, recordings: recordingRows };
  }

  private async finish(liveCall: LiveCall, outcome: "completed" | "failed"): Promise<Call> {
    const { calls, clock, logger } = this.deps;
    const log = logger.child({
      callSid: liveCall.call.callSid,
      streamSid: liveCall.call.streamSid,
    });
    const recordings: Recording[] = [];
    for (const writer of liveCall.writers()) {
      try {
        const finished = await writer.finalize();
        recordings.push(await calls.createRecording(this.recordingRow(liveCall.call, finished)));
      } catch (error) {
        log.error(
          { err: describe(error), track: writer.spec.track },
          "recording could not be saved",
        );
      }
    }
    const stored = (await calls.getCallById(liveCall.call.id)) ?? liveCall.call;
    const ended = stored.status === "active" ? endCallState(stored, outcome, clock.now()) : stored;
    const saved = stored.status === "active" ? await calls.updateCall(ended) : stored;
    await this.writeSidecars(saved, log);
    // Only now is the call no longer live, so a DELETE cannot race the sidecar files.
    this.live.delete(liveCall.call.streamSid);
    this.rememberEnded(liveCall.call.streamSid);
    for (const recording of recordings) {
      this.deps.events?.publish({ type: "recording.created", recording });
    }
    this.deps.events?.publish({ type: "call.ended", call: saved });
    return saved;
  }

  private async writeSidecars(call: Call, log: Logger): Promise<void> {
    const { calls, recordings } = this.deps;
    try {
      const transcripts = await calls.getTranscriptsByCallId(call.id);
      const metadata = await calls.getMetadataByCallId(call.id);
      const startedAtMs = call.startedAt.getTime();
      await recordings.writeSidecar(
        call.streamSid,
        startedAtMs,
        "transcript",
        renderTranscriptText(transcripts),
      );
      await recordings.writeSidecar(
        call.streamSid,
        startedAtMs,
        "metadata",
        `${JSON.stringify({ call, metadata }, null, 2)}\n`,
      );
    } catch (error) {
      log.error({ err: describe(error) }, "sidecar files could not be written");
    }
  }

  /** A recording writer, or a stand-in that drops audio when storage is not usable. */
  createWriter(spec: RecordingSpec): RecordingWriter {
    try {
      return this.deps.recordings.create(spec);
    } catch (error) {
      this.deps.logger.error(
        { err: describe(error), streamSid: spec.streamSid, track: spec.track },
        "recording could not be created; the call goes on without it",
      );
      return new UnavailableRecordingWriter(spec, describe(error).message);
    }
  }

  /** Adds another track (the stereo conversation) to a live call; finalized with it. */
  addTrack(
    streamSid: string,
    spec: Omit<RecordingSpec, "streamSid" | "startedAtMs">,
  ): RecordingWriter {
    const liveCall = this.requireLive(streamSid);
    const writer = this.createWriter({
      ...spec,
      streamSid,
      startedAtMs: liveCall.call.startedAt.getTime(),
    });
    liveCall.addWriter(writer);
    return writer;
  }

  private recordingRow(call: Call, finished: FinishedRecording): Recording {
    return {
      id: this.deps.ids.newId(),
      callId: call.id,
      track: finished.track,
      format: "wav",
      codec: "pcm_s16le",
      sampleRate: finished.sampleRate,
      channels: finished.channels,
      sizeBytes: finished.sizeBytes,
      durationSeconds: finished.durationSeconds,
      fileKey: finished.fileKey,
      cloudUrl: null,
      createdAt: this.deps.clock.now(),
    };
  }

  private requireLive(streamSid: string): LiveCall {
    const liveCall = this.live.get(streamSid);
    if (liveCall && !liveCall.ending) return liveCall;
    if (liveCall?.ending || this.recentlyEnded.has(streamSid)) {
      throw invalidState(`stream ${streamSid} has ended; audio after the end is refused`);
    }
    throw notFound(`no active call for stream ${streamSid}`);
  }

  private async requireCall(streamSid: string): Promise<Call> {
    const liveCall = this.live.get(streamSid);
    if (liveCall) return liveCall.call;
    const call = await this.deps.calls.getCallByStreamSid(streamSid);
    if (!call) throw notFound(`no call for stream ${streamSid}`);
    return call;
  }

  private rememberEnded(streamSid: string): void {
    this.recentlyEnded.add(streamSid);
    if (this.recentlyEnded.size > RECENTLY_ENDED_LIMIT) {
      const oldest = this.recentlyEnded.values().next().value;
      if (oldest !== undefined) this.recentlyEnded.delete(oldest);
    }
  }
}

function describe(error: unknown): { code?: string; message: string } {
  if (isDomainError(error)) return { code: error.code, message: error.message };
  return { message: error instanceof Error ? error.message : String(error) };
}
