import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { WriterIo } from "../../../src/adapters/fs/store-io.ts";
import { nodeWriterIo } from "../../../src/adapters/fs/store-io.ts";
import type { RecordingSpec } from "../../../src/application/ports/index.ts";
import {
  chunks,
  eventually,
  expectedWav,
  fileSize,
  parseWav,
  pcmBytes,
  recordingStore,
  signal,
  tempDir,
} from "./fs-test-support.ts";

const RATE = 16_000;
const spec: RecordingSpec = {
  streamSid: "MZfail",
  startedAtMs: 77,
  track: "caller",
  sampleRate: RATE,
  channels: 1,
};

/**
 * Tests run as root, so permission bits cannot make a folder unwritable: a root below a regular
 * file fails every mkdir and open with ENOTDIR, on any filesystem.
 */
function rootUnderAFile(): string {
  const dir = tempDir();
  const file = path.join(dir, "not-a-folder");
  fs.writeFileSync(file, "");
  return path.join(file, "recordings");
}

const unavailable = { code: "storage_unavailable" };

describe("FsRecordingStore on unusable storage", () => {
  it("refuses to create a recording with storage_unavailable, naming no path", () => {
    const root = rootUnderAFile();
    const { store, seen } = recordingStore({ root });
    let thrown: unknown;
    try {
      store.create(spec);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toMatchObject(unavailable);
    expect(String((thrown as Error).message)).not.toContain(root);
    expect(String((thrown as Error).message)).not.toContain("not-a-folder");
    expect(seen.errorKinds).toEqual(["storage_write"]);
  });

  it("fails check, sidecar writes and recovery with storage_unavailable", async () => {
    const { store } = recordingStore({ root: rootUnderAFile() });
    await expect(store.check()).rejects.toMatchObject(unavailable);
    await expect(store.writeSidecar("MZa", 1, "metadata", "{}")).rejects.toMatchObject(unavailable);
    await expect(store.recoverPartials()).rejects.toMatchObject(unavailable);
  });

  it("keeps accepting audio after the disk fills up mid-call, then rejects finalize", async () => {
    // Writes succeed until the first second of audio is on disk, then the disk is full.
    let written = 0;
    const io: Partial<WriterIo> = {
      write: (fd, bytes, offset, length, position) => {
        written += length;
        if (written > RATE * 2) {
          return Promise.reject(
            Object.assign(new Error("no space left on device"), { code: "ENOSPC" }),
          );
        }
        return nodeWriterIo.write(fd, bytes, offset, length, position);
      },
    };
    const { store, root, seen } = recordingStore({ io });
    const writer = store.create(spec);
    const audio = signal(RATE * 4, 13);
    const partPath = path.join(root, "MZfail_77.wav.part");

    const pieces = chunks(audio, 320);
    for (const [i, chunk] of pieces.entries()) {
      expect(() => writer.append(chunk)).not.toThrow();
      if (i % 50 === 49) {
        // Give each handed-off second a chance to reach the (failing) disk.
        await eventually(
          () => writer.bufferedBytes,
          (n) => n === 0 || seen.errorKinds.length > 0,
        );
      }
    }

    expect(seen.errorKinds).toEqual(["storage_write"]);
    expect(seen.errors).toEqual([
      expect.objectContaining({ obj: expect.objectContaining({ code: "ENOSPC" }) }),
    ]);
    expect(writer.droppedBytes).toBeGreaterThan(0);
    expect(writer.bytesWritten + writer.droppedBytes).toBeGreaterThanOrEqual(RATE * 2 * 2);
    expect(writer.bufferedBytes).toBe(0);

    const outcome = await writer.finalize().catch((error: unknown) => error);
    expect(outcome).toMatchObject(unavailable);
    expect((outcome as Error).message).not.toContain(root);
    expect(seen.errorKinds).toEqual(["storage_write"]);

    // What did reach the disk is kept for the next start's recovery.
    expect(fileSize(partPath)).toBe(44 + RATE * 2);
    const { store: restarted } = recordingStore({ root });
    const [recovered] = await restarted.recoverPartials();
    expect(recovered?.durationSeconds).toBe(1);
    const bytes = fs.readFileSync(path.join(root, "MZfail_77.wav"));
    expect(parseWav(bytes)).toEqual(expectedWav(RATE, 1, pcmBytes(audio.subarray(0, RATE))));
  });

  it("rejects finalize with storage_unavailable when the folder vanished during the call", async () => {
    const { store, root, seen } = recordingStore();
    const writer = store.create(spec);
    writer.append(signal(RATE, 2));
    fs.rmSync(root, { recursive: true, force: true });
    writer.append(signal(RATE, 3));

    await expect(writer.finalize()).rejects.toMatchObject(unavailable);
    expect(seen.errorKinds).toEqual(["storage_write"]);
    expect(seen.errors).toEqual([
      expect.objectContaining({ obj: expect.objectContaining({ code: "ENOENT" }) }),
    ]);
  });
});
