import { Hono } from "hono";
import { beforeEach, describe, expect, it } from "vitest";
import {
  REQUEST_ID_HEADER,
  requestLogging,
  UNMATCHED_ROUTE,
} from "../../../src/adapters/http/request-logging.ts";
import { createLogger } from "../../../src/adapters/logging/pino-logger.ts";
import { LogCapture } from "../../support/log-capture.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Observed {
  method: string;
  route: string;
  status: number;
  seconds: number;
}

let log: LogCapture;
let observed: Observed[];
let app: Hono;

beforeEach(() => {
  log = new LogCapture();
  observed = [];
  app = new Hono();
  app.use(
    "*",
    requestLogging({
      logger: createLogger("info", log),
      onRequest: (method, route, status, seconds) =>
        observed.push({ method, route, status, seconds }),
    }),
  );
  const api = new Hono();
  api.use("/api/*", async (c, next) => {
    if (c.req.header("authorization") !== "Bearer ok") return c.json({ error: "no" }, 401);
    return next();
  });
  api.get("/api/calls/:id", (c) => c.json({ id: c.req.param("id") }));
  api.delete("/api/calls/:id", (c) => c.body(null, 204));
  app.route("/", api);
  app.get("/raw", () => new Response("built by hand", { status: 202 }));
  app.get("/boom", () => {
    throw new Error("handler failed");
  });
  app.notFound((c) => c.json({ error: "not_found" }, 404));
  app.onError((_error, c) => c.json({ error: "internal" }, 500));
});

const authorized = { authorization: "Bearer ok" };

describe("request logging", () => {
  it("echoes a well-formed X-Request-Id and puts it on the request's log line", async () => {
    const res = await app.request("/api/calls/abc", {
      headers: { ...authorized, [REQUEST_ID_HEADER]: "trace-42-ABC" },
    });
    expect(res.status).toBe(200);
    expect(res.headers.get(REQUEST_ID_HEADER)).toBe("trace-42-ABC");
    expect(log.withMessage("request")).toEqual([
      expect.objectContaining({
        requestId: "trace-42-ABC",
        method: "GET",
        route: "/api/calls/:id",
        status: 200,
        level: "info",
        ms: expect.any(Number),
      }),
    ]);
  });

  it.each([
    ["a space", "has space"],
    ["65 characters", "a".repeat(65)],
    ["a path", "../../etc/passwd"],
    ["JSON", '{"level":"fatal"}'],
    ["an underscore", "snake_case"],
    ["nothing", ""],
  ])("replaces an X-Request-Id with %s by a fresh UUID", async (_what, given) => {
    const res = await app.request("/api/calls/abc", {
      headers: { ...authorized, [REQUEST_ID_HEADER]: given },
    });
    const id = res.headers.get(REQUEST_ID_HEADER);
    expect(id).toMatch(UUID);
    expect(log.withMessage("request")[0]?.requestId).toBe(id);
    if (given.length > 3) expect(log.raw).not.toContain(given);
  });

  it("gives each request without an id its own", async () => {
    const a = await app.request("/api/calls/a", { headers: authorized });
    const b = await app.request("/api/calls/b", { headers: authorized });
    expect(a.headers.get(REQUEST_ID_HEADER)).toMatch(UUID);
    expect(b.headers.get(REQUEST_ID_HEADER)).toMatch(UUID);
    expect(a.headers.get(REQUEST_ID_HEADER)).not.toBe(b.headers.get(REQUEST_ID_HEADER));
    expect(log.withMessage("request").map((l) => l.requestId)).toEqual([
      a.headers.get(REQUEST_ID_HEADER),
      b.headers.get(REQUEST_ID_HEADER),
    ]);
  });

  it("labels a request with its route pattern, never the raw path", async () => {
    await app.request("/api/calls/CA0123456789secret", { headers: authorized });
    await app.request("/api/calls/CA0123456789secret", { method: "DELETE", headers: authorized });
    expect(observed.map(({ method, route, status }) => [method, route, status])).toEqual([
      ["GET", "/api/calls/:id", 200],
      ["DELETE", "/api/calls/:id", 204],
    ]);
    expect(log.raw).not.toContain("CA0123456789secret");
  });

  it("gives every path that matched no route one fixed label", async () => {
    const hostile = [
      "/etc/passwd",
      "/api/%2e%2e/%2e%2e/secrets",
      "/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
      `/${"x".repeat(2000)}`,
    ];
    for (const path of hostile) {
      const res = await app.request(path, { headers: authorized });
      expect(res.status).toBe(404);
      expect(res.headers.get(REQUEST_ID_HEADER)).toMatch(UUID);
    }
    expect(new Set(observed.map((o) => o.route))).toEqual(new Set([UNMATCHED_ROUTE]));
    expect(log.raw).not.toContain("passwd");
    expect(log.raw).not.toContain("secrets");
    expect(log.raw).not.toContain("script");
    expect(log.raw).not.toContain("xxxxxxxx");
  });

  it("labels a request refused by a route group's middleware with that group's pattern", async () => {
    const res = await app.request("/api/calls/abc");
    expect(res.status).toBe(401);
    expect(observed).toEqual([expect.objectContaining({ route: "/api/*", status: 401 })]);
  });

  it("logs a failing handler as a 500 on its route, at warn level", async () => {
    const res = await app.request("/boom");
    expect(res.status).toBe(500);
    expect(res.headers.get(REQUEST_ID_HEADER)).toMatch(UUID);
    expect(log.withMessage("request")).toEqual([
      expect.objectContaining({ route: "/boom", status: 500, level: "warn" }),
    ]);
  });

  it("sets the id header on a Response a handler built by hand", async () => {
    const res = await app.request("/raw", { headers: { [REQUEST_ID_HEADER]: "hand-made" } });
    expect(res.status).toBe(202);
    expect(await res.text()).toBe("built by hand");
    expect(res.headers.get(REQUEST_ID_HEADER)).toBe("hand-made");
  });

  it("reports each request once to the latency callback, with a duration in seconds", async () => {
    await app.request("/api/calls/abc", { headers: authorized });
    expect(observed).toHaveLength(1);
    const [{ seconds }] = observed as [Observed];
    expect(Number.isFinite(seconds)).toBe(true);
    expect(seconds).toBeGreaterThanOrEqual(0);
    // Seconds, not milliseconds: an in-process request takes far less than a second.
    expect(seconds).toBeLessThan(5);
  });
});
