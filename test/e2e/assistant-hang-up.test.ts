import { afterEach, describe, expect, it } from "vitest";
import {
  CallDetailJson,
  CallPageJson,
  TranscriptListJson,
} from "../../src/adapters/http/api/json-schemas.ts";
import { decodeWav } from "../../src/domain/audio/index.ts";
import { FakeRealtimeServer, REALTIME_RATE } from "../support/fake-openai-realtime.ts";
import { FakeResponsesServer } from "../support/fake-openai-responses.ts";
import { concat, silence, tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * Issue 20: the assistant can end the call. Through the running server, the Twilio simulator
 * (which echoes each mark once the audio before it has played) and the fake Realtime server
 * (which calls end_call when the test tells it to), read back through the API.
 */

let server: TestServer | null = null;
let fake: FakeRealtimeServer | null = null;
let responses: FakeResponsesServer | null = null;

afterEach(async () => {
  await server?.stop();
  await fake?.close();
  await responses?.close();
  server = null;
  fake = null;
  responses = null;
});

const GOODBYE_MS = 400;

async function withFake(env: Record<string, string> = {}) {
  fake = await FakeRealtimeServer.start({
    callerTranscript: "That is all, thank you. Bye!",
    assistantTranscript: "You are welcome. Goodbye!",
    assistantAudio: tone(440, GOODBYE_MS, REALTIME_RATE, 0.5),
  });
  server = await startTestServer({
    OPENAI_API_KEY: "sk-test-fake",
    OPENAI_REALTIME_URL: fake.url,
    ...env,
  });
  return { s: server, fake };
}

/** A call whose model session is configured: what the bridge sent in its session.update. */
async function callStarted(s: TestServer, realtime: FakeRealtimeServer) {
  const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
  const conn = await realtime.waitForConnection(0);
  const update = await conn.waitForEvent("session.update");
  await conn.waitForSent("session.updated");
  return { sim, conn, session: update.session as { tools?: unknown; tool_choice?: unknown } };
}

/** The call of `streamSid` as the list API shows it, once it has ended. */
function listedCall(s: TestServer, streamSid: string, query = "") {
  return eventually(
    async () => {
      const response = await fetch(`${s.baseUrl}/api/calls?streamSid=${streamSid}${query}`);
      const call = CallPageJson.parse(await response.json()).data[0];
      return call && call.status !== "active" ? call : undefined;
    },
    10_000,
    `call ${streamSid} to end`,
  );
}

async function getJson(s: TestServer, path: string): Promise<unknown> {
  const response = await fetch(`${s.baseUrl}${path}`);
  expect(response.status).toBe(200);
  return response.json();
}

/** A caller turn: speech, then the silence that ends it (the fake's VAD waits 500 ms). */
const speech = () => concat(tone(300, 400, 8000, 0.4), silence(600, 8000));

describe("the assistant ends the call", () => {
  it("says goodbye, calls end_call, and the server hangs up once the goodbye has played", async () => {
    responses = await FakeResponsesServer.start();
    const { s, fake } = await withFake({
      OPENAI_BASE_URL: responses.url,
      POST_CALL_ANALYSIS: "on",
    });
    const { sim, conn, session } = await callStarted(s, fake);
    expect(session.tools).toEqual([
      expect.objectContaining({ type: "function", name: "end_call" }),
    ]);
    expect(session.tool_choice).toBe("auto");
    // The answer to the caller's turn says goodbye, then calls end_call.
    const callId = conn.queueFunctionCall("end_call", { reason: "the caller said goodbye" });
    // The caller speaks, then stays on a quiet line until the server hangs up.
    const line = sim.play(concat(speech(), silence(4000, 8000)));
    const closed = await sim.finished;
    const closedAt = performance.now();
    const closedAtMs = sim.now();
    await line;

    expect(closed).toEqual({ code: 1000, reason: "call ended" });
    // Every mark came back (none released by a clear) before the close: the caller heard the
    // whole goodbye, and the server hung up right after its last mark.
    expect(sim.marksReceived.length).toBeGreaterThan(0);
    expect(sim.echoedMarks.map((m) => m.name)).toEqual(sim.marksReceived);
    expect(sim.echoedMarks.every((m) => !m.cleared)).toBe(true);
    const lastMarkMs = sim.echoedMarks.at(-1)!.atMs;
    expect(closedAtMs).toBeGreaterThanOrEqual(lastMarkMs);
    expect(closedAtMs - lastMarkMs).toBeLessThan(1000);
    expect(sim.heardAudio().length).toBeGreaterThanOrEqual((GOODBYE_MS / 1000) * 8000);
    // The model had its answer before the stream closed.
    const [answer] = conn.functionOutputs;
    expect(answer).toMatchObject({ callId, accepted: true });
    expect(answer!.at).toBeLessThan(closedAt);
    expect(JSON.parse(answer!.output)).toMatchObject({ ok: true });

    const call = await listedCall(s, sim.streamSid, "&endReason=assistant_ended");
    expect(call).toMatchObject({ status: "completed", endReason: "assistant_ended", turns: 2 });
    const detail = CallDetailJson.parse(await getJson(s, `/api/calls/${call.id}`));
    expect(detail.metadata?.customData).toMatchObject({
      endReason: "assistant_ended",
      assistantHangUp: { reason: "the caller said goodbye" },
    });
    expect(detail.recordings.map((r) => r.track).sort()).toEqual(["caller", "conversation"]);
    const transcripts = TranscriptListJson.parse(
      await getJson(s, `/api/calls/${call.id}/transcripts`),
    );
    expect(transcripts.data.map((t) => [t.speaker, t.text, t.interrupted])).toEqual([
      ["caller", "That is all, thank you. Bye!", false],
      ["assistant", "You are welcome. Goodbye!", false],
    ]);
    // The stereo recording holds the whole goodbye on the assistant's (right) channel.
    const stereo = detail.recordings.find((r) => r.track === "conversation")!;
    const wav = decodeWav(
      new Uint8Array(
        await (await fetch(`${s.baseUrl}/api/recordings/${stereo.id}/audio`)).arrayBuffer(),
      ),
    );
    let loud = 0;
    for (let i = 1; i < wav.samples.length; i += 2) if (Math.abs(wav.samples[i]!) > 2000) loud++;
    expect(loud).toBeGreaterThan((GOODBYE_MS / 1000) * wav.sampleRate * 0.7);
    // The post-call analysis reads the whole conversation, goodbye included.
    const analysed = await eventually(
      async () => {
        const found = await listedCall(s, sim.streamSid);
        return found.analysisStatus === "done" ? found : undefined;
      },
      10_000,
      "the post-call analysis",
    );
    expect(analysed.summary).toEqual(expect.any(String));
    expect(JSON.stringify(responses.requests[0]?.body)).toContain("You are welcome. Goodbye!");
  });

  it("a caller who hangs up while the goodbye plays has hung up first", async () => {
    const { s, fake } = await withFake();
    fake.setOptions({ assistantAudio: tone(440, 3000, REALTIME_RATE, 0.5) });
    const { sim, conn } = await callStarted(s, fake);
    conn.queueFunctionCall("end_call", { reason: "done" });
    const line = sim.play(concat(speech(), silence(2000, 8000)));
    await conn.waitFor(() => conn.functionOutputs[0]);
    // Three seconds of goodbye are still to play: the caller does not wait for them.
    expect(sim.isOpen).toBe(true);
    await sim.hangUp();
    await line;
    const call = await listedCall(s, sim.streamSid);
    expect(call).toMatchObject({ status: "completed", endReason: "caller_hung_up" });
    const detail = CallDetailJson.parse(await getJson(s, `/api/calls/${call.id}`));
    expect(detail.metadata?.customData).toMatchObject({
      endReason: "stop",
      assistantHangUp: { reason: "done" },
    });
  });

  it("an unknown function gets an error answer, and the call goes on", async () => {
    const { s, fake } = await withFake();
    const { sim, conn } = await callStarted(s, fake);
    const callId = conn.respondWithFunctionCall("lookup_order", { order: "A1" });
    const answer = await conn.waitFor(() => conn.functionOutputs[0]);
    expect(answer).toMatchObject({ callId, accepted: true });
    expect(JSON.parse(answer.output)).toEqual({
      ok: false,
      error: "there is no function lookup_order",
    });
    // The caller's next turn is answered as on any call.
    await sim.play(speech());
    await conn.waitFor(() =>
      conn.responses.find((r) => r.status === "completed" && r.deltasSent > 0),
    );
    expect(sim.isOpen).toBe(true);
    await sim.hangUp();
    expect(await listedCall(s, sim.streamSid)).toMatchObject({
      status: "completed",
      endReason: "caller_hung_up",
    });
  });

  it("ASSISTANT_HANG_UP=off: no tools in the session, and end_call is a function it lacks", async () => {
    const { s, fake } = await withFake({ ASSISTANT_HANG_UP: "off" });
    const { sim, conn, session } = await callStarted(s, fake);
    expect(session).not.toHaveProperty("tools");
    expect(session).not.toHaveProperty("tool_choice");
    conn.respondWithFunctionCall("end_call");
    const answer = await conn.waitFor(() => conn.functionOutputs[0]);
    expect(JSON.parse(answer.output)).toEqual({
      ok: false,
      error: "there is no function end_call",
    });
    await sim.play(silence(300, 8000));
    expect(sim.isOpen).toBe(true);
    await sim.hangUp();
    expect(await listedCall(s, sim.streamSid)).toMatchObject({ endReason: "caller_hung_up" });
  });
});
