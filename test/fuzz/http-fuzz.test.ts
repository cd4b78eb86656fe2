import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnServer } from "../../bench/lib/child-server.ts";
import { createTranscript } from "../../src/domain/transcript.ts";
import { anyString, nastyString } from "../support/fuzz-arbitraries.ts";
import {
  type FuzzRequest,
  type FuzzResponse,
  hostileRequestHeads,
  rawStatus,
  sendRaw,
  sendRequest,
} from "../support/fuzz-http.ts";
import { watchProcessFaults } from "../support/process-faults.ts";
import { silence, tone } from "../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../support/test-server.ts";
import { playCall } from "../support/twilio-simulator.ts";

const LONG = process.env.FUZZ_LONG === "1";
const REQUESTS = LONG ? 40_000 : 4000;
const CONCURRENCY = 16;
/** The key of the second server, which fuzzes the bearer check too. */
const API_KEY = "k-fuzz-0123456789";

/** Routes of the contract; the app's own route table adds whatever else is mounted. */
const CONTRACT_ROUTES = [
  "/api/calls",
  "/api/calls/:id",
  "/api/calls/:id/transcripts",
  "/api/calls/:id/analytics",
  "/api/calls/:id/metadata",
  "/api/calls/:id/recordings",
  "/api/recordings/:id/audio",
  "/api/search",
  "/twilio/voice",
  "/twilio/media-stream",
  "/healthz",
  "/metrics",
  "/openapi.json",
];
const METHODS = ["GET", "HEAD", "DELETE", "POST", "PUT", "PATCH", "OPTIONS"];
const QUERY_KEYS = [
  "limit",
  "cursor",
  "status",
  "caller",
  "callSid",
  "streamSid",
  "since",
  "until",
  "q",
  "speaker",
  "buckets",
  "access_token",
];

/** Internals that must never reach a client unless the client itself sent them. */
const LEAKS: { name: string; pattern: RegExp }[] = [
  { name: "temp path", pattern: /\/tmp/i },
  { name: "work path", pattern: /\/work/i },
  { name: "node_modules", pattern: /node_modules/i },
  // Case-sensitive: an HTML page's <select> is not SQL.
  { name: "SQL", pattern: /\bSELECT\b|\bINSERT INTO\b|\bWHERE\b.*=/ },
  { name: "sqlite", pattern: /sqlite/i },
  { name: "stack line", pattern: /^\s*at \S.*:\d+:\d+\)?\s*$/m },
  { name: "node internals", pattern: /node:internal/i },
];

const TEXTUAL = /json|text|xml|html|javascript|event-stream/;

