import { rmSync, writeFileSync } from "node:fs";
import { afterEach, describe, expect, it } from "vitest";
import { tone } from "../../support/signals.ts";
import { partFilePaths } from "../../support/spool-files.ts";
import { eventually, startTestServer, type TestServer } from "../../support/test-server.ts";
import { TwilioSimulator } from "../../support/twilio-simulator.ts";

let server: TestServer | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

async function healthz(s: TestServer): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${s.baseUrl}/healthz`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("GET /healthz", () => {
  it("answers 200 ok with the database, the storage and the number of active calls", async () => {
    server = await startTestServer();
    expect(await healthz(server)).toEqual({
      status: 200,
      body: { status: "ok", db: "ok", storage: "ok", activeCalls: 0 },
    });

    const sim = await TwilioSimulator.connect({ url: server.mediaStreamUrl, realtime: false });
    const s = server;
    const during = await eventually(
      async () => {
        const answer = await healthz(s);
        return answer.body.activeCalls === 1 ? answer : undefined;
      },
      10_000,
      "the call to count as active",
    );
    expect(during).toEqual({
      status: 200,
      body: { status: "ok", db: "ok", storage: "ok", activeCalls: 1 },
    });
    await sim.hangUp();
    await eventually(
      async () => ((await healthz(s)).body.activeCalls === 0 ? true : undefined),
      10_000,
      "the call to end",
    );
  });

  it("answers 503 degraded once the database is closed", async () => {
    server = await startTestServer();
    // The composition's close() is what shutdown uses to close the database.
    await server.running.composition.close();
    expect(await healthz(server)).toEqual({
      status: 503,
      body: { status: "degraded", db: "error", storage: "ok", activeCalls: 0 },
    });
  });

  it("answers 503 degraded while the storage folder is replaced by a file, and recovers", async () => {
    server = await startTestServer();
    rmSync(server.recordingsDir, { recursive: true });
    writeFileSync(server.recordingsDir, "not a folder");
    expect(await healthz(server)).toEqual({
      status: 503,
      body: { status: "degraded", db: "ok", storage: "error", activeCalls: 0 },
    });

    rmSync(server.recordingsDir);
    expect((await healthz(server)).status).toBe(200);
  });

  it("stays degraded after a recording failed to be written, even once the folder is back", async () => {
    server = await startTestServer();
    const sim = await TwilioSimulator.connect({ url: server.mediaStreamUrl, realtime: false });
    await sim.play(tone(440, 500, 8000, 0.3));
    const s = server;
    await eventually(
      () => (partFilePaths(s.recordingsDir).length > 0 ? true : undefined),
      10_000,
      "the recording to be on disk",
    );
    // The folder vanishes under the live recording: it cannot be finalized.
    rmSync(server.recordingsDir, { recursive: true });
    await sim.hangUp();
    await eventually(
      async () =>
        (await s.running.composition.calls.getCallByStreamSid(sim.streamSid))?.status ===
        "completed"
          ? true
          : undefined,
      10_000,
      "the call to end",
    );

    const answer = await healthz(server);
    // The folder check passes (it is recreated), but the failed write is recent.
    expect(answer.status).toBe(503);
    expect(answer.body).toMatchObject({ status: "degraded", db: "ok", storage: "ok" });
    expect(answer.body.reasons).toEqual([expect.stringContaining("storage")]);
  });
});
