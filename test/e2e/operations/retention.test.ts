import { readdirSync, rmSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/adapters/logging/pino-logger.ts";
import { loadConfig } from "../../../src/config.ts";
import { type RunningServer, start } from "../../../src/main.ts";
import { tone } from "../../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../../support/test-server.ts";
import { playCall } from "../../support/twilio-simulator.ts";

const DAY = 24 * 60 * 60 * 1000;

let first: TestServer | null = null;
let later: RunningServer | null = null;
afterEach(async () => {
  await later?.stop();
  await first?.running.stop();
  if (first) rmSync(first.dir, { recursive: true, force: true });
  first = null;
  later = null;
});

describe("RECORDING_RETENTION_DAYS", () => {
  it("deletes old recordings (files and rows) when the server starts, and keeps the calls", async () => {
    first = await startTestServer();
    const summary = await playCall({
      url: first.mediaStreamUrl,
      samples8k: tone(440, 600, 8000, 0.3),
      realtime: false,
    });
    const s = first;
    const call = await eventually(
      async () => {
        const found = await s.running.composition.calls.getCallByStreamSid(summary.streamSid);
        return found?.status === "completed" && s.running.composition.callManager.activeCount === 0
          ? found
          : undefined;
      },
      10_000,
      "the call to end",
    );
    const files = readdirSync(first.recordingsDir);
    expect(files.filter((f) => f.endsWith(".wav")).length).toBeGreaterThanOrEqual(1);
    expect(files.filter((f) => f.endsWith("_transcript.txt"))).toHaveLength(1);
    await first.running.stop();

    // The same data, two days later, with a one-day retention.
    const twoDaysLater = { now: () => new Date(Date.now() + 2 * DAY) };
    const config = loadConfig({
      PORT: "0",
      HOST: "127.0.0.1",
      DATABASE_URL: first.databasePath,
      RECORDING_STORAGE_PATH: first.recordingsDir,
      RECORDING_RETENTION_DAYS: "1",
      LOG_LEVEL: "silent",
    });
    later = await start(config, { clock: twoDaysLater, logger: createLogger("silent") });
    const calls = later.composition.calls;
    await eventually(
      async () => ((await calls.getRecordingsByCallId(call.id)).length === 0 ? true : undefined),
      10_000,
      "retention to delete the recording row",
    );
    expect(readdirSync(first.recordingsDir)).toEqual([]);
    expect(await calls.getCallById(call.id)).toMatchObject({ status: "completed" });

    const res = await fetch(`http://127.0.0.1:${later.port}/api/calls/${call.id}`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id: call.id, recordings: [] });
  });
});
