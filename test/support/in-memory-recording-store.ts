import {
  parseFileKeyOrThrow,
  recordingFileName,
  sidecarFileName,
} from "../../src/adapters/fs/file-names.ts";
import type {
  CallFiles,
  FinishedRecording,
  ReadableRecording,
  RecordingSpec,
  RecordingStore,
  RecordingWriter,
  SidecarKind,
} from "../../src/application/ports/index.ts";
import { WAV_HEADER_BYTES, wavHeader } from "../../src/domain/audio/index.ts";
import { conflict, invalidArgument, storageUnavailable } from "../../src/domain/errors.ts";
import type { RecordingTrack } from "../../src/domain/recording.ts";

/** The store's operations a test can make fail once. */
export type RecordingStoreOperation =
  | "create"
  | "finalize"
  | "recoverPartials"
  | "findFinished"
  | "writeSidecar"
  | "findMissingSidecars"
  | "read"
  | "delete"
  | "check";

/** What FsRecordingStore says when the folder fails it (the code is that of the fs error). */
const unusable = () => storageUnavailable("recording storage is not usable (EIO)");

/** A recording file: finished, or a `.part` left behind (a failed finalize, a crash). */
interface StoredRecording {
  spec: RecordingSpec;
  pcm: Int16Array;
}

/**
 * A recording being written, in memory. It keeps a copy of each chunk it accepts, as the fs
 * writer copies into its own buffers, so a caller that reuses its array changes nothing here.
 * Unlike the fs writer it never drops audio because a disk is slow.
 */
export class InMemoryRecordingWriter implements RecordingWriter {
  readonly spec: RecordingSpec;
  /** Copies of the accepted chunks, in order. */
  readonly chunks: Int16Array[] = [];
  /** Bytes refused because the writer was finalizing or finalized (FsRecordingWriter: dropped). */
  droppedBytes = 0;
  private accepted = 0;
  private finalizing: Promise<FinishedRecording> | null = null;
  private outcome: "live" | "finished" | "failed" = "live";

  constructor(
    spec: RecordingSpec,
    readonly fileKey: string,
    private readonly store: InMemoryRecordingStore,
  ) {
    this.spec = { ...spec };
  }

  get bytesWritten(): number {
    return this.accepted;
  }

  /** live: being written; finished: finalized; failed: finalize failed, left as a `.part`. */
  get state(): "live" | "finished" | "failed" {
    return this.outcome;
  }

  /** Every accepted sample, in order. */
  get samples(): Int16Array {
    return concat(this.chunks);
  }

  append(samples: Int16Array): void {
    if (samples.length === 0) return;
    // As FsRecordingWriter: audio after finalize() is counted as dropped, never thrown at a
    // live call that is still tearing down.
    if (this.finalizing !== null) {
      this.droppedBytes += samples.length * 2;
      return;
    }
    this.chunks.push(samples.slice());
    this.accepted += samples.length * 2;
  }

  /** Idempotent, as the fs writer: every call gets the same promise. */
  finalize(): Promise<FinishedRecording> {
    this.finalizing ??= this.finish();
    return this.finalizing;
  }

  private async finish(): Promise<FinishedRecording> {
    const failure = this.store.takeFailure("finalize");
    const stored: StoredRecording = { spec: this.spec, pcm: this.samples };
    if (failure) {
      // The fs writer leaves its `.part` for recoverPartials() and reports storage_unavailable.
      this.outcome = "failed";
      this.store.settle(this, stored, "partial");
      throw failure;
    }
    this.outcome = "finished";
    return this.store.settle(this, stored, "final");
  }
}

/**
 * RecordingStore in memory, with the FsRecordingStore's names (`<streamSid>_<startedAtMs>.wav`,
 * `_conversation.wav`, `_transcript.txt`, `_metadata.json`, validated by the same grammar), its
 * sizes (a 44-byte WAV header plus whole sample frames of PCM) and its refusals (a second
 * recording of the same call and track is a conflict). Files are kept as samples, and read()
 * serves them as WAV bytes.
 */
export class InMemoryRecordingStore implements RecordingStore {
  /** Every writer create() returned, in order. */
  readonly writers: InMemoryRecordingWriter[] = [];
  private readonly finals = new Map<string, StoredRecording>();
  private readonly partials = new Map<string, StoredRecording>();
  private readonly sidecars = new Map<string, string>();
  private readonly failures = new Map<RecordingStoreOperation, Error[]>();

