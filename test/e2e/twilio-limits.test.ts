import { type ClientRequest, type IncomingMessage, request } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import { computeTwilioSignature } from "../../src/adapters/twilio/signature.ts";
import { LogCapture } from "../support/log-capture.ts";
import { tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { randomSid, TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * Issue 17: what a Twilio endpoint refuses, and how early. A webhook is a few KB in ~30 fields,
 * so a large or many-field body, or one without a signature where signatures are checked, is
 * refused before it is parsed or signed; a media stream that never starts, or one too many, is
 * closed.
 */

const TOKEN = "limits-auth-token-0123456789abcdef";
const PUBLIC = "https://callbridge.example.ngrok.app";
const KIB = 1024;

let server: TestServer | null = null;
const opened: { close(): void }[] = [];
afterEach(async () => {
  for (const socket of opened.splice(0)) socket.close();
  await server?.stop();
  server = null;
});

interface Answer {
  status: number;
  body: string;
}

function answerOf(req: ClientRequest, waitMs = 8000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error(`no answer within ${waitMs} ms`));
    }, waitMs);
    req.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    req.on("response", (res: IncomingMessage) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        body += chunk;
      });
      res.on("end", () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
  });
}

/** A form post to /twilio/voice; `chunked` sends it without Content-Length, in 8 KiB pieces. */
function postForm(
  s: TestServer,
  body: string,
  headers: Record<string, string> = {},
  { chunked = false } = {},
): Promise<Answer> {
  const req = request(`${s.baseUrl}/twilio/voice`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded", ...headers },
  });
  const answer = answerOf(req);
  if (chunked) {
    for (let at = 0; at < body.length; at += 8 * KIB) req.write(body.slice(at, at + 8 * KIB));
    req.end();
  } else {
    req.setHeader("Content-Length", Buffer.byteLength(body));
    req.end(body);
  }
  // The server may answer and close before the whole body is sent; the answer is what counts.
  req.on("error", () => undefined);
  return answer;
}

/** Twilio's fields for an incoming call, plus `extra` fields f0..fN. */
function webhook(extra = 0, filler = ""): Record<string, string> {
  const params: Record<string, string> = {
    AccountSid: randomSid("AC"),
    CallSid: randomSid("CA"),
    From: "+15551230000",
    To: "+18005551212",
  };
  for (let i = 0; i < extra; i++) params[`f${i}`] = "x";
  if (filler) params.Filler = filler;
  return params;
}

const formOf = (params: Record<string, string>) => new URLSearchParams(params).toString();
const signatureOf = (params: Record<string, string>) =>
  computeTwilioSignature(TOKEN, `${PUBLIC}/twilio/voice`, params);

function expectTooLarge(answer: Answer) {
  expect(answer.status).toBe(413);
  expect(JSON.parse(answer.body)).toMatchObject({ error: { code: "payload_too_large" } });
}

describe("POST /twilio/voice limits", () => {
  it("refuses a body over 64 KiB with 413, even when validly signed", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const big = webhook(0, "x".repeat(65 * KIB));
    expectTooLarge(await postForm(server, formOf(big), { "X-Twilio-Signature": signatureOf(big) }));
    // Without Content-Length the bytes are counted as they arrive.
    expectTooLarge(
      await postForm(
        server,
        formOf(big),
        { "X-Twilio-Signature": signatureOf(big) },
        { chunked: true },
      ),
    );
    // Just under the limit, it is an ordinary webhook.
    const fits = webhook(0, "x".repeat(60 * KIB));
    const answer = await postForm(server, formOf(fits), {
      "X-Twilio-Signature": signatureOf(fits),
    });
    expect(answer.status).toBe(200);
  });

  it("refuses a form of more than 100 fields with 413, before checking its signature", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const many = webhook(97); // 101 fields, about 1.5 KB
    expect(Object.keys(many)).toHaveLength(101);
    expectTooLarge(
      await postForm(server, formOf(many), { "X-Twilio-Signature": signatureOf(many) }),
    );
    expectTooLarge(
      await postForm(server, formOf(many), { "X-Twilio-Signature": "bogus" }, { chunked: true }),
    );
    const hundred = webhook(96);
    const answer = await postForm(server, formOf(hundred), {
      "X-Twilio-Signature": signatureOf(hundred),
    });
    expect(answer.status).toBe(200);
  });

  it("applies the field and size limits without TWILIO_AUTH_TOKEN too", async () => {
    server = await startTestServer();
    expectTooLarge(await postForm(server, formOf(webhook(200))));
    expectTooLarge(await postForm(server, formOf(webhook(0, "x".repeat(100 * KIB)))));
    expect((await postForm(server, formOf(webhook(20)))).status).toBe(200);
  });

  it("takes its size limit from TWILIO_MAX_BODY_BYTES", async () => {
    server = await startTestServer({ TWILIO_MAX_BODY_BYTES: "2048" });
    expectTooLarge(await postForm(server, formOf(webhook(0, "x".repeat(3000)))));
    expectTooLarge(
      await postForm(server, formOf(webhook(0, "x".repeat(3000))), {}, { chunked: true }),
    );
    expect((await postForm(server, formOf(webhook(0, "x".repeat(1500))))).status).toBe(200);
  });

  it("refuses a webhook without X-Twilio-Signature before its body is sent", async () => {
    server = await startTestServer({ TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC });
    const body = formOf(webhook());
    const req = request(`${server.baseUrl}/twilio/voice`, {
      method: "POST",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "Content-Length": String(Buffer.byteLength(body)),
      },
    });
    req.on("error", () => undefined);
    const answer = answerOf(req);
    // Headers only: the body is sent only after the answer has come.
    req.flushHeaders();
    const { status, body: json } = await answer;
    expect(status).toBe(403);
    expect(JSON.parse(json)).toMatchObject({ error: { code: "forbidden" } });
    req.end(body);
  });
});

