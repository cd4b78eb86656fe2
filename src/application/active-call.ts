import { type AnalyticsInput, createAnalytics } from "../domain/analytics.ts";
import { type Call, endCall as endCallState } from "../domain/call.ts";
import { type CallMetadata, type MetadataPatch, mergeMetadata } from "../domain/call-metadata.ts";
import type { CallFacts } from "../domain/call-review.ts";
import { describeError, invalidState } from "../domain/errors.ts";
import { RECORDING_SAMPLE_RATE, type Recording } from "../domain/recording.ts";
import {
  checkCut,
  createTranscript,
  type Speaker,
  type Transcript,
  type TranscriptCut,
} from "../domain/transcript.ts";
import type { CallStorage } from "./call-storage.ts";
import { endReasonOf } from "./end-reason.ts";
import type { Logger, RecordingSpec, RecordingWriter, StopReason } from "./ports/index.ts";
import { writeCallSidecars } from "./sidecars.ts";

export type CallOutcome = "completed" | "failed";

export interface TranscriptInput {
  speaker: Speaker;
  text: string;
  /** Where the utterance starts on the caller's timeline, when known. */
  offsetMs: number | null;
  interrupted?: boolean;
  /** What the caller heard of an interrupted turn. */
  cut?: TranscriptCut | null;
  /** A caller turn whose transcription failed (its text is empty). */
  failed?: boolean;
  confidence?: number | null;
}

/** Whoever carries the call's media: asked to hang up at shutdown or when the call is cut. */
export interface CallOwner {
  hangUp(reason: StopReason): Promise<void>;
}

/**
 * One live call, as handed out by CallManager.startCall: its recordings, and every write about
 * it, addressed by the call itself (no lookup per frame or per write). end() finalizes it once.
 */
export class ActiveCall {
  readonly call: Call;
  /** Settles once the call's row (and its start metadata) is stored; rejects if it is not. */
  readonly stored: Promise<Call>;
  private readonly storage: CallStorage;
  private readonly log: Logger;
  private readonly callerTrack: RecordingWriter;
  private readonly otherTracks: RecordingWriter[] = [];
  private owner: CallOwner | null = null;
  private metadataWrites: Promise<unknown> = Promise.resolve();
  private ending: Promise<Call> | null = null;
  /** When the call's audio stopped, if that was before end(): the call's end time. */
  private audioEndedAt: Date | null = null;
  private readonly onEnded: (call: ActiveCall) => void;

  constructor(
    call: Call,
    storage: CallStorage,
    persist: (active: ActiveCall) => Promise<Call>,
    onEnded: (call: ActiveCall) => void,
  ) {
    this.call = call;
    this.storage = storage;
    this.onEnded = onEnded;
    this.log = storage.logger.child({ callSid: call.callSid, streamSid: call.streamSid });
    this.callerTrack = storage.createWriter(this.spec("caller", RECORDING_SAMPLE_RATE, 1));
    this.stored = persist(this);
  }

  setOwner(owner: CallOwner): void {
    this.owner = owner;
  }

  /** The caller's audio at the recording rate (16 kHz PCM16); refused once the call is ending. */
  appendCaller(pcm16k: Int16Array): void {
    if (this.ending) {
      throw invalidState(`stream ${this.call.streamSid} has ended; audio after the end is refused`);
    }
    this.callerTrack.append(pcm16k);
  }

  /** Another track (the stereo conversation), finalized with the call. */
  addTrack(track: RecordingSpec["track"], sampleRate: number, channels: number): RecordingWriter {
    const writer = this.storage.createWriter(this.spec(track, sampleRate, channels));
    this.otherTracks.push(writer);
    return writer;
  }

  async addTranscript(input: TranscriptInput): Promise<Transcript> {
    const { calls, ids, clock, events } = this.storage;
    const transcript = createTranscript({
      id: ids.newId(),
      callId: this.call.id,
      speaker: input.speaker,
      text: input.text,
      confidence: input.confidence ?? null,
      offsetMs: input.offsetMs,
      interrupted: input.interrupted ?? false,
      cut: input.cut ?? null,
      failed: input.failed ?? false,
      createdAt: clock.now(),
    });
    const saved = await calls.createTranscript(transcript);
    events?.publish({ type: "transcript.created", transcript: saved });
    return saved;
  }