  /**
   * The next `operation` fails with `error` (default: storage_unavailable). For "finalize" it is
   * the next finalize() of any writer, which then leaves its audio as a partial recording.
   */
  failNext(operation: RecordingStoreOperation, error: Error = unusable()): void {
    const queue = this.failures.get(operation) ?? [];
    queue.push(error);
    this.failures.set(operation, queue);
  }

  /** The samples a call's track recorded, from its latest writer; empty if it has none. */
  samplesOf(streamSid: string, track: RecordingTrack): Int16Array {
    const writer = this.writers.findLast(
      (w) => w.spec.streamSid === streamSid && w.spec.track === track,
    );
    return writer ? writer.samples : new Int16Array(0);
  }

  /** The latest writer of a call's track. */
  writerOf(streamSid: string, track: RecordingTrack): InMemoryRecordingWriter | undefined {
    return this.writers.findLast((w) => w.spec.streamSid === streamSid && w.spec.track === track);
  }

  /** File keys of the finished recordings, sorted. */
  finishedKeys(): string[] {
    return [...this.finals.keys()].sort();
  }

  /** File keys (without `.part`) of recordings left unfinished and not being written. */
  partialKeys(): string[] {
    return [...this.partials.keys()].sort();
  }

  sidecar(streamSid: string, startedAtMs: number, kind: SidecarKind): string | undefined {
    return this.sidecars.get(sidecarFileName(streamSid, startedAtMs, kind));
  }

  /** Leaves a `.part` recording behind, as a process killed mid-call would. */
  addPartial(spec: RecordingSpec, samples: Int16Array): void {
    const fileKey = recordingFileName(spec.streamSid, spec.startedAtMs, spec.track);
    this.partials.set(fileKey, { spec: { ...spec }, pcm: samples.slice() });
  }

  create(spec: RecordingSpec): InMemoryRecordingWriter {
    assertValidFormat(spec.sampleRate, spec.channels);
    const fileKey = recordingFileName(spec.streamSid, spec.startedAtMs, spec.track);
    const live = this.writers.some((w) => w.fileKey === fileKey && w.state === "live");
    // The fs store opens `<key>.part` exclusively, so a `.part` left behind refuses it too.
    if (live || this.finals.has(fileKey) || this.partials.has(fileKey)) {
      throw conflict("a recording for this call and track already exists");
    }
    const failure = this.takeFailure("create");
    if (failure) throw failure;
    const writer = new InMemoryRecordingWriter(spec, fileKey, this);
    this.writers.push(writer);
    return writer;
  }

  async recoverPartials(): Promise<FinishedRecording[]> {
    this.throwIfFailing("recoverPartials");
    const recovered: FinishedRecording[] = [];
    // Writers still live own their `.part`; only the ones nobody writes are recovered.
    for (const fileKey of this.partialKeys()) {
      const stored = this.partials.get(fileKey)!;
      this.partials.delete(fileKey);
      // As the fs store: a `.part` whose final file exists is left alone, not recovered.
      if (this.finals.has(fileKey)) continue;
      this.finals.set(fileKey, stored);
      recovered.push(finished(fileKey, stored));
    }
    return recovered;
  }

  async findFinished(streamSid: string, startedAtMs: number): Promise<FinishedRecording[]> {
    this.throwIfFailing("findFinished");
    const found: FinishedRecording[] = [];
    for (const track of ["caller", "conversation"] as const) {
      const fileKey = recordingFileName(streamSid, startedAtMs, track);
      const stored = this.finals.get(fileKey);
      if (stored) found.push(finished(fileKey, stored));
    }
    return found;
  }

  async writeSidecar(
    streamSid: string,
    startedAtMs: number,
    kind: SidecarKind,
    content: string,
  ): Promise<string> {
    const fileKey = sidecarFileName(streamSid, startedAtMs, kind);
    if (typeof content !== "string") throw invalidArgument("sidecar content must be a string");
    this.throwIfFailing("writeSidecar");
    this.sidecars.set(fileKey, content);
    return fileKey;
  }

  async findMissingSidecars(): Promise<CallFiles[]> {
    this.throwIfFailing("findMissingSidecars");
    const missing = new Map<string, CallFiles>();
    for (const { spec } of this.finals.values()) {
      const { streamSid, startedAtMs } = spec;
      const both = (["transcript", "metadata"] as const).every((kind) =>
        this.sidecars.has(sidecarFileName(streamSid, startedAtMs, kind)),
      );
      if (!both) missing.set(`${streamSid}_${startedAtMs}`, { streamSid, startedAtMs });
    }
    return [...missing.values()];
  }

