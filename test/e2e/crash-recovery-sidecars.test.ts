import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type ChildServer, spawnServer } from "../../bench/lib/child-server.ts";
import { tone } from "../support/signals.ts";
import { eventually } from "../support/test-server.ts";
import { playCall, TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * Issue 17, findings 4 and 5: the real server, SIGKILLed in the middle of two calls after one
 * call ended normally, started again on the same database and folder. Every call must then have
 * its `_transcript.txt` and `_metadata.json`, and every file the server made must be private to
 * its user, even under a umask that would leave them open to everyone.
 */

const STREAM_BEFORE_KILL_FRAMES = 100; // 2 s at 20 ms a frame

interface ApiCall {
  id: string;
  streamSid: string;
  status: string;
  startedAt: string;
}

let dir = "";
let databaseFolder = "";
let databasePath = "";
let recordingsDir = "";
let second: ChildServer | null = null;
let killedStreams: string[] = [];
let completedStream = "";
let sidecarsLeftByCrash: string[] = [];

async function callByStreamSid(server: ChildServer, streamSid: string): Promise<ApiCall> {
  const response = await fetch(
    `${server.baseUrl}/api/calls?streamSid=${encodeURIComponent(streamSid)}`,
  );
  const page = (await response.json()) as { data: ApiCall[] };
  const call = page.data[0];
  if (call === undefined) throw new Error(`no call for stream ${streamSid}`);
  return call;
}

const sidecarPath = (call: ApiCall, kind: "transcript" | "metadata") =>
  join(
    recordingsDir,
    `${call.streamSid}_${Date.parse(call.startedAt)}_${kind}.${kind === "transcript" ? "txt" : "json"}`,
  );

/** The permission bits of a file or folder. */
const modeOf = (file: string) => statSync(file).mode & 0o777;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "callbridge-crash-sidecars-"));
  // Folders the server must create itself, so their modes are its own doing.
  databaseFolder = join(dir, "data");
  databasePath = join(databaseFolder, "calls.db");
  recordingsDir = join(dir, "recordings");
  // A child inherits the umask: 0 would leave every file the server creates world-readable
  // unless the server asks for private modes itself.
  const previousUmask = process.umask(0);
  let first: ChildServer | null = null;
  try {
    first = await spawnServer({ databasePath, recordingsDir });
    const done = await playCall({
      url: first.mediaStreamUrl,
      samples8k: tone(660, 600, 8000, 0.3),
      realtime: false,
    });
    completedStream = done.streamSid;
    const server = first;
    await eventually(
      async () => {
        const call = await callByStreamSid(server, completedStream).catch(() => undefined);
        return call && call.status === "completed" && existsSync(sidecarPath(call, "metadata"))
          ? true
          : undefined;
      },
      10_000,
      "the first call to end with its sidecars",
    );
    const sims = await Promise.all(
      [0, 1].map(() =>
        TwilioSimulator.connect({
          url: server.mediaStreamUrl,
          realtime: true,
          recordMessages: false,
        }),
      ),
    );
    const playing = sims.map((sim) => sim.play(tone(440, 20_000, 8000, 0.3)));
    await eventually(
      () => (sims.every((sim) => sim.framesSent >= STREAM_BEFORE_KILL_FRAMES) ? true : undefined),
      15_000,
      "2 s of streamed audio",
    );
    killedStreams = sims.map((sim) => sim.streamSid);
    await first.kill("SIGKILL");
    first = null;
    await Promise.allSettled(playing);
    for (const sim of sims) sim.terminate();
    sidecarsLeftByCrash = readdirSync(recordingsDir).filter(
      (name) => name.endsWith("_transcript.txt") || name.endsWith("_metadata.json"),
    );
    // The kill landing between the first call's status update and its sidecar writes (the
    // finding had one such call) leaves a completed call with no files: made so here.
    for (const name of sidecarsLeftByCrash) rmSync(join(recordingsDir, name));
    // A database made before files were private.
    chmodSync(databasePath, 0o644);
    second = await spawnServer({ databasePath, recordingsDir });
  } finally {
    process.umask(previousUmask);
    if (first) await first.kill("SIGKILL");
  }
}, 90_000);

afterAll(async () => {
  await second?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe("a server restarted after SIGKILL", () => {
  it("writes the sidecars of every call the crash interrupted, with its failed status", async () => {
    // Before the restart, the interrupted calls had none.
    for (const streamSid of killedStreams) {
      expect(sidecarsLeftByCrash.some((name) => name.startsWith(`${streamSid}_`))).toBe(false);
    }
    for (const streamSid of killedStreams) {
      const call = await callByStreamSid(second!, streamSid);
      expect(call.status).toBe("failed");
      expect(existsSync(sidecarPath(call, "transcript"))).toBe(true);
      const json = JSON.parse(readFileSync(sidecarPath(call, "metadata"), "utf8")) as {
        call: ApiCall;
      };
      expect(json.call).toMatchObject({ id: call.id, streamSid, status: "failed" });
    }
  });

  it("writes the sidecars of a completed call the crash left without them", async () => {
    const call = await callByStreamSid(second!, completedStream);
    expect(call.status).toBe("completed");
    expect(existsSync(sidecarPath(call, "transcript"))).toBe(true);
    const json = JSON.parse(readFileSync(sidecarPath(call, "metadata"), "utf8")) as {
      call: ApiCall;
    };
    expect(json.call).toMatchObject({ id: call.id, status: "completed" });
  });

  it("keeps every recording, sidecar, the database and their folders private", () => {
    expect(modeOf(recordingsDir)).toBe(0o700);
    const names = readdirSync(recordingsDir);
    expect(names.length).toBeGreaterThanOrEqual(9);
    // Folders (the per-instance spools, issue 19) are owner-only too, and so is all they hold.
    const check = (folder: string, name: string) => {
      const full = join(folder, name);
      const directory = statSync(full).isDirectory();
      expect([name, modeOf(full)]).toEqual([name, directory ? 0o700 : 0o600]);
      if (directory) for (const inner of readdirSync(full)) check(full, inner);
    };
    for (const name of names) check(recordingsDir, name);
    expect(modeOf(databaseFolder)).toBe(0o700);
    for (const file of readdirSync(databaseFolder)) {
      expect([file, modeOf(join(databaseFolder, file))]).toEqual([file, 0o600]);
    }
  });
});
