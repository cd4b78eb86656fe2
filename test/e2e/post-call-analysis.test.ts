import { afterEach, describe, expect, it } from "vitest";
import { CallPageJson } from "../../src/adapters/http/api/json-schemas.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { FakeResponsesServer } from "../support/fake-openai-responses.ts";
import { concat, silence, tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * Issue 20: after a call ends the server asks the model (the Responses API, here its local fake)
 * for a summary, an outcome and the operator's fields, and stores them with the call.
 */

let server: TestServer | null = null;
let realtime: FakeRealtimeServer | null = null;
let responses: FakeResponsesServer | null = null;

afterEach(async () => {
  await server?.stop();
  await realtime?.close();
  await responses?.close();
  server = null;
  realtime = null;
  responses = null;
});

async function start(env: Record<string, string> = {}, responsesKey = "sk-test-fake") {
  realtime = await FakeRealtimeServer.start({
    callerTranscript: "I would like a refund for order 1042, it arrived broken",
    assistantTranscript: "I am sorry. I have started the refund for you.",
  });
  responses = await FakeResponsesServer.start({ apiKey: responsesKey });
  server = await startTestServer({
    OPENAI_API_KEY: "sk-test-fake",
    OPENAI_REALTIME_URL: realtime.url,
    OPENAI_BASE_URL: responses.url,
    POST_CALL_ANALYSIS: "on",
    ...env,
  });
  return { s: server, responses };
}

async function call(s: TestServer): Promise<string> {
  const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: true });
  await sim.play(concat(tone(300, 900, 8000, 0.4), silence(800, 8000)));
  await sim.hangUp();
  return sim.streamSid;
}

function analysed(s: TestServer, streamSid: string, status = "done") {
  return eventually(
    async () => {
      const response = await fetch(`${s.baseUrl}/api/calls?streamSid=${streamSid}`);
      const found = CallPageJson.parse(await response.json()).data[0];
      return found?.analysisStatus === status ? found : undefined;
    },
    20_000,
    `call ${streamSid} analysed (${status})`,
  );
}

describe("post-call analysis", () => {
  it("stores the model's summary, outcome and fields with the call, filterable by outcome", async () => {
    const { s, responses } = await start({
      ANALYSIS_FIELDS: JSON.stringify({
        type: "object",
        properties: { orderNumber: { type: "string" }, damaged: { type: "boolean" } },
        required: ["orderNumber", "damaged"],
      }),
    });
    const streamSid = await call(s);
    const stored = await analysed(s, streamSid);
    expect(stored.summary).toMatch(/refund for order 1042/);
    expect(stored.outcome).toBe("needs_follow_up");
    expect(stored.analysisFields).toEqual({
      orderNumber: expect.any(String),
      damaged: expect.any(Boolean),
    });
    // What the model was sent: the call's transcript, in the configured model and schema.
    const request = responses.requests[0]!;
    expect(request.body).toMatchObject({ model: "gpt-4.1-mini" });
    expect(JSON.stringify(request.body)).toContain("I would like a refund for order 1042");
    const page = CallPageJson.parse(
      await (await fetch(`${s.baseUrl}/api/calls?outcome=needs_follow_up`)).json(),
    );
    expect(page.data.map((c) => c.streamSid)).toEqual([streamSid]);
  });

  it("retries a rate-limited request, then stores the answer", async () => {
    const { s, responses } = await start();
    responses.failNext(1, 429);
    const streamSid = await call(s);
    const stored = await analysed(s, streamSid);
    expect(stored.outcome).toBe("needs_follow_up");
    expect(responses.requests.map((r) => r.status)).toEqual([429, 200]);
  });

  it("marks the call failed, never stuck, when the key is refused", async () => {
    const { s, responses } = await start({}, "sk-another-key");
    const streamSid = await call(s);
    const stored = await analysed(s, streamSid, "failed");
    expect(stored.summary).toBeNull();
    expect(stored.endReason).toBe("caller_hung_up");
    // A refused key is not retried: every attempt would be refused the same way.
    expect(responses.requests.map((r) => r.status)).toEqual([401]);
  });

  it("asks nothing with POST_CALL_ANALYSIS=off: the call says so, and keeps its topic", async () => {
    const { s, responses } = await start({ POST_CALL_ANALYSIS: "off" });
    const streamSid = await call(s);
    const stored = await analysed(s, streamSid, "off");
    expect(stored.topic).toBe("I would like a refund for order 1042, it arrived broken");
    expect(responses.requests).toHaveLength(0);
  });
});
