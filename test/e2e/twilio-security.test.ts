import { readdirSync } from "node:fs";
import { request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { computeTwilioSignature } from "../../src/adapters/twilio/signature.ts";
import { tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import {
  randomSid,
  streamOfTwiml,
  TwilioSimulator,
  type TwilioSimulatorOptions,
  UpgradeRejectedError,
} from "../support/twilio-simulator.ts";

const TOKEN = "test-auth-token-0123456789abcdef";
const PUBLIC = "https://callbridge.example.ngrok.app";
/** The TwiML's stream URL: the same for every call, signatures checked or not. */
const STREAM_URL = "wss://callbridge.example.ngrok.app/twilio/media-stream";
/**
 * The single-use token each signed call's TwiML gives its stream, as `<Parameter
 * name="streamToken">`: when it was issued (base 36 ms), a dot, and a MAC that any instance
 * sharing the auth token checks.
 */
const STREAM_TOKEN_VALUE = /^[0-9a-z]+\.[\w-]{24}$/;

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
function voiceParams(
  callSid = randomSid("CA"),
): Record<string, string> & { CallSid: string; From: string; To: string } {
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
  const stream = streamOfTwiml(twiml);
  if (!stream) throw new Error(`no <Stream> in ${twiml}`);
  return stream;
}

/** A signed webhook for a new call (to PUBLIC), the stream its TwiML names, and its token. */
async function signedCall(s: TestServer, params = voiceParams()) {
  const answer = await signedVoice(s, params, `${PUBLIC}/twilio/voice`);
  expect(answer.status).toBe(200);
  const stream = streamOf(answer.body);
  const token = stream.parameters.streamToken;
  if (token === undefined) throw new Error(`no streamToken parameter in ${answer.body}`);
  return { params, stream, token };
}

/** Twilio opening `url` (a public one, from the TwiML) through the proxy to the test server. */
function twilioStream(s: TestServer, url: string, opts: Partial<TwilioSimulatorOptions> = {}) {
  return TwilioSimulator.connect({
    url,
    connectTo: `ws://127.0.0.1:${s.running.port}`,
    authToken: TOKEN,
    realtime: false,
    ...opts,
  });
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

/** The stream's parameters without its token. */
function withoutToken(parameters: Record<string, string>): Record<string, string> {
  const { streamToken: _, ...rest } = parameters;
  return rest;
}

/** `sim`'s stream was accepted, then closed at `start` with 1008, and left no call or file. */
async function refusedAtStart(s: TestServer, sim: TwilioSimulator) {
  expect(await sim.finished).toEqual({ code: 1008, reason: "unknown call" });
  expect(await s.running.composition.calls.getCallByStreamSid(sim.streamSid)).toBeNull();
  expect(filesOf(s, sim.streamSid)).toEqual([]);
}

describe("POST /twilio/voice with TWILIO_AUTH_TOKEN set", () => {
  it("answers a validly signed webhook with TwiML that streams to the public base URL", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const params = voiceParams();
    const answer = await signedVoice(server, params, `${PUBLIC}/twilio/voice`);

    expect(answer.status).toBe(200);
    expect(answer.contentType).toContain("text/xml");
    expect(answer.body).toMatch(/^<\?xml version="1.0" encoding="UTF-8"\?><Response><Connect>/);
    const stream = streamOf(answer.body);
    // The contract's URL, with no token in it: the token rides in a <Parameter>.
    expect(stream.url).toBe(STREAM_URL);
    expect(stream.parameters).toMatchObject({ caller: params.From, callSid: params.CallSid });
    expect(stream.parameters.streamToken).toMatch(STREAM_TOKEN_VALUE);
    // Each webhook, even for the same call, gets its own token.
    const again = streamOf((await signedVoice(server, params, `${PUBLIC}/twilio/voice`)).body);
    expect(again.url).toBe(STREAM_URL);
    expect(again.parameters.streamToken).toMatch(STREAM_TOKEN_VALUE);
    expect(again.parameters.streamToken).not.toBe(stream.parameters.streamToken);
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
    expect(streamOf(answer.body).url).toBe(STREAM_URL);
  });

  it("derives the URL from Host, X-Forwarded-Proto and X-Forwarded-Host when PUBLIC_BASE_URL is unset and TRUST_PROXY=1", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, TRUST_PROXY: "1" });
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
    expect(streamOf(direct.body).url).toBe(server.mediaStreamUrl);

    // The proxy may name the public host too.
    const forwardedHost = await postVoice(server, params, {
      "X-Forwarded-Host": "calls.example.com",
      "X-Forwarded-Proto": "https",
      "X-Twilio-Signature": signature,
    });
    expect(forwardedHost.status).toBe(200);
    expect(streamOf(forwardedHost.body).url).toBe("wss://calls.example.com/twilio/media-stream");
  });
});

