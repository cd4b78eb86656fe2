import { afterEach, describe, expect, it } from "vitest";
import { CallDetailJson, CallPageJson } from "../../src/adapters/http/api/json-schemas.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { concat, silence, tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * Issue 20: every call says how it ended and what it was like, in the list API, after a whole
 * call through the running server against the fake OpenAI Realtime server.
 */

let server: TestServer | null = null;
let fake: FakeRealtimeServer | null = null;

afterEach(async () => {
  await server?.stop();
  await fake?.close();
  server = null;
  fake = null;
});

async function withFake(
  options: Parameters<typeof FakeRealtimeServer.start>[0] = {},
  env: Record<string, string> = {},
) {
  fake = await FakeRealtimeServer.start(options);
  server = await startTestServer({
    OPENAI_API_KEY: "sk-test-fake",
    OPENAI_REALTIME_URL: `${fake.url}?model=gpt-realtime`,
    ...env,
  });
  return server;
}

/** The call of `streamSid` as the list API shows it, once it has ended. */
function listedCall(s: TestServer, streamSid: string, query = "") {
  return eventually(
    async () => {
      const response = await fetch(`${s.baseUrl}/api/calls?streamSid=${streamSid}${query}`);
      const page = CallPageJson.parse(await response.json());
      const call = page.data[0];
      return call && call.status !== "active" ? call : undefined;
    },
    15_000,
    `call ${streamSid} to end`,
  );
}

const speech = () => concat(tone(300, 900, 8000, 0.4), silence(800, 8000));

describe("a call's facts in the list", () => {
  it("a caller who hangs up: end reason, turns, topic, quality and latency, filterable", async () => {
    const s = await withFake({
      callerTranscript: "Hi, I was charged twice for my last order",
      assistantTranscript: "I am sorry to hear that. Let me look into it.",
    });
    const sim = await TwilioSimulator.connect({
      url: s.mediaStreamUrl,
      realtime: true,
      caller: "+15551234567",
      customParameters: { To: "+15557654321" },
    });
    await sim.play(speech());
    await eventually(
      () => ((fake!.connections[0]?.responses.length ?? 0) > 0 ? true : undefined),
      5000,
      "an answer",
    );
    await sim.play(silence(600, 8000));
    await sim.hangUp();
    const call = await listedCall(s, sim.streamSid);
    expect(call).toMatchObject({
      status: "completed",
      caller: "+15551234567",
      called: "+15557654321",
      endReason: "caller_hung_up",
      turns: 2,
      topic: "Hi, I was charged twice for my last order",
      networkQuality: "good",
    });
    // POST_CALL_ANALYSIS is off here: the call is marked so just after its end is stored, so a
    // read at the end sees either.
    expect([null, "off"]).toContain(call.analysisStatus);
    // The list's cost is the call's estimate (null here: the fake reports the transcription in
    // seconds, which gpt-4o-mini-transcribe's token prices cannot price).
    const detail = CallDetailJson.parse(
      await (await fetch(`${s.baseUrl}/api/calls/${call.id}`)).json(),
    );
    expect(detail.usage?.tokenUsage).toBeTruthy();
    expect(call.costUsd).toBe(detail.usage?.estimatedCostUsd);
    expect(call.avgResponseLatencyMs).toEqual(expect.any(Number));
    expect(call.p95ResponseLatencyMs).toBeGreaterThanOrEqual(call.avgResponseLatencyMs ?? 0);
    // The same call, found by the new filters.
    const filtered = await listedCall(
      s,
      sim.streamSid,
      "&callerContains=1234&called=%2B15557654321&endReason=caller_hung_up&minDuration=1",
    );
    expect(filtered.id).toBe(call.id);
    const none = await (
      await fetch(`${s.baseUrl}/api/calls?endReason=network_drop&callerContains=1234`)
    ).json();
    expect(none).toEqual({ data: [], nextCursor: null });
  });

  it("a stream lost without stop or a clean close is a network drop", async () => {
    const s = await withFake();
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
    await sim.play(silence(400, 8000));
    sim.terminate();
    const call = await listedCall(s, sim.streamSid);
    expect(call).toMatchObject({ status: "failed", endReason: "network_drop", turns: 0 });
    expect(call.topic).toBeNull();
  });

  it("a model that refuses its session leaves a model failure, whoever hangs up", async () => {
    const s = await withFake({}, { OPENAI_VOICE: "robot-voice" });
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
    await sim.play(speech());
    await sim.hangUp();
    expect(await listedCall(s, sim.streamSid)).toMatchObject({ endReason: "model_failure" });
  });

  it("MAX_CALL_SECONDS ends the call as max_duration", async () => {
    const s = await withFake({}, { MAX_CALL_SECONDS: "1" });
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
    await sim.play(silence(1600, 8000));
    expect(await listedCall(s, sim.streamSid)).toMatchObject({ endReason: "max_duration" });
  });
});
