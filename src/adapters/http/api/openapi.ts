import { createHash } from "node:crypto";
import { Hono } from "hono";
import { z } from "zod";
import { ExportParams } from "./export-routes.ts";
import {
  AnalyticsListJson,
  apiSchemas,
  CallDetailJson,
  CallMetadataJson,
  CallPageJson,
  CallTotalsJson,
  ErrorJson,
  RecordingListJson,
  SearchPageJson,
  SignedUrlJson,
  SignedUrlRequestJson,
  TranscriptListJson,
} from "./json-schemas.ts";
import {
  CallFilterQuery,
  CallListParams,
  IdParam,
  SearchParams,
  TranscriptFormatParams,
} from "./query-schemas.ts";

type JsonSchema = Record<string, unknown>;

export interface OpenApiOptions {
  /** True when API_KEY is set: the document then requires the bearer scheme on every route. */
  apiKeyRequired?: boolean;
}

const TARGET = "draft-2020-12"; // OpenAPI 3.1's schema dialect.

/** A standalone JSON Schema for a parameter, without the `$schema` line meant for documents. */
function schemaOf(schema: z.ZodType): JsonSchema {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: TARGET, io: "output" });
  return rest;
}

function ref(schema: z.ZodType): JsonSchema {
  const meta = apiSchemas.get(schema);
  if (!meta) throw new Error("response schema is not registered in apiSchemas");
  return { $ref: `#/components/schemas/${meta.id}` };
}

const jsonResponse = (description: string, schema: z.ZodType) => ({
  description,
  content: { "application/json": { schema: ref(schema) } },
});

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: "A query parameter is invalid; the message starts with its name",
  401: "API_KEY is set and the bearer token is missing or wrong",
  404: "No such call or recording (also for ids outside [A-Za-z0-9_-]{1,128})",
  409: "The call is still in progress",
  413: "The request body is larger than MAX_BODY_BYTES",
  416: "The Range cannot be satisfied; Content-Range gives the size",
  500: "Unexpected failure; no internals are disclosed",
  503: "The database or the recording storage is unavailable",
};

const errors = (...statuses: number[]) =>
  Object.fromEntries(
    [...statuses, 401, 413, 500, 503].map((status) => [
      String(status),
      jsonResponse(ERROR_DESCRIPTIONS[status] ?? "Error", ErrorJson),
    ]),
  );

function queryParameters(schema: z.ZodObject): JsonSchema[] {
  return Object.entries(schema.shape).map(([name, field]) => {
    const { description, ...fieldSchema } = schemaOf(field as z.ZodType);
    return {
      name,
      in: "query",
      required: !(field as z.ZodType).safeParse(undefined).success,
      ...(description === undefined ? {} : { description }),
      schema: fieldSchema,
    };
  });
}

const idParameter = (resource: string) => ({
  name: "id",
  in: "path",
  required: true,
  description: `the ${resource} id`,
  schema: schemaOf(IdParam),
});

/**
 * For what browsers load without headers; only these routes accept it (QUERY_TOKEN_PATHS).
 * Deprecated: the key ends up in history and logs; signed URLs (POST /api/signed-urls) do not.
 */
const accessTokenParameter = {
  name: "access_token",
  in: "query",
  required: false,
  deprecated: true,
  description:
    "The API_KEY, for clients that cannot send an Authorization header (EventSource, <audio>). " +
    "Deprecated: use a signed URL from POST /api/signed-urls, which does not carry the key.",
  schema: { type: "string" },
};

/** The two halves of a URL minted by POST /api/signed-urls, in place of the key. */
const signedUrlParameters = [
  {
    name: "expires",
    in: "query",
    required: false,
    description: "Signed URL: when it stops being accepted (unix seconds)",
    schema: { type: "string", pattern: "^[0-9]{1,12}$" },
  },
  {
    name: "sig",
    in: "query",
    required: false,
    description: "Signed URL: HMAC over GET, this path and expires; from POST /api/signed-urls",
    schema: { type: "string", pattern: "^[A-Za-z0-9_-]{43}$" },
  },
];

const EVENT_STREAM_DESCRIPTION =
  "Server-Sent Events. Event names: `call.started` and `call.ended` (data: a Call), " +
  "`transcript` (a Transcript), `analytics` (an Analytics snapshot), `recording` (a Recording), " +
  "each as JSON in the same shape as the rest of the API. A `: heartbeat` comment comes every " +
  "15 s. Events are live only: nothing is replayed on connect, so load the current state " +
  "after the stream opens.";

const eventStreamResponse = (description: string) => ({
  description,
  content: { "text/event-stream": { schema: { type: "string" } } },
});

const audioHeaders = {
  "Accept-Ranges": { schema: { type: "string", const: "bytes" } },
  "Content-Length": { schema: { type: "integer" } },
  "Content-Disposition": {
    description: 'inline; filename="<callId>-<track>.wav"',
    schema: { type: "string" },
  },
};