/** A bare socket on the media-stream path that sends only what a test tells it to. */
async function rawSocket(url: string) {
  const ws = new WebSocket(url);
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  ws.on("error", () => {
    // Surfaces as the close code.
  });
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  opened.push(ws);
  return { ws, closed };
}

/** Waits for `promise`, failing after `ms` (the behaviour under test would otherwise hang). */
function within<T>(promise: Promise<T>, ms: number, label: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${label}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}

async function errorCount(s: TestServer, kind: string): Promise<number> {
  const text = await (await fetch(`${s.baseUrl}/metrics`)).text();
  const line = new RegExp(`^callbridge_errors_total\\{kind="${kind}"\\} (\\d+)`, "m").exec(text);
  return Number(line?.[1] ?? 0);
}

describe("media streams that hold a slot", () => {
  it("closes a stream with 1008 when no start comes within MEDIA_STREAM_START_TIMEOUT_SECONDS", async () => {
    server = await startTestServer({ MEDIA_STREAM_START_TIMEOUT_SECONDS: "1" });
    const silent = await rawSocket(server.mediaStreamUrl);
    const chatty = await rawSocket(server.mediaStreamUrl);
    chatty.ws.send(JSON.stringify({ event: "connected", protocol: "Call", version: "1.0.0" }));
    const media = { track: "inbound", chunk: "1", timestamp: "0", payload: "/////w==" };
    chatty.ws.send(JSON.stringify({ event: "media", streamSid: randomSid("MZ"), media }));
    // A call that starts at once is not cut by the timer, however long it lasts.
    const call = await TwilioSimulator.connect({ url: server.mediaStreamUrl });
    await call.play(tone(440, 1500, 8000));

    expect(await within(silent.closed, 8000, "silent socket")).toEqual({
      code: 1008,
      reason: "no start",
    });
    expect((await within(chatty.closed, 8000, "chatty socket")).code).toBe(1008);
    expect(call.isOpen).toBe(true);
    expect((await call.hangUp()).code).toBe(1000);
    expect(await errorCount(server, "frame_start_timeout")).toBe(2);
  });

  it("closes streams beyond MAX_MEDIA_STREAMS with 1013 and counts them", async () => {
    server = await startTestServer({ MAX_MEDIA_STREAMS: "2" });
    const s = server;
    const first = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: false });
    const second = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: false });
    await first.play(tone(440, 200, 8000));
    await second.play(tone(440, 200, 8000));

    const third = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: false });
    expect(await within(third.finished, 8000, "third stream")).toEqual({
      code: 1013,
      reason: "try again later",
    });
    expect(await s.running.composition.calls.getCallByStreamSid(third.streamSid)).toBeNull();
    expect(await errorCount(s, "frame_too_many_streams")).toBe(1);
    expect(first.isOpen && second.isOpen).toBe(true);

    // A slot freed by a hang-up is taken by the next stream.
    await first.hangUp();
    await eventually(async () =>
      s.running.composition.callManager.activeCount === 1 ? true : undefined,
    );
    const fourth = await TwilioSimulator.connect({ url: s.mediaStreamUrl, realtime: false });
    await fourth.play(tone(440, 200, 8000));
    await eventually(async () =>
      (await s.running.composition.calls.getCallByStreamSid(fourth.streamSid)) ? true : undefined,
    );
    expect(fourth.isOpen).toBe(true);
    await fourth.hangUp();
    await second.hangUp();
  });
});

describe("start-up warnings", () => {
  it("warns when signatures are checked but PUBLIC_BASE_URL is unset", async () => {
    const log = new LogCapture();
    server = await startTestServer(
      { TWILIO_AUTH_TOKEN: TOKEN, LOG_LEVEL: "warn" },
      { logDestination: log },
    );
    const warned = () =>
      log.lines.filter((line) => String(line.msg).startsWith("PUBLIC_BASE_URL is unset"));
    expect(warned()).toHaveLength(1);
    await server.stop();

    const quiet = new LogCapture();
    server = await startTestServer(
      { TWILIO_AUTH_TOKEN: TOKEN, PUBLIC_BASE_URL: PUBLIC, LOG_LEVEL: "warn" },
      { logDestination: quiet },
    );
    expect(quiet.lines.filter((line) => String(line.msg).includes("PUBLIC_BASE_URL"))).toEqual([]);
  });
});
