import { Hono } from "hono";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { apiRoutes } from "../../../../src/adapters/http/api/api-routes.ts";
import { openApiDocument } from "../../../../src/adapters/http/api/openapi.ts";
import { signedUrlRoutes, UrlSigner } from "../../../../src/adapters/http/api/signed-urls.ts";
import { CallEventHub } from "../../../../src/adapters/http/events/call-event-hub.ts";
import { eventRoutes } from "../../../../src/adapters/http/events/event-routes.ts";
import { CallQueries } from "../../../../src/application/queries.ts";
import { type ApiWorld, createApiWorld } from "./api-test-world.ts";

let world: ApiWorld;
beforeEach(() => {
  world = createApiWorld();
});
afterEach(() => world.close());

interface Operation {
  operationId: string;
  parameters?: Array<{ name: string; in: string; required: boolean; schema: unknown }>;
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
}

interface Document {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Operation>>;
  components: { schemas: Record<string, Record<string, unknown>> };
  security?: unknown;
}

async function fetchDocument(): Promise<Document> {
  const response = await world.request("/openapi.json");
  expect(response.status).toBe(200);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  return (await response.json()) as Document;
}

/** Every `$ref` anywhere in a JSON value. */
function refsIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const item of value) refsIn(item, out);
  else if (value !== null && typeof value === "object") {
    for (const [key, inner] of Object.entries(value)) {
      if (key === "$ref" && typeof inner === "string") out.push(inner);
      else refsIn(inner, out);
    }
  }
  return out;
}

describe("GET /openapi.json", () => {
  it("is an OpenAPI 3.1 document with info, paths and components", async () => {
    const doc = await fetchDocument();
    expect(doc.openapi).toBe("3.1.0");
    expect(doc.info.title).toBe("callbridge API");
    expect(typeof doc.info.version).toBe("string");
    expect(Object.keys(doc.components.schemas).sort()).toEqual(
      [
        "Analytics",
        "AnalyticsList",
        "Call",
        "CallDetail",
        "CallMetadata",
        "CallPage",
        "CallTotals",
        "CallUsage",
        "Error",
        "Recording",
        "RecordingList",
        "SearchHit",
        "SearchPage",
        "SignedUrl",
        "SignedUrlRequest",
        "Transcript",
        "TranscriptList",
      ].sort(),
    );
  });

  it("documents every route the API serves, and nothing it does not", async () => {
    const doc = await fetchDocument();
    const queries = new CallQueries({ calls: world.repository, recordings: world.store });
    // The live feeds are mounted at /api beside the API (main.ts) and documented with it.
    const app = new Hono()
      .route("/api", apiRoutes({ queries, isCallActive: () => false }))
      .route("/api", eventRoutes({ hub: new CallEventHub(), queries }))
      .route("/api", signedUrlRoutes(UrlSigner.random()));
    const served = app.routes
      .filter((route) => route.method !== "ALL")
      .map((route) => `${route.method} ${route.path.replace(/:(\w+)/g, "{$1}")}`);
    const documented = Object.entries(doc.paths).flatMap(([path, operations]) =>
      Object.keys(operations).map((method) => `${method.toUpperCase()} ${path}`),
    );
    // Hono serves HEAD through each GET handler; the audio route documents it explicitly.
    expect(documented.filter((op) => !op.startsWith("HEAD ")).sort()).toEqual(
      [...new Set(served)].sort(),
    );
    expect(documented).toContain("HEAD /api/recordings/{id}/audio");
    for (const path of Object.keys(doc.paths)) expect(path.startsWith("/api/")).toBe(true);
  });

  it("resolves every $ref, declares every path parameter and names every operation once", async () => {
    const doc = await fetchDocument();
    for (const ref of refsIn(doc)) {
      const match = /^#\/components\/schemas\/(\w+)$/.exec(ref);
      expect(match, ref).not.toBeNull();
      expect(doc.components.schemas[match?.[1] ?? ""], ref).toBeDefined();
    }
    const operationIds: string[] = [];
    for (const [path, operations] of Object.entries(doc.paths)) {
      const templated = [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      for (const operation of Object.values(operations)) {
        operationIds.push(operation.operationId);
        const inPath = (operation.parameters ?? []).filter((p) => p.in === "path");
        expect(inPath.map((p) => p.name)).toEqual(templated);
        for (const parameter of inPath) expect(parameter.required).toBe(true);
        expect(Object.keys(operation.responses).length).toBeGreaterThan(0);
        for (const status of Object.keys(operation.responses)) {
          expect(status).toMatch(/^[1-5]\d\d$/);
        }
      }
    }
    expect(new Set(operationIds).size).toBe(operationIds.length);
    for (const schema of Object.values(doc.components.schemas)) {
      expect(schema.$schema).toBeUndefined();
      expect(schema.$id).toBeUndefined();
    }
  });

  it("derives query parameters and response shapes from the same zod schemas", async () => {
    const doc = await fetchDocument();
    const list = doc.paths["/api/calls"]?.get;
    const limit = list?.parameters?.find((p) => p.name === "limit");
    expect(limit).toMatchObject({
      in: "query",
      required: false,
      schema: { type: "integer", minimum: 1, maximum: 200, default: 50 },
    });
    expect(list?.parameters?.map((p) => p.name)).toEqual([
      "limit",
      "cursor",
      "status",
      "caller",
      "callSid",
      "streamSid",
      "since",
      "until",
      "callerContains",
      "called",
      "endReason",
      "sentiment",
      "outcome",
      "minDuration",
      "maxDuration",
      "sort",
      "order",
    ]);
    const sort = list?.parameters?.find((p) => p.name === "sort");
    expect(sort).toMatchObject({
      required: false,
      schema: {
        enum: ["startedAt", "durationSeconds", "costUsd", "p95ResponseLatencyMs"],
        default: "startedAt",
      },
    });
    const exported = doc.paths["/api/export/calls"]?.get?.parameters?.map((p) => p.name);
    expect(exported).toEqual(expect.arrayContaining(["sort", "order"]));
    const totals = doc.paths["/api/totals/calls"]?.get?.parameters?.map((p) => p.name);
    expect(totals).not.toContain("sort");
    const q = doc.paths["/api/search"]?.get?.parameters?.find((p) => p.name === "q");
    expect(q).toMatchObject({ required: true, schema: { minLength: 1, maxLength: 500 } });
    expect(list?.responses["200"]?.content?.["application/json"]?.schema).toEqual({
      $ref: "#/components/schemas/CallPage",
    });
    const recording = doc.components.schemas.Recording as { properties: object };
    expect(Object.keys(recording.properties)).not.toContain("fileKey");
  });

  it("requires the bearer scheme in the document only when API_KEY is set", () => {
    expect(openApiDocument({ apiKeyRequired: true }).security).toEqual([{ bearerAuth: [] }]);
    expect(openApiDocument({}).security).toBeUndefined();
  });
});
