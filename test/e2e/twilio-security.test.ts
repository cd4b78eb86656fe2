import { readdirSync } from "node:fs";
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { computeTwilioSignature } from "../../src/adapters/twilio/signature.ts";
import { tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { randomSid, TwilioSimulator, UpgradeRejectedError } from "../support/twilio-simulator.ts";

const TOKEN = "test-auth-token-0123456789abcdef";
const PUBLIC = "https://callbridge.example.ngrok.app";

let server: TestServer | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

interface HttpAnswer {
  status: number;
  contentType: string;
  body: string;
}

/** node:http rather than fetch, so that the Host header can be set like a proxy would. */
function httpRequest(
  url: string,
  opts: { method?: string; headers?: Record<string, string>; body?: string } = {},
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: opts.method ?? "GET", headers: opts.headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () =>
        resolve({
          status: res.statusCode ?? 0,
          contentType: String(res.headers["content-type"] ?? ""),
          body,
        }),
      );
    });
    req.on("error", reject);
    req.end(opts.body);
  });
}

/** The form fields Twilio posts to a voice webhook for an incoming call. */
function voiceParams(callSid = randomSid("CA")): Record<string, string> {
  return {
    AccountSid: randomSid("AC"),
    ApiVersion: "2010-04-01",
    CallSid: callSid,
    CallStatus: "ringing",
    Called: "+18005551212",
    Caller: "+15551230000",
    Direction: "inbound",
    From: "+15551230000",
    FromCity: "SAN FRANCISCO",
    FromCountry: "US",
    FromState: "CA",
    To: "+18005551212",
  };
}

function postVoice(
  s: TestServer,
  params: Record<string, string>,
  headers: Record<string, string> = {},
): Promise<HttpAnswer> {
  return httpRequest(`${s.baseUrl}/twilio/voice`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
    body: new URLSearchParams(params).toString(),
  });
}

function signedVoice(s: TestServer, params: Record<string, string>, signedUrl: string) {
  return postVoice(s, params, {
    "X-Twilio-Signature": computeTwilioSignature(TOKEN, signedUrl, params),
  });
}

function streamOf(twiml: string) {
  const url = /<Stream url="([^"]*)">/.exec(twiml)?.[1];
  const parameters = Object.fromEntries(
    [...twiml.matchAll(/<Parameter name="([^"]*)" value="([^"]*)"\/>/g)].map((m) => [m[1], m[2]]),
  );
  return { url, parameters };
}

function expectForbidden(answer: HttpAnswer) {
  expect(answer.status).toBe(403);
  expect(answer.contentType).toContain("application/json");
  expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "forbidden" } });
}