describe("forwarded headers without TRUST_PROXY", () => {
  it("honour X-Forwarded-Proto (as the contract says) but not X-Forwarded-Host", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN });
    const params = voiceParams();
    const signature = computeTwilioSignature(
      TOKEN,
      "https://calls.example.com/twilio/voice",
      params,
    );
    const headers = {
      Host: "calls.example.com",
      "X-Forwarded-Proto": "https",
      "X-Twilio-Signature": signature,
    };
    const proxied = await postVoice(server, params, headers);
    expect(proxied.status).toBe(200);
    expect(streamOf(proxied.body).url).toBe("wss://calls.example.com/twilio/media-stream");

    // X-Forwarded-Host is ignored: the URL stays the Host one, for the signature and the TwiML.
    const withHost = await postVoice(server, params, {
      ...headers,
      "X-Forwarded-Host": "attacker.example",
    });
    expect(withHost.status).toBe(200);
    expect(streamOf(withHost.body).url).toBe("wss://calls.example.com/twilio/media-stream");
    const signedForForwardedHost = computeTwilioSignature(
      TOKEN,
      "https://attacker.example/twilio/voice",
      params,
    );
    expectForbidden(
      await postVoice(server, params, {
        ...headers,
        "X-Forwarded-Host": "attacker.example",
        "X-Twilio-Signature": signedForForwardedHost,
      }),
    );
  });

  it("X-Forwarded-Host is the client's own word: signatures are checked against Host, not it", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN });
    const params = voiceParams();
    // A webhook signed for another site (say, one the same Twilio account also serves).
    const elsewhere = computeTwilioSignature(TOKEN, "https://other.example/twilio/voice", params);
    expectForbidden(
      await postVoice(server, params, {
        "X-Forwarded-Host": "other.example",
        "X-Forwarded-Proto": "https",
        "X-Twilio-Signature": elsewhere,
      }),
    );
  });

  it("X-Forwarded-Host never chooses the host the TwiML sends the call's audio to", async () => {
    server = await startTestServer();
    const answer = await postVoice(server, voiceParams(), {
      "X-Forwarded-Host": "attacker.example",
      "X-Forwarded-Proto": "https",
    });
    expect(answer.status).toBe(200);
    expect(streamOf(answer.body).url).toBe(
      `wss://127.0.0.1:${server.running.port}/twilio/media-stream`,
    );
  });
});

