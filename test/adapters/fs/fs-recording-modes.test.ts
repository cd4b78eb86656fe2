import fs from "node:fs";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { recordingStore, signal, tempDir } from "./fs-test-support.ts";

/** The permission bits of a file or folder. */
const modeOf = (file: string) => fs.statSync(file).mode & 0o777;

let previousUmask: number;

beforeEach(() => {
  // The most permissive umask: whatever comes out private was asked for, not left by the umask.
  previousUmask = process.umask(0);
});

afterEach(() => {
  process.umask(previousUmask);
});

describe("FsRecordingStore file modes", () => {
  it("creates its folder 0700 and every recording, part file and sidecar 0600", async () => {
    const root = path.join(tempDir(), "recordings", "calls");
    const { store } = recordingStore({ root });
    expect(modeOf(root)).toBe(0o700);

    const spec = { streamSid: "MZmode", startedAtMs: 1000, sampleRate: 16_000 };
    const caller = store.create({ ...spec, track: "caller", channels: 1 });
    const conversation = store.create({ ...spec, track: "conversation", channels: 2 });
    expect(modeOf(path.join(root, "MZmode_1000.wav.part"))).toBe(0o600);
    caller.append(signal(1600));
    conversation.append(signal(3200));
    await caller.finalize();
    await conversation.finalize();
    await store.writeSidecar("MZmode", 1000, "transcript", "[00:00.000] caller: hi\n");
    await store.writeSidecar("MZmode", 1000, "metadata", "{}\n");

    const names = fs.readdirSync(root).sort();
    expect(names).toEqual([
      "MZmode_1000.wav",
      "MZmode_1000_conversation.wav",
      "MZmode_1000_metadata.json",
      "MZmode_1000_transcript.txt",
    ]);
    for (const name of names) expect([name, modeOf(path.join(root, name))]).toEqual([name, 0o600]);
  });

  it("recreates a folder removed under it 0700", async () => {
    const root = path.join(tempDir(), "recordings");
    const { store } = recordingStore({ root });
    fs.rmSync(root, { recursive: true });
    await store.writeSidecar("MZgone", 5, "metadata", "{}\n");
    expect(modeOf(root)).toBe(0o700);
    expect(modeOf(path.join(root, "MZgone_5_metadata.json"))).toBe(0o600);
    fs.rmSync(root, { recursive: true });
    store.create({
      streamSid: "MZgone",
      startedAtMs: 6,
      track: "caller",
      sampleRate: 16_000,
      channels: 1,
    });
    expect(modeOf(root)).toBe(0o700);
    expect(modeOf(path.join(root, "MZgone_6.wav.part"))).toBe(0o600);
  });

  it("closes a folder made before files were private, with its own files, and nothing else", () => {
    const root = path.join(tempDir(), "recordings");
    fs.mkdirSync(root, { mode: 0o755 });
    const ours = [
      "MZold_1.wav",
      "MZold_1_conversation.wav",
      "MZold_1_transcript.txt",
      "MZold_1_metadata.json",
      "MZold_2.wav.part",
      "MZold_1_metadata.json.0123456789abcdef.tmp",
    ];
    for (const name of [...ours, "notes.txt"]) {
      fs.writeFileSync(path.join(root, name), "x", { mode: 0o644 });
    }

    const { seen } = recordingStore({ root });

    expect(modeOf(root)).toBe(0o700);
    for (const name of ours) expect([name, modeOf(path.join(root, name))]).toEqual([name, 0o600]);
    // Not a name this store makes: someone else's file, left as it was.
    expect(modeOf(path.join(root, "notes.txt"))).toBe(0o644);
    expect(seen.warnings).toEqual([
      {
        obj: { files: ours.length, previousMode: "755" },
        msg: "the recording folder was open to other users; made it and its files owner-only",
      },
    ]);
  });

  it("leaves a shared (sticky) folder as it is", () => {
    const root = path.join(tempDir(), "shared");
    fs.mkdirSync(root);
    fs.chmodSync(root, 0o1777);
    fs.writeFileSync(path.join(root, "MZx_1.wav"), "x", { mode: 0o644 });

    const { seen } = recordingStore({ root });

    expect(fs.statSync(root).mode & 0o7777).toBe(0o1777);
    expect(modeOf(path.join(root, "MZx_1.wav"))).toBe(0o644);
    expect(seen.warnings.map((w) => w.msg)).toEqual([
      "the recording folder is open to other users and not ours to close; recordings in it are private files",
    ]);
  });
});

describe("FsRecordingStore.findMissingSidecars", () => {
  it("lists the calls with a recording and not both sidecars, once each", async () => {
    const { store, root } = recordingStore();
    expect(await store.findMissingSidecars()).toEqual([]);
    const names = [
      // Both tracks, no sidecars: listed once.
      "MZnone_1.wav",
      "MZnone_1_conversation.wav",
      // Only the first sidecar: a crash between the two writes.
      "MZhalf_2.wav",
      "MZhalf_2_transcript.txt",
      // Complete: not listed.
      "MZfull_3.wav",
      "MZfull_3_transcript.txt",
      "MZfull_3_metadata.json",
      // Still being recorded, or sidecars without a recording (retention): not listed.
      "MZlive_4.wav.part",
      "MZgone_5_metadata.json",
      "notes.txt",
    ];
    for (const name of names) fs.writeFileSync(path.join(root, name), "");
    const missing = await store.findMissingSidecars();
    expect(missing.sort((a, b) => a.startedAtMs - b.startedAtMs)).toEqual([
      { streamSid: "MZnone", startedAtMs: 1 },
      { streamSid: "MZhalf", startedAtMs: 2 },
    ]);
  });

  it("finds nothing in a folder that does not exist yet", async () => {
    const { store, root } = recordingStore({ root: path.join(tempDir(), "later") });
    fs.rmSync(root, { recursive: true });
    expect(await store.findMissingSidecars()).toEqual([]);
  });
});

describe("FsRecordingStore on a folder just made with the umask's mode", () => {
  it("makes it 0700 without a warning: nothing in it was exposed", () => {
    const root = path.join(tempDir(), "fresh");
    fs.mkdirSync(root, { mode: 0o755 });
    const { seen } = recordingStore({ root });
    expect(modeOf(root)).toBe(0o700);
    expect(seen.warnings).toEqual([]);
  });
});
