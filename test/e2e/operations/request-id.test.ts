import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { tone } from "../../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../../support/test-server.ts";
import { playCall } from "../../support/twilio-simulator.ts";

let server: TestServer | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

describe("X-Request-Id on the real server", () => {
  it("is added to streamed audio answers without disturbing their status, headers or bytes", async () => {
    server = await startTestServer();
    const s = server;
    const summary = await playCall({
      url: s.mediaStreamUrl,
      samples8k: tone(440, 400, 8000, 0.3),
      realtime: false,
    });
    const recording = await eventually(
      async () => {
        const call = await s.running.composition.calls.getCallByStreamSid(summary.streamSid);
        if (call?.status !== "completed") return undefined;
        const rows = await s.running.composition.calls.getRecordingsByCallId(call.id);
        return rows.find((r) => r.track === "caller");
      },
      10_000,
      "the recording",
    );
    const file = readFileSync(join(s.recordingsDir, recording.fileKey));
    const url = `${s.baseUrl}/api/recordings/${recording.id}/audio`;

    const whole = await fetch(url, { headers: { "X-Request-Id": "whole-file" } });
    expect(whole.status).toBe(200);
    expect(whole.headers.get("x-request-id")).toBe("whole-file");
    expect(whole.headers.get("content-type")).toMatch(/^audio\/wav/);
    expect(whole.headers.get("content-length")).toBe(String(file.length));
    expect(Buffer.from(await whole.arrayBuffer()).equals(file)).toBe(true);

    const range = await fetch(url, { headers: { Range: "bytes=10-109" } });
    expect(range.status).toBe(206);
    expect(range.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    expect(range.headers.get("content-range")).toBe(`bytes 10-109/${file.length}`);
    expect(Buffer.from(await range.arrayBuffer()).equals(file.subarray(10, 110))).toBe(true);

    const head = await fetch(url, { method: "HEAD", headers: { "X-Request-Id": "head-1" } });
    expect(head.status).toBe(200);
    expect(head.headers.get("x-request-id")).toBe("head-1");
    expect(head.headers.get("content-length")).toBe(String(file.length));
  });
});
