import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decodeWav } from "../../src/domain/audio/index.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { concat, silence, tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { TwilioSimulator } from "../support/twilio-simulator.ts";

let server: TestServer | null = null;
let fake: FakeRealtimeServer | null = null;

afterEach(async () => {
  await server?.stop();
  await fake?.close();
  server = null;
  fake = null;
});

/** RMS of each 20 ms window of one channel of an interleaved stereo 16 kHz signal. */
function activeWindows(samples: Int16Array, channel: 0 | 1, threshold = 500): boolean[] {
  const perWindow = 320;
  const frames = samples.length / 2;
  const out: boolean[] = [];
  for (let w = 0; w * perWindow < frames; w++) {
    let energy = 0;
    let n = 0;
    for (let i = w * perWindow; i < Math.min(frames, (w + 1) * perWindow); i++) {
      const v = samples[2 * i + channel]!;
      energy += v * v;
      n++;
    }
    out.push(Math.sqrt(energy / n) > threshold);
  }
  return out;
}

/** Milliseconds at which a channel is first and last active within [fromMs, toMs). */
function activeSpan(windows: boolean[], fromMs: number, toMs: number): [number, number] | null {
  let first = -1;
  let last = -1;
  for (let w = fromMs / 20; w < Math.min(windows.length, toMs / 20); w++) {
    if (!windows[w]) continue;
    if (first < 0) first = w;
    last = w;
  }
  return first < 0 ? null : [first * 20, (last + 1) * 20];
}

describe("live analytics and the conversation recording", () => {
  it("measures a scripted call: 3 s speech, a reply after 700 ms, one barge-in", async () => {
    // The fake ends a caller turn after 500 ms of silence and answers 200 ms later, so the
    // assistant's first audio goes out 700 ms after the caller stops talking.
    fake = await FakeRealtimeServer.start({
      silenceMs: 500,
      responseDelayMs: 200,
      assistantAudio: tone(500, 3000, 24000, 0.4),
      callerTranscript: "This is great, thank you so much",
      assistantTranscript: "Happy to help",
    });
    server = await startTestServer({
      OPENAI_API_KEY: "sk-test-fake",
      OPENAI_REALTIME_URL: fake.url,
      ANALYTICS_INTERVAL_SECONDS: "2",
      CALL_LANGUAGE: "en-US",
    });
    const sim = await TwilioSimulator.connect({
      url: server.mediaStreamUrl,
      customParameters: { FromCountry: "US", campaign: "spring" },
    });
    // 0–3000 caller speaks; 3000–5000 silence (assistant starts at 3700); 5000–6000 the caller
    // talks over it; 6000–6400 silence, then hang up before the next turn ends.
    await sim.play(
      concat(
        tone(300, 3000, 8000, 0.4),
        silence(2000, 8000),
        tone(300, 1000, 8000, 0.4),
        silence(400, 8000),
      ),
    );
    await sim.hangUp();

    const calls = server.running.composition.calls;
    const call = await eventually(async () => {
      const c = await calls.getCallByStreamSid(sim.streamSid);
      return c && c.status !== "active" ? c : undefined;
    });
    const snapshots = await calls.getAnalyticsByCallId(call.id);
    expect(snapshots.length).toBeGreaterThanOrEqual(3);
    const last = snapshots.at(-1)!;
    if (process.env.PRINT_FIGURES) console.log(JSON.stringify(last));
    expect(last.callerTalkMs).toBeGreaterThanOrEqual(4000 - 20);
    expect(last.callerTalkMs).toBeLessThanOrEqual(4000 + 20);
    expect(Math.abs(last.assistantTalkMs - 1300)).toBeLessThanOrEqual(20);
    expect(Math.abs(last.silenceMs - 1100)).toBeLessThanOrEqual(20);
    expect(last.interruptions).toBe(1);
    expect(Math.abs(last.avgResponseLatencyMs! - 700)).toBeLessThanOrEqual(20);
    expect(last.p95ResponseLatencyMs).toBe(last.avgResponseLatencyMs);
    expect(last.sentiment).toBe("positive");
    expect(last.sentimentScore).toBeGreaterThan(0);
    expect(last.customMetrics?.responseLatenciesMs).toHaveLength(1);
    expect(last.customMetrics?.tokenUsage).toBeDefined();
    // Snapshots only grow over a call.
    for (let i = 1; i < snapshots.length; i++) {
      expect(snapshots[i]!.callerTalkMs).toBeGreaterThanOrEqual(snapshots[i - 1]!.callerTalkMs);
    }

    const metadata = await calls.getMetadataByCallId(call.id);
    expect(metadata).toMatchObject({
      language: "en-US",
      region: "US",
      deviceType: "phone",
      networkQuality: "good",
    });
    expect(metadata?.customData).toMatchObject({ campaign: "spring", FromCountry: "US" });

    const recordings = await calls.getRecordingsByCallId(call.id);
    const conversation = recordings.find((r) => r.track === "conversation");
    expect(conversation).toMatchObject({ channels: 2, sampleRate: 16000 });
    const wav = decodeWav(
      new Uint8Array(readFileSync(join(server.recordingsDir, conversation!.fileKey))),
    );
    expect(wav.channels).toBe(2);
    expect(wav.samples.length / 2 / 16).toBeCloseTo(6400, -1);
    const caller = activeWindows(wav.samples, 0);
    const assistant = activeWindows(wav.samples, 1);
    expect(activeSpan(caller, 0, 3500)).toEqual([0, 3000]);
    expect(activeSpan(caller, 3500, 6400)).toEqual([5000, 6000]);
    // The assistant is heard from 3.7 s until the barge-in cut it off at about 5 s, and never
    // again: the rest of its answer was dropped with the clear.
    const heard = activeSpan(assistant, 0, 6400);
    expect(heard).not.toBeNull();
    expect(Math.abs(heard![0] - 3700)).toBeLessThanOrEqual(20);
    expect(Math.abs(heard![1] - 5000)).toBeLessThanOrEqual(40);
  });
});
