import fs from "node:fs";
import path from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { RecordingSpec } from "../../../src/application/ports/index.ts";
import { decodeWav } from "../../../src/domain/audio/index.ts";
import {
  chunks,
  eventually,
  expectedWav,
  fileSize,
  parseWav,
  pcmBytes,
  recordingStore,
  signal,
} from "./fs-test-support.ts";

const RATE = 16_000;

const callerSpec = (over: Partial<RecordingSpec> = {}): RecordingSpec => ({
  streamSid: "MZ0123456789abcdef",
  startedAtMs: 1_700_000_000_123,
  track: "caller",
  sampleRate: RATE,
  channels: 1,
  ...over,
});

const conversationSpec = (over: Partial<RecordingSpec> = {}): RecordingSpec =>
  callerSpec({ track: "conversation", channels: 2, ...over });

afterEach(() => {
  vi.useRealTimers();
});

describe("FsRecordingStore streaming writer", () => {
  it("writes many small chunks of mono audio into a byte-exact, valid WAV at the final name", async () => {
    const { store, root, seen } = recordingStore();
    const audio = signal(RATE * 2 + 4321, 7);
    const writer = store.create(callerSpec());
    // Irregular chunk sizes cross the one-second buffer boundary at arbitrary points.
    for (const chunk of chunks(audio, 137)) writer.append(chunk);
    expect(writer.bytesWritten).toBe(audio.length * 2);

    const finished = await writer.finalize();

    const fileKey = "MZ0123456789abcdef_1700000000123.wav";
    expect(finished).toEqual({
      fileKey,
      streamSid: "MZ0123456789abcdef",
      startedAtMs: 1_700_000_000_123,
      sizeBytes: 44 + audio.length * 2,
      durationSeconds: audio.length / RATE,
      sampleRate: RATE,
      channels: 1,
      track: "caller",
    });
    const bytes = fs.readFileSync(path.join(root, fileKey));
    expect(bytes.length).toBe(finished.sizeBytes);
    expect(parseWav(bytes)).toEqual(expectedWav(RATE, 1, pcmBytes(audio)));
    expect(decodeWav(bytes)).toEqual({ samples: audio, sampleRate: RATE, channels: 1 });
    expect(fs.readdirSync(root)).toEqual([fileKey]);
    expect(seen.bytesWritten.reduce((a, b) => a + b, 0)).toBe(audio.length * 2);
    expect(seen.errorKinds).toEqual([]);
  });

  it("writes interleaved stereo audio into a byte-exact, valid conversation WAV", async () => {
    const { store, root, seen } = recordingStore();
    // Within the writer's three seconds of buffers, so a synchronous burst drops nothing.
    const frames = RATE * 2 + 99;
    const audio = signal(frames * 2, 11);
    const writer = store.create(conversationSpec());
    for (const chunk of chunks(audio, 640)) writer.append(chunk);

    const finished = await writer.finalize();

    expect(finished.fileKey).toBe("MZ0123456789abcdef_1700000000123_conversation.wav");
    expect(finished.track).toBe("conversation");
    expect(finished.channels).toBe(2);
    expect(finished.durationSeconds).toBe(frames / RATE);
    const bytes = fs.readFileSync(path.join(root, finished.fileKey));
    expect(parseWav(bytes)).toEqual(expectedWav(RATE, 2, pcmBytes(audio)));
    expect(writer.droppedBytes).toBe(0);
    expect(seen.errorKinds).toEqual([]);
  });

  it("copies appended samples so the caller may reuse its buffer", async () => {
    const { store, root } = recordingStore();
    const writer = store.create(callerSpec());
    const reused = new Int16Array(320);
    const expected: number[] = [];
    for (let c = 0; c < 10; c++) {
      reused.fill(c * 100 - 500);
      for (let i = 0; i < reused.length; i++) expected.push(c * 100 - 500);
      writer.append(reused);
    }
    const finished = await writer.finalize();
    const data = parseWav(fs.readFileSync(path.join(root, finished.fileKey))).data;
    expect(data.equals(pcmBytes(Int16Array.from(expected)))).toBe(true);
  });

  it("keeps the recording at its .part name until finalize, never at the final name", async () => {
    const { store, root } = recordingStore();
    const writer = store.create(callerSpec());
    const finalPath = path.join(root, "MZ0123456789abcdef_1700000000123.wav");
    const partPath = `${finalPath}.part`;

    expect(fs.existsSync(partPath)).toBe(true);
    expect(fs.existsSync(finalPath)).toBe(false);
    const header = parseWav(fs.readFileSync(partPath));
    expect(header.riff).toBe("RIFF");
    expect(header.dataSize).toBe(0xffffffff);
    expect(header.riffSize).toBe(0xffffffff);

    const audio = signal(RATE * 2);
    for (const chunk of chunks(audio, 320)) writer.append(chunk);
    await eventually(
      () => fileSize(partPath),
      (size) => size === 44 + audio.length * 2,
    );
    expect(fs.existsSync(finalPath)).toBe(false);
    // The unknown sizes keep the unfinished file playable up to what is on disk.
    expect(decodeWav(fs.readFileSync(partPath)).samples).toEqual(audio);

    await writer.finalize();
    expect(fs.existsSync(partPath)).toBe(false);
    expect(fs.existsSync(finalPath)).toBe(true);
  });

  it("hands a partial buffer to the disk on its once-a-second timer, without finalize", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const { store, root } = recordingStore();
    const writer = store.create(callerSpec());
    const partPath = path.join(root, "MZ0123456789abcdef_1700000000123.wav.part");
    const quarterSecond = signal(RATE / 4, 3);
    writer.append(quarterSecond);
    expect(writer.bufferedBytes).toBe(RATE / 2);
    expect(fileSize(partPath)).toBe(44);

    vi.advanceTimersByTime(1000);

    await eventually(
      () => fileSize(partPath),
      (size) => size === 44 + RATE / 2,
    );
    await eventually(
      () => writer.bufferedBytes,
      (n) => n === 0,
    );
    const onDisk = fs.readFileSync(partPath).subarray(44);
    expect(onDisk.equals(pcmBytes(quarterSecond))).toBe(true);
    await writer.finalize();
  });

  it("hands a full buffer to the disk without waiting for the timer", async () => {
    vi.useFakeTimers({ toFake: ["setInterval", "clearInterval"] });
    const { store, root } = recordingStore();
    const writer = store.create(callerSpec());
    const partPath = path.join(root, "MZ0123456789abcdef_1700000000123.wav.part");
    for (const chunk of chunks(signal(RATE + 320, 5), 320)) writer.append(chunk);

    await eventually(
      () => writer.bufferedBytes,
      (n) => n === 320 * 2,
    );
    expect(fileSize(partPath)).toBe(44 + RATE * 2);
    await writer.finalize();
  });

  it("finalizes an empty recording into a valid 44-byte WAV of zero seconds", async () => {
    const { store, root } = recordingStore();
    const finished = await store.create(callerSpec()).finalize();
    expect(finished.sizeBytes).toBe(44);
    expect(finished.durationSeconds).toBe(0);
    const bytes = fs.readFileSync(path.join(root, finished.fileKey));
    expect(parseWav(bytes)).toEqual(expectedWav(RATE, 1, Buffer.alloc(0)));
  });

  it("returns the same result from a second finalize and ignores audio appended after it", async () => {
    const { store, root } = recordingStore();
    const writer = store.create(callerSpec());
    writer.append(signal(800));
    const first = writer.finalize();
    writer.append(signal(800, 2));
    const second = writer.finalize();
    expect(second).toBe(first);
    const finished = await first;
    expect(finished.sizeBytes).toBe(44 + 1600);
    expect(writer.bytesWritten).toBe(1600);
    expect(fileSize(path.join(root, finished.fileKey))).toBe(44 + 1600);
  });

  it("refuses a second recording of the same call and track", async () => {
    const { store } = recordingStore();
    const writer = store.create(callerSpec());
    expect(() => store.create(callerSpec())).toThrow(expect.objectContaining({ code: "conflict" }));
    await writer.finalize();
    expect(() => store.create(callerSpec())).toThrow(expect.objectContaining({ code: "conflict" }));
    await store.create(conversationSpec()).finalize();
  });

  it("creates a missing recording folder on first use", async () => {
    const parent = recordingStore().root;
    const root = path.join(parent, "nested", "recordings");
    const { store } = recordingStore({ root });
    const finished = await store.create(callerSpec()).finalize();
    expect(fs.existsSync(path.join(root, finished.fileKey))).toBe(true);
  });

  it("refuses sample formats it cannot describe in a WAV header", () => {
    const { store, root } = recordingStore();
    for (const bad of [
      { sampleRate: 0 },
      { sampleRate: 8000.5 },
      { channels: 0 },
      { channels: 9 },
      { sampleRate: Number.NaN },
    ]) {
      expect(() => store.create(callerSpec(bad))).toThrow(
        expect.objectContaining({ code: "invalid_argument" }),
      );
    }
    expect(fs.readdirSync(root)).toEqual([]);
  });
});

