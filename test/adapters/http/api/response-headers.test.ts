import { afterEach, describe, expect, it } from "vitest";
import { createHttpApp } from "../../../../src/adapters/http/app.ts";
import { metricsRoutes } from "../../../../src/adapters/http/metrics-routes.ts";
import { createLogger } from "../../../../src/adapters/logging/pino-logger.ts";
import { type ApiWorld, createApiWorld, seedCall, seedRecording } from "./api-test-world.ts";

const API_KEY = "headers-key-93a1";
const bearer = { authorization: `Bearer ${API_KEY}` };

let world: ApiWorld;
afterEach(() => world.close());

async function seeded(apiKey?: string): Promise<ApiWorld> {
  world = createApiWorld({ apiKey });
  const call = await seedCall(world, { id: "call-a" });
  await seedRecording(world, call, "rec-1", { sampleCount: 160 });
  return world;
}

function expectHeaders(response: Response, cacheControl: string, what: string) {
  expect(response.headers.get("x-content-type-options"), what).toBe("nosniff");
  expect(response.headers.get("cache-control"), what).toBe(cacheControl);
}

describe("headers on every answer", () => {
  it("JSON API answers, their errors included, are nosniff and no-store", async () => {
    const w = await seeded(API_KEY);
    const cases: [string, RequestInit, number][] = [
      ["/api/calls", { headers: bearer }, 200],
      ["/api/calls/call-a", { headers: bearer }, 200],
      ["/api/calls/call-a/transcripts", { headers: bearer }, 200],
      ["/api/search?q=hello", { headers: bearer }, 200],
      ["/api/calls?limit=0", { headers: bearer }, 400],
      ["/api/calls", {}, 401],
      ["/api/calls/nope", { headers: bearer }, 404],
      ["/api/no-such-route", { headers: bearer }, 404],
      ["/no-such-page", {}, 404],
    ];
    for (const [path, init, status] of cases) {
      const response = await w.request(path, init);
      expect(response.status, path).toBe(status);
      expectHeaders(response, "no-store", path);
    }
  });

  it("/healthz and /metrics are nosniff and no-store", async () => {
    world = createApiWorld();
    expectHeaders(await world.request("/healthz"), "no-store", "/healthz");
    const app = createHttpApp({
      logger: createLogger("silent"),
      health: { calls: world.repository, recordings: world.store, activeCalls: () => 0 },
      mounts: [
        {
          prefix: "/",
          routes: metricsRoutes({
            render: async () => ({ contentType: "text/plain; version=0.0.4", body: "x 1\n" }),
          }),
        },
      ],
    });
    const metrics = await app.request("/metrics");
    expect(metrics.status).toBe(200);
    expectHeaders(metrics, "no-store", "/metrics");
  });

  it("/openapi.json may be cached but is revalidated, by its ETag", async () => {
    world = createApiWorld();
    const first = await world.request("/openapi.json");
    expect(first.status).toBe(200);
    expectHeaders(first, "public, no-cache", "/openapi.json");
    const etag = first.headers.get("etag") ?? "";
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await world.request("/openapi.json", { headers: { "if-none-match": etag } });
    expect(again.status).toBe(304);
    expect(again.headers.get("etag")).toBe(etag);
  });

  it("audio fetched with ?access_token= is private and no-store; with the header, no-store", async () => {
    const w = await seeded(API_KEY);
    const byQuery = await w.request(`/api/recordings/rec-1/audio?access_token=${API_KEY}`);
    expect(byQuery.status).toBe(200);
    expectHeaders(byQuery, "private, no-store", "?access_token=");
    const ranged = await w.request(`/api/recordings/rec-1/audio?access_token=${API_KEY}`, {
      headers: { range: "bytes=0-9" },
    });
    expect(ranged.status).toBe(206);
    expectHeaders(ranged, "private, no-store", "?access_token= with a Range");
    const byHeader = await w.request("/api/recordings/rec-1/audio", { headers: bearer });
    expect(byHeader.status).toBe(200);
    expectHeaders(byHeader, "no-store", "bearer header");
  });
});
