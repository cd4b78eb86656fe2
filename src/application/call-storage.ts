import type { Call } from "../domain/call.ts";
import { describeError } from "../domain/errors.ts";
import type { Recording } from "../domain/recording.ts";
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
import { UnavailableRecordingWriter } from "./unavailable-recording-writer.ts";

export interface CallStorageDeps {
  calls: CallRepository;
  recordings: RecordingStore;
  clock: Clock;
  ids: IdGenerator;
  logger: Logger;
  events?: CallEventSink;
  /** INSTANCE_ID, stored as the owner of every call this process runs; unset: unowned. */
  instanceId?: string;
}

/** The ports every call writes through, and the two conversions they share. */
export class CallStorage implements CallStorageDeps {
  readonly calls: CallRepository;
  readonly recordings: RecordingStore;
  readonly clock: Clock;
  readonly ids: IdGenerator;
  readonly logger: Logger;
  readonly events?: CallEventSink;
  readonly instanceId?: string;

  constructor(deps: CallStorageDeps) {
    this.calls = deps.calls;
    this.recordings = deps.recordings;
    this.clock = deps.clock;
    this.ids = deps.ids;
    this.logger = deps.logger;
    this.events = deps.events;
    this.instanceId = deps.instanceId;
  }

  /** A recording writer, or a stand-in that drops audio when storage is not usable. */
  createWriter(spec: RecordingSpec): RecordingWriter {
    try {
      return this.recordings.create(spec);
    } catch (error) {
      this.logger.error(
        { err: describeError(error), streamSid: spec.streamSid, track: spec.track },
        "recording could not be created; the call goes on without it",
      );
      return new UnavailableRecordingWriter(spec, describeError(error).message);
    }
  }

  recordingRow(call: Call, finished: FinishedRecording): Recording {
    return {
      id: this.ids.newId(),
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
      createdAt: this.clock.now(),
    };
  }
}