  async read(fileKey: string): Promise<ReadableRecording | null> {
    const parsed = parseFileKeyOrThrow(fileKey);
    this.throwIfFailing("read");
    let bytes: Uint8Array;
    if (parsed.kind === "sidecar") {
      const content = this.sidecars.get(fileKey);
      if (content === undefined) return null;
      bytes = new TextEncoder().encode(content);
    } else {
      const stored = this.finals.get(fileKey);
      if (!stored) return null;
      bytes = wavBytes(stored);
    }
    return {
      sizeBytes: bytes.byteLength,
      open(start: number, end: number) {
        if (
          !Number.isSafeInteger(start) ||
          !Number.isSafeInteger(end) ||
          start < 0 ||
          end < start ||
          end >= bytes.byteLength
        ) {
          throw invalidArgument("byte range is outside the recording");
        }
        const range = bytes.slice(start, end + 1);
        return new ReadableStream<Uint8Array>({
          start(controller) {
            controller.enqueue(range);
            controller.close();
          },
        });
      },
    };
  }

  async delete(fileKey: string): Promise<void> {
    const parsed = parseFileKeyOrThrow(fileKey);
    this.throwIfFailing("delete");
    if (parsed.kind === "sidecar") {
      this.sidecars.delete(fileKey);
      return;
    }
    this.finals.delete(fileKey);
    for (const kind of ["transcript", "metadata"] as const) {
      this.sidecars.delete(sidecarFileName(parsed.streamSid, parsed.startedAtMs, kind));
    }
  }

  async check(): Promise<void> {
    this.throwIfFailing("check");
  }

  /** @internal the queued failure of `operation`, if any, now used up. */
  takeFailure(operation: RecordingStoreOperation): Error | undefined {
    return this.failures.get(operation)?.shift();
  }

  /** @internal a writer's audio becomes a final file or a `.part`. */
  settle(
    writer: InMemoryRecordingWriter,
    stored: StoredRecording,
    as: "final" | "partial",
  ): FinishedRecording {
    (as === "final" ? this.finals : this.partials).set(writer.fileKey, stored);
    return finished(writer.fileKey, stored);
  }

  private throwIfFailing(operation: RecordingStoreOperation): void {
    const failure = this.takeFailure(operation);
    if (failure) throw failure;
  }
}

/** As the fs store: a ragged tail (half a stereo frame) is not part of the file. */
function dataBytesOf(stored: StoredRecording): number {
  const blockAlign = stored.spec.channels * 2;
  const bytes = stored.pcm.length * 2;
  return bytes - (bytes % blockAlign);
}

function finished(fileKey: string, stored: StoredRecording): FinishedRecording {
  const { spec } = stored;
  const dataBytes = dataBytesOf(stored);
  return {
    fileKey,
    streamSid: spec.streamSid,
    startedAtMs: spec.startedAtMs,
    sizeBytes: WAV_HEADER_BYTES + dataBytes,
    durationSeconds: dataBytes / (spec.sampleRate * spec.channels * 2),
    sampleRate: spec.sampleRate,
    channels: spec.channels,
    track: spec.track,
  };
}

function wavBytes(stored: StoredRecording): Uint8Array {
  const dataBytes = dataBytesOf(stored);
  const bytes = new Uint8Array(WAV_HEADER_BYTES + dataBytes);
  bytes.set(wavHeader(stored.spec.sampleRate, stored.spec.channels, dataBytes), 0);
  const view = new DataView(bytes.buffer, WAV_HEADER_BYTES, dataBytes);
  for (let i = 0; i < dataBytes / 2; i++) view.setInt16(i * 2, stored.pcm[i]!, true);
  return bytes;
}

function concat(chunks: readonly Int16Array[]): Int16Array {
  const out = new Int16Array(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
  let at = 0;
  for (const chunk of chunks) {
    out.set(chunk, at);
    at += chunk.length;
  }
  return out;
}

/** The fs store's limits on a recording's format. */
function assertValidFormat(sampleRate: number, channels: number): void {
  if (!Number.isSafeInteger(sampleRate) || sampleRate < 1 || sampleRate > 384_000) {
    throw invalidArgument("sampleRate must be an integer between 1 and 384000");
  }
  if (!Number.isSafeInteger(channels) || channels < 1 || channels > 8) {
    throw invalidArgument("channels must be an integer between 1 and 8");
  }
}
