import { afterEach, describe, expect, it } from "vitest";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { metricValue, parsePrometheus } from "../support/prometheus-text.ts";
import { concat, silence, tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * What real calls do that the happy path does not (issue 16), played through the running
 * server against the fake OpenAI Realtime server, which behaves as the real one does (each
 * behaviour cites its source in fake-openai-realtime.ts).
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
    OPENAI_REALTIME_URL: fake.url,
    ...env,
  });
  return { fake, server };
}

function endedCall(s: TestServer, streamSid: string) {
  return eventually(
    async () => {
      const call = await s.running.composition.calls.getCallByStreamSid(streamSid);
      return call && call.status !== "active" ? call : undefined;
    },
    15_000,
    `call ${streamSid} to end`,
  );
}

async function transcriptsOf(s: TestServer, streamSid: string) {
  const call = await endedCall(s, streamSid);
  return s.running.composition.calls.getTranscriptsByCallId(call.id);
}

async function metadataOf(s: TestServer, streamSid: string) {
  const call = await endedCall(s, streamSid);
  return s.running.composition.calls.getMetadataByCallId(call.id);
}

describe("a real call's record", () => {
  it("keeps the caller's last words when they hang up before the model's VAD ends the turn", async () => {
    const { server: s } = await withFake({ callerTranscript: "thanks, bye" });
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
    // Speech, then the hang-up at once: server VAD needs ~500 ms of silence to commit the turn,
    // and transcription starts only at a commit.
    await sim.play(tone(300, 1200, 8000, 0.4));
    await sim.hangUp();
    const transcripts = await transcriptsOf(s, sim.streamSid);
    expect(transcripts.map((t) => [t.speaker, t.text])).toEqual([["caller", "thanks, bye"]]);
    // The commit made no response: nothing was said to a caller who had gone.
    expect(fake!.connections[0]!.eventsOfType("input_audio_buffer.commit")).toHaveLength(1);
    expect(fake!.connections[0]!.responses).toHaveLength(0);
  });

  it("keeps the answer that was still being generated at the hang-up, with its usage", async () => {
    const { server: s } = await withFake({
      assistantTranscript: "Our opening hours are nine to five.",
      assistantAudio: tone(500, 1500, 24_000, 0.3),
      deltaMs: 100,
      deltaIntervalMs: 100,
    });
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
    await sim.play(concat(tone(300, 800, 8000, 0.4), silence(700, 8000)));
    await eventually(
      () => ((fake!.connections[0]?.responses.length ?? 0) > 0 ? true : undefined),
      5000,
      "a response",
    );
    await sim.hangUp();
    const transcripts = await transcriptsOf(s, sim.streamSid);
    expect(transcripts.find((t) => t.speaker === "assistant")?.text).toBe(
      "Our opening hours are nine to five.",
    );
    const metadata = await metadataOf(s, sim.streamSid);
    expect(metadata?.customData?.tokenUsage).toMatchObject({ total_tokens: expect.any(Number) });
    // The call ended for Twilio at the hang-up, not when the model was done.
    const call = await endedCall(s, sim.streamSid);
    expect(call.durationSeconds).toBeLessThan(1.9);
  });

  it("logs, counts and stores a failed response instead of leaving the caller in silence", async () => {
    const { server: s } = await withFake({
      responseFailure: {
        type: "rate_limit_error",
        code: "rate_limit_exceeded",
        message: "Rate limit reached for gpt-realtime.",
      },
    });
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
    await sim.play(concat(tone(300, 800, 8000, 0.4), silence(700, 8000)));
    await eventually(
      () => ((fake!.connections[0]?.responses.length ?? 0) > 0 ? true : undefined),
      5000,
      "a response",
    );
    await sim.hangUp();
    const metadata = await metadataOf(s, sim.streamSid);
    expect(metadata?.customData?.failedResponses).toEqual({ rate_limit_exceeded: 1 });
    const text = (await (await fetch(`${s.baseUrl}/metrics`)).text()) as string;
    expect(
      metricValue(parsePrometheus(text), "callbridge_errors_total", {
        kind: "upstream_response_failed",
      }),
    ).toBe(1);
  });

  it("takes a rejected session.update as a configuration failure: record-only, no retries, /healthz degraded", async () => {
    const { server: s } = await withFake({}, { OPENAI_VOICE: "robot-voice" });
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
    await sim.play(tone(300, 1500, 8000, 0.4));
    await sim.hangUp();
    const call = await endedCall(s, sim.streamSid);
    expect(call.status).toBe("completed");
    // One session, refused once: reconnecting would be refused the same way.
    expect(fake!.connections).toHaveLength(1);
    const recordings = await s.running.composition.calls.getRecordingsByCallId(call.id);
    expect(recordings.find((r) => r.track === "caller")?.durationSeconds).toBeCloseTo(1.5, 1);
    const health = await (await fetch(`${s.baseUrl}/healthz`)).json();
    expect(health).toMatchObject({ status: "degraded" });
    expect(JSON.stringify(health)).toMatch(/configuration rejected: .*robot-voice/);
  });

  it("keeps a caller turn whose transcription failed, empty and flagged, at its offset", async () => {
    const { server: s } = await withFake({ transcriptionFails: true });
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
    await sim.play(concat(silence(400, 8000), tone(300, 800, 8000, 0.4), silence(700, 8000)));
    await sim.hangUp();
    const [turn] = await transcriptsOf(s, sim.streamSid);
    expect(turn).toMatchObject({ speaker: "caller", text: "", failed: true });
    expect(turn!.offsetMs).toBeGreaterThanOrEqual(300);
    const call = await endedCall(s, sim.streamSid);
    const api = await (await fetch(`${s.baseUrl}/api/calls/${call.id}/transcripts`)).json();
    expect(JSON.stringify(api)).toContain('"failed":true');
  });

  it("replays the conversation into the new session after the old one expired", async () => {
    const { server: s } = await withFake({
      callerTranscript: "Do you open on Sundays?",
      assistantTranscript: "Yes, from ten.",
      fault: { kind: "session-expiry", afterMs: 2600 },
    });
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
    await sim.play(concat(tone(300, 800, 8000, 0.4), silence(2500, 8000)));
    const second = await fake!.waitForConnection(1, 10_000);
    await eventually(
      () => (second.eventsOfType("conversation.item.create").length >= 2 ? true : undefined),
      5000,
      "the replayed turns",
    );
    await sim.hangUp();
    const items = second.eventsOfType("conversation.item.create").map((e) => e.item);
    expect(items).toEqual([
      {
        type: "message",
        role: "user",
        content: [{ type: "input_text", text: "Do you open on Sundays?" }],
      },
      {
        type: "message",
        role: "assistant",
        content: [{ type: "output_text", text: "Yes, from ten." }],
      },
    ]);
    // Replayed before any of the new session's audio, right after its configuration.
    const order = second.events.map((e) => e.type);
    expect(order.indexOf("conversation.item.create")).toBeLessThan(
      order.indexOf("input_audio_buffer.append"),
    );
  });

  it("passes CALL_LANGUAGE to the caller transcription", async () => {
    const { server: s } = await withFake({}, { CALL_LANGUAGE: "es-MX" });
    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
    await sim.play(tone(300, 300, 8000, 0.4));
    await sim.hangUp();
    await endedCall(s, sim.streamSid);
    const [update] = fake!.connections[0]!.eventsOfType("session.update");
    expect(update?.session).toMatchObject({
      audio: { input: { transcription: { language: "es" } } },
    });
  });
});