/** Percent-encodes only what Node refuses in a request path: `..`, `%zz` and `?` go through. */
function rawish(text: string): string {
  let out = "";
  for (const ch of text) {
    if (/^[A-Za-z0-9\-._~!$&'()*+,;=:@/%?#]$/.test(ch)) out += ch;
    else
      for (const byte of Buffer.from(ch, "utf8")) out += `%${byte.toString(16).padStart(2, "0")}`;
  }
  return out;
}

/** encodeURIComponent throws on lone surrogates; they are sent raw-encoded elsewhere. */
const wellFormed = (text: string): string => text.replace(/[\uD800-\uDFFF]/g, "?");

function describeRequest(r: FuzzRequest): string {
  const headers = JSON.stringify(r.headers ?? {}).slice(0, 300);
  const body =
    r.body === undefined ? "" : ` body(${r.body.length})=${String(r.body).slice(0, 120)}`;
  return `${r.method} ${r.path.slice(0, 300)} ${headers}${body}`;
}

/** Everything the client sent, as sent and percent-decoded (the server may echo either). */
function requestText(r: FuzzRequest): string {
  const parts = [r.path, JSON.stringify(r.headers ?? {}), String(r.body ?? "")];
  for (const encoded of [r.path, String(r.body ?? "")]) {
    // Run by run, so one broken escape does not keep the others from being decoded.
    const decoded = encoded.replaceAll("+", " ").replace(/(%[0-9a-f]{2})+/gi, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
    parts.push(decoded);
  }
  return parts.join(" ");
}

/** What is wrong with one answer, if anything. */
function problemsWith(request: FuzzRequest, response: FuzzResponse): string[] {
  const problems: string[] = [];
  if (response.status >= 500) problems.push(`status ${response.status}`);
  if (TEXTUAL.test(response.contentType) || response.contentType === "") {
    const sent = requestText(request);
    for (const leak of LEAKS) {
      if (leak.pattern.test(response.body) && !leak.pattern.test(sent)) {
        problems.push(`body shows ${leak.name}: ${response.body.slice(0, 300)}`);
      }
    }
  }
  if (
    response.status >= 400 &&
    response.contentType.includes("application/json") &&
    request.method !== "HEAD"
  ) {
    try {
      const body = JSON.parse(response.body) as { error?: { code?: unknown; message?: unknown } };
      if (typeof body.error?.code !== "string" || typeof body.error?.message !== "string") {
        problems.push(
          `error body is not {"error":{"code","message"}}: ${response.body.slice(0, 200)}`,
        );
      }
    } catch {
      problems.push(`error body is not JSON: ${response.body.slice(0, 200)}`);
    }
  }
  return problems;
}

let server: TestServer;
let keyed: TestServer;
let realIds: string[] = [];
let routes: string[] = [];
const processFaults = watchProcessFaults();

beforeAll(async () => {
  server = await startTestServer();
  keyed = await startTestServer({ API_KEY });
  const s = server;
  // Real rows and files, so that valid ids reach the handlers' deeper paths too.
  for (const caller of ["+15550001111", "+15550002222"]) {
    const summary = await playCall({
      url: s.mediaStreamUrl,
      samples8k: tone(440, 600, 8000, 0.3),
      realtime: false,
      caller,
    });
    const call = await eventually(async () => {
      const c = await s.running.composition.calls.getCallByStreamSid(summary.streamSid);
      return c && c.status !== "active" ? c : undefined;
    });
    await s.running.composition.calls.createTranscript(
      createTranscript({
        id: randomUUID(),
        callId: call.id,
        speaker: "caller",
        text: "hello I would like to book a table",
        confidence: null,
        offsetMs: null,
        interrupted: false,
        createdAt: new Date(),
      }),
    );
    const recordings = await s.running.composition.calls.getRecordingsByCallId(call.id);
    realIds.push(call.id, ...recordings.map((r) => r.id));
  }
  realIds = [...new Set(realIds)];
  const mounted = s.running.composition.app.routes
    .map((r) => r.path)
    .filter((p) => !p.includes("*") && p.startsWith("/"));
  routes = [...new Set([...CONTRACT_ROUTES, ...mounted])];
});

afterAll(async () => {
  await server?.stop();
  await keyed?.stop();
});

function requestArbitrary(): fc.Arbitrary<FuzzRequest> {
  const id = fc.oneof(
    { weight: 3, arbitrary: fc.constantFrom(...realIds) },
    { weight: 3, arbitrary: anyString(40) },
    { weight: 2, arbitrary: nastyString() },
    {
      weight: 1,
      arbitrary: fc.constantFrom(
        "..",
        "../..",
        "../../../../etc/passwd",
        "%2e%2e%2f%2e%2e%2f",
        "x".repeat(129),
        "a".repeat(5000),
        `${realIds[0]}/../${realIds[1]}`,
        `${realIds[0]}%00`,
        `${realIds[0]}.wav`,
      ),
    },
  );
  const segment = fc
    .tuple(id, fc.boolean())
    .map(([text, encode]) => (encode ? encodeURIComponent(wellFormed(text)) : rawish(text)));
  const value = fc.oneof(
    anyString(60),
    fc.integer({ min: -5, max: 100_000 }).map(String),
    fc.constantFrom(
      "2026-05-01",
      "2026-05-01T12:00:00Z",
      "1970-01-01T00:00:00+23:59",
      "-1",
      "0",
      "201",
    ),
    fc.constantFrom("eyJzIjoxLCJpIjoiYSJ9", "eyJvIjoxMDAwMX0", "e30", "AAAA", "%", "%zz"),
    nastyString(),
  );
  const query = fc
    .tuple(
      fc.array(
        fc.tuple(fc.oneof(fc.constantFrom(...QUERY_KEYS), anyString(8)), value, fc.boolean()),
        { maxLength: 6 },
      ),
      fc.nat(20),
    )
    .map(([pairs, huge]) => {
      const parts = pairs.map(([k, v, encode]) =>
        encode
          ? `${encodeURIComponent(wellFormed(k))}=${encodeURIComponent(wellFormed(v))}`
          : `${rawish(k)}=${rawish(v)}`,
      );
      // Now and then, a query string far longer than any client needs.
      if (huge === 0) parts.push(`q=${"a".repeat(12_000)}`);
      if (huge === 1) parts.push(Array.from({ length: 2000 }, (_, i) => `k${i}=v`).join("&"));
      return parts.length === 0 ? "" : `?${parts.join("&")}`;
    });
  const range = fc.oneof(
    fc.constantFrom(
      "bytes=0-0",
      "bytes=0-",
      "bytes=-1",
      "bytes=44-99",
      "bytes=99999999-",
      "bytes=-0",
    ),
    fc.constantFrom(
      "bytes=5-1",
      "bytes=0-1,2-3",
      "bytes=x-y",
      "bytes=-",
      "bytes=99999999999999999999999-",
    ),
    anyString(30).map((t) => `bytes=${t}`),
  );
  const headerValue = (arb: fc.Arbitrary<string>) =>
    arb.map((t) => t.replace(/[^\x20-\x7e]/g, "").slice(0, 2000));
  const headers = fc.record(
    {
      range: headerValue(range),
      "if-range": headerValue(anyString(20)),
      authorization: headerValue(
        fc.oneof(
          anyString(40),
          fc.constantFrom("Bearer ", "Basic x", `Bearer ${API_KEY}`, `bearer  ${API_KEY}`),
          anyString(20).map((t) => `Bearer ${API_KEY}${t}`),
        ),
      ),
      "content-type": fc.constantFrom(
        "application/x-www-form-urlencoded",
        "application/json",
        "multipart/form-data; boundary=x",
        "multipart/form-data",
        "text/plain",
        "application/x-www-form-urlencoded; charset=utf-16",
      ),
      "x-forwarded-proto": fc.constantFrom("https", "http", "gopher", "https, http", ""),
      "x-twilio-signature": headerValue(anyString(30)),
      accept: fc.constantFrom("*/*", "text/event-stream", "application/json", "text/html"),
    },
    { requiredKeys: [] },
  );
  const formBody = fc
    .dictionary(
      fc.oneof(
        fc.constantFrom("From", "To", "CallSid", "FromCountry", "FromState", "FromCity"),
        anyString(10),
      ),
      fc.oneof(anyString(60), nastyString()),
      { maxKeys: 6 },
    )
    .map((fields) =>
      new URLSearchParams(
        Object.entries(fields).map(([k, v]): [string, string] => [wellFormed(k), wellFormed(v)]),
      ).toString(),
    );
  const body = fc.oneof(
    { weight: 4, arbitrary: formBody },
    { weight: 2, arbitrary: anyString(200) },
    { weight: 1, arbitrary: fc.json() },
    {
      weight: 1,
      arbitrary: fc.constant(
        '--x\r\nContent-Disposition: form-data; name="From"\r\n\r\n+1\r\n--x--\r\n',
      ),
    },
    { weight: 1, arbitrary: fc.constant("--x\r\nbroken") },
    { weight: 1, arbitrary: fc.nat(20).map((n) => (n === 0 ? "A".repeat(1_100_000) : "")) },
  );
  // GET reaches the most handler code, so it is drawn most often.
  const method = fc.oneof(
    { weight: 6, arbitrary: fc.constant("GET") },
    { weight: 2, arbitrary: fc.constant("POST") },
    { weight: 2, arbitrary: fc.constantFrom(...METHODS) },
  );
  return fc
    .tuple(
      fc.constantFrom(...routes),
      method,
      segment,
      query,
      headers,
      fc.option(body, { nil: undefined }),
    )
    .map(([route, method, idSegment, q, h, b]) => {
      const path = route.replace(/:[A-Za-z]+/g, idSegment) + q;
      const withBody = b !== undefined && method !== "GET" && method !== "HEAD";
      return {
        method,
        path,
        headers: { ...h, ...(withBody ? { "content-length": String(Buffer.byteLength(b)) } : {}) },
        ...(withBody ? { body: b } : {}),
      };
    });
}

async function runAll(port: number, requests: FuzzRequest[]): Promise<string[]> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  const failures: string[] = [];
  let next = 0;
  const worker = async () => {
    while (next < requests.length) {
      const request = requests[next++]!;
      try {
        const response = await sendRequest(port, request, { agent });
        for (const problem of problemsWith(request, response)) {
          failures.push(`${describeRequest(request)} -> ${problem}`);
        }
      } catch (error) {
        // A refused or reset connection is a legitimate answer to a hostile request
        // (Node closes on malformed input); a server that stopped answering is caught below.
        if (!(error instanceof Error) || !/ECONNRESET|socket hang up|EPIPE/.test(error.message)) {
          failures.push(`${describeRequest(request)} -> ${String(error)}`);
        }
      }
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  agent.destroy();
  return failures;
}

describe("HTTP fuzzing of every route", () => {
  it(`answers ${REQUESTS} hostile requests without a 5xx or a leaked internal`, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const requests = fc.sample(requestArbitrary(), { numRuns: REQUESTS, seed });
    const failures = await runAll(server.running.port, requests);
    expect(failures.slice(0, 20), `seed ${seed} (set FUZZ_SEED to replay)`).toEqual([]);
    expect(processFaults).toEqual([]);

    const health = await fetch(`${server.baseUrl}/healthz`);
    expect(health.status).toBe(200);
  }, 120_000);

  it(`answers ${REQUESTS / 4} hostile requests to a server with an API key the same way`, async () => {
    const seed = Number(process.env.FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const requests = fc.sample(requestArbitrary(), { numRuns: REQUESTS / 4, seed });
    const failures = await runAll(keyed.running.port, requests);
    expect(failures.slice(0, 20), `seed ${seed} (set FUZZ_SEED to replay)`).toEqual([]);
    expect(processFaults).toEqual([]);
    expect((await fetch(`${keyed.baseUrl}/healthz`)).status).toBe(200);
  }, 120_000);

  it("answers request heads no client sends, and the process stays healthy", async () => {
    for (const head of hostileRequestHeads()) {
      const { response, timedOut } = await sendRaw(server.running.port, head, 3000);
      const status = rawStatus(response);
      // Either an answer that is not a server error, or a plain close; never silence.
      if (status === 101) continue;
      expect(timedOut, `no answer to ${JSON.stringify(head.slice(0, 120))}`).toBe(false);
      if (status !== null) expect(status, JSON.stringify(head.slice(0, 120))).toBeLessThan(500);
    }
    expect(processFaults).toEqual([]);
    expect((await fetch(`${server.baseUrl}/healthz`)).status).toBe(200);
  });
});

describe("a production process under hostile request heads", () => {
  it("stays up: no request target or upgrade request can end it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "callbridge-fuzz-http-"));
    const child = await spawnServer({
      databasePath: join(dir, "calls.db"),
      recordingsDir: join(dir, "recordings"),
    });
    try {
      for (const head of hostileRequestHeads()) {
        await sendRaw(child.port, head, 1000);
        expect(
          child.alive,
          `the process died after ${JSON.stringify(head.slice(0, 120))}\n${child.stderr().slice(-1500)}`,
        ).toBe(true);
      }
      // A call still works afterwards.
      const summary = await playCall({
        url: child.mediaStreamUrl,
        samples8k: silence(200, 8000),
        realtime: false,
      });
      expect(summary.framesSent).toBe(10);
      expect((await fetch(`${child.baseUrl}/healthz`)).status).toBe(200);
      expect(child.stderr()).not.toMatch(/TypeError|Unhandled|uncaught/i);
    } finally {
      await child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