const audioOperation = (method: "GET" | "HEAD") => ({
  operationId: method === "GET" ? "getRecordingAudio" : "headRecordingAudio",
  summary:
    method === "GET" ? "Stream a recording's WAV file" : "A recording's headers, without the body",
  description:
    "Supports one byte range (`bytes=a-b`, `bytes=a-`, `bytes=-n`). A malformed Range header, " +
    "a multi-range request and any request carrying If-Range get the whole file (200).",
  tags: ["recordings"],
  parameters: [
    idParameter("recording"),
    { name: "Range", in: "header", required: false, schema: { type: "string" } },
    ...(method === "GET" ? signedUrlParameters : []),
    accessTokenParameter,
  ],
  responses: {
    "200": {
      description: "The whole file",
      headers: audioHeaders,
      content: { "audio/wav": { schema: { type: "string", contentMediaType: "audio/wav" } } },
    },
    "206": {
      description: "The requested byte range",
      headers: {
        ...audioHeaders,
        "Content-Range": { description: "bytes a-b/size", schema: { type: "string" } },
      },
      content: { "audio/wav": { schema: { type: "string", contentMediaType: "audio/wav" } } },
    },
    ...errors(404, 416),
  },
});

function paths(): Record<string, Record<string, unknown>> {
  return {
    "/api/calls": {
      get: {
        operationId: "listCalls",
        summary: "List calls, newest first or in the order asked for",
        description:
          "Ordered by `sort` (default startedAt), then startedAt, then id, all in `order` " +
          "(default desc): newest first unless asked otherwise. Calls without a value of the " +
          "sort field (a live call's durationSeconds, a null costUsd or p95ResponseLatencyMs) " +
          "come after all the others in either order, among themselves by startedAt then id. " +
          "Pages are keyset-based: follow nextCursor until it is null; calls added meanwhile " +
          "never shift a page. A cursor continues only the sort and order that issued it " +
          "(else 400 naming cursor).",
        tags: ["calls"],
        parameters: queryParameters(CallListParams),
        responses: { "200": jsonResponse("A page of calls", CallPageJson), ...errors(400) },
      },
    },
    "/api/calls/{id}": {
      get: {
        operationId: "getCall",
        summary: "A call with its metadata, recordings and counts",
        tags: ["calls"],
        parameters: [idParameter("call")],
        responses: { "200": jsonResponse("The call", CallDetailJson), ...errors(404) },
      },
      delete: {
        operationId: "deleteCall",
        summary: "Delete a call, its rows and its files",
        description: "A call that is still in progress is refused with 409.",
        tags: ["calls"],
        parameters: [idParameter("call")],
        responses: { "204": { description: "Deleted" }, ...errors(404, 409) },
      },
    },
    "/api/calls/{id}/transcripts": {
      get: {
        operationId: "listTranscripts",
        summary: "A call's transcripts in spoken order (JSON, or text with format=text)",
        tags: ["calls"],
        parameters: [idParameter("call"), ...queryParameters(TranscriptFormatParams)],
        responses: {
          "200": {
            ...jsonResponse("Transcripts", TranscriptListJson),
            content: {
              ...jsonResponse("Transcripts", TranscriptListJson).content,
              "text/plain": { schema: { type: "string" } },
            },
          },
          ...errors(400, 404),
        },
      },
    },
    "/api/calls/{id}/analytics": {
      get: {
        operationId: "listAnalytics",
        summary: "A call's analytics snapshots, oldest first",
        tags: ["calls"],
        parameters: [idParameter("call")],
        responses: { "200": jsonResponse("Analytics", AnalyticsListJson), ...errors(404) },
      },
    },
    "/api/calls/{id}/metadata": {
      get: {
        operationId: "getCallMetadata",
        summary: "A call's metadata (404 when it has none)",
        tags: ["calls"],
        parameters: [idParameter("call")],
        responses: { "200": jsonResponse("The metadata", CallMetadataJson), ...errors(404) },
      },
    },
    "/api/calls/{id}/recordings": {
      get: {
        operationId: "listRecordings",
        summary: "A call's recordings",
        tags: ["recordings"],
        parameters: [idParameter("call")],
        responses: { "200": jsonResponse("Recordings", RecordingListJson), ...errors(404) },
      },
    },
    "/api/events": {
      get: {
        operationId: "streamEvents",
        summary: "Live events of every call",
        description: EVENT_STREAM_DESCRIPTION,
        tags: ["events"],
        parameters: [...signedUrlParameters, accessTokenParameter],
        responses: { "200": eventStreamResponse("The event stream"), ...errors() },
      },
    },
    "/api/calls/{id}/events": {
      get: {
        operationId: "streamCallEvents",
        summary: "Live events of one call",
        description: EVENT_STREAM_DESCRIPTION,
        tags: ["events"],
        parameters: [idParameter("call"), ...signedUrlParameters, accessTokenParameter],
        responses: { "200": eventStreamResponse("The call's event stream"), ...errors(404) },
      },
    },
    "/api/recordings/{id}/audio": {
      get: audioOperation("GET"),
      head: audioOperation("HEAD"),
    },
    "/api/signed-urls": {
      post: {
        operationId: "createSignedUrl",
        summary: "A short-lived URL that opens one recording's audio or one feed without the key",
        description:
          "For what a browser loads by itself (<audio>, a download link, EventSource), which " +
          "cannot send an Authorization header. The URL is valid for GET on that path only, " +
          "until expiresAt: one hour for audio, ten minutes for a feed (checked when the feed " +
          "connects; an open feed is not cut at expiry). Signed with a key derived from " +
          "API_KEY, so every server with the same API_KEY accepts it and changing API_KEY " +
          "revokes it. Without API_KEY nothing checks the signature.",
        tags: ["recordings", "events"],
        requestBody: {
          required: true,
          content: { "application/json": { schema: ref(SignedUrlRequestJson) } },
        },
        responses: {
          "200": jsonResponse("The signed URL (path and query)", SignedUrlJson),
          ...errors(400),
        },
      },
    },
    "/api/totals/calls": {
      get: {
        operationId: "callTotals",
        summary: "What the calls the list's filters select add up to, and per UTC day",
        tags: ["calls"],
        parameters: queryParameters(CallFilterQuery),
        responses: { "200": jsonResponse("The totals", CallTotalsJson), ...errors(400) },
      },
    },
    "/api/export/calls": {
      get: {
        operationId: "exportCalls",
        summary: "Every call the list's filters select, as CSV or JSON Lines",
        description:
          "In the list's order (the same `sort` and `order`; newest first by default), " +
          "streamed: the list's filters without paging. CSV has a header row; " +
          "text that would run as a spreadsheet formula is prefixed with an apostrophe.",
        tags: ["calls"],
        parameters: queryParameters(ExportParams),
        responses: {
          "200": {
            description: "The calls, as an attachment",
            content: {
              "text/csv": { schema: { type: "string" } },
              "application/x-ndjson": { schema: { type: "string" } },
            },
          },
          ...errors(400),
        },
      },
    },
    "/api/search": {
      get: {
        operationId: "searchTranscripts",
        summary: "Full-text search over transcripts, best match first (or newest first)",
        description:
          "Every word of q must appear. Any text is accepted: quotes, operators and " +
          "punctuation are searched as words, never parsed as query syntax. " +
          "sort=relevance (the default) ranks the newest matches, at most a few thousand, by " +
          "BM25, so a query with fewer matches is ranked over all of them; sort=recent lists " +
          "every match newest first. A cursor continues only the sort that issued it.",
        tags: ["search"],
        parameters: queryParameters(SearchParams),
        responses: { "200": jsonResponse("Matching transcripts", SearchPageJson), ...errors(400) },
      },
    },
  };
}

