import { afterEach, describe, expect, it } from "vitest";
import {
  ErrorJson,
  SignedUrlJson,
  type SignedUrlJson as SignedUrlShape,
} from "../../../../src/adapters/http/api/json-schemas.ts";
import { UrlSigner } from "../../../../src/adapters/http/api/signed-urls.ts";
import { type EventsWorld, startEventsWorld } from "../events/events-test-world.ts";
import { openSse } from "../events/sse-client.ts";
import { type ApiWorld, createApiWorld, seedCall, seedRecording } from "./api-test-world.ts";

const API_KEY = "signing-key-5d0a-with-entropy";
const AUDIO = "/api/recordings/rec-1/audio";
const bearer = { authorization: `Bearer ${API_KEY}` };

let world: ApiWorld | null = null;
let events: EventsWorld | null = null;
afterEach(async () => {
  await world?.close();
  world = null;
  await events?.close();
  events = null;
});

async function worldWithRecording(): Promise<ApiWorld> {
  world = createApiWorld({ apiKey: API_KEY });
  const call = await seedCall(world, { id: "call-a" });
  await seedRecording(world, call, "rec-1", { sampleCount: 160 });
  await seedRecording(world, call, "rec-2", { sampleCount: 160, track: "conversation" });
  return world;
}

async function mint(w: ApiWorld, path: string): Promise<SignedUrlShape> {
  const response = await w.request("/api/signed-urls", {
    method: "POST",
    headers: { ...bearer, "content-type": "application/json" },
    body: JSON.stringify({ path }),
  });
  expect(response.status).toBe(200);
  return SignedUrlJson.parse(await response.json());
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

const B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
/** The same 32 bytes with the last character's two unused low bits flipped. */
function respelled(sig: string): string {
  const last = B64URL.indexOf(sig.at(-1) ?? "A");
  const other = B64URL[last ^ 1] ?? "A";
  expect(Buffer.from(`${sig.slice(0, -1)}${other}`, "base64url")).toEqual(
    Buffer.from(sig, "base64url"),
  );
  return `${sig.slice(0, -1)}${other}`;
}

describe("POST /api/signed-urls", () => {
  it("signs a recording's audio for an hour and a feed for ten minutes, without the key", async () => {
    const w = await worldWithRecording();
    for (const [path, ttl] of [
      [AUDIO, 3600],
      ["/api/events", 600],
      ["/api/calls/call-a/events", 600],
    ] as const) {
      const signed = await mint(w, path);
      const url = new URL(signed.url, "http://x");
      expect(url.pathname).toBe(path);
      expect([...url.searchParams.keys()].sort()).toEqual(["expires", "sig"]);
      expect(signed.url).not.toContain(API_KEY);
      const expires = Number(url.searchParams.get("expires"));
      expect(Math.abs(expires - (nowSeconds() + ttl))).toBeLessThanOrEqual(2);
      expect(Date.parse(signed.expiresAt)).toBe(expires * 1000);
    }
  });

  it("needs the key itself: no key, a signed URL or ?access_token= cannot mint one", async () => {
    const w = await worldWithRecording();
    const signed = await mint(w, AUDIO);
    for (const path of [
      "/api/signed-urls",
      `/api/signed-urls?access_token=${API_KEY}`,
      `/api/signed-urls?${new URL(signed.url, "http://x").searchParams}`,
    ]) {
      const response = await w.request(path, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ path: AUDIO }),
      });
      expect(response.status, path).toBe(401);
    }
  });

  it.each([
    ["a JSON route", { path: "/api/calls/call-a" }],
    ["the signing route itself", { path: "/api/signed-urls" }],
    ["a path with a query", { path: `${AUDIO}?x=1` }],
    ["a relative path", { path: "recordings/rec-1/audio" }],
    ["an id outside the id alphabet", { path: "/api/recordings/../audio" }],
    ["no path", {}],
    ["a number", { path: 7 }],
  ])("refuses %s with a 400 naming path", async (_name, body) => {
    const w = await worldWithRecording();
    const response = await w.request("/api/signed-urls", {
      method: "POST",
      headers: { ...bearer, "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    expect(response.status).toBe(400);
    expect(ErrorJson.parse(await response.json()).error.message).toMatch(/^path: /);
  });

  it("refuses a body that is not JSON with a 400", async () => {
    const w = await worldWithRecording();
    const response = await w.request("/api/signed-urls", {
      method: "POST",
      headers: bearer,
      body: "path=/api/events",
    });
    expect(response.status).toBe(400);
    expect(ErrorJson.parse(await response.json()).error.message).toMatch(/^body: /);
  });
});

describe("a signed URL", () => {
  it("opens the audio it was made for, Range requests included, kept out of caches", async () => {
    const w = await worldWithRecording();
    const signed = await mint(w, AUDIO);
    const whole = await w.request(signed.url);
    expect(whole.status).toBe(200);
    expect(whole.headers.get("content-type")).toBe("audio/wav");
    expect(whole.headers.get("cache-control")).toBe("private, no-store");
    const part = await w.request(signed.url, { headers: { range: "bytes=0-43" } });
    expect(part.status).toBe(206);
    expect((await part.arrayBuffer()).byteLength).toBe(44);
  });

  it("opens a feed over a real socket, which another call's URL does not", async () => {
    events = await startEventsWorld({ apiKey: API_KEY });
    await seedCall(events.api, { id: "call-a", outcome: "active" });
    await seedCall(events.api, { id: "call-b", outcome: "active" });
    const signed = await mint(events.api, "/api/calls/call-a/events");
    const feed = await openSse(`${events.baseUrl}${signed.url}`);
    expect(feed.response.status).toBe(200);
    expect(feed.response.headers.get("cache-control")).toBe("private, no-store");
    feed.close();
    const query = new URL(signed.url, "http://x").search;
    const other = await fetch(`${events.baseUrl}/api/calls/call-b/events${query}`);
    expect(other.status).toBe(401);
    expect(events.hub.subscriberCount).toBe(0);
  });

  it("is refused once expired, with its expiry or signature changed, or from another key", async () => {
    const w = await worldWithRecording();
    const signer = UrlSigner.forApiKey(API_KEY);
    const expired = signer.signUntil(AUDIO, nowSeconds() - 1).url;
    const valid = new URL((await mint(w, AUDIO)).url, "http://x");
    const expires = valid.searchParams.get("expires") ?? "";
    const sig = valid.searchParams.get("sig") ?? "";
    const flipped = `${sig.slice(0, 10)}${sig[10] === "A" ? "B" : "A"}${sig.slice(11)}`;
    const cases: [string, string][] = [
      ["expired", expired],
      ["expiry moved later", `${AUDIO}?expires=${Number(expires) + 60}&sig=${sig}`],
      ["one signature character changed", `${AUDIO}?expires=${expires}&sig=${flipped}`],
      ["signature cut short", `${AUDIO}?expires=${expires}&sig=${sig.slice(0, -1)}`],
      // The last of 43 base64url characters carries 2 unused bits: another spelling, same bytes.
      ["the last character re-spelled", `${AUDIO}?expires=${expires}&sig=${respelled(sig)}`],
      ["no expiry", `${AUDIO}?sig=${sig}`],
      ["an empty signature", `${AUDIO}?expires=${expires}&sig=`],
      ["another key", UrlSigner.forApiKey(`${API_KEY}x`).sign(AUDIO).url],
      ["a far-future expiry", signer.signUntil(AUDIO, nowSeconds() + 86_400).url],
    ];
    for (const [name, url] of cases) {
      const response = await w.request(url);
      expect(response.status, name).toBe(401);
      expect(ErrorJson.parse(await response.json()).error.code).toBe("unauthorized");
    }
  });

  it("opens only its own path: not another recording, nor a JSON route", async () => {
    const w = await worldWithRecording();
    const query = new URL((await mint(w, AUDIO)).url, "http://x").search;
    for (const path of [
      "/api/recordings/rec-2/audio",
      "/api/calls/call-a",
      "/api/calls",
      "/api/calls/call-a/recordings",
      "/api/events",
    ]) {
      expect((await w.request(`${path}${query}`)).status, path).toBe(401);
    }
  });

  it("is for GET only: not HEAD, DELETE or POST on the same path", async () => {
    const w = await worldWithRecording();
    const signed = await mint(w, AUDIO);
    for (const method of ["HEAD", "DELETE", "POST", "PUT"]) {
      expect((await w.request(signed.url, { method })).status, method).toBe(401);
    }
    // A signature for a call's feed cannot delete that call either.
    const feed = new URL((await mint(w, "/api/calls/call-a/events")).url, "http://x").search;
    expect((await w.request(`/api/calls/call-a${feed}`, { method: "DELETE" })).status).toBe(401);
    expect((await w.request("/api/calls/call-a", { headers: bearer })).status).toBe(200);
  });

  it("made by one process is accepted by another started with the same API_KEY", async () => {
    const first = await worldWithRecording();
    const signed = await mint(first, AUDIO);
    const second = createApiWorld({ apiKey: API_KEY });
    try {
      const call = await seedCall(second, { id: "call-a" });
      await seedRecording(second, call, "rec-1", { sampleCount: 160 });
      expect((await second.request(signed.url)).status).toBe(200);
    } finally {
      second.close();
    }
  });

  it("does not rescue a wrong Authorization header", async () => {
    const w = await worldWithRecording();
    const signed = await mint(w, AUDIO);
    const response = await w.request(signed.url, { headers: { authorization: "Bearer wrong" } });
    expect(response.status).toBe(401);
  });
});

describe("UrlSigner", () => {
  it("checks the expiry against its clock, to the second", () => {
    let now = 1_800_000_000_000;
    const signer = UrlSigner.forApiKey(API_KEY, () => now);
    const url = new URL(signer.sign(AUDIO).url, "http://x");
    const expires = url.searchParams.get("expires") ?? "";
    const sig = url.searchParams.get("sig") ?? "";
    expect(Number(expires)).toBe(1_800_000_000 + 3600);
    expect(signer.verify("GET", AUDIO, expires, sig)).toBe(true);
    now += 3600 * 1000;
    expect(signer.verify("GET", AUDIO, expires, sig)).toBe(true);
    now += 1000;
    expect(signer.verify("GET", AUDIO, expires, sig)).toBe(false);
  });

  it("signs only what a browser loads without headers", () => {
    const signer = UrlSigner.random();
    for (const path of ["/api/calls", "/api/calls/a", "/api/search", "/api/signed-urls", "/"]) {
      expect(UrlSigner.canSign(path), path).toBe(false);
      expect(() => signer.sign(path)).toThrow();
    }
  });
});
