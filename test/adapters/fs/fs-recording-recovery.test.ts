import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";
import {
  chunks,
  eventually,
  expectedWav,
  fileSize,
  parseWav,
  pcmBytes,
  recordingStore,
  signal,
  streamingHeaderBytes,
} from "./fs-test-support.ts";

const RATE = 16_000;

describe("FsRecordingStore.recoverPartials", () => {
  it("turns the .part file of a process that died mid-call into a valid WAV of what reached the disk", async () => {
    const root = recordingStore().root;
    const before = recordingStore({ root }).store;
    const audio = signal(RATE * 2, 21);
    const writer = before.create({
      streamSid: "MZdied",
      startedAtMs: 1234,
      track: "caller",
      sampleRate: RATE,
      channels: 1,
    });
    for (const chunk of chunks(audio, 320)) writer.append(chunk);
    const partPath = path.join(root, "MZdied_1234.wav.part");
    await eventually(
      () => fileSize(partPath),
      (size) => size === 44 + audio.length * 2,
    );

    // A new process on the same folder: the old writer is never finalized.
    const { store: after, seen } = recordingStore({ root });
    const recovered = await after.recoverPartials();

    expect(recovered).toEqual([
      {
        fileKey: "MZdied_1234.wav",
        streamSid: "MZdied",
        startedAtMs: 1234,
        sizeBytes: 44 + audio.length * 2,
        durationSeconds: 2,
        sampleRate: RATE,
        channels: 1,
        track: "caller",
      },
    ]);
    expect(fs.existsSync(partPath)).toBe(false);
    const bytes = fs.readFileSync(path.join(root, "MZdied_1234.wav"));
    expect(parseWav(bytes)).toEqual(expectedWav(RATE, 1, pcmBytes(audio)));
    expect(seen.warnings).toEqual([]);
    // Release the abandoned writer's descriptor; its .part is gone, so it can only fail.
    await expect(writer.finalize()).rejects.toMatchObject({ code: "storage_unavailable" });
    expect(parseWav(fs.readFileSync(path.join(root, "MZdied_1234.wav"))).dataSize).toBe(
      audio.length * 2,
    );
  });

  it("leaves the .part files of its own live writers alone", async () => {
    const { store, root } = recordingStore();
    const writer = store.create({
      streamSid: "MZlive",
      startedAtMs: 1,
      track: "caller",
      sampleRate: RATE,
      channels: 1,
    });
    writer.append(signal(320));
    expect(await store.recoverPartials()).toEqual([]);
    expect(fs.existsSync(path.join(root, "MZlive_1.wav.part"))).toBe(true);
    await writer.finalize();
  });

  it("drops the odd trailing byte of a mono recording killed mid-write", async () => {
    const { store, root } = recordingStore();
    const pcm = pcmBytes(signal(1001, 4));
    const torn = Buffer.concat([streamingHeaderBytes(RATE, 1), pcm, Buffer.from([0x7f])]);
    fs.writeFileSync(path.join(root, "MZtorn_99.wav.part"), torn);

    const [recovered] = await store.recoverPartials();

    expect(recovered?.sizeBytes).toBe(44 + pcm.length);
    expect(recovered?.durationSeconds).toBe(1001 / RATE);
    const bytes = fs.readFileSync(path.join(root, "MZtorn_99.wav"));
    expect(parseWav(bytes)).toEqual(expectedWav(RATE, 1, pcm));
  });

  it("drops the partial last frame of a stereo recording killed mid-write", async () => {
    const { store, root } = recordingStore();
    const pcm = pcmBytes(signal(2 * 500, 8));
    const torn = Buffer.concat([streamingHeaderBytes(RATE, 2), pcm, Buffer.from([1, 2, 3])]);
    fs.writeFileSync(path.join(root, "MZtorn_5_conversation.wav.part"), torn);

    const recovered = await store.recoverPartials();

    expect(recovered).toEqual([
      expect.objectContaining({
        fileKey: "MZtorn_5_conversation.wav",
        streamSid: "MZtorn",
        startedAtMs: 5,
        track: "conversation",
        channels: 2,
        sizeBytes: 44 + pcm.length,
      }),
    ]);
    const bytes = fs.readFileSync(path.join(root, "MZtorn_5_conversation.wav"));
    expect(parseWav(bytes)).toEqual(expectedWav(RATE, 2, pcm));
  });

  it("writes a fresh empty header over a .part file shorter than a header, with a warning", async () => {
    const { store, root, seen } = recordingStore();
    fs.writeFileSync(path.join(root, "MZshort_7_conversation.wav.part"), Buffer.from("RIFF\xff"));
    fs.writeFileSync(path.join(root, "MZempty_8.wav.part"), Buffer.alloc(0));

    const recovered = await store.recoverPartials();

    expect(recovered.map((r) => [r.fileKey, r.sizeBytes, r.channels])).toEqual([
      ["MZempty_8.wav", 44, 1],
      ["MZshort_7_conversation.wav", 44, 2],
    ]);
    expect(parseWav(fs.readFileSync(path.join(root, "MZempty_8.wav")))).toEqual(
      expectedWav(RATE, 1, Buffer.alloc(0)),
    );
    expect(parseWav(fs.readFileSync(path.join(root, "MZshort_7_conversation.wav")))).toEqual(
      expectedWav(RATE, 2, Buffer.alloc(0)),
    );
    expect(seen.warnings).toHaveLength(2);
  });

  it("keeps the audio of a .part file whose header is garbage, assuming the track's format", async () => {
    const { store, root, seen } = recordingStore();
    const pcm = pcmBytes(signal(300, 6));
    const garbage = Buffer.alloc(44, 0xab);
    fs.writeFileSync(path.join(root, "MZjunk_3.wav.part"), Buffer.concat([garbage, pcm]));

    await store.recoverPartials();

    expect(parseWav(fs.readFileSync(path.join(root, "MZjunk_3.wav")))).toEqual(
      expectedWav(RATE, 1, pcm),
    );
    expect(seen.warnings).toHaveLength(1);
  });

  it("keeps the sample rate and channels recorded in a valid header", async () => {
    const { store, root } = recordingStore();
    const pcm = pcmBytes(signal(2 * 80, 6));
    fs.writeFileSync(
      path.join(root, "MZfmt_3.wav.part"),
      Buffer.concat([streamingHeaderBytes(8000, 2), pcm]),
    );
    const [recovered] = await store.recoverPartials();
    expect(recovered).toMatchObject({ sampleRate: 8000, channels: 2, durationSeconds: 80 / 8000 });
    expect(parseWav(fs.readFileSync(path.join(root, "MZfmt_3.wav")))).toEqual(
      expectedWav(8000, 2, pcm),
    );
  });

  it("ignores .part files it did not name and never overwrites a finished recording", async () => {
    const { store, root, seen } = recordingStore();
    fs.writeFileSync(path.join(root, "notes.part"), "x");
    fs.writeFileSync(path.join(root, "MZdone_1.wav"), "finished");
    fs.writeFileSync(path.join(root, "MZdone_1.wav.part"), streamingHeaderBytes(RATE, 1));

    expect(await store.recoverPartials()).toEqual([]);

    expect(fs.readFileSync(path.join(root, "MZdone_1.wav"), "utf8")).toBe("finished");
    expect(fs.readdirSync(root).sort()).toEqual([
      "MZdone_1.wav",
      "MZdone_1.wav.part",
      "notes.part",
    ]);
    expect(seen.warnings).toHaveLength(2);
  });

  it("removes the temp file of an interrupted sidecar write and keeps the sidecar", async () => {
    const { store, root } = recordingStore();
    await store.writeSidecar("MZside", 1, "metadata", '{"v":1}');
    fs.writeFileSync(path.join(root, "MZside_1_metadata.json.0123456789abcdef.tmp"), '{"v":');

    await store.recoverPartials();

    expect(fs.readdirSync(root)).toEqual(["MZside_1_metadata.json"]);
    expect(fs.readFileSync(path.join(root, "MZside_1_metadata.json"), "utf8")).toBe('{"v":1}');
  });

  it("recovers nothing from a folder that does not exist yet", async () => {
    const { root } = recordingStore();
    const { store } = recordingStore({ root: path.join(root, "missing") });
    expect(await store.recoverPartials()).toEqual([]);
  });
});
