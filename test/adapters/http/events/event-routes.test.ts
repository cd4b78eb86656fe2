import { request as httpRequest } from "node:http";
import { connect } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { createAnalytics } from "../../../../src/domain/analytics.ts";
import { endCall } from "../../../../src/domain/call.ts";
import { createTranscript, type Transcript } from "../../../../src/domain/transcript.ts";
import { eventually } from "../../../support/test-server.ts";
import { seedCall, seedRecording } from "../api/api-test-world.ts";
import {
  type EventsWorld,
  type EventsWorldOptions,
  startEventsWorld,
} from "./events-test-world.ts";
import { openSse } from "./sse-client.ts";

const API_KEY = "feed-key-0b5e";
let world: EventsWorld | null = null;

afterEach(async () => {
  await world?.close();
  world = null;
});

async function start(options: EventsWorldOptions = {}): Promise<EventsWorld> {
  world = await startEventsWorld(options);
  return world;
}

function transcript(callId: string, id: string, text: string, offsetMs = 1200): Transcript {
  return createTranscript({
    id,
    callId,
    speaker: "caller",
    text,
    offsetMs,
    createdAt: new Date("2026-01-01T10:00:02.000Z"),
  });
}

describe("the per-call feed", () => {
  it("streams transcripts, analytics, recordings and the end, in the REST API's JSON shapes", async () => {
    const w = await start();
    const call = await seedCall(w.api, { id: "call-a", outcome: "active" });
    const feed = await openSse(`${w.baseUrl}/api/calls/call-a/events`);
    expect(feed.response.status).toBe(200);
    expect(feed.response.headers.get("content-type")).toContain("text/event-stream");
    expect(feed.response.headers.get("cache-control")).toBe("no-cache");

    const turn = await w.api.repository.createTranscript(transcript(call.id, "t-1", "hello there"));
    w.hub.publish({ type: "transcript.created", transcript: turn });
    const analytics = await w.api.repository.createAnalytics(
      createAnalytics("a-1", call.id, { callerTalkMs: 1500, interruptions: 1 }, new Date()),
    );
    w.hub.publish({ type: "analytics.created", analytics });
    const { recording } = await seedRecording(w.api, call, "rec-1", { sampleCount: 160 });
    w.hub.publish({ type: "recording.created", recording });
    const ended = await w.api.repository.updateCall(
      endCall(call, "completed", new Date(call.startedAt.getTime() + 5000)),
    );
    w.hub.publish({ type: "call.ended", call: ended });

    const ofEvent = (name: string) =>
      feed.next((f) => f.event === name).then((f) => JSON.parse(f.data));
    const rest = async (path: string) =>
      (await (await fetch(`${w.baseUrl}${path}`)).json()) as { data: unknown[] };
    expect(await ofEvent("transcript")).toEqual(
      (await rest("/api/calls/call-a/transcripts")).data[0],
    );
    expect(await ofEvent("analytics")).toEqual((await rest("/api/calls/call-a/analytics")).data[0]);
    expect(await ofEvent("recording")).toEqual(
      (await rest("/api/calls/call-a/recordings")).data[0],
    );
    const endedJson = await ofEvent("call.ended");
    const {
      metadata: _m,
      recordings: _r,
      transcriptCount: _t,
      analyticsCount: _a,
      usage: _u,
      ...detail
    } = (await (await fetch(`${w.baseUrl}/api/calls/call-a`)).json()) as Record<string, unknown>;
    expect(endedJson).toEqual(detail);
    expect(endedJson.status).toBe("completed");
    const names = feed.frames.filter((f) => f.event !== "comment").map((f) => f.event);
    expect(names).toEqual(["transcript", "analytics", "recording", "call.ended"]);
    feed.close();
  });

  it("carries only its own call, while the all-calls feed carries every call", async () => {
    const w = await start();
    const a = await seedCall(w.api, { id: "call-a", outcome: "active" });
    const b = await seedCall(w.api, { id: "call-b", outcome: "active" });
    const onlyA = await openSse(`${w.baseUrl}/api/calls/call-a/events`);
    const all = await openSse(`${w.baseUrl}/api/events`);
    w.hub.publish({ type: "call.started", call: b });
    w.hub.publish({ type: "transcript.created", transcript: transcript(b.id, "t-b", "from b") });
    w.hub.publish({ type: "transcript.created", transcript: transcript(a.id, "t-a", "from a") });

    await all.next((f) => f.event === "transcript" && f.data.includes("from a"));
    expect(all.frames.filter((f) => f.event !== "comment").map((f) => f.event)).toEqual([
      "call.started",
      "transcript",
      "transcript",
    ]);
    const fromA = await onlyA.next((f) => f.event === "transcript");
    expect(JSON.parse(fromA.data).text).toBe("from a");
    expect(onlyA.frames.some((f) => f.data.includes("from b"))).toBe(false);
    onlyA.close();
    all.close();
  });

  it("answers 404 with a JSON error for an unknown call, before any stream starts", async () => {
    const w = await start();
    for (const id of ["no-such-call", "bad%20id"]) {
      const response = await fetch(`${w.baseUrl}/api/calls/${id}/events`);
      expect(response.status).toBe(404);
      expect(response.headers.get("content-type")).toContain("application/json");
      expect(((await response.json()) as { error: { code: string } }).error.code).toBe("not_found");
    }
    expect(w.hub.subscriberCount).toBe(0);
  });
});

