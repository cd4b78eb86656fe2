import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseFileKey, recordingFileName } from "../../../src/adapters/fs/file-names.ts";
import { recordingStore, tempDir } from "./fs-test-support.ts";

/** A store whose root sits inside a private folder, so escapes land somewhere observable. */
function nestedStore() {
  const outer = tempDir();
  const root = path.join(outer, "recordings");
  fs.mkdirSync(root);
  return { ...recordingStore({ root }), outer };
}

const HOSTILE_STREAM_SIDS = [
  "../x",
  "a/b",
  "..",
  ".",
  "a\0b",
  "a\\b",
  "x".repeat(65),
  "",
  "MZ abc",
  "MZ\n",
  "é",
];

const HOSTILE_FILE_KEYS = [
  "../x",
  "../MZa_1.wav",
  "a/b_1.wav",
  "MZa_1.wav/..",
  "..",
  ".",
  "",
  "MZa_1.wav\0",
  "MZa\0_1.wav",
  "/etc/passwd",
  "MZa_1.wav.part",
  "MZa_1_other.wav",
  "MZa_01.wav",
  "MZa_-1.wav",
  "MZa_1.WAV",
  "MZa_1_transcript.json",
  "MZa_1_metadata.txt",
  `${"x".repeat(65)}_1.wav`,
  "MZa_99999999999999999.wav",
  "MZa.wav",
  "_1.wav",
];

const expectInvalid = { code: "invalid_argument" };

describe("file names", () => {
  it("names each track and parses every name back to the call it came from", () => {
    expect(recordingFileName("MZ_a-b_7", 0, "caller")).toBe("MZ_a-b_7_0.wav");
    expect(parseFileKey("MZ_a-b_7_0.wav")).toEqual({
      kind: "recording",
      streamSid: "MZ_a-b_7",
      startedAtMs: 0,
      track: "caller",
    });
    expect(parseFileKey("MZ_1_2_conversation.wav")).toEqual({
      kind: "recording",
      streamSid: "MZ_1",
      startedAtMs: 2,
      track: "conversation",
    });
    expect(parseFileKey("a_conversation_5_transcript.txt")).toEqual({
      kind: "sidecar",
      streamSid: "a_conversation",
      startedAtMs: 5,
      sidecar: "transcript",
    });
    expect(parseFileKey(`${"x".repeat(64)}_9007199254740991_metadata.json`)).toMatchObject({
      startedAtMs: Number.MAX_SAFE_INTEGER,
    });
  });

  it.each(HOSTILE_FILE_KEYS)("does not parse the hostile key %j", (key) => {
    expect(parseFileKey(key)).toBeNull();
  });
});

describe("FsRecordingStore refuses hostile names before building a path", () => {
  it.each(HOSTILE_STREAM_SIDS)("refuses to record the streamSid %j", async (streamSid) => {
    const { store, root, outer } = nestedStore();
    expect(() =>
      store.create({ streamSid, startedAtMs: 1, track: "caller", sampleRate: 16000, channels: 1 }),
    ).toThrow(expect.objectContaining(expectInvalid));
    await expect(store.writeSidecar(streamSid, 1, "transcript", "x")).rejects.toMatchObject(
      expectInvalid,
    );
    expect(fs.readdirSync(root)).toEqual([]);
    expect(fs.readdirSync(outer)).toEqual(["recordings"]);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53])(
    "refuses the start time %s",
    async (startedAtMs) => {
      const { store, root } = recordingStore();
      expect(() =>
        store.create({
          streamSid: "MZa",
          startedAtMs,
          track: "caller",
          sampleRate: 16000,
          channels: 1,
        }),
      ).toThrow(expect.objectContaining(expectInvalid));
      await expect(store.writeSidecar("MZa", startedAtMs, "metadata", "{}")).rejects.toMatchObject(
        expectInvalid,
      );
      expect(fs.readdirSync(root)).toEqual([]);
    },
  );

  it("refuses an unknown track or sidecar kind", async () => {
    const { store } = recordingStore();
    const track = "assistant" as "caller";
    expect(() =>
      store.create({ streamSid: "MZa", startedAtMs: 1, track, sampleRate: 16000, channels: 1 }),
    ).toThrow(expect.objectContaining(expectInvalid));
    await expect(
      store.writeSidecar("MZa", 1, "toString" as "metadata", "{}"),
    ).rejects.toMatchObject(expectInvalid);
  });

  it.each(HOSTILE_FILE_KEYS)("refuses to read or delete the key %j", async (key) => {
    const { store, outer } = nestedStore();
    // Files a traversal would reach if the key were joined blindly.
    fs.writeFileSync(path.join(outer, "x"), "outside");
    fs.writeFileSync(path.join(outer, "MZa_1.wav"), "outside");
    await expect(store.read(key)).rejects.toMatchObject(expectInvalid);
    await expect(store.delete(key)).rejects.toMatchObject(expectInvalid);
    expect(fs.readdirSync(outer).sort()).toEqual(["MZa_1.wav", "recordings", "x"]);
  });
});
