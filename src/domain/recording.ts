export type RecordingTrack = "caller" | "conversation";

export interface Recording {
  readonly id: string;
  readonly callId: string;
  readonly track: RecordingTrack;
  readonly format: "wav";
  readonly codec: "pcm_s16le";
  readonly sampleRate: number;
  readonly channels: number;
  readonly sizeBytes: number;
  readonly durationSeconds: number;
  /** The store's key for the file (a bare file name); never shown in API answers. */
  readonly fileKey: string;
  readonly cloudUrl: string | null;
  readonly createdAt: Date;
}

/** The sample rate every stored recording uses (contract: 16 kHz PCM16). */
export const RECORDING_SAMPLE_RATE = 16_000;
