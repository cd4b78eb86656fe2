import { afterEach, describe, expect, it } from "vitest";
import { computeTwilioSignature } from "../../../src/adapters/twilio/signature.ts";
import { FakeRealtimeServer } from "../../support/fake-openai-realtime.ts";
import { LogCapture, type LogLine } from "../../support/log-capture.ts";
import { concat, silence, tone } from "../../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../../support/test-server.ts";
import { randomSid, streamOfTwiml, TwilioSimulator } from "../../support/twilio-simulator.ts";

const OPENAI_KEY = "sk-test-openai-4f1c9a2b7e6d5c3a";
const API_KEY = "api-key-93b1e0c4d7f2a6e8";
const TWILIO_TOKEN = "twilio-token-5a8c2e7f1b9d4e03";
const PUBLIC = "https://callbridge.example.test";
const CALLER = "+15557654321";

let server: TestServer | null = null;
let fake: FakeRealtimeServer | null = null;
afterEach(async () => {
  await server?.stop();
  await fake?.close();
  server = null;
  fake = null;
});

/**
 * A whole signed call with every secret configured: the voice webhook, the media stream with
 * the model answering, and API reads. Returns what was logged.
 */
async function loggedCall(level: string) {
  fake = await FakeRealtimeServer.start({ apiKey: OPENAI_KEY });
  const log = new LogCapture();
  server = await startTestServer(
    {
      LOG_LEVEL: level,
      OPENAI_API_KEY: OPENAI_KEY,
      OPENAI_REALTIME_URL: fake.url,
      API_KEY,
      TWILIO_AUTH_TOKEN: TWILIO_TOKEN,
      PUBLIC_BASE_URL: PUBLIC,
    },
    { logDestination: log },
  );
  const s = server;
  const callSid = randomSid("CA");
  const params = { CallSid: callSid, From: CALLER, To: "+18005551212", FromCountry: "US" };
  const voice = await fetch(`${s.baseUrl}/twilio/voice`, {
    method: "POST",
    headers: {
      "Content-Type": "application/x-www-form-urlencoded",
      "X-Twilio-Signature": computeTwilioSignature(TWILIO_TOKEN, `${PUBLIC}/twilio/voice`, params),
      "X-Request-Id": "voice-webhook-1",
    },
    body: new URLSearchParams(params).toString(),
  });
  expect(voice.status).toBe(200);

  // The stream the TwiML gave (its parameters carry the call's stream token), reached locally.
  const stream = streamOfTwiml(await voice.text());
  const sim = await TwilioSimulator.connect({
    url: stream?.url ?? "",
    connectTo: `ws://127.0.0.1:${s.running.port}`,
    authToken: TWILIO_TOKEN,
    callSid,
    caller: CALLER,
    customParameters: stream?.parameters,
  });
  await sim.play(concat(tone(300, 1200, 8000, 0.4), silence(700, 8000)));
  await sim.waitForMedia(10, 15_000);
  await sim.hangUp();
  const call = await eventually(
    async () => {
      const found = await s.running.composition.calls.getCallByStreamSid(sim.streamSid);
      return found?.status === "completed" ? found : undefined;
    },
    10_000,
    "the call to end",
  );
  const auth = { Authorization: `Bearer ${API_KEY}` };
  expect((await fetch(`${s.baseUrl}/api/calls/${call.id}`, { headers: auth })).status).toBe(200);
  expect((await fetch(`${s.baseUrl}/api/calls?caller=${encodeURIComponent(CALLER)}`)).status).toBe(
    401,
  );
  // The last lines (call ended, sidecars) may be written after the status.
  await eventually(() => (log.withMessage("call ended").length === 1 ? true : undefined));
  return { log, sim, callSid };
}

function expectNoSecrets(text: string): void {
  for (const secret of [OPENAI_KEY, API_KEY, TWILIO_TOKEN]) expect(text).not.toContain(secret);
}

describe("structured logs", () => {
  it("puts the request id on every request line, echoing a sane X-Request-Id", async () => {
    const { log } = await loggedCall("info");
    const requests = log.withMessage("request");
    expect(requests.length).toBeGreaterThanOrEqual(4);
    for (const line of requests) {
      expect(line.requestId).toEqual(expect.stringMatching(/^[A-Za-z0-9-]{1,64}$/));
      expect(line).toMatchObject({ method: expect.any(String), status: expect.any(Number) });
    }
    expect(requests.find((l) => l.route === "/twilio/voice")).toMatchObject({
      requestId: "voice-webhook-1",
      method: "POST",
      status: 200,
    });
    expect(requests.find((l) => l.route === "/api/calls/:id")).toMatchObject({ status: 200 });
    // Refused by the API's auth middleware: labelled with that middleware's pattern.
    expect(requests.find((l) => l.status === 401)).toMatchObject({ route: "/api/*" });
  });

  it("puts the callSid and streamSid on every line about a call", async () => {
    const { log, sim, callSid } = await loggedCall("info");
    const aboutTheStream = log.lines.filter((line) => JSON.stringify(line).includes(sim.streamSid));
    expect(aboutTheStream.map((l) => l.msg)).toEqual(
      expect.arrayContaining(["call started", "call ended"]),
    );
    for (const line of aboutTheStream) {
      expect(line).toMatchObject({ streamSid: sim.streamSid, callSid });
    }
    // Before the stream exists there is only the callSid to tell the call by.
    expect(log.withMessage("incoming call")).toEqual([expect.objectContaining({ callSid })]);
  });

  it("masks the caller's number and never logs a secret at info level", async () => {
    const { log } = await loggedCall("info");
    expect(log.raw).not.toContain(CALLER);
    expect(log.raw).not.toContain(CALLER.slice(1));
    expect(log.raw).not.toContain("7654321");
    const incoming = log.withMessage("incoming call")[0] as LogLine;
    expect(incoming.caller).toMatch(/^\+1\*+21$/);
    expectNoSecrets(log.raw);
  });

  it("never logs a secret at debug level either", async () => {
    const { log } = await loggedCall("debug");
    expectNoSecrets(log.raw);
  });
});
