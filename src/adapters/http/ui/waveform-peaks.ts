/** The canonical 44-byte PCM16 WAV header every recording of ours starts with. */
export const WAV_HEADER_BYTES = 44;

export interface WavFormat {
  channels: number;
  sampleRate: number;
}

const ascii = (bytes: Uint8Array, at: number): string =>
  String.fromCharCode(bytes[at]!, bytes[at + 1]!, bytes[at + 2]!, bytes[at + 3]!);

/** The format of a canonical PCM16 header (data chunk right after it), else null. */
export function readPcm16Header(bytes: Uint8Array): WavFormat | null {
  if (bytes.byteLength < WAV_HEADER_BYTES) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, WAV_HEADER_BYTES);
  const canonical =
    ascii(bytes, 0) === "RIFF" &&
    ascii(bytes, 8) === "WAVE" &&
    ascii(bytes, 12) === "fmt " &&
    view.getUint16(20, true) === 1 &&
    view.getUint16(34, true) === 16 &&
    ascii(bytes, 36) === "data";
  const channels = view.getUint16(22, true);
  const sampleRate = view.getUint32(24, true);
  if (!canonical || channels < 1 || channels > 8 || sampleRate === 0) return null;
  return { channels, sampleRate };
}

/**
 * Min/max of each channel over `buckets` equal slices of the audio, fed as a byte stream of PCM16
 * frames in arbitrary chunks (a chunk may end mid-sample). Memory is O(buckets), whatever the
 * length of the recording, so a one-hour call costs the same few kilobytes as a short one.
 */
export class PeakAccumulator {
  readonly buckets: number;
  private readonly channels: number;
  private readonly totalFrames: number;
  /** Indexed by bucket * channels + channel. */
  private readonly mins: Int32Array;
  private readonly maxs: Int32Array;
  private frame = 0;
  private channel = 0;
  private bucket = 0;
  private carry: number | null = null;

  constructor(totalFrames: number, channels: number, buckets: number) {
    this.totalFrames = Math.max(0, Math.floor(totalFrames));
    this.channels = channels;
    // Never more buckets than frames: each bucket then covers at least one frame.
    this.buckets = Math.max(0, Math.min(buckets, this.totalFrames));
    this.mins = new Int32Array(this.buckets * channels).fill(32767);
    this.maxs = new Int32Array(this.buckets * channels).fill(-32768);
  }

  push(chunk: Uint8Array): void {
    let i = 0;
    if (this.carry !== null && chunk.length > 0) {
      this.add((((chunk[0]! << 8) | this.carry) << 16) >> 16);
      this.carry = null;
      i = 1;
    }
    // The hot loop of a one-hour file (115 million samples): state in locals, no calls.
    const { channels, totalFrames, buckets, mins, maxs } = this;
    let { frame, channel, bucket } = this;
    const end = chunk.length - 1;
    for (; i < end; i += 2) {
      // Little-endian PCM16, sign-extended.
      const value = (((chunk[i + 1]! << 8) | chunk[i]!) << 16) >> 16;
      if (frame < totalFrames) {
        const k = bucket * channels + channel;
        if (value < mins[k]!) mins[k] = value;
        if (value > maxs[k]!) maxs[k] = value;
      }
      if (++channel === channels) {
        channel = 0;
        frame++;
        bucket = Math.floor((frame * buckets) / totalFrames);
      }
    }
    this.frame = frame;
    this.channel = channel;
    this.bucket = bucket;
    if (i < chunk.length) this.carry = chunk[i]!;
  }

  /** Per channel, the interleaved [min, max] of each bucket, in PCM16 units. */
  result(): number[][] {
    return Array.from({ length: this.channels }, (_, c) => {
      const out: number[] = new Array(this.buckets * 2);
      for (let b = 0; b < this.buckets; b++) {
        const min = this.mins[b * this.channels + c]!;
        const max = this.maxs[b * this.channels + c]!;
        // A bucket the stream never reached (a file shorter than its size said) is silence.
        out[2 * b] = min > max ? 0 : min;
        out[2 * b + 1] = min > max ? 0 : max;
      }
      return out;
    });
  }

  private add(value: number): void {
    if (this.frame < this.totalFrames) {
      const k = this.bucket * this.channels + this.channel;
      if (value < this.mins[k]!) this.mins[k] = value;
      if (value > this.maxs[k]!) this.maxs[k] = value;
    }
    if (++this.channel === this.channels) {
      this.channel = 0;
      this.frame++;
      this.bucket = Math.floor((this.frame * this.buckets) / this.totalFrames);
    }
  }
}

export interface PeaksJson {
  channels: number;
  sampleRate: number;
  durationSeconds: number;
  buckets: number;
  /** Per channel (caller first), interleaved [min, max] per bucket, in PCM16 units. */
  peaks: number[][];
}

/** Streams the file once; memory stays O(buckets) whatever its length. */
export async function computePeaks(
  stream: ReadableStream<Uint8Array>,
  sizeBytes: number,
  buckets: number,
): Promise<PeaksJson> {
  const reader = stream.getReader();
  const header = new Uint8Array(WAV_HEADER_BYTES);
  let headerFill = 0;
  let accumulator: PeakAccumulator | null = null;
  let format: { channels: number; sampleRate: number } | null = null;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      let chunk = value;
      if (headerFill < WAV_HEADER_BYTES) {
        const take = Math.min(WAV_HEADER_BYTES - headerFill, chunk.length);
        header.set(chunk.subarray(0, take), headerFill);
        headerFill += take;
        chunk = chunk.subarray(take);
        if (headerFill < WAV_HEADER_BYTES) continue;
        format = readPcm16Header(header);
        if (!format) throw new Error("the recording is not a canonical PCM16 WAV file");
        const frames = Math.floor((sizeBytes - WAV_HEADER_BYTES) / (2 * format.channels));
        accumulator = new PeakAccumulator(frames, format.channels, buckets);
      }
      accumulator?.push(chunk);
    }
  } catch (error) {
    // Closes the file: a stream left half-read would keep its descriptor open.
    await reader.cancel().catch(() => undefined);
    throw error;
  }
  if (!format || !accumulator) throw new Error("the recording is shorter than a WAV header");
  const frames = Math.floor((sizeBytes - WAV_HEADER_BYTES) / (2 * format.channels));
  return {
    channels: format.channels,
    sampleRate: format.sampleRate,
    durationSeconds: frames / format.sampleRate,
    buckets: accumulator.buckets,
    peaks: accumulator.result(),
  };
}