describe("the feeds' keep-alive and clean-up", () => {
  it("sends a heartbeat comment while nothing happens", async () => {
    const w = await start({ heartbeatMs: 30 });
    const feed = await openSse(`${w.baseUrl}/api/events`);
    const first = await feed.next((f) => f.event === "comment" && f.data === "connected");
    expect(first).toBeDefined();
    await feed.next((f) => f.event === "comment" && f.data === "heartbeat");
    feed.close();
  });

  it("frees a client that disconnects at once, without waiting for a write", async () => {
    // A heartbeat an hour away: only the disconnect itself can free the subscriber.
    const w = await start({ heartbeatMs: 3_600_000 });
    const { hostname, port } = new URL(w.baseUrl);
    const req = httpRequest({ host: hostname, port, path: "/api/events" });
    const response = await new Promise<import("node:http").IncomingMessage>((resolve, reject) => {
      req.on("response", resolve);
      req.on("error", reject);
      req.end();
    });
    expect(response.statusCode).toBe(200);
    // The socket is not kept alive past the stream, so shutdown never waits on an idle one.
    expect(response.headers.connection).toBe("close");
    expect(w.hub.subscriberCount).toBe(1);
    req.on("error", () => {});
    req.destroy();
    await eventually(() => (w.hub.subscriberCount === 0 ? true : undefined), 5000, "unsubscribe");
  });

  it("cuts off a client that stops reading instead of queueing for it without bound", async () => {
    const w = await start({ maxQueued: 8, heartbeatMs: 3_600_000 });
    const call = await seedCall(w.api, { id: "call-a", outcome: "active" });
    const { hostname, port } = new URL(w.baseUrl);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve) => socket.once("connect", () => resolve()));
    socket.write(`GET /api/events HTTP/1.1\r\nHost: ${hostname}\r\n\r\n`);
    await eventually(() => (w.hub.subscriberCount === 1 ? true : undefined), 5000, "subscribed");
    // From here on the client reads nothing: the socket's buffers fill up, then the feed's queue.
    socket.pause();
    const big = transcript(call.id, "t-big", "x".repeat(64 * 1024));
    for (let sent = 0; sent < 4000 && w.hub.subscriberCount > 0; sent += 20) {
      for (let i = 0; i < 20; i++) w.hub.publish({ type: "transcript.created", transcript: big });
      await sleep(1);
    }
    expect(w.hub.subscriberCount).toBe(0);
    socket.destroy();
  });

  it("ends every open stream when the hub closes at shutdown", async () => {
    const w = await start();
    const feed = await openSse(`${w.baseUrl}/api/events`);
    await eventually(() => (w.hub.subscriberCount === 1 ? true : undefined));
    w.hub.close();
    expect(await feed.ended).toBe(true);
    expect(w.hub.subscriberCount).toBe(0);
    // A client that comes later gets a stream that ends at once.
    const late = await openSse(`${w.baseUrl}/api/events`);
    expect(await late.ended).toBe(true);
  });
});

describe("the feeds with API_KEY set", () => {
  it("accept the key as a bearer header or, since EventSource cannot send headers, as ?access_token=", async () => {
    const w = await start({ apiKey: API_KEY });
    const byHeader = await openSse(`${w.baseUrl}/api/events`, {
      authorization: `Bearer ${API_KEY}`,
    });
    expect(byHeader.response.status).toBe(200);
    const byQuery = await openSse(`${w.baseUrl}/api/events?access_token=${API_KEY}`);
    expect(byQuery.response.status).toBe(200);
    await seedCall(w.api, { id: "call-a", outcome: "active" });
    const oneCall = await openSse(`${w.baseUrl}/api/calls/call-a/events?access_token=${API_KEY}`);
    expect(oneCall.response.status).toBe(200);
    for (const feed of [byHeader, byQuery, oneCall]) feed.close();
  });

  it.each([
    ["no key", "/api/events"],
    ["a wrong ?access_token=", "/api/events?access_token=nope"],
    ["a key one character short", `/api/events?access_token=${API_KEY.slice(0, -1)}`],
    ["a wrong key on a call's feed", "/api/calls/call-a/events?access_token=nope"],
  ])("refuse %s with 401", async (_name, path) => {
    const w = await start({ apiKey: API_KEY });
    const response = await fetch(`${w.baseUrl}${path}`);
    expect(response.status).toBe(401);
    expect(w.hub.subscriberCount).toBe(0);
  });

  it("take ?access_token= on the feeds and the audio only, not on the JSON routes", async () => {
    const w = await start({ apiKey: API_KEY });
    const call = await seedCall(w.api, { id: "call-a" });
    await seedRecording(w.api, call, "rec-1", { sampleCount: 160 });
    const audio = await fetch(`${w.baseUrl}/api/recordings/rec-1/audio?access_token=${API_KEY}`);
    expect(audio.status).toBe(200);
    expect(audio.headers.get("content-type")).toBe("audio/wav");
    for (const path of ["/api/calls", "/api/calls/call-a", "/api/search?q=hello"]) {
      const response = await fetch(
        `${w.baseUrl}${path}${path.includes("?") ? "&" : "?"}access_token=${API_KEY}`,
      );
      expect(response.status, path).toBe(401);
    }
  });
});
