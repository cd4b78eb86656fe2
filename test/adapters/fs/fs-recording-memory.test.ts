import fs from "node:fs";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import {
  BUFFER_MS,
  MAX_BORROWED_BUFFERS,
  MAX_BUFFERS,
} from "../../../src/adapters/fs/fs-recording-writer.ts";
import type { RecordingSpec } from "../../../src/application/ports/index.ts";
import { parseWav, recordingStore } from "./fs-test-support.ts";

const RATE = 16_000;
const CHUNK = 320; // 20 ms at 16 kHz
const TEN_MINUTES_OF_CHUNKS = (10 * 60 * 1000) / 20;
const ONE_SECOND_BYTES = RATE * 2;
const BUFFER_BYTES = (ONE_SECOND_BYTES * BUFFER_MS) / 1000;

const spec: RecordingSpec = {
  streamSid: "MZlong",
  startedAtMs: 1,
  track: "caller",
  sampleRate: RATE,
  channels: 1,
};

/** Sample i of the test signal; cheap to regenerate for checking 10 minutes of data. */
const sampleAt = (i: number): number => ((Math.imul(i, 2654435761) >>> 16) & 0xffff) - 0x8000;

function fillChunk(chunk: Int16Array, index: number): void {
  const base = index * CHUNK;
  for (let j = 0; j < CHUNK; j++) chunk[j] = sampleAt(base + j);
}

function expectDataMatches(data: Buffer, samples: number): void {
  expect(data.length).toBe(samples * 2);
  let mismatch = -1;
  for (let i = 0; i < samples; i++) {
    if (data.readInt16LE(i * 2) !== sampleAt(i)) {
      mismatch = i;
      break;
    }
  }
  expect(mismatch).toBe(-1);
}

describe("FsRecordingWriter memory bound", () => {
  it("never buffers more than its bound when ten minutes arrive faster than any disk", async () => {
    const { store, root, seen } = recordingStore();
    const writer = store.create(spec);
    const bound = (MAX_BUFFERS + MAX_BORROWED_BUFFERS) * BUFFER_BYTES;
    // A stalled disk may hold audio for three seconds of the writer's own, then ten more
    // borrowed from the store's budget, before any is dropped.
    expect(bound).toBe(13 * ONE_SECOND_BYTES);
    expect(writer.maxBufferedBytes).toBe(bound);
    const chunk = new Int16Array(CHUNK);
    let maxBuffered = 0;

    // One synchronous burst: no write can complete until it ends.
    for (let i = 0; i < TEN_MINUTES_OF_CHUNKS; i++) {
      fillChunk(chunk, i);
      writer.append(chunk);
      maxBuffered = Math.max(maxBuffered, writer.bufferedBytes);
    }

    expect(maxBuffered).toBeLessThanOrEqual(bound);
    expect(writer.bytesWritten).toBe(bound);
    expect(writer.droppedBytes).toBe(TEN_MINUTES_OF_CHUNKS * CHUNK * 2 - bound);
    expect(seen.errorKinds).toEqual(["recording_overflow"]);
    expect(seen.warnings.map((w) => w.msg)).toEqual([
      "recording disk writes are falling behind; buffering more from the shared budget",
      "recording disk writes are falling behind; dropping audio",
    ]);

    const finished = await writer.finalize();
    expect(finished.durationSeconds).toBe(
      ((MAX_BUFFERS + MAX_BORROWED_BUFFERS) * BUFFER_MS) / 1000,
    );
    const wav = parseWav(fs.readFileSync(path.join(root, finished.fileKey)));
    expect(wav.dataSize).toBe(bound);
    expectDataMatches(wav.data, bound / 2);
  });

  it("writes all ten minutes byte-exact when the disk keeps up, within the same bound", async () => {
    const { store, root, seen } = recordingStore();
    const writer = store.create(spec);
    const chunk = new Int16Array(CHUNK);
    let maxBuffered = 0;

    for (let i = 0; i < TEN_MINUTES_OF_CHUNKS; i++) {
      fillChunk(chunk, i);
      writer.append(chunk);
      maxBuffered = Math.max(maxBuffered, writer.bufferedBytes);
      // Far faster than real time, but let the previous second's write finish before the next.
      if (i % 50 === 49) {
        while (writer.bufferedBytes > ONE_SECOND_BYTES) await sleep(1);
      }
    }

    expect(maxBuffered).toBeLessThanOrEqual(writer.maxBufferedBytes);
    expect(writer.droppedBytes).toBe(0);
    expect(seen.errorKinds).toEqual([]);
    const finished = await writer.finalize();
    expect(finished.durationSeconds).toBe(600);
    expect(seen.bytesWritten.reduce((a, b) => a + b, 0)).toBe(600 * ONE_SECOND_BYTES);
    const wav = parseWav(fs.readFileSync(path.join(root, finished.fileKey)));
    expect(wav.dataSize).toBe(600 * ONE_SECOND_BYTES);
    expectDataMatches(wav.data, 600 * RATE);
  });

  it("lends beyond 3 s only what the store's budget holds, shared by all its writers, and gets it back", async () => {
    // A budget of four buffers: the first writer borrows them all, the second none.
    const { store, seen } = recordingStore({ borrowBudgetBytes: 4 * BUFFER_BYTES });
    const first = store.create(spec);
    const second = store.create({ ...spec, streamSid: "MZsecond" });
    const chunk = new Int16Array(CHUNK);
    // Ten seconds each in one synchronous burst: no write completes meanwhile.
    for (let i = 0; i < 500; i++) {
      fillChunk(chunk, i);
      first.append(chunk);
    }
    for (let i = 0; i < 500; i++) {
      fillChunk(chunk, i);
      second.append(chunk);
    }
    expect(first.bytesWritten).toBe((MAX_BUFFERS + 4) * BUFFER_BYTES);
    expect(second.bytesWritten).toBe(MAX_BUFFERS * BUFFER_BYTES);
    expect(seen.errorKinds).toEqual(["recording_overflow", "recording_overflow"]);

    // Once the disk has caught up the budget is back: the second writer now borrows it all.
    await first.finalize();
    while (second.bufferedBytes > 0) await sleep(1);
    for (let i = 500; i < 1000; i++) {
      fillChunk(chunk, i);
      second.append(chunk);
    }
    expect(second.bytesWritten).toBe((2 * MAX_BUFFERS + 4) * BUFFER_BYTES);
    await second.finalize();
  });
});
