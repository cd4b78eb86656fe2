import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  computePeaks,
  PeakAccumulator,
  readPcm16Header,
} from "../../../../src/adapters/http/ui/waveform-peaks.ts";
import { encodeWav } from "../../../../src/domain/audio/index.ts";

/** The obvious definition: frame f belongs to bucket floor(f * n / frames); min and max of each. */
function referencePeaks(samples: Int16Array, channels: number, buckets: number): number[][] {
  const frames = samples.length / channels;
  const n = Math.min(buckets, frames);
  return Array.from({ length: channels }, (_, c) => {
    const min = new Array<number>(n).fill(32767);
    const max = new Array<number>(n).fill(-32768);
    for (let f = 0; f < frames; f++) {
      const b = Math.floor((f * n) / frames);
      const v = samples[f * channels + c]!;
      min[b] = Math.min(min[b]!, v);
      max[b] = Math.max(max[b]!, v);
    }
    return min.flatMap((low, b) => [low, max[b]!]);
  });
}

/** Splits bytes at the given cut points, so that chunks can end mid-sample. */
function split(bytes: Uint8Array, cuts: number[]): Uint8Array[] {
  const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((a, b) => a - b);
  const out: Uint8Array[] = [];
  let from = 0;
  for (const p of [...points, bytes.length]) {
    out.push(bytes.subarray(from, p));
    from = p;
  }
  return out;
}

const streamOf = (chunks: Uint8Array[]) =>
  new ReadableStream<Uint8Array>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });

describe("PeakAccumulator", () => {
  it("matches the min and max of each bucket, however the bytes are chunked", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 2 }),
        fc.array(fc.integer({ min: -32768, max: 32767 }), { minLength: 2, maxLength: 600 }),
        fc.integer({ min: 1, max: 50 }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (channels, values, buckets, cuts) => {
          const samples = Int16Array.from(
            values.slice(0, values.length - (values.length % channels)),
          );
          const frames = samples.length / channels;
          const accumulator = new PeakAccumulator(frames, channels, buckets);
          const bytes = new Uint8Array(samples.buffer);
          for (const chunk of split(bytes, cuts)) accumulator.push(chunk);
          expect(accumulator.result()).toEqual(referencePeaks(samples, channels, buckets));
        },
      ),
    );
  });

  it("never makes more buckets than there are frames", () => {
    const accumulator = new PeakAccumulator(3, 1, 800);
    accumulator.push(new Uint8Array(Int16Array.from([5, -7, 9]).buffer));
    expect(accumulator.buckets).toBe(3);
    expect(accumulator.result()).toEqual([[5, 5, -7, -7, 9, 9]]);
  });
});

describe("computePeaks", () => {
  it("reads a stereo WAV stream into per-channel peaks and its duration", async () => {
    const samples = new Int16Array(16_000 * 2);
    for (let i = 0; i < 16_000; i++) {
      samples[2 * i] = i < 8000 ? 1000 : 0;
      samples[2 * i + 1] = i < 8000 ? 0 : -2000;
    }
    const wav = encodeWav(samples, 16_000, 2);
    const peaks = await computePeaks(streamOf(split(wav, [3, 45, 1001])), wav.length, 4);
    expect(peaks).toEqual({
      channels: 2,
      sampleRate: 16_000,
      durationSeconds: 1,
      buckets: 4,
      peaks: [
        [1000, 1000, 1000, 1000, 0, 0, 0, 0],
        [0, 0, 0, 0, -2000, -2000, -2000, -2000],
      ],
    });
  });

  it("refuses a file that is not a canonical PCM16 WAV, and closes its stream", async () => {
    const bytes = encodeWav(new Int16Array(100), 16_000, 1);
    bytes.set([0x4d, 0x50, 0x33, 0x20], 8); // "MP3 " where "WAVE" belongs
    let cancelled = false;
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(bytes.slice(0, 64));
      },
      cancel() {
        cancelled = true;
      },
    });
    await expect(computePeaks(stream, bytes.length, 10)).rejects.toThrow(/PCM16 WAV/);
    expect(cancelled).toBe(true);
  });
});

describe("readPcm16Header", () => {
  it("reads the format of a canonical header and rejects others", () => {
    const wav = encodeWav(new Int16Array(4), 8000, 2);
    expect(readPcm16Header(wav)).toEqual({ channels: 2, sampleRate: 8000 });
    expect(readPcm16Header(wav.subarray(0, 43))).toBeNull();
    const eightBit = wav.slice();
    eightBit[34] = 8;
    expect(readPcm16Header(eightBit)).toBeNull();
  });
});
