import { describe, expect, it } from "vitest";
import type {
  ReadableRecording,
  RecordingSpec,
  RecordingStore,
} from "../../src/application/ports/index.ts";
import { decodeWav } from "../../src/domain/audio/index.ts";
import { DomainError } from "../../src/domain/errors.ts";
import { recordingStore, signal } from "../adapters/fs/fs-test-support.ts";
import { InMemoryRecordingStore } from "../support/in-memory-recording-store.ts";

const spec = (overrides: Partial<RecordingSpec> = {}): RecordingSpec => ({
  streamSid: "MZabc",
  startedAtMs: 1767261600000,
  track: "caller",
  sampleRate: 16_000,
  channels: 1,
  ...overrides,
});

async function bytesOf(readable: ReadableRecording | null, start = 0): Promise<Uint8Array> {
  if (!readable) throw new Error("nothing to read");
  const chunks: Uint8Array[] = [];
  for await (const chunk of readable.open(start, readable.sizeBytes - 1)) chunks.push(chunk);
  return new Uint8Array(Buffer.concat(chunks));
}

const codeOf = (run: () => unknown): string => {
  try {
    run();
  } catch (error) {
    return error instanceof DomainError ? error.code : String(error);
  }
  return "returned";
};

describe("InMemoryRecordingStore", () => {
  it("finishes, names and serves recordings exactly as the fs store does", async () => {
    const fs = recordingStore().store;
    const memory = new InMemoryRecordingStore();
    // Stereo with a ragged tail: half a frame is not part of the file in either store.
    const chunks = [signal(640, 1), signal(641, 2), signal(3, 3)];
    const finishedBy = async (store: RecordingStore) => {
      const mono = store.create(spec());
      const stereo = store.create(spec({ track: "conversation", channels: 2 }));
      for (const chunk of chunks) {
        mono.append(chunk);
        stereo.append(chunk);
      }
      const done = [await mono.finalize(), await stereo.finalize()];
      return {
        done,
        bytesWritten: [mono.bytesWritten, stereo.bytesWritten],
        files: await Promise.all(done.map(async (d) => bytesOf(await store.read(d.fileKey)))),
        found: await store.findFinished("MZabc", 1767261600000),
      };
    };
    const expected = await finishedBy(fs);
    expect(await finishedBy(memory)).toEqual(expected);
    expect(expected.done.map((d) => d.fileKey)).toEqual([
      "MZabc_1767261600000.wav",
      "MZabc_1767261600000_conversation.wav",
    ]);
  });

  it("copies appended samples and keeps them per call and track", () => {
    const store = new InMemoryRecordingStore();
    const writer = store.create(spec());
    const buffer = Int16Array.of(1, 2, 3);
    writer.append(buffer);
    buffer.fill(9);
    writer.append(buffer);
    expect(store.samplesOf("MZabc", "caller")).toEqual(Int16Array.of(1, 2, 3, 9, 9, 9));
    expect(store.samplesOf("MZabc", "conversation")).toEqual(new Int16Array(0));
    expect(writer.bytesWritten).toBe(12);
  });

  it("drops audio appended once finalize() has been called, and finalizes once", async () => {
    const store = new InMemoryRecordingStore();
    const writer = store.create(spec());
    writer.append(Int16Array.of(1, 2));
    const first = writer.finalize();
    writer.append(Int16Array.of(3));
    expect(writer.finalize()).toBe(first);
    expect((await first).sizeBytes).toBe(48);
    expect(writer.droppedBytes).toBe(2);
    expect(writer.bytesWritten).toBe(4);
  });

  it("refuses a second recording of the same track and names outside the grammar", () => {
    const store = new InMemoryRecordingStore();
    store.create(spec());
    expect(codeOf(() => store.create(spec()))).toBe("conflict");
    expect(codeOf(() => store.create(spec({ streamSid: "../x" })))).toBe("invalid_argument");
    expect(codeOf(() => store.create(spec({ channels: 0 })))).toBe("invalid_argument");
  });

  it("fails create() or finalize() on demand; a failed finalize leaves a recoverable partial", async () => {
    const store = new InMemoryRecordingStore();
    store.failNext("create");
    expect(codeOf(() => store.create(spec()))).toBe("storage_unavailable");
    expect(store.writers).toHaveLength(0);

    const writer = store.create(spec());
    writer.append(Int16Array.of(5, 6, 7));
    store.failNext("finalize");
    await expect(writer.finalize()).rejects.toMatchObject({ code: "storage_unavailable" });
    expect(writer.state).toBe("failed");
    expect(store.partialKeys()).toEqual(["MZabc_1767261600000.wav"]);
    expect(await store.read("MZabc_1767261600000.wav")).toBeNull();

    const [recovered] = await store.recoverPartials();
    expect(recovered).toMatchObject({ fileKey: "MZabc_1767261600000.wav", sizeBytes: 50 });
    expect(decodeWav(await bytesOf(await store.read(recovered!.fileKey))).samples).toEqual(
      Int16Array.of(5, 6, 7),
    );
  });

  it("keeps sidecars, and deletes them with their recording", async () => {
    const store = new InMemoryRecordingStore();
    const writer = store.create(spec());
    const { fileKey } = await writer.finalize();
    const sidecarKey = await store.writeSidecar("MZabc", 1767261600000, "transcript", "hello");
    expect(sidecarKey).toBe("MZabc_1767261600000_transcript.txt");
    expect(store.sidecar("MZabc", 1767261600000, "transcript")).toBe("hello");
    expect(new TextDecoder().decode(await bytesOf(await store.read(sidecarKey)))).toBe("hello");
    await store.delete(fileKey);
    expect(await store.read(fileKey)).toBeNull();
    expect(store.sidecar("MZabc", 1767261600000, "transcript")).toBeUndefined();
    await store.delete(fileKey);
  });

  it("fails the other operations on demand, once", async () => {
    const store = new InMemoryRecordingStore();
    store.failNext("check");
    await expect(store.check()).rejects.toMatchObject({ code: "storage_unavailable" });
    await expect(store.check()).resolves.toBeUndefined();
  });
});
