import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach } from "vitest";
import {
  FsRecordingStore,
  type FsRecordingStoreOptions,
} from "../../../src/adapters/fs/fs-recording-store.ts";
import type { StoreLogger } from "../../../src/adapters/fs/store-io.ts";

const created: string[] = [];

afterEach(() => {
  for (const dir of created.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

/** A fresh, empty temp folder removed after the test. */
export function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "callbridge-fs-"));
  created.push(dir);
  return dir;
}

export interface Recorded {
  warnings: Array<{ obj: object; msg: string }>;
  errors: Array<{ obj: object; msg: string }>;
  errorKinds: string[];
  bytesWritten: number[];
}

export function recordingStore(overrides: Partial<FsRecordingStoreOptions> = {}): {
  store: FsRecordingStore;
  root: string;
  seen: Recorded;
} {
  const root = overrides.root ?? tempDir();
  const seen: Recorded = { warnings: [], errors: [], errorKinds: [], bytesWritten: [] };
  const logger: StoreLogger = {
    warn: (obj, msg) => seen.warnings.push({ obj, msg }),
    error: (obj, msg) => seen.errors.push({ obj, msg }),
  };
  const store = new FsRecordingStore({
    logger,
    onBytesWritten: (n) => seen.bytesWritten.push(n),
    onError: (kind) => seen.errorKinds.push(kind),
    ...overrides,
    root,
  });
  return { store, root, seen };
}

/** Deterministic, non-repeating-looking PCM so misplaced bytes are caught. */
export function signal(length: number, seed = 1): Int16Array {
  const out = new Int16Array(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    out[i] = (x & 0xffff) - 0x8000;
  }
  return out;
}

export function chunks(samples: Int16Array, size: number): Int16Array[] {
  const out: Int16Array[] = [];
  for (let i = 0; i < samples.length; i += size) out.push(samples.slice(i, i + size));
  return out;
}

export function pcmBytes(samples: Int16Array): Buffer {
  const out = Buffer.alloc(samples.length * 2);
  for (const [i, v] of samples.entries()) out.writeInt16LE(v, i * 2);
  return out;
}

export interface ParsedWav {
  riff: string;
  riffSize: number;
  wave: string;
  fmt: string;
  fmtSize: number;
  audioFormat: number;
  channels: number;
  sampleRate: number;
  byteRate: number;
  blockAlign: number;
  bitsPerSample: number;
  dataTag: string;
  dataSize: number;
  data: Buffer;
}

/** Reads the 44-byte canonical header field by field; an oracle independent of the adapter. */
export function parseWav(bytes: Buffer): ParsedWav {
  return {
    riff: bytes.toString("ascii", 0, 4),
    riffSize: bytes.readUInt32LE(4),
    wave: bytes.toString("ascii", 8, 12),
    fmt: bytes.toString("ascii", 12, 16),
    fmtSize: bytes.readUInt32LE(16),
    audioFormat: bytes.readUInt16LE(20),
    channels: bytes.readUInt16LE(22),
    sampleRate: bytes.readUInt32LE(24),
    byteRate: bytes.readUInt32LE(28),
    blockAlign: bytes.readUInt16LE(32),
    bitsPerSample: bytes.readUInt16LE(34),
    dataTag: bytes.toString("ascii", 36, 40),
    dataSize: bytes.readUInt32LE(40),
    data: bytes.subarray(44),
  };
}

/** What a valid canonical PCM16 WAV holding exactly `data` parses to. */
export function expectedWav(sampleRate: number, channels: number, data: Buffer): ParsedWav {
  return {
    riff: "RIFF",
    riffSize: 36 + data.length,
    wave: "WAVE",
    fmt: "fmt ",
    fmtSize: 16,
    audioFormat: 1,
    channels,
    sampleRate,
    byteRate: sampleRate * channels * 2,
    blockAlign: channels * 2,
    bitsPerSample: 16,
    dataTag: "data",
    dataSize: data.length,
    data,
  };
}

/** Polls until the condition holds; fails with the last value after a generous deadline. */
export async function eventually<T>(
  read: () => T,
  done: (value: T) => boolean,
  timeoutMs = 10_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = read();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`condition not met; last value ${String(value)}`);
    await sleep(5);
    value = read();
  }
  return value;
}

export const fileSize = (file: string): number =>
  fs.existsSync(file) ? fs.statSync(file).size : -1;

/** A header with unknown sizes, as the writer leaves it while recording. */
export function streamingHeaderBytes(sampleRate: number, channels: number): Buffer {
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(0xffffffff, 4);
  header.write("WAVEfmt ", 8, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(channels, 22);
  header.writeUInt32LE(sampleRate, 24);
  header.writeUInt32LE(sampleRate * channels * 2, 28);
  header.writeUInt16LE(channels * 2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "ascii");
  header.writeUInt32LE(0xffffffff, 40);
  return header;
}
