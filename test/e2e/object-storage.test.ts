import { readdirSync } from "node:fs";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeWav } from "../../src/domain/audio/index.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { type LocalS3, startLocalS3 } from "../support/local-s3.ts";
import { concat, silence, tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { playCall } from "../support/twilio-simulator.ts";

let s3: LocalS3;
let server: TestServer | null = null;
let fake: FakeRealtimeServer | null = null;

beforeAll(async () => {
  s3 = await startLocalS3("callbridge-e2e");
  // The server reads endpoint, region and credentials through the AWS SDK's default chain,
  // as in production. Each test file runs in its own process (vitest forks).
  Object.assign(process.env, s3.env());
});

afterEach(async () => {
  await server?.stop();
  await fake?.close();
  server = null;
  fake = null;
});

afterAll(async () => {
  await s3.stop();
});

describe("recordings in object storage, end to end", () => {
  it("archives a finished call's recordings and sidecars, empties the spool, serves the audio", async () => {
    fake = await FakeRealtimeServer.start({
      callerTranscript: "Please keep this call",
      assistantTranscript: "It is kept in the bucket.",
    });
    server = await startTestServer({
      OPENAI_API_KEY: "sk-test-fake",
      OPENAI_REALTIME_URL: fake.url,
      RECORDING_STORAGE_URL: `s3://${s3.bucket}/e2e/calls/`,
      S3_FORCE_PATH_STYLE: "true",
    });
    const s = server;
    const summary = await playCall({
      url: s.mediaStreamUrl,
      samples8k: concat(tone(300, 1500, 8000, 0.4), silence(700, 8000)),
      settleMs: 300,
    });
    const { calls } = s.running.composition;
    const call = await eventually(async () => {
      const found = await calls.getCallByStreamSid(summary.streamSid);
      return found && found.status !== "active" ? found : undefined;
    });
    const endedAt = performance.now();
    const stem = `${call.streamSid}_${call.startedAt.getTime()}`;
    const expected = [
      `${stem}.wav`,
      `${stem}_conversation.wav`,
      `${stem}_metadata.json`,
      `${stem}_transcript.txt`,
    ].map((name) => `e2e/calls/${name}`);

    // Within 10 s of the call's end: every file in the store, none left in the spool.
    await eventually(
      async () => {
        const keys = await s3.keys("e2e/calls/");
        const spooled = readdirSync(s.recordingsDir).filter((n) => n.startsWith(stem));
        return keys.length === 4 && spooled.length === 0 ? keys : undefined;
      },
      10_000,
      "the call's files to move to object storage",
    );
    expect(await s3.keys("e2e/calls/")).toEqual(expected.sort());
    expect(performance.now() - endedAt).toBeLessThan(10_000);
    const transcript = (await s3.get(`e2e/calls/${stem}_transcript.txt`))?.toString();
    expect(transcript).toContain("caller: Please keep this call");
    expect(transcript).toContain("assistant: It is kept in the bucket.");

    // The API shows where each recording went, and still serves it, Range included.
    const detail = await eventually(async () => {
      const body = (await (await fetch(`${s.baseUrl}/api/calls/${call.id}`)).json()) as {
        recordings: { id: string; track: string; cloudUrl: string | null; sizeBytes: number }[];
      };
      return body.recordings.every((r) => r.cloudUrl !== null) ? body : undefined;
    });
    expect(detail.recordings.map((r) => r.cloudUrl).sort()).toEqual(
      [`${stem}.wav`, `${stem}_conversation.wav`].map(
        (name) => `s3://${s3.bucket}/e2e/calls/${name}`,
      ),
    );
    const caller = detail.recordings.find((r) => r.track === "caller");
    if (!caller) throw new Error("no caller recording");
    const stored = await s3.get(`e2e/calls/${stem}.wav`);
    expect(decodeWav(new Uint8Array(stored ?? [])).sampleRate).toBe(16000);
    const audioUrl = `${s.baseUrl}/api/recordings/${caller.id}/audio`;
    const ranged = await fetch(audioUrl, { headers: { Range: "bytes=44-1043" } });
    expect(ranged.status).toBe(206);
    expect(ranged.headers.get("content-range")).toBe(`bytes 44-1043/${caller.sizeBytes}`);
    expect(Buffer.from(await ranged.arrayBuffer()).equals(stored!.subarray(44, 1044))).toBe(true);
    const whole = await fetch(audioUrl);
    expect(whole.status).toBe(200);
    expect(Buffer.from(await whole.arrayBuffer()).equals(stored!)).toBe(true);

    // The waveform of a file no longer in the spool is drawn from the archived copy.
    const peaks = await fetch(`${s.baseUrl}/ui/recordings/${caller.id}/peaks?buckets=20`);
    expect(peaks.status).toBe(200);
    expect(await peaks.json()).toMatchObject({ recordingId: caller.id, track: "caller" });

    const health = await (await fetch(`${s.baseUrl}/healthz`)).json();
    expect(health).toMatchObject({
      status: "ok",
      uploads: { pending: 0, oldestAgeSeconds: 0, failing: false },
    });
    const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text();
    expect(metrics).toMatch(/^callbridge_recording_uploads_pending 0$/m);
    expect(metrics).toMatch(/^callbridge_recording_upload_failures_total 0$/m);
  });
});