describe("FsRecordingStore sidecars, reads and deletes", () => {
  it("writes sidecars atomically: a replaced sidecar is a new file, never rewritten in place", async () => {
    const { store, root } = recordingStore();
    const key = await store.writeSidecar("MZabc", 42, "transcript", "caller: héllo\n");
    expect(key).toBe("MZabc_42_transcript.txt");
    const file = path.join(root, key);
    expect(fs.readFileSync(file, "utf8")).toBe("caller: héllo\n");

    // A reader that opened the old version keeps seeing all of it: the new one was renamed over.
    const oldFd = fs.openSync(file, "r");
    try {
      await store.writeSidecar("MZabc", 42, "transcript", "a completely different transcript");
      const oldContent = Buffer.alloc(64);
      const n = fs.readSync(oldFd, oldContent, 0, 64, 0);
      expect(oldContent.subarray(0, n).toString("utf8")).toBe("caller: héllo\n");
    } finally {
      fs.closeSync(oldFd);
    }
    expect(fs.readFileSync(file, "utf8")).toBe("a completely different transcript");

    const metaKey = await store.writeSidecar("MZabc", 42, "metadata", '{"a":1}');
    expect(metaKey).toBe("MZabc_42_metadata.json");
    expect(fs.readdirSync(root).sort()).toEqual([
      "MZabc_42_metadata.json",
      "MZabc_42_transcript.txt",
    ]);
  });

  it("reads exact byte ranges of a recording as a stream", async () => {
    const { store } = recordingStore();
    const audio = signal(5000, 9);
    const writer = store.create(callerSpec());
    writer.append(audio);
    const { fileKey, sizeBytes } = await writer.finalize();
    const whole = Buffer.concat([expectedHeader(sizeBytes), pcmBytes(audio)]);

    const readable = await store.read(fileKey);
    expect(readable?.sizeBytes).toBe(sizeBytes);
    for (const [start, end] of [
      [0, sizeBytes - 1],
      [0, 0],
      [44, 45],
      [1000, 7777],
      [sizeBytes - 1, sizeBytes - 1],
    ] as const) {
      const got = await collect(readable!.open(start, end));
      expect(got.equals(whole.subarray(start, end + 1))).toBe(true);
    }
    expect(() => readable!.open(0, sizeBytes)).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
    expect(() => readable!.open(10, 9)).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
    expect(() => readable!.open(-1, 9)).toThrow(
      expect.objectContaining({ code: "invalid_argument" }),
    );
  });

  it("answers null when reading a recording that does not exist or is still being recorded", async () => {
    const { store } = recordingStore();
    expect(await store.read("MZnothing_1.wav")).toBeNull();
    const writer = store.create(callerSpec());
    expect(await store.read(`${writer.spec.streamSid}_1700000000123.wav`)).toBeNull();
    await writer.finalize();
    expect(await store.read(`${writer.spec.streamSid}_1700000000123.wav`)).not.toBeNull();
  });

  it("deletes a recording with its call's sidecars and leaves other calls' files alone", async () => {
    const { store, root } = recordingStore();
    const mine = await store.create(callerSpec({ streamSid: "MZmine" })).finalize();
    await store.writeSidecar("MZmine", 1_700_000_000_123, "transcript", "t");
    await store.writeSidecar("MZmine", 1_700_000_000_123, "metadata", "{}");
    const other = await store.create(callerSpec({ streamSid: "MZother" })).finalize();
    await store.writeSidecar("MZother", 1_700_000_000_123, "transcript", "t");
    // Same streamSid, different start: a different call.
    await store.writeSidecar("MZmine", 1_700_000_000_124, "metadata", "{}");

    await store.delete(mine.fileKey);

    expect(fs.readdirSync(root).sort()).toEqual(
      [
        other.fileKey,
        "MZother_1700000000123_transcript.txt",
        "MZmine_1700000000124_metadata.json",
      ].sort(),
    );
    await expect(store.delete(mine.fileKey)).resolves.toBeUndefined();
    await store.delete("MZother_1700000000123_transcript.txt");
    expect(fs.readdirSync(root).sort()).toEqual(
      [other.fileKey, "MZmine_1700000000124_metadata.json"].sort(),
    );
  });

  it("checks the folder by writing and removing a probe file", async () => {
    const { store, root } = recordingStore();
    await expect(store.check()).resolves.toBeUndefined();
    expect(fs.readdirSync(root)).toEqual([]);
  });
});

function expectedHeader(sizeBytes: number): Buffer {
  const header = Buffer.alloc(44);
  header.write("RIFF", 0, "ascii");
  header.writeUInt32LE(sizeBytes - 8, 4);
  header.write("WAVEfmt ", 8, "ascii");
  header.writeUInt32LE(16, 16);
  header.writeUInt16LE(1, 20);
  header.writeUInt16LE(1, 22);
  header.writeUInt32LE(RATE, 24);
  header.writeUInt32LE(RATE * 2, 28);
  header.writeUInt16LE(2, 32);
  header.writeUInt16LE(16, 34);
  header.write("data", 36, "ascii");
  header.writeUInt32LE(sizeBytes - 44, 40);
  return header;
}

async function collect(stream: ReadableStream<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of stream) parts.push(Buffer.from(part));
  return Buffer.concat(parts);
}
