import type { RecordingTrack } from "../../domain/recording.ts";

export interface RecordingSpec {
  streamSid: string;
  /** Milliseconds since epoch of the call start; part of the file name. */
  startedAtMs: number;
  track: RecordingTrack;
  sampleRate: number;
  channels: number;
}

export interface FinishedRecording {
  fileKey: string;
  streamSid: string;
  startedAtMs: number;
  sizeBytes: number;
  durationSeconds: number;
  sampleRate: number;
  channels: number;
  track: RecordingTrack;
}

/**
 * A recording being written. append() copies the samples (callers may reuse their buffer)
 * and never blocks on disk: data is buffered (≤ ~1 s) and flushed in the background.
 */
export interface RecordingWriter {
  readonly spec: RecordingSpec;
  append(samples: Int16Array): void;
  /** Bytes of PCM accepted so far. */
  readonly bytesWritten: number;
  /** Patches the header, fsyncs and renames the file to its final name. */
  finalize(): Promise<FinishedRecording>;
}

export interface PartialRecording {
  streamSid: string;
  startedAtMs: number;
  track: RecordingTrack;
}

export interface ReadableRecording {
  sizeBytes: number;
  /** A byte stream of [start, end] inclusive. */
  open(start: number, end: number): ReadableStream<Uint8Array>;
}

export type SidecarKind = "transcript" | "metadata";

/** The two parts of every file name of one call. */
export interface CallFiles {
  streamSid: string;
  startedAtMs: number;
}

export interface RecordingStore {
  create(spec: RecordingSpec): RecordingWriter;
  /** Turns every unfinished (.part) recording into a valid final file. */
  recoverPartials(): Promise<FinishedRecording[]>;
  /**
   * The final recording files of one call, whatever the database says: a crash between a
   * file's rename and its row leaves a finished file that only this finds.
   */
  findFinished(streamSid: string, startedAtMs: number): Promise<FinishedRecording[]>;
  writeSidecar(
    streamSid: string,
    startedAtMs: number,
    kind: SidecarKind,
    content: string,
  ): Promise<string>;
  /**
   * The calls (by file stem) that have a final recording but not both sidecar files: what a
   * crash between a call's status update and its sidecar writes leaves, or a failed write.
   * One listing of the folder, which recovery reads at start anyway.
   */
  findMissingSidecars(): Promise<CallFiles[]>;
  read(fileKey: string): Promise<ReadableRecording | null>;
  /** Deletes a recording and its sidecars; missing files are not an error. */
  delete(fileKey: string): Promise<void>;
  /** Checks the folder is writable, for /healthz. */
  check(): Promise<void>;
}