async function rejectedUpgrade(connecting: Promise<TwilioSimulator>): Promise<number> {
  const error = await connecting.then(
    (sim) => {
      void sim.hangUp();
      throw new Error("the upgrade was accepted");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(UpgradeRejectedError);
  return (error as UpgradeRejectedError).status;
}

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

const filesOf = (s: TestServer, streamSid: string) =>
  readdirSync(s.recordingsDir).filter((name) => name.includes(streamSid));

describe("POST /twilio/voice with TWILIO_AUTH_TOKEN set", () => {
  it("answers a validly signed webhook with TwiML that streams to the public base URL", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const params = voiceParams();
    const answer = await signedVoice(server, params, `${PUBLIC}/twilio/voice`);

    expect(answer.status).toBe(200);
    expect(answer.contentType).toContain("text/xml");
    expect(answer.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><Response><Connect>/);
    const stream = streamOf(answer.body);
    expect(stream.url).toBe("wss://callbridge.example.ngrok.app/twilio/media-stream");
    expect(stream.parameters).toMatchObject({ caller: params.From, callSid: params.CallSid });
  });

  it("refuses a webhook without a signature, or with a wrong one, with 403 JSON", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const params = voiceParams();
    expectForbidden(await postVoice(server, params));
    expectForbidden(await postVoice(server, params, { "X-Twilio-Signature": "" }));
    expectForbidden(
      await postVoice(server, params, { "X-Twilio-Signature": "0/KCTR6DLpKmkAf8muzZqo1nDgQ=" }),
    );
    const otherToken = computeTwilioSignature("another-token", `${PUBLIC}/twilio/voice`, params);
    expectForbidden(await postVoice(server, params, { "X-Twilio-Signature": otherToken }));
  });

  it("refuses a validly signed webhook whose fields were changed on the way", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const params = voiceParams();
    const signature = computeTwilioSignature(TOKEN, `${PUBLIC}/twilio/voice`, params);
    const tampered = { ...params, From: "+15559999999" };
    expectForbidden(await postVoice(server, tampered, { "X-Twilio-Signature": signature }));
    const extra = { ...params, Digits: "1" };
    expectForbidden(await postVoice(server, extra, { "X-Twilio-Signature": signature }));
  });

  it("refuses a signature made for the server's local address instead of the public one", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const params = voiceParams();
    expectForbidden(await signedVoice(server, params, `${server.baseUrl}/twilio/voice`));
  });

  it("accepts a signature computed over the URL with the default port written out", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const answer = await signedVoice(
      server,
      voiceParams(),
      "https://callbridge.example.ngrok.app:443/twilio/voice",
    );
    expect(answer.status).toBe(200);
  });

  it("accepts a signature over the URL without the port when PUBLIC_BASE_URL spells out :443", async () => {
    server = await startTestServer({
      TWILIO_AUTH_TOKEN: TOKEN,
      PUBLIC_BASE_URL: "https://callbridge.example.ngrok.app:443",
    });
    const answer = await signedVoice(server, voiceParams(), `${PUBLIC}/twilio/voice`);
    expect(answer.status).toBe(200);
  });

  it("ignores a trailing slash on PUBLIC_BASE_URL", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: `${PUBLIC}/` });
    const answer = await signedVoice(server, voiceParams(), `${PUBLIC}/twilio/voice`);
    expect(answer.status).toBe(200);
    expect(streamOf(answer.body).url).toBe(
      "wss://callbridge.example.ngrok.app/twilio/media-stream",
    );
  });

  it("derives the URL from Host and X-Forwarded-Proto when PUBLIC_BASE_URL is unset", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN });
    const params = voiceParams();
    const signature = computeTwilioSignature(
      TOKEN,
      "https://calls.example.com/twilio/voice",
      params,
    );
    const proxied = await postVoice(server, params, {
      Host: "calls.example.com",
      "X-Forwarded-Proto": "https",
      "X-Twilio-Signature": signature,
    });
    expect(proxied.status).toBe(200);
    expect(streamOf(proxied.body).url).toBe("wss://calls.example.com/twilio/media-stream");

    // The same signature without the proxy's header is for another URL (http://...).
    expectForbidden(
      await postVoice(server, params, {
        Host: "calls.example.com",
        "X-Twilio-Signature": signature,
      }),
    );

    // Straight to the server: the URL is the plain http one it was called on.
    const direct = await signedVoice(server, params, `${server.baseUrl}/twilio/voice`);
    expect(direct.status).toBe(200);
    expect(streamOf(direct.body).url).toBe(`${server.mediaStreamUrl}`);
  });
});