describe("the media-stream upgrade with TWILIO_AUTH_TOKEN set", () => {
  it("is refused with 403 without a signature or with a wrong one", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const { stream } = await signedCall(server);
    const local = `ws://127.0.0.1:${server.running.port}`;
    const connectTo = { url: stream.url, connectTo: local, customParameters: stream.parameters };
    expect(await rejectedUpgrade(TwilioSimulator.connect(connectTo))).toBe(403);
    expect(
      await rejectedUpgrade(
        TwilioSimulator.connect({
          ...connectTo,
          headers: { "X-Twilio-Signature": computeTwilioSignature("wrong", stream.url) },
        }),
      ),
    ).toBe(403);
    // Signed for the local address, not the public one Twilio was told to use.
    const localUrl = `${local}${new URL(stream.url).pathname}`;
    expect(
      await rejectedUpgrade(
        TwilioSimulator.connect({
          url: localUrl,
          authToken: TOKEN,
          customParameters: stream.parameters,
        }),
      ),
    ).toBe(403);
    expect(readdirSync(server.recordingsDir)).toEqual([]);
  });

  it("is signed over the fixed URL: there is no per-call stream path", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const { token } = await signedCall(server);
    const withToken = `${STREAM_URL}/${token}`;
    expect(await rejectedUpgrade(twilioStream(server, withToken))).toBe(404);
    expect(readdirSync(server.recordingsDir)).toEqual([]);
  });

  it("closes a start without a stream token with 1008, however validly signed, and records nothing", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const { params, stream } = await signedCall(server);
    const sim = await twilioStream(server, stream.url, {
      callSid: params.CallSid,
      customParameters: withoutToken(stream.parameters),
    });
    await refusedAtStart(server, sim);
    expect(readdirSync(server.recordingsDir)).toEqual([]);
  });

  it("closes a start with a token the server never issued with 1008, and records nothing", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const { params, stream } = await signedCall(server);
    for (const forged of ["A".repeat(24), "x", ""]) {
      const sim = await twilioStream(server, stream.url, {
        callSid: params.CallSid,
        customParameters: { ...stream.parameters, streamToken: forged },
      });
      await refusedAtStart(server, sim);
    }
    expect(readdirSync(server.recordingsDir)).toEqual([]);

    // The refusals used nothing up: the call's own token still opens its stream.
    const real = await twilioStream(server, stream.url, {
      callSid: params.CallSid,
      customParameters: stream.parameters,
    });
    await real.play(tone(440, 200, 8000));
    await real.hangUp();
    expect((await endedCall(server, real.streamSid)).status).toBe("completed");
  });

  it("records the call when a signed webhook is followed by its signed stream", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const { params, stream, token } = await signedCall(server);
    expect(stream.url).toBe(STREAM_URL);

    const sim = await twilioStream(server, stream.url, {
      callSid: params.CallSid,
      customParameters: stream.parameters,
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
    // The token was a credential for this one stream: it is not kept with the call.
    expect(metadata?.customData).not.toHaveProperty("streamToken");
    expect(JSON.stringify(metadata)).not.toContain(token);
  });

  it("refuses a stream whose parameters differ from the signed webhook's TwiML, and takes the caller, To and region from it", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const { params, stream } = await signedCall(server);
    // The token is a MAC over the parameters our TwiML gave the stream (issue 19: any instance
    // checks it without the webhook's state), so a stream that claims others is not Twilio's.
    const forgeries: Record<string, string>[] = [
      { caller: "client:impostor" },
      { From: "+15559999999" },
      { FromCountry: "XX", FromCity: "NOWHERE" },
    ];
    for (const forged of forgeries) {
      const impostor = await twilioStream(server, stream.url, {
        callSid: params.CallSid,
        customParameters: { ...stream.parameters, ...forged },
      });
      await refusedAtStart(server, impostor);
    }
    // Refused attempts did not use the token up: the genuine stream still starts.
    const sim = await twilioStream(server, stream.url, {
      callSid: params.CallSid,
      customParameters: stream.parameters,
    });
    await sim.play(tone(440, 200, 8000));
    await sim.hangUp();

    const call = await endedCall(server, sim.streamSid);
    expect(call.caller).toBe(params.From);
    const metadata = await server.running.composition.calls.getMetadataByCallId(call.id);
    expect(metadata).toMatchObject({ region: "US/CA/SAN FRANCISCO", deviceType: "phone" });
    expect(metadata?.customData).toMatchObject({
      caller: params.From,
      To: params.To,
      FromCountry: "US",
      FromCity: "SAN FRANCISCO",
    });
    expect(metadata?.customData).not.toHaveProperty("From");
    expect(metadata?.customData).not.toHaveProperty("streamToken");
  });

  it("accepts on another instance sharing the auth token a stream whose webhook this one answered (issue 19)", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const other = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    try {
      const { params, stream } = await signedCall(server);
      const opts = { callSid: params.CallSid, customParameters: stream.parameters };
      const sim = await twilioStream(other, stream.url, opts);
      await sim.play(tone(440, 200, 8000));
      await sim.hangUp();
      const call = await endedCall(other, sim.streamSid);
      expect(call).toMatchObject({ status: "completed", caller: params.From });
      // Used once there: a replay to the same instance is refused.
      await refusedAtStart(other, await twilioStream(other, stream.url, opts));
    } finally {
      await other.stop();
    }
  });

  it("refuses a replayed upgrade with the same TwiML parameters at start (1008): the token is used", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const { params, stream } = await signedCall(server);
    const opts = { callSid: params.CallSid, customParameters: stream.parameters };
    const first = await twilioStream(server, stream.url, opts);
    await first.play(tone(440, 200, 8000));
    // Sent again (a replay of Twilio's own upgrade and start): the upgrade's signature is over
    // the fixed URL, so it is accepted, but the token was used by the first stream.
    await refusedAtStart(server, await twilioStream(server, stream.url, opts));
    await first.hangUp();
    expect((await endedCall(server, first.streamSid)).status).toBe("completed");
    // Nor once the call has ended.
    await refusedAtStart(server, await twilioStream(server, stream.url, opts));
    const calls = await server.running.composition.calls.getAllCalls({
      limit: 10,
      callSid: params.CallSid,
    });
    expect(calls.data).toHaveLength(1);
  });

  it("opens one stream per signed call, even with a second webhook's token", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const params = voiceParams();
    const { stream } = await signedCall(server, params);
    const { stream: second } = await signedCall(server, params);
    const first = await twilioStream(server, stream.url, {
      callSid: params.CallSid,
      customParameters: stream.parameters,
    });
    await first.play(tone(440, 200, 8000));

    const again = await twilioStream(server, second.url, {
      callSid: params.CallSid,
      customParameters: second.parameters,
    });
    await refusedAtStart(server, again);
    await first.hangUp();
    expect((await endedCall(server, first.streamSid)).status).toBe("completed");
  });

  it("refuses a stream whose start names another call than its token's", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const { stream } = await signedCall(server);
    // start.callSid is what Twilio sets; the parameters cannot lend it a signed call's sid.
    const sim = await twilioStream(server, stream.url, { customParameters: stream.parameters });
    await refusedAtStart(server, sim);
    const health = await httpRequest(`${server.baseUrl}/healthz`);
    expect(JSON.parse(health.body)).toMatchObject({ status: "ok", activeCalls: 0 });
  });

  it("refuses a start with another call's token, which stays good for its own call", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const a = await signedCall(server);
    const b = await signedCall(server);
    const borrowed = await twilioStream(server, a.stream.url, {
      callSid: a.params.CallSid,
      customParameters: { ...a.stream.parameters, streamToken: b.token },
    });
    await refusedAtStart(server, borrowed);
    expect(readdirSync(server.recordingsDir)).toEqual([]);

    const own = await twilioStream(server, b.stream.url, {
      callSid: b.params.CallSid,
      customParameters: b.stream.parameters,
    });
    await own.play(tone(440, 200, 8000));
    await own.hangUp();
    expect(await endedCall(server, own.streamSid)).toMatchObject({
      status: "completed",
      callSid: b.params.CallSid,
    });
  });

  it("accepts the stream signature over the URL with :443 written out", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const { params, stream } = await signedCall(server);
    const path = new URL(stream.url).pathname;
    const sim = await TwilioSimulator.connect({
      url: `ws://127.0.0.1:${server.running.port}${path}`,
      headers: {
        "X-Twilio-Signature": computeTwilioSignature(
          TOKEN,
          `wss://callbridge.example.ngrok.app:443${path}`,
        ),
      },
      callSid: params.CallSid,
      customParameters: stream.parameters,
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
