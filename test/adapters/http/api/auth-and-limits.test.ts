import { afterEach, describe, expect, it } from "vitest";
import { CallPageJson, ErrorJson } from "../../../../src/adapters/http/api/json-schemas.ts";
import {
  type ApiWorld,
  createApiWorld,
  describeEachBackend,
  internalsIn,
  seedCall,
} from "./api-test-world.ts";

let world: ApiWorld;
afterEach(() => world.close());

const API_KEY = "s3cret-key-with-enough-entropy";

describe("bearer authentication when API_KEY is set", () => {
  it.each([
    ["no Authorization header", undefined],
    ["a wrong token", "Bearer wrong"],
    ["a token that is a prefix of the key", `Bearer ${API_KEY.slice(0, 5)}`],
    ["the key with a suffix", `Bearer ${API_KEY}x`],
    ["another scheme", `Basic ${Buffer.from(`u:${API_KEY}`).toString("base64")}`],
    ["the bare key", API_KEY],
    ["an empty bearer", "Bearer "],
  ])("answers 401 with a JSON error for %s", async (_name, authorization) => {
    world = createApiWorld({ apiKey: API_KEY });
    const headers: Record<string, string> = authorization ? { authorization } : {};
    for (const path of ["/api/calls", "/api/calls/x", "/api/search?q=a", "/api/no-such-route"]) {
      const response = await world.request(path, { headers });
      expect(response.status).toBe(401);
      expect(response.headers.get("www-authenticate")).toBe('Bearer realm="callbridge"');
      expect(ErrorJson.parse(await response.json()).error.code).toBe("unauthorized");
    }
    const del = await world.request("/api/calls/x", { method: "DELETE", headers });
    expect(del.status).toBe(401);
  });

  it("answers 200 with the right token, in any case of the scheme name", async () => {
    world = createApiWorld({ apiKey: API_KEY });
    await seedCall(world, { id: "a" });
    for (const scheme of ["Bearer", "bearer"]) {
      const response = await world.request("/api/calls", {
        headers: { authorization: `${scheme} ${API_KEY}` },
      });
      expect(response.status).toBe(200);
      expect(CallPageJson.parse(await response.json()).data).toHaveLength(1);
    }
  });

  it("leaves /healthz and /openapi.json open", async () => {
    world = createApiWorld({ apiKey: API_KEY });
    expect((await world.request("/healthz")).status).toBe(200);
    expect((await world.request("/openapi.json")).status).toBe(200);
  });

  it("needs no token when API_KEY is unset", async () => {
    world = createApiWorld();
    expect((await world.request("/api/calls")).status).toBe(200);
  });
});

describe("request body limit", () => {
  const LIMIT = 2048;

  it("answers 413 with a JSON error for an /api body over the limit", async () => {
    world = createApiWorld({ maxBodyBytes: LIMIT });
    await seedCall(world, { id: "kept" });
    const response = await world.request("/api/calls/kept", {
      method: "DELETE",
      body: "x".repeat(LIMIT + 1),
    });
    expect(response.status).toBe(413);
    expect(ErrorJson.parse(await response.json()).error.code).toBe("payload_too_large");
    expect((await world.request("/api/calls/kept")).status).toBe(200);
  });

  it("checks the body before authentication would matter and before any handler runs", async () => {
    world = createApiWorld({ maxBodyBytes: LIMIT, apiKey: API_KEY });
    const response = await world.request("/api/calls", {
      method: "POST",
      headers: { authorization: `Bearer ${API_KEY}` },
      body: "x".repeat(LIMIT * 4),
    });
    expect(response.status).toBe(413);
  });

  it("answers 413 for a /twilio body over the limit, before the Twilio route reads it", async () => {
    world = createApiWorld({ maxBodyBytes: LIMIT });
    const big = await world.request("/twilio/voice", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: `From=${"1".repeat(LIMIT)}`,
    });
    expect(big.status).toBe(413);
    expect(ErrorJson.parse(await big.json()).error.code).toBe("payload_too_large");
    expect(world.twilioBodies).toEqual([]);
    const small = await world.request("/twilio/voice", {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "From=%2B15550001111",
    });
    expect(small.status).toBe(200);
    expect(world.twilioBodies).toEqual(["From=%2B15550001111"]);
  });

  it("counts a streamed body without Content-Length as it arrives", async () => {
    world = createApiWorld({ maxBodyBytes: LIMIT });
    const chunk = new TextEncoder().encode("y".repeat(1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 8) controller.enqueue(chunk);
        else controller.close();
      },
    });
    const response = await world.request("/twilio/voice", {
      method: "POST",
      body,
      duplex: "half",
    } as RequestInit);
    expect(response.status).toBe(413);
    expect(world.twilioBodies).toEqual([]);
  });
});

describeEachBackend("failures of the database", (backend) => {
  it("answers 503 with no SQL, stack or paths when the database is gone", async () => {
    world = await backend.createWorld();
    await seedCall(world, { id: "a" });
    await world.loseDatabase();
    for (const path of ["/api/calls", "/api/calls/a", "/api/search?q=a"]) {
      const response = await world.request(path);
      expect(response.status).toBe(503);
      const text = await response.text();
      expect(ErrorJson.parse(JSON.parse(text)).error.code).toBe("storage_unavailable");
      expect(internalsIn(text, world)).toEqual([]);
      expect(text).not.toMatch(/stack|database connection|calls\.db/i);
    }
  });
});

describe("failures", () => {
  it("answers unknown /api routes with a JSON 404", async () => {
    world = createApiWorld();
    const response = await world.request("/api/nothing-here");
    expect(response.status).toBe(404);
    expect(ErrorJson.parse(await response.json()).error.code).toBe("not_found");
  });
});
