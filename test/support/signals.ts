/**
 * Test signals: deterministic PCM16 generators, simple measurements, and real synthetic speech
 * from espeak-ng (converted by sox) for tests that need something a VAD treats as a voice.
 *
 * Tools: espeak-ng and sox are Debian packages (`apt-get install -y espeak-ng sox`); see
 * /work/shared/docs/toolchain.md.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { decodeWav } from "../../src/domain/audio/index.ts";

const run = promisify(execFile);

const clip = (v: number): number => (v > 32767 ? 32767 : v < -32768 ? -32768 : Math.round(v));

const sampleCount = (ms: number, rate: number): number => Math.round((ms * rate) / 1000);

/** A sine tone; `amplitude` is a fraction of full scale (0..1). */
export function tone(freq: number, ms: number, rate: number, amplitude = 0.5): Int16Array {
  const n = sampleCount(ms, rate);
  const out = new Int16Array(n);
  const peak = amplitude * 32767;
  const step = (2 * Math.PI * freq) / rate;
  for (let i = 0; i < n; i++) out[i] = clip(peak * Math.sin(step * i));
  return out;
}

export function silence(ms: number, rate: number): Int16Array {
  return new Int16Array(sampleCount(ms, rate));
}

export function concat(...parts: Int16Array[]): Int16Array {
  const total = parts.reduce((sum, p) => sum + p.length, 0);
  const out = new Int16Array(total);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/**
 * Voice-like signal: a 120-180 Hz gliding fundamental with decaying harmonics (up to 3.4 kHz, the
 * telephone band), amplitude-modulated at a syllable rate of 4 Hz that never drops to zero, so an
 * energy VAD sees one continuous utterance while spectral content still resembles voiced speech.
 */
export function speechLike(ms: number, rate: number, amplitude = 0.4): Int16Array {
  const n = sampleCount(ms, rate);
  const out = new Int16Array(n);
  const maxHarmonic = 20;
  const weights: number[] = [];
  let weightSum = 0;
  for (let h = 1; h <= maxHarmonic; h++) {
    const w = 1 / h;
    weights.push(w);
    weightSum += w;
  }
  let phase = 0;
  for (let i = 0; i < n; i++) {
    const t = i / rate;
    const f0 = 150 + 30 * Math.sin(2 * Math.PI * 0.7 * t);
    phase += (2 * Math.PI * f0) / rate;
    let v = 0;
    for (let h = 1; h <= maxHarmonic; h++) {
      if (f0 * h > Math.min(3400, rate / 2 - 100)) break;
      v += weights[h - 1]! * Math.sin(h * phase);
    }
    const envelope = 0.65 + 0.35 * Math.sin(2 * Math.PI * 4 * t);
    out[i] = clip(((amplitude * 32767) / weightSum) * 2.2 * envelope * v);
  }
  return out;
}

/** Root mean square over [start, end) samples. */
export function rms(samples: Int16Array, start = 0, end = samples.length): number {
  if (end <= start) return 0;
  let sum = 0;
  for (let i = start; i < end; i++) {
    const s = samples[i]!;
    sum += s * s;
  }
  return Math.sqrt(sum / (end - start));
}

/**
 * Strength of one frequency (Goertzel), normalised so a full-scale sine at `freq` gives ~0.5
 * times its amplitude fraction. Lets tests tell a 440 Hz tone from other audio.
 */
export function toneLevel(samples: Int16Array, freq: number, rate: number): number {
  const n = samples.length;
  if (n === 0) return 0;
  const coeff = 2 * Math.cos((2 * Math.PI * freq) / rate);
  let s1 = 0;
  let s2 = 0;
  for (let i = 0; i < n; i++) {
    const s0 = samples[i]! / 32768 + coeff * s1 - s2;
    s2 = s1;
    s1 = s0;
  }
  const power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
  return Math.sqrt(Math.max(power, 0)) / n;
}

/**
 * Speaks `text` with espeak-ng and returns mono PCM16 at `rate`. sox does the resampling so the
 * result does not depend on the code under test.
 */
export async function speakWithEspeak(
  text: string,
  rate: number,
  opts: { voice?: string; wordsPerMinute?: number } = {},
): Promise<Int16Array> {
  const dir = await mkdtemp(join(tmpdir(), "callbridge-espeak-"));
  try {
    const raw = join(dir, "raw.wav");
    const converted = join(dir, "out.wav");
    await run("espeak-ng", [
      "-v",
      opts.voice ?? "en-us",
      "-s",
      String(opts.wordsPerMinute ?? 160),
      "-w",
      raw,
      text,
    ]);
    await run("sox", [raw, "-r", String(rate), "-b", "16", "-c", "1", "-e", "signed", converted]);
    const wav = decodeWav(new Uint8Array(await readFile(converted)));
    if (wav.sampleRate !== rate || wav.channels !== 1) {
      throw new Error(`sox produced ${wav.sampleRate} Hz x${wav.channels}, wanted ${rate} Hz mono`);
    }
    return wav.samples;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Resamples by sample repetition / decimation: exact for integer ratios, test-only quality. */
export function naiveResample(samples: Int16Array, fromRate: number, toRate: number): Int16Array {
  if (fromRate === toRate) return samples.slice();
  if (toRate % fromRate === 0) {
    const k = toRate / fromRate;
    const out = new Int16Array(samples.length * k);
    for (let i = 0; i < samples.length; i++) out.fill(samples[i]!, i * k, i * k + k);
    return out;
  }
  if (fromRate % toRate === 0) {
    const k = fromRate / toRate;
    const out = new Int16Array(Math.floor(samples.length / k));
    for (let i = 0; i < out.length; i++) out[i] = samples[i * k]!;
    return out;
  }
  throw new Error(`naiveResample needs an integer ratio, got ${fromRate} -> ${toRate}`);
}

/** PCM16 little-endian bytes of `samples` (what OpenAI's audio/pcm carries), base64. */
export function pcm16ToBase64(samples: Int16Array): string {
  return Buffer.from(samples.buffer, samples.byteOffset, samples.byteLength).toString("base64");
}

export function base64ToPcm16(b64: string): Int16Array {
  const bytes = Buffer.from(b64, "base64");
  const out = new Int16Array(bytes.length >> 1);
  for (let i = 0; i < out.length; i++) out[i] = bytes.readInt16LE(i * 2);
  return out;
}
