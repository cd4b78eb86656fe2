import { execFileSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it, type TestContext } from "vitest";
import { decodeWav } from "../../src/domain/audio/index.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { LogCapture } from "../support/log-capture.ts";
import { watchProcessFaults } from "../support/process-faults.ts";
import { metricValue, parsePrometheus } from "../support/prometheus-text.ts";
import { concat, silence, speechLike } from "../support/signals.ts";
import { partFilePaths } from "../support/spool-files.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * The recordings folder fails in the middle of a call. Root ignores file permissions, so the
 * faults are real ones root cannot bypass: a full filesystem (a tiny tmpfs), and the folder
 * replaced by a file.
 */

const processFaults = watchProcessFaults();

/** A 512 KiB tmpfs at `dir`, or false where mounting is not allowed. */
function mountTinyTmpfs(dir: string): boolean {
  try {
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", dir], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

/** Writes to `path` until the filesystem refuses: what a disk filling up looks like. */
function fillFilesystem(path: string): void {
  const fd = openSync(path, "w");
  const chunk = Buffer.alloc(16 * 1024, 1);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    expect((error as NodeJS.ErrnoException).code).toBe("ENOSPC");
  } finally {
    closeSync(fd);
  }
}

interface World {
  fake: FakeRealtimeServer;
  server: TestServer;
  logs: LogCapture;
  recordingsDir: string;
}

async function startWorld(
  context: TestContext,
  tmpfs: boolean,
): Promise<World & { mounted: boolean }> {
  const dir = mkdtempSync(join(tmpdir(), "callbridge-storage-fault-"));
  const recordingsDir = join(dir, "recordings");
  mkdirSync(recordingsDir);
  const mounted = tmpfs && mountTinyTmpfs(recordingsDir);
  const fake = await FakeRealtimeServer.start({ keepAudio: false });
  const logs = new LogCapture();
  const server = await startTestServer(
    {
      OPENAI_API_KEY: "sk-test-fake",
      OPENAI_REALTIME_URL: fake.url,
      RECORDING_STORAGE_PATH: recordingsDir,
      LOG_LEVEL: "warn",
    },
    { logDestination: logs },
  );
  context.onTestFinished(async () => {
    await server.stop();
    await fake.close();
    if (mounted) execFileSync("umount", [recordingsDir]);
    rmSync(dir, { recursive: true, force: true });
  });
  return { fake, server, logs, recordingsDir, mounted };
}

const turn = () => concat(speechLike(1200, 8000), silence(1300, 8000));

/**
 * A call of two caller turns with `fault` striking between them, once the recording is on disk.
 * Returns the simulator and how much assistant audio had arrived when the fault struck.
 */
async function callThroughFault(world: World, fault: () => void) {
  const { server } = world;
  const sim = await TwilioSimulator.connect({ url: server.mediaStreamUrl });
  await sim.play(turn());
  await sim.waitForMedia(10, 10_000);
  // The caller recording has reached the disk before the fault.
  await eventually(
    () =>
      partFilePaths(world.recordingsDir).some(
        (f) => f.endsWith(".wav.part") && statSync(f).size > 44 + 16_000,
      )
        ? true
        : undefined,
    10_000,
    "recorded audio on disk",
  );
  const heardBeforeFault = sim.mediaReceived;
  fault();
  await sim.play(turn());
  // The assistant answers the turn after the fault: the call went on.
  await sim.waitFor(
    () => (sim.mediaReceived >= heardBeforeFault + 10 ? true : undefined),
    10_000,
    "an answer after the fault",
  );
  await sim.waitForPlaybackIdle(200);
  await sim.hangUp();
  return { sim, heardBeforeFault };
}

/** What must hold after any storage fault: logged, counted, degraded, and the call kept. */
async function expectFaultHandled(world: World, streamSid: string) {
  const { server, logs } = world;
  const calls = server.running.composition.calls;
  const call = await eventually(
    async () => {
      const c = await calls.getCallByStreamSid(streamSid);
      return c && c.status !== "active" ? c : undefined;
    },
    15_000,
    "the call to end",
  );
  expect(call.status).toBe("completed");
  const transcripts = await calls.getTranscriptsByCallId(call.id);
  expect(transcripts.filter((t) => t.speaker === "caller").length).toBeGreaterThanOrEqual(2);
  expect(transcripts.filter((t) => t.speaker === "assistant").length).toBeGreaterThanOrEqual(2);

  const failures = logs.lines.filter(
    (l) =>
      l.level === "error" && /recording (write failed|could not be finalized)/.test(String(l.msg)),
  );
  expect(failures.length).toBeGreaterThanOrEqual(1);
  // Logged by errno code, never by path.
  expect(JSON.stringify(failures)).not.toContain(world.recordingsDir);

  const metrics = parsePrometheus(await (await fetch(`${server.baseUrl}/metrics`)).text());
  expect(
    metricValue(metrics, "callbridge_errors_total", { kind: "storage_write" }),
  ).toBeGreaterThanOrEqual(1);

  const health = await fetch(`${server.baseUrl}/healthz`);
  expect(health.status).toBe(503);
  expect(await health.json()).toMatchObject({ status: "degraded", db: "ok" });
  expect(processFaults).toEqual([]);
  return call;
}

describe.concurrent("a recordings folder that fails mid-call", () => {
  it("fills up: the call goes on, the failure is logged and counted, /healthz degrades, the call is kept", async (context) => {
    const world = await startWorld(context, true);
    // Where mounting is not allowed, the folder becomes a file instead (same expectations).
    const fault = world.mounted
      ? () => fillFilesystem(join(world.recordingsDir, "filler"))
      : () => {
          renameSync(world.recordingsDir, `${world.recordingsDir}.gone`);
          writeFileSync(world.recordingsDir, "not a folder");
        };
    const { sim } = await callThroughFault(world, fault);
    const call = await expectFaultHandled(world, sim.streamSid);
    if (!world.mounted) return;

    // Space comes back: the next start's recovery turns what reached the disk into a valid WAV.
    rmSync(join(world.recordingsDir, "filler"));
    const { composition } = world.server.running;
    await composition.callManager.recoverInterruptedCalls();
    const recordings = await composition.calls.getRecordingsByCallId(call.id);
    const caller = recordings.find((r) => r.track === "caller");
    expect(caller).toBeDefined();
    const wav = decodeWav(new Uint8Array(readFileSync(join(world.recordingsDir, caller!.fileKey))));
    expect(wav.sampleRate).toBe(16000);
    // At least the audio that was on disk when the fault struck (over half a second of it).
    expect(wav.samples.length).toBeGreaterThan(8000);
    expect(wav.samples.length).toBeLessThanOrEqual(sim.framesSent * 320);
  }, 40_000);

  it("is replaced by a file: the call goes on, the failure is logged and counted, /healthz degrades, the call is kept", async (context) => {
    const world = await startWorld(context, false);
    const { sim } = await callThroughFault(world, () => {
      renameSync(world.recordingsDir, `${world.recordingsDir}.gone`);
      writeFileSync(world.recordingsDir, "not a folder");
    });
    await expectFaultHandled(world, sim.streamSid);
    // Health also reports the storage itself unusable while the folder is a file.
    const body = (await (await fetch(`${world.server.baseUrl}/healthz`)).json()) as {
      storage: string;
    };
    expect(body.storage).toBe("error");
  }, 40_000);
});