  async markInterrupted(transcriptId: string, cut?: TranscriptCut): Promise<void> {
    await this.storage.calls.markTranscriptInterrupted(
      transcriptId,
      cut ? checkCut(cut) : undefined,
    );
  }

  async addAnalytics(input: AnalyticsInput) {
    const { calls, ids, clock, events } = this.storage;
    const analytics = createAnalytics(ids.newId(), this.call.id, input, clock.now());
    const saved = await calls.createAnalytics(analytics);
    events?.publish({ type: "analytics.created", analytics: saved });
    return saved;
  }

  /** Read-merge-write, one at a time per call, so concurrent updates never overwrite each other. */
  setMetadata(patch: MetadataPatch): Promise<CallMetadata> {
    const { calls, clock } = this.storage;
    const next = this.metadataWrites
      .catch(() => undefined)
      .then(async () => {
        const current = await calls.getMetadataByCallId(this.call.id);
        return calls.createOrUpdateMetadata(
          mergeMetadata(this.call.id, current, patch, clock.now()),
        );
      });
    this.metadataWrites = next;
    return next;
  }

  /** The call's audio stopped now; end() may come later (the model drains) but ends it here. */
  audioEnded(): void {
    this.audioEndedAt ??= this.storage.clock.now();
  }

  /** For a call that was never stored: its files would belong to nothing. */
  async discardRecordings(): Promise<void> {
    for (const writer of [this.callerTrack, ...this.otherTracks]) {
      await writer
        .finalize()
        .then((finished) => this.storage.recordings.delete(finished.fileKey))
        .catch(() => undefined);
    }
  }

  /** Asks the owner to hang up (it ends the call its own way); without one, ends it here. */
  async hangUp(reason: StopReason): Promise<void> {
    try {
      if (this.owner) await this.owner.hangUp(reason);
    } catch (error) {
      this.log.error({ err: describeError(error), reason }, "the call's stream could not hang up");
    }
    await this.end("completed", { endReason: endReasonOf(reason, "completed", false) });
  }

  /**
   * Finalizes the recordings, stores their rows and the sidecar files, then the status and
   * duration. Calling it again returns the same result.
   */
  end(outcome: CallOutcome = "completed", facts?: Partial<CallFacts>): Promise<Call> {
    this.ending ??= this.finish(outcome, facts);
    return this.ending;
  }

  private async finish(outcome: CallOutcome, facts?: Partial<CallFacts>): Promise<Call> {
    const { calls, clock, events } = this.storage;
    const recordings: Recording[] = [];
    for (const writer of [this.callerTrack, ...this.otherTracks]) {
      try {
        const finished = await writer.finalize();
        recordings.push(
          await calls.createRecording(this.storage.recordingRow(this.call, finished)),
        );
      } catch (error) {
        this.log.error(
          { err: describeError(error), track: writer.spec.track },
          "recording could not be saved",
        );
      }
    }
    const stored = (await calls.getCallById(this.call.id)) ?? this.call;
    const saved =
      stored.status === "active"
        ? await calls.updateCall(
            endCallState(stored, outcome, this.audioEndedAt ?? clock.now(), facts),
          )
        : stored;
    await this.writeSidecars(saved);
    // Only now is the call no longer live, so a DELETE cannot race the sidecar files.
    this.onEnded(this);
    for (const recording of recordings) events?.publish({ type: "recording.created", recording });
    events?.publish({ type: "call.ended", call: saved });
    return saved;
  }

  private async writeSidecars(call: Call): Promise<void> {
    try {
      await writeCallSidecars(this.storage.calls, this.storage.recordings, call);
    } catch (error) {
      this.log.error({ err: describeError(error) }, "sidecar files could not be written");
    }
  }

  private spec(track: RecordingSpec["track"], sampleRate: number, channels: number): RecordingSpec {
    const { streamSid, startedAt } = this.call;
    return { streamSid, startedAtMs: startedAt.getTime(), track, sampleRate, channels };
  }
}
