import { storageUnavailable } from "../domain/errors.ts";
import type { FinishedRecording, RecordingSpec, RecordingWriter } from "./ports/index.ts";

/**
 * Stands in when the recording could not even be created (storage full or unwritable at call
 * start): the call itself goes on, with its rows, transcripts and assistant; only audio is lost.
 */
export class UnavailableRecordingWriter implements RecordingWriter {
  readonly bytesWritten = 0;

  constructor(
    readonly spec: RecordingSpec,
    private readonly reason: string,
  ) {}

  append(): void {}

  finalize(): Promise<FinishedRecording> {
    return Promise.reject(storageUnavailable(`recording was not kept: ${this.reason}`));
  }
}
