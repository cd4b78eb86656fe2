import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FsRecordingStore, SPOOL_FOLDER } from "../../../src/adapters/fs/fs-recording-store.ts";
import { DomainError } from "../../../src/domain/errors.ts";

/** Issue 19: processes sharing one recordings folder each keep their unfinished files apart. */
let root = "";

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "cb-spools-"));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const spec = (streamSid: string) => ({
  streamSid,
  startedAtMs: Date.parse("2026-01-01T10:00:00.000Z"),
  track: "caller" as const,
  sampleRate: 16_000,
  channels: 1,
});

describe("per-instance spool folders", () => {
  it("writes .part files in the instance's spool and finishes them in the shared folder", async () => {
    const store = new FsRecordingStore({ root, instance: "host-a-w1" });
    const writer = store.create(spec("MZa"));
    writer.append(new Int16Array(1600));
    expect(readdirSync(join(root, SPOOL_FOLDER, "host-a-w1"))).toEqual([
      "MZa_1767261600000.wav.part",
    ]);
    expect(readdirSync(root).filter((n) => n.endsWith(".part"))).toEqual([]);
    const finished = await writer.finalize();
    expect(existsSync(join(root, finished.fileKey))).toBe(true);
    expect(readdirSync(join(root, SPOOL_FOLDER, "host-a-w1"))).toEqual([]);
  });

  it("recovers only its own spool: another instance's live recording is left alone", async () => {
    const a = new FsRecordingStore({ root, instance: "a" });
    const live = a.create(spec("MZlive"));
    live.append(new Int16Array(1600));
    // "b" crashed earlier, leaving a .part; a restart of b recovers it, a never does.
    const deadB = new FsRecordingStore({ root, instance: "b" });
    deadB.create(spec("MZdead")).append(new Int16Array(3200));
    expect(await a.recoverPartials()).toEqual([]);
    const restartedB = new FsRecordingStore({ root, instance: "b" });
    const recovered = await restartedB.recoverPartials();
    expect(recovered.map((r) => r.streamSid)).toEqual(["MZdead"]);
    expect(existsSync(join(root, recovered[0]!.fileKey))).toBe(true);
    // a's recording was untouched and still finishes.
    expect((await live.finalize()).durationSeconds).toBeCloseTo(0.1, 5);
  });

  it("still recovers a .part an older version left in the folder itself", async () => {
    const legacy = new FsRecordingStore({ root });
    legacy.create(spec("MZold")).append(new Int16Array(1600));
    expect(readdirSync(root).some((n) => n.endsWith(".part"))).toBe(true);
    const recovered = await new FsRecordingStore({ root, instance: "a" }).recoverPartials();
    expect(recovered.map((r) => r.streamSid)).toEqual(["MZold"]);
  });

  it("refuses an instance name that could leave the spool folder", () => {
    for (const instance of ["..", ".", "a/b", "", "x".repeat(65)]) {
      expect(() => new FsRecordingStore({ root, instance })).toThrow(DomainError);
    }
  });
});