describe("the media-stream upgrade with TWILIO_AUTH_TOKEN set", () => {
  const streamUrl = "wss://callbridge.example.ngrok.app/twilio/media-stream";
  const streamSignature = computeTwilioSignature(TOKEN, streamUrl);

  it("is refused with 403 without a signature or with a wrong one", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const url = server.mediaStreamUrl;
    expect(await rejectedUpgrade(TwilioSimulator.connect({ url }))).toBe(403);
    expect(
      await rejectedUpgrade(
        TwilioSimulator.connect({
          url,
          headers: { "X-Twilio-Signature": computeTwilioSignature("wrong", streamUrl) },
        }),
      ),
    ).toBe(403);
    // Signed for the local address, not the public one Twilio was told to use.
    expect(
      await rejectedUpgrade(
        TwilioSimulator.connect({
          url,
          headers: { "X-Twilio-Signature": computeTwilioSignature(TOKEN, url) },
        }),
      ),
    ).toBe(403);
    expect(readdirSync(server.recordingsDir)).toEqual([]);
  });

  it("closes a validly signed stream with 1008 when its call never came through a signed webhook", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const sim = await TwilioSimulator.connect({
      url: server.mediaStreamUrl,
      headers: { "X-Twilio-Signature": streamSignature },
      realtime: false,
    });
    await sim.play(tone(440, 200, 8000));
    const close = await sim.finished;

    expect(close.code).toBe(1008);
    expect(await server.running.composition.calls.getCallByStreamSid(sim.streamSid)).toBeNull();
    expect(filesOf(server, sim.streamSid)).toEqual([]);
    const health = await httpRequest(`${server.baseUrl}/healthz`);
    expect(JSON.parse(health.body)).toMatchObject({ status: "ok", activeCalls: 0 });
  });

  it("refuses a stream naming a signed callSid only in its custom parameters", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const params = voiceParams();
    expect((await signedVoice(server, params, `${PUBLIC}/twilio/voice`)).status).toBe(200);
    // start.callSid is what Twilio sets; a forged stream cannot borrow a real call's sid.
    const sim = await TwilioSimulator.connect({
      url: server.mediaStreamUrl,
      headers: { "X-Twilio-Signature": streamSignature },
      customParameters: { callSid: params.CallSid! },
    });
    expect((await sim.finished).code).toBe(1008);
    expect(await server.running.composition.calls.getCallByStreamSid(sim.streamSid)).toBeNull();
  });

  it("records the call when a signed webhook is followed by its signed stream", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const params = voiceParams();
    const twiml = await signedVoice(server, params, `${PUBLIC}/twilio/voice`);
    const stream = streamOf(twiml.body);
    expect(stream.url).toBe(streamUrl);

    const sim = await TwilioSimulator.connect({
      url: server.mediaStreamUrl,
      headers: { "X-Twilio-Signature": computeTwilioSignature(TOKEN, stream.url!) },
      callSid: params.CallSid,
      customParameters: stream.parameters,
      realtime: false,
    });
    await sim.play(tone(440, 1000, 8000, 0.3));
    await sim.hangUp();

    const call = await endedCall(server, sim.streamSid);
    expect(call).toMatchObject({
      status: "completed",
      callSid: params.CallSid,
      caller: params.From,
    });
    const [recording] = await server.running.composition.calls.getRecordingsByCallId(call.id);
    expect(recording?.durationSeconds).toBeCloseTo(1, 6);
    const metadata = await server.running.composition.calls.getMetadataByCallId(call.id);
    expect(metadata?.region).toBe("US/CA/SAN FRANCISCO");
  });

  it("accepts the stream signature over the URL with :443 written out", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const params = voiceParams();
    await signedVoice(server, params, `${PUBLIC}/twilio/voice`);
    const sim = await TwilioSimulator.connect({
      url: server.mediaStreamUrl,
      headers: {
        "X-Twilio-Signature": computeTwilioSignature(
          TOKEN,
          "wss://callbridge.example.ngrok.app:443/twilio/media-stream",
        ),
      },
      callSid: params.CallSid,
      realtime: false,
    });
    await sim.play(tone(440, 200, 8000));
    await sim.hangUp();
    expect((await endedCall(server, sim.streamSid)).status).toBe("completed");
  });
});

describe("without TWILIO_AUTH_TOKEN", () => {
  it("checks no signature on the webhook or the stream", async () => {
    server = await startTestServer();
    const params = voiceParams();
    const answer = await postVoice(server, params);
    expect(answer.status).toBe(200);
    expect(streamOf(answer.body)).toEqual({
      url: server.mediaStreamUrl,
      parameters: {
        caller: params.From,
        callSid: params.CallSid,
        To: params.To,
        FromCountry: "US",
        FromState: "CA",
        FromCity: "SAN FRANCISCO",
      },
    });

    // A stream whose callSid was never seen in any webhook is recorded too.
    const sim = await TwilioSimulator.connect({ url: server.mediaStreamUrl, realtime: false });
    await sim.play(tone(440, 400, 8000));
    await sim.hangUp();
    const call = await endedCall(server, sim.streamSid);
    expect(call.callSid).toBe(sim.callSid);
  });
});

describe("GET /twilio/media-stream without an upgrade", () => {
  it("answers 426 with a JSON error", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN });
    const answer = await httpRequest(`${server.baseUrl}/twilio/media-stream`);
    expect(answer.status).toBe(426);
    expect(answer.contentType).toContain("application/json");
    expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "upgrade_required" } });
  });
});