function componentSchemas(): Record<string, JsonSchema> {
  const { schemas } = z.toJSONSchema(apiSchemas, {
    target: TARGET,
    uri: (id) => `#/components/schemas/${id}`,
  });
  // A component is a schema inside the document, not a document: no $schema, and no $id,
  // which would otherwise be a fragment-only URI that JSON Schema 2020-12 forbids.
  return Object.fromEntries(
    Object.entries(schemas).map(([id, { $schema: _s, $id: _i, ...schema }]) => [id, schema]),
  );
}

/** The OpenAPI 3.1 document of every /api route, built from the schemas the API itself uses. */
export function openApiDocument(options: OpenApiOptions = {}): Record<string, unknown> {
  return {
    openapi: "3.1.0",
    info: {
      title: "callbridge API",
      version: "0.1.0",
      description:
        "Calls recorded by callbridge: their transcripts, analytics, metadata and audio. " +
        "Times are ISO 8601 UTC. Every error is {error: {code, message}}.",
    },
    servers: [{ url: "/" }],
    tags: [{ name: "calls" }, { name: "recordings" }, { name: "search" }, { name: "events" }],
    ...(options.apiKeyRequired ? { security: [{ bearerAuth: [] }] } : {}),
    paths: paths(),
    components: {
      schemas: componentSchemas(),
      securitySchemes: {
        bearerAuth: {
          type: "http",
          scheme: "bearer",
          description: "The server's API_KEY; required only when API_KEY is set",
        },
      },
    },
  };
}

/**
 * GET /openapi.json. Public, like the API's shape itself; only /api/* is behind API_KEY. It
 * changes only with a new version or a restart with(out) API_KEY, so clients may cache it but
 * revalidate each time: the ETag makes that a 304.
 */
export function openApiRoutes(options: OpenApiOptions = {}): Hono {
  const body = JSON.stringify(openApiDocument(options));
  const etag = `"${createHash("sha256").update(body).digest("base64url").slice(0, 16)}"`;
  const headers = { "Cache-Control": "public, no-cache", ETag: etag };
  const app = new Hono();
  app.get("/openapi.json", (c) => {
    if (c.req.header("if-none-match") === etag) return c.body(null, 304, headers);
    return c.body(body, 200, { ...headers, "Content-Type": "application/json" });
  });
  return app;
}
