import { readFileSync } from "node:fs";
import { cpus } from "node:os";
import { performance } from "node:perf_hooks";
import {
  decodeMuLawInto,
  decodeWav,
  encodeMuLawInto,
  encodeWav,
  Resampler,
} from "../src/domain/audio/index.ts";
import { polyphaseFilter } from "../src/domain/audio/polyphase-filter.ts";

export interface CodecBenchOptions {
  /** Fewer and shorter runs (under 10 s in all) for CI and smoke runs. */
  quick?: boolean;
  /** How the run was started, for the report; defaults to this file's own command line. */
  command?: string;
}

const FRAME_MS = 20;
const RATES = [8000, 16000, 24000] as const;
const PAIRS = RATES.flatMap((from) =>
  RATES.filter((to) => to !== from).map((to) => [from, to] as const),
);
/** The per-call hot path budget from the issue. */
const BUDGET_US = 15;

/** Deterministic speech-like signal: a few partials plus noise; speed does not depend on content. */
function signal(rate: number, length: number): Int16Array {
  const out = new Int16Array(length);
  let seed = 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0;
    const t = i / rate;
    const v =
      7000 * Math.sin(2 * Math.PI * 180 * t) +
      4000 * Math.sin(2 * Math.PI * 1170 * t) +
      2000 * Math.sin(2 * Math.PI * 2950 * t) +
      (seed / 2 ** 32 - 0.5) * 3000;
    out[i] = Math.round(v);
  }
  return out;
}

/**
 * The naive baseline: streaming linear interpolation (no anti-alias filter), allocation-free
 * like the real resampler, so the comparison is about the filter's cost alone.
 */
class LinearResampler {
  private readonly step: number;
  private position = 0;
  private previous = 0;

  constructor(fromRate: number, toRate: number) {
    this.step = fromRate / toRate;
  }

  maxOutputLength(inputLength: number): number {
    return Math.ceil(inputLength / this.step) + 1;
  }

  processInto(chunk: Int16Array, out: Int16Array): number {
    let n = 0;
    let position = this.position;
    // position is measured from the previous chunk's last sample (index -1).
    while (position < chunk.length - 1) {
      const i = Math.floor(position);
      const frac = position - i;
      const a = i < 0 ? this.previous : chunk[i]!;
      const b = chunk[i + 1]!;
      out[n++] = Math.round(a + (b - a) * frac);
      position += this.step;
    }
    this.position = position - chunk.length;
    this.previous = chunk[chunk.length - 1] ?? this.previous;
    return n;
  }
}

interface Settings {
  runs: number;
  warmupMs: number;
  runMs: number;
}

interface Timing {
  /** Median over runs of the time per call, in microseconds. */
  median: number;
  /** Fastest run: what the code can do when the machine is not busy elsewhere. */
  best: number;
}

function measure(settings: Settings, work: () => number): Timing {
  let sink = 0;
  let calls = 0;
  const warmupEnd = performance.now() + settings.warmupMs;
  const started = performance.now();
  while (performance.now() < warmupEnd) {
    for (let i = 0; i < 50; i++) sink += work();
    calls += 50;
  }
  const perCallMs = (performance.now() - started) / Math.max(1, calls);
  const iterations = Math.max(50, Math.round(settings.runMs / Math.max(perCallMs, 1e-6)));
  const perCall: number[] = [];
  for (let run = 0; run < settings.runs; run++) {
    const t0 = performance.now();
    for (let i = 0; i < iterations; i++) sink += work();
    perCall.push(((performance.now() - t0) * 1000) / iterations);
  }
  if (sink === Number.MIN_VALUE) console.log(sink); // keeps the work observable
  perCall.sort((a, b) => a - b);
  return { median: perCall[Math.floor(perCall.length / 2)]!, best: perCall[0]! };
}

function cpuModel(): string {
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    const model = /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim();
    if (model) return model;
  } catch {
    // Not Linux: fall back to what Node reports.
  }
  return cpus()[0]?.model ?? "unknown CPU";
}

