import { afterEach, describe, expect, it } from "vitest";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { concat, silence, tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * What real Twilio streams do that a tidy one does not: leave out the silent frames of a call,
 * and end without a `stop` when the connection breaks.
 */

let server: TestServer | null = null;
let fake: FakeRealtimeServer | null = null;

afterEach(async () => {
  await server?.stop();
  await fake?.close();
  server = null;
  fake = null;
});

/** The call once the server has finished ending it. */
function endedCall(s: TestServer, streamSid: string) {
  return eventually(
    async () => {
      const call = await s.running.composition.calls.getCallByStreamSid(streamSid);
      return call && call.status !== "active" ? call : undefined;
    },
    10_000,
    `call ${streamSid} to end`,
  );
}

describe("a Twilio stream that leaves out silent frames", () => {
  it("gets the caller's turn answered, and the recording keeps the call's whole length", async () => {
    fake = await FakeRealtimeServer.start({
      callerTranscript: "A table for two, please",
      assistantTranscript: "For what time?",
    });
    server = await startTestServer({
      OPENAI_API_KEY: "sk-test-fake",
      OPENAI_REALTIME_URL: fake.url,
    });
    const sim = await TwilioSimulator.connect({
      url: server.mediaStreamUrl,
      omitSilentFrames: true,
    });
    // A second of speech, then 1.5 s of silence of which Twilio sends nothing: the model's VAD
    // only ends the turn (and answers) if the bridge gives it the silence.
    await sim.play(concat(tone(300, 1000, 8000, 0.4), silence(1500, 8000)));
    expect(sim.framesOmitted).toBe(75);
    await sim.waitForMedia(1, 3000);
    // The caller speaks again: the frame carries the true timestamp, 1.5 s after the last.
    await sim.play(tone(300, 200, 8000, 0.4));
    await sim.hangUp();

    const call = await endedCall(server, sim.streamSid);
    expect(call.status).toBe("completed");
    const calls = server.running.composition.calls;
    const transcripts = await calls.getTranscriptsByCallId(call.id);
    expect(transcripts.map((t) => [t.speaker, t.text]).slice(0, 2)).toEqual([
      ["caller", "A table for two, please"],
      ["assistant", "For what time?"],
    ]);
    // The answer starts during the silence, on the call's real timeline.
    const answer = transcripts.find((t) => t.speaker === "assistant")!;
    expect(answer.offsetMs).toBeGreaterThanOrEqual(1500);
    expect(answer.offsetMs).toBeLessThan(2500);

    // 60 frames were sent; the recordings hold all 2.7 s of the call.
    expect(sim.framesSent).toBe(60);
    const recordings = await calls.getRecordingsByCallId(call.id);
    expect(recordings.map((r) => [r.track, r.durationSeconds])).toEqual([
      ["caller", 2.7],
      ["conversation", 2.7],
    ]);
    const metadata = await calls.getMetadataByCallId(call.id);
    expect(metadata?.customData?.network).toMatchObject({
      frames: 60,
      gaps: 1,
      missingMs: 1500,
      filledGaps: 1,
      filledMs: 1500,
    });
    expect(metadata?.customData?.endReason).toBe("stop");
  });
});

describe("a Twilio stream that ends without `stop`", () => {
  it.each([
    [
      "the connection drops (no close frame: 1006)",
      (sim: TwilioSimulator) => sim.terminate(),
      "failed",
    ],
    ["the socket closes with 1011", (sim: TwilioSimulator) => sim.close(1011, "oops"), "failed"],
    ["the socket closes cleanly (1000)", (sim: TwilioSimulator) => sim.close(1000), "completed"],
    [
      "the socket closes with no status (1005)",
      (sim: TwilioSimulator) => sim.close(null),
      "completed",
    ],
  ] as const)("is recorded as a socket close when %s", async (_how, end, status) => {
    server = await startTestServer();
    const sim = await TwilioSimulator.connect({ url: server.mediaStreamUrl, realtime: false });
    await sim.play(tone(300, 500, 8000, 0.3));
    const calls = server.running.composition.calls;
    // The call is stored (its frames, sent with `start`, are in) before the connection goes.
    await eventually(
      async () => (await calls.getCallByStreamSid(sim.streamSid)) ?? undefined,
      10_000,
      "the call to start",
    );
    end(sim);
    await sim.finished;

    const call = await endedCall(server, sim.streamSid);
    expect(call.status).toBe(status);
    expect(call.endedAt).not.toBeNull();
    const metadata = await calls.getMetadataByCallId(call.id);
    expect(metadata?.customData?.endReason).toBe("socket_closed");
    const [recording] = await calls.getRecordingsByCallId(call.id);
    expect(recording?.durationSeconds).toBeGreaterThan(0);
  });

  it("is recorded as a `stop` when Twilio hangs up", async () => {
    server = await startTestServer();
    const sim = await TwilioSimulator.connect({ url: server.mediaStreamUrl, realtime: false });
    await sim.play(tone(300, 500, 8000, 0.3));
    await sim.hangUp();
    const call = await endedCall(server, sim.streamSid);
    expect(call.status).toBe("completed");
    const metadata = await server.running.composition.calls.getMetadataByCallId(call.id);
    expect(metadata?.customData?.endReason).toBe("stop");
  });
});