/** A Buffer's bytes as Int16Array, copying only when the Buffer is not 2-byte aligned. */
function int16View(bytes: Buffer, scratch: Int16Array): Int16Array {
  const count = bytes.length >> 1;
  if (bytes.byteOffset % 2 === 0) return new Int16Array(bytes.buffer, bytes.byteOffset, count);
  const view = scratch.subarray(0, count);
  new Uint8Array(view.buffer, view.byteOffset, count * 2).set(bytes.subarray(0, count * 2));
  return view;
}

const fmt = (value: number, digits = 2) => value.toFixed(digits);

export async function runCodecBench(options: CodecBenchOptions = {}): Promise<string> {
  const quick = options.quick ?? false;
  const settings: Settings = quick
    ? { runs: 5, warmupMs: 100, runMs: 50 }
    : { runs: 9, warmupMs: 300, runMs: 200 };
  const command = options.command ?? `npx tsx bench/codec.ts${quick ? " --quick" : ""}`;

  // Inbound: Twilio media payload (base64 mu-law, 160 bytes) → PCM16 8k → 24k → base64 for OpenAI.
  const inboundPayload = Buffer.from(
    Uint8Array.from({ length: 160 }, (_, i) => (i * 37 + 11) & 0xff),
  ).toString("base64");
  const to24k = new Resampler(8000, 24000);
  const pcm8kIn = new Int16Array(160);
  const pcm24kIn = new Int16Array(to24k.maxOutputLength(160));
  const inbound = () => {
    const mu = Buffer.from(inboundPayload, "base64");
    decodeMuLawInto(mu, pcm8kIn);
    const n = to24k.processInto(pcm8kIn, pcm24kIn);
    return Buffer.from(pcm24kIn.buffer, pcm24kIn.byteOffset, n * 2).toString("base64").length;
  };

  // Outbound: OpenAI audio delta (base64 PCM16 24k, 480 samples) → 8k → mu-law → base64 for Twilio.
  const outboundPcm = signal(24000, 480);
  const outboundPayload = Buffer.from(outboundPcm.buffer).toString("base64");
  const to8k = new Resampler(24000, 8000);
  const pcm24kScratch = new Int16Array(480);
  const pcm8kOut = new Int16Array(to8k.maxOutputLength(480));
  const muOut = new Uint8Array(pcm8kOut.length);
  const outbound = () => {
    const bytes = Buffer.from(outboundPayload, "base64");
    const n = to8k.processInto(int16View(bytes, pcm24kScratch), pcm8kOut);
    encodeMuLawInto(pcm8kOut.subarray(0, n), muOut);
    return Buffer.from(muOut.buffer, muOut.byteOffset, n).toString("base64").length;
  };

  // The Node-side base64 work of each path alone, to show what the library's share is.
  const pcm24kOutBytes = Buffer.from(pcm24kIn.buffer, pcm24kIn.byteOffset, pcm24kIn.length * 2);
  const inboundBase64 = () =>
    Buffer.from(inboundPayload, "base64").length + pcm24kOutBytes.toString("base64").length;
  const muOutBytes = Buffer.from(new Uint8Array(160));
  const outboundBase64 = () =>
    Buffer.from(outboundPayload, "base64").length + muOutBytes.toString("base64").length;

  const inboundUs = measure(settings, inbound);
  const outboundUs = measure(settings, outbound);
  const inboundBase64Us = measure(settings, inboundBase64);
  const outboundBase64Us = measure(settings, outboundBase64);
  const row = (name: string, t: Timing, budget: string) =>
    `| ${name} | ${fmt(t.median)} | ${fmt(t.best)} | ${budget} |`;

  const stages: {
    name: string;
    inputRate: number;
    us: number;
    baselineUs?: number;
    note: string;
  }[] = [];
  const frame = (rate: number) => (rate * FRAME_MS) / 1000;

  const muBytes = Uint8Array.from({ length: 160 }, (_, i) => (i * 73 + 5) & 0xff);
  const muSamples = new Int16Array(160);
  stages.push({
    name: "mu-law decode (lookup table)",
    inputRate: 8000,
    us: measure(settings, () => decodeMuLawInto(muBytes, muSamples)).median,
    note: "160 bytes",
  });
  const pcm8k = signal(8000, 160);
  const muEncoded = new Uint8Array(160);
  stages.push({
    name: "mu-law encode (16384-entry table)",
    inputRate: 8000,
    us: measure(settings, () => encodeMuLawInto(pcm8k, muEncoded)).median,
    note: "160 samples",
  });

  for (const [from, to] of PAIRS) {
    const input = signal(from, frame(from));
    const resampler = new Resampler(from, to);
    const out = new Int16Array(resampler.maxOutputLength(input.length));
    const linear = new LinearResampler(from, to);
    const linearOut = new Int16Array(linear.maxOutputLength(input.length));
    const filter = polyphaseFilter(from, to);
    stages.push({
      name: `resample ${from / 1000}k → ${to / 1000}k`,
      inputRate: from,
      us: measure(settings, () => resampler.processInto(input, out)).median,
      baselineUs: measure(settings, () => linear.processInto(input, linearOut)).median,
      note: `${filter.length}-tap prototype, ${filter.kind}`,
    });
  }

  const second16k = signal(16000, 16000);
  const wav = encodeWav(second16k, 16000, 1);
  const wavPerFrame = (us: number) => (us * FRAME_MS) / 1000; // 1 s of audio → per 20 ms
  stages.push({
    name: "WAV encode (16 kHz mono)",
    inputRate: 16000,
    us: wavPerFrame(measure(settings, () => encodeWav(second16k, 16000, 1).length).median),
    note: "1 s per call",
  });
  stages.push({
    name: "WAV decode (16 kHz mono)",
    inputRate: 16000,
    us: wavPerFrame(measure(settings, () => decodeWav(wav).samples.length).median),
    note: "1 s per call",
  });

  const msps = (rate: number, us: number) => fmt(frame(rate) / us, 1);
  const lines = [
    `### Codec: mu-law, resampler, WAV${quick ? " (quick)" : ""}`,
    "",
    `Machine: ${cpuModel()} (${cpus().length} logical CPUs), Node ${process.version}, ${new Date().toISOString()}.`,
    `Command: \`${command}\`. Figures are the median of ${settings.runs} timed runs after a warm-up, in one process; Msamples/s counts input samples.`,
    "",
    "| per-call hot path, one 20 ms frame | median µs/frame | fastest run µs/frame | budget |",
    "|---|---:|---:|---:|",
    row("inbound: base64 mu-law (160 B) → decode → 8k→24k → base64", inboundUs, `≤ ${BUDGET_US}`),
    row(
      "outbound: base64 PCM16 24k (480 samples) → 24k→8k → mu-law → base64",
      outboundUs,
      `≤ ${BUDGET_US}`,
    ),
    row("of which Node base64 decode + encode alone, inbound", inboundBase64Us, ""),
    row("of which Node base64 decode + encode alone, outbound", outboundBase64Us, ""),
    "",
    "| stage | µs per 20 ms frame | Msamples/s (input) | linear-interpolation baseline, Msamples/s | notes |",
    "|---|---:|---:|---:|---|",
    ...stages.map(
      (s) =>
        `| ${s.name} | ${fmt(s.us)} | ${msps(s.inputRate, s.us)} | ${
          s.baselineUs === undefined ? "" : msps(s.inputRate, s.baselineUs)
        } | ${s.note} |`,
    ),
    "",
  ];
  return lines.join("\n");
}

if (process.argv[1]?.endsWith("codec.ts")) {
  runCodecBench({ quick: process.argv.includes("--quick") }).then((markdown) =>
    process.stdout.write(`${markdown}\n`),
  );
}
