/**
 * A fake of the OpenAI Responses API (`POST /v1/responses`, no streaming) for tests and
 * `npm run demo`: it checks what a Structured Outputs request must hold and answers with a
 * Response whose output text is JSON fitting the requested schema, derived from the transcript
 * so that different calls get different analyses.
 *
 * Sources read while writing this (shapes and names follow them):
 * - Request and Response objects: openai-node src/resources/responses/responses.ts
 *   (ResponseCreateParamsBase: model, input, instructions, text, store, max_output_tokens;
 *   Response: id, object "response", created_at, status, error, incomplete_details, model,
 *   output[], usage; ResponseOutputMessage {id, type "message", role "assistant", status,
 *   content[]}; ResponseOutputText {type "output_text", text, annotations}; ResponseUsage
 *   {input_tokens, input_tokens_details.cached_tokens, output_tokens,
 *   output_tokens_details.reasoning_tokens, total_tokens};
 *   ResponseFormatTextJSONSchemaConfig {type "json_schema", name ([a-zA-Z0-9_-], at most 64),
 *   schema, strict}). `output_text` at the top level is computed by the SDK
 *   (src/lib/ResponsesParser.ts addOutputText), so this fake, like the API, does not send it.
 * - Error bodies: `{"error":{"message","type","param","code"}}`, openai-node
 *   api_reference/openapi.transformed.yml components.schemas.ErrorResponse / Error; statuses and
 *   causes (401 invalid authentication / incorrect key, 429 rate limit or exceeded quota, 500 "The
 *   server had an error while processing your request"): https://developers.openai.com/docs/guides/error-codes.
 *   401 code `invalid_api_key` and 429 code `insufficient_quota` / `rate_limit_exceeded` as
 *   openai-python and openai-node users report them (e.g. openai-node tests/lib/ResponseStream.test.ts
 *   uses `rate_limit_exceeded`).
 * - Strict schemas: every object needs `additionalProperties: false` and every property in
 *   `required` (https://platform.openai.com/docs/guides/structured-outputs#all-fields-must-be-required,
 *   openai-node src/lib/transform.ts toStrictJsonSchema); the API refuses others with 400
 *   `invalid_json_schema`, "Invalid schema for response_format '<name>': In context=(...),
 *   'additionalProperties' is required to be supplied and to be false." (the wording users
 *   quote from the API).
 * - Retry headers: openai-node src/client.ts reads `retry-after-ms`, `retry-after` and
 *   `x-should-retry`.
 *
 * Messages the sources do not pin down (an unparsable body, a missing parameter) are plausible
 * stand-ins in the API's style.
 */
import { randomBytes } from "node:crypto";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { AddressInfo } from "node:net";

export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export interface ResponsesErrorBody {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}

export interface FakeResponsesOptions {
  /** Expected `Authorization: Bearer <apiKey>`; null accepts anything. */
  apiKey: string | null;
  /** Wait before answering each request (an abandoned request is dropped, never answered). */
  delayMs: number;
  /** Largest request body read, as the real API limits its input. */
  maxBodyBytes: number;
}

/** How the next answered requests differ from a good answer. */
export type FakeResponsesAnswer =
  /** This output text instead of the JSON the fake would write (malformed answers). */
  | { kind: "output-text"; text: string }
  /** Each field given replaces the one the fake would write (e.g. an outcome not allowed). */
  | { kind: "patch"; patch: JsonObject }
  | { kind: "refusal"; refusal: string }
  /** status `incomplete` with incomplete_details.reason (e.g. max_output_tokens). */
  | { kind: "incomplete"; reason: string }
  /** status `failed` with a ResponseError (e.g. server_error), still HTTP 200. */
  | { kind: "failed"; code: string; message: string };

export interface RecordedResponsesRequest {
  readonly method: string;
  readonly path: string;
  readonly headers: IncomingHttpHeaders;
  /** Date.now() when it arrived. */
  readonly receivedAtMs: number;
  /** The parsed JSON body; undefined until read, or when it was not JSON. */
  body: unknown;
  /** The status the fake answered with; null while it has not answered. */
  status: number | null;
  /** True when the client went away before the answer. */
  abandoned: boolean;
}

interface QueuedFailure {
  status: number;
  error: ResponsesErrorBody;
  headers: Record<string, string>;
}

const SERVER_ERROR: ResponsesErrorBody = {
  message: "The server had an error while processing your request. Sorry about that!",
  type: "server_error",
  param: null,
  code: null,
};

const RATE_LIMITED: ResponsesErrorBody = {
  message:
    "Rate limit reached for requests. Limit 3, Used 3, Requested 1. Please try again in 20s.",
  type: "requests",
  param: null,
  code: "rate_limit_exceeded",
};

/** The error the API sends with a status when a test asks for a failure without one. */
export function defaultErrorFor(status: number): ResponsesErrorBody {
  if (status === 429) return RATE_LIMITED;
  if (status >= 500) return SERVER_ERROR;
  if (status === 401) {
    return {
      message: "Incorrect API key provided.",
      type: "invalid_request_error",
      param: null,
      code: "invalid_api_key",
    };
  }
  return { message: "Bad request.", type: "invalid_request_error", param: null, code: null };
}

/** As the API does, a rejected key is echoed with only its ends. */
const maskKey = (key: string) =>
  key.length <= 8 ? "*".repeat(key.length) : `${key.slice(0, 3)}${"*".repeat(8)}${key.slice(-4)}`;

class RequestError extends Error {
  constructor(
    readonly status: number,
    readonly body: ResponsesErrorBody,
  ) {
    super(body.message);
  }
}

const invalid = (message: string, param: string | null, code: string | null = null) =>
  new RequestError(400, { message, type: "invalid_request_error", param, code });

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const SCHEMA_NAME = /^[a-zA-Z0-9_-]{1,64}$/;

export class FakeResponsesServer {
  readonly requests: RecordedResponsesRequest[] = [];
  readonly port: number;
  options: FakeResponsesOptions;
  /** Requests being answered now, and the most there ever were at once. */
  inFlight = 0;
  maxInFlight = 0;

  private readonly http: Server;
  private readonly failures: QueuedFailure[] = [];
  private readonly answers: FakeResponsesAnswer[] = [];
  private readonly waiters = new Set<() => void>();
  /** Answers being delayed: close() ends their waits rather than leave timers behind. */
  private readonly delays = new Set<() => void>();
  private closed = false;

  private constructor(http: Server, options: FakeResponsesOptions) {
    this.http = http;
    this.options = options;
    this.port = (http.address() as AddressInfo).port;
  }

  static async start(options: Partial<FakeResponsesOptions> = {}): Promise<FakeResponsesServer> {
    const resolved: FakeResponsesOptions = {
      apiKey: "sk-test-fake",
      delayMs: 0,
      maxBodyBytes: 4 * 1024 * 1024,
      ...options,
    };
    const http = createServer();
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(0, "127.0.0.1", () => resolve());
    });
    const server = new FakeResponsesServer(http, resolved);
    http.on("request", (req, res) => void server.handle(req, res));
    return server;
  }

  /** The base URL (OPENAI_BASE_URL): requests go to `${url}/v1/responses`. */
  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  setOptions(patch: Partial<FakeResponsesOptions>): void {
    this.options = { ...this.options, ...patch };
  }

  /**
   * The next `count` requests (after the key check) fail with `status` and the API's body for it
   * (or `error`), with `headers` (e.g. retry-after) on the answer.
   */
  failNext(
    count: number,
    status: number,
    error: Partial<ResponsesErrorBody> = {},
    headers: Record<string, string> = {},
  ): void {
    for (let i = 0; i < count; i++) {
      this.failures.push({ status, error: { ...defaultErrorFor(status), ...error }, headers });
    }
  }

  /** The next valid request gets this answer instead of a good one (queued, one per request). */
  answerNext(answer: FakeResponsesAnswer): void {
    this.answers.push(answer);
  }

  /** Requests answered with this status. */
  answered(status = 200): RecordedResponsesRequest[] {
    return this.requests.filter((r) => r.status === status);
  }

  /** Resolves once `count` requests have arrived. */
  async waitForRequests(count: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.requests.length < count) {
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`fake Responses API: ${this.requests.length}/${count} requests`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done() {
          clearTimeout(timer);
          resolve();
        }
        this.waiters.add(done);
      });
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const wake of [...this.delays]) wake();
    this.http.closeAllConnections();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private delay(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const wake = () => {
        clearTimeout(timer);
        this.delays.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      this.delays.add(wake);
    });
  }

  private notify(): void {
    for (const waiter of this.waiters) waiter();
    this.waiters.clear();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const record: RecordedResponsesRequest = {
      method: req.method ?? "GET",
      path: req.url ?? "/",
      headers: req.headers,
      receivedAtMs: Date.now(),
      body: undefined,
      status: null,
      abandoned: false,
    };
    this.requests.push(record);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.notify();
    let gone = false;
    res.on("close", () => {
      if (!res.writableFinished) {
        gone = true;
        record.abandoned = true;
      }
    });
    try {
      const raw = await readBody(req, this.options.maxBodyBytes);
      if (this.options.delayMs > 0) await this.delay(this.options.delayMs);
      if (gone || this.closed) return;
      const { status, body, headers } = this.answer(record, raw);
      record.status = status;
      const text = JSON.stringify(body);
      res.writeHead(status, {
        "content-type": "application/json",
        "x-request-id": `req_${randomBytes(12).toString("hex")}`,
        ...headers,
      });
      res.end(text);
    } catch (error) {
      const failure =
        error instanceof RequestError ? error : new RequestError(500, { ...SERVER_ERROR });
      record.status = failure.status;
      if (!gone) {
        res.writeHead(failure.status, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: failure.body }));
      }
    } finally {
      this.inFlight--;
      this.notify();
    }
  }

  private answer(
    record: RecordedResponsesRequest,
    raw: Buffer,
  ): { status: number; body: JsonObject; headers: Record<string, string> } {
    const pathname = record.path.split("?")[0];
    if (record.method !== "POST" || pathname !== "/v1/responses") {
      throw new RequestError(404, {
        message: `Invalid URL (${record.method} ${pathname})`,
        type: "invalid_request_error",
        param: null,
        code: null,
      });
    }
    const key = this.options.apiKey;
    const auth = record.headers.authorization;
    if (key !== null && auth !== `Bearer ${key}`) {
      const given = auth?.startsWith("Bearer ") ? auth.slice(7) : null;
      throw new RequestError(401, {
        message:
          given === null || given === ""
            ? "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            : `Incorrect API key provided: ${maskKey(given)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        type: "invalid_request_error",
        param: null,
        code: given === null || given === "" ? null : "invalid_api_key",
      });
    }
    const failure = this.failures.shift();
    if (failure)
      return {
        status: failure.status,
        body: { error: { ...failure.error } },
        headers: failure.headers,
      };

    let body: unknown;
    try {
      body = JSON.parse(raw.toString("utf8"));
    } catch {
      throw invalid(
        "We could not parse the JSON body of your request. The OpenAI API expects a JSON payload.",
        null,
      );
    }
    record.body = body;
    const request = validateRequest(body);
    const answer = this.answers.shift();
    return { status: 200, body: responseObject(request, answer), headers: {} };
  }
}

// ---------------------------------------------------------------------------------------------
// The request.

interface ValidRequest {
  model: string;
  instructions: string | null;
  transcript: string;
  name: string;
  schema: Record<string, unknown>;
  strict: boolean;
  store: boolean;
  maxOutputTokens: number | null;
}

function validateRequest(body: unknown): ValidRequest {
  if (!isObject(body)) throw invalid("The request body must be a JSON object.", null);
  if (body.stream === true) throw invalid("This fake does not stream.", "stream");
  if (typeof body.model !== "string" || body.model === "") {
    throw invalid("Missing required parameter: 'model'.", "model", "missing_required_parameter");
  }
  if (body.input === undefined) {
    throw invalid("Missing required parameter: 'input'.", "input", "missing_required_parameter");
  }
  const transcript = inputText(body.input);
  const text = body.text;
  const format = isObject(text) ? text.format : undefined;
  if (!isObject(format) || format.type !== "json_schema") {
    throw invalid(
      "This fake answers only Structured Outputs: text.format.type must be 'json_schema'.",
      "text.format.type",
    );
  }
  if (typeof format.name !== "string" || !SCHEMA_NAME.test(format.name)) {
    throw invalid(
      "Invalid 'text.format.name': must be a-z, A-Z, 0-9, underscores and dashes, at most 64.",
      "text.format.name",
      "invalid_value",
    );
  }
  if (!isObject(format.schema)) {
    throw invalid(
      "Missing required parameter: 'text.format.schema'.",
      "text.format.schema",
      "missing_required_parameter",
    );
  }
  const strict = format.strict === true;
  if (strict) {
    const problem = strictSchemaProblem(format.schema, format.schema, []);
    if (problem !== null) {
      throw invalid(
        `Invalid schema for response_format '${format.name}': ${problem}`,
        "text.format.schema",
        "invalid_json_schema",
      );
    }
  }
  const maxOutputTokens = body.max_output_tokens;
  if (maxOutputTokens !== undefined && maxOutputTokens !== null) {
    if (
      typeof maxOutputTokens !== "number" ||
      !Number.isInteger(maxOutputTokens) ||
      maxOutputTokens < 16
    ) {
      throw invalid(
        "Invalid 'max_output_tokens': integer below minimum value. Expected a value >= 16.",
        "max_output_tokens",
        "integer_below_min_value",
      );
    }
  }
  return {
    model: body.model,
    instructions: typeof body.instructions === "string" ? body.instructions : null,
    transcript,
    name: format.name,
    schema: format.schema,
    strict,
    store: body.store !== false,
    maxOutputTokens: typeof maxOutputTokens === "number" ? maxOutputTokens : null,
  };
}

/** `input` as a string, or EasyInputMessage items whose content is a string or input_text parts. */
function inputText(input: unknown): string {
  if (typeof input === "string") return input;
  if (!Array.isArray(input))
    throw invalid("Invalid type for 'input': expected a string or an array.", "input");
  const texts: string[] = [];
  input.forEach((item, i) => {
    if (!isObject(item) || typeof item.role !== "string") {
      throw invalid(`Invalid 'input[${i}]': expected a message with a role.`, `input[${i}]`);
    }
    if (item.role !== "user") return;
    if (typeof item.content === "string") texts.push(item.content);
    else if (Array.isArray(item.content)) {
      for (const part of item.content) {
        if (isObject(part) && part.type === "input_text" && typeof part.text === "string") {
          texts.push(part.text);
        }
      }
    } else throw invalid(`Invalid 'input[${i}].content'.`, `input[${i}].content`);
  });
  return texts.join("\n");
}

const context = (path: readonly string[]) => `(${path.map((p) => `'${p}'`).join(", ")})`;

/** The first rule of strict mode `schema` breaks, in the API's words; null when none. */
function strictSchemaProblem(
  schema: unknown,
  root: Record<string, unknown>,
  path: string[],
): string | null {
  if (!isObject(schema)) return `In context=${context(path)}, schema must be a JSON Schema object.`;
  if (path.length === 0 && (schema.type !== "object" || schema.anyOf !== undefined)) {
    return (
      "In context=(), schema must be a JSON Schema of 'type: \"object\"', got 'type: \"" +
      String(schema.type) +
      "\"'."
    );
  }
  if (typeof schema.$ref === "string") {
    const target = resolveRef(schema.$ref, root);
    if (target === undefined)
      return `In context=${context(path)}, reference '${schema.$ref}' can't be resolved.`;
    return null;
  }
  const types = Array.isArray(schema.type) ? schema.type : [schema.type];
  if (types.includes("object") || schema.properties !== undefined) {
    if (schema.additionalProperties !== false) {
      return `In context=${context(path)}, 'additionalProperties' is required to be supplied and to be false.`;
    }
    const properties = isObject(schema.properties) ? schema.properties : {};
    const required = Array.isArray(schema.required) ? schema.required : [];
    for (const key of Object.keys(properties)) {
      if (!required.includes(key)) {
        return `In context=${context(path)}, 'required' is required to be supplied and to be an array including every key in properties. Missing '${key}'.`;
      }
    }
    for (const [key, child] of Object.entries(properties)) {
      const problem = strictSchemaProblem(child, root, [...path, "properties", key]);
      if (problem !== null) return problem;
    }
  }
  if (schema.items !== undefined) {
    const problem = strictSchemaProblem(schema.items, root, [...path, "items"]);
    if (problem !== null) return problem;
  }
  if (Array.isArray(schema.anyOf)) {
    for (const [i, branch] of schema.anyOf.entries()) {
      const problem = strictSchemaProblem(branch, root, [...path, "anyOf", String(i)]);
      if (problem !== null) return problem;
    }
  }
  for (const key of ["$defs", "definitions"]) {
    const defs = schema[key];
    if (!isObject(defs)) continue;
    for (const [name, def] of Object.entries(defs)) {
      const problem = strictSchemaProblem(def, root, [...path, key, name]);
      if (problem !== null) return problem;
    }
  }
  return null;
}

function resolveRef(ref: string, root: Record<string, unknown>): unknown {
  if (!ref.startsWith("#/")) return undefined;
  let node: unknown = root;
  for (const key of ref.slice(2).split("/")) node = isObject(node) ? node[key] : undefined;
  return node;
}

// ---------------------------------------------------------------------------------------------
// The answer.

/** A transcript line as the analyzer writes it: `[m:ss] Caller: words` (the time optional). */
const LINE = /^(?:\[[\d:]+\]\s*)?(Caller|Assistant):\s*(.*)$/;

export interface TranscriptLines {
  caller: string[];
  assistant: string[];
}

export function transcriptLines(text: string): TranscriptLines {
  const lines: TranscriptLines = { caller: [], assistant: [] };
  for (const line of text.split("\n")) {
    const match = LINE.exec(line.trim());
    if (!match) continue;
    (match[1] === "Caller" ? lines.caller : lines.assistant).push(match[2] ?? "");
  }
  return lines;
}

const clip = (text: string, max: number) =>
  text.length <= max ? text : `${text.slice(0, max - 1).trimEnd()}…`;

/** Keywords in what the caller said, in order of precedence, and the outcome each suggests. */
const OUTCOME_WORDS: readonly [RegExp, string][] = [
  [/\b(prize|congratulations|winner|free cruise)\b/, "spam"],
  [/\brefund/, "needs_follow_up"],
  [/\bthank/, "resolved"],
];

/**
 * The analysis the fake gives a transcript: the summary quotes the caller's first line; the
 * outcome follows keywords of the caller's words (refund: needs_follow_up, thank: resolved, a
 * prize: spam; else unresolved), each only if the schema allows it, else the first allowed.
 */
export function fakeSummary(lines: TranscriptLines): string {
  const first = lines.caller.find((line) => line.trim() !== "");
  if (first === undefined) return "The caller said nothing.";
  return `The caller said: "${clip(first.trim(), 80)}" (${lines.caller.length} caller turns).`;
}

export function fakeOutcome(lines: TranscriptLines, allowed: readonly string[]): string | null {
  const words = lines.caller.join(" ").toLowerCase();
  for (const [pattern, outcome] of OUTCOME_WORDS) {
    if (pattern.test(words) && allowed.includes(outcome)) return outcome;
  }
  if (allowed.includes("unresolved")) return "unresolved";
  return allowed[0] ?? null;
}

interface SampleContext {
  lines: TranscriptLines;
  text: string;
  root: Record<string, unknown>;
  depth: number;
}

/**
 * A value fitting `schema`, from the transcript: `summary` and `outcome` at the root as above;
 * strings are the caller's first words (or an allowed value the transcript mentions); numbers
 * the count of caller turns; booleans whether the transcript holds a word of the property's
 * name; a nullable property is null unless the transcript holds a word of its name.
 */
function sample(schema: unknown, key: string, ctx: SampleContext): Json {
  if (!isObject(schema) || ctx.depth > 8) return null;
  if (typeof schema.$ref === "string") {
    return sample(resolveRef(schema.$ref, ctx.root), key, { ...ctx, depth: ctx.depth + 1 });
  }
  const mentioned = keyWords(key).some((word) => ctx.text.toLowerCase().includes(word));
  if (Array.isArray(schema.anyOf)) {
    const branches = schema.anyOf.filter(isObject);
    const nonNull = branches.find((b) => b.type !== "null");
    const nullable = branches.some((b) => b.type === "null");
    if (nullable && (!mentioned || nonNull === undefined)) return null;
    return sample(nonNull ?? branches[0], key, { ...ctx, depth: ctx.depth + 1 });
  }
  if ("const" in schema) return schema.const as Json;
  const types = (Array.isArray(schema.type) ? schema.type : [schema.type]).filter(
    (t): t is string => typeof t === "string",
  );
  const options = Array.isArray(schema.enum) ? (schema.enum as Json[]) : null;
  if ((types.includes("null") || options?.includes(null)) && !mentioned) return null;
  if (options !== null) {
    const named = options.find(
      (option) =>
        typeof option === "string" && ctx.text.toLowerCase().includes(option.toLowerCase()),
    );
    return named ?? options.find((option) => option !== null) ?? null;
  }
  const type = types.find((t) => t !== "null") ?? "null";
  switch (type) {
    case "string":
      return clip(ctx.lines.caller[0]?.trim() || "unknown", 40);
    case "integer":
    case "number":
      return ctx.lines.caller.length;
    case "boolean":
      return mentioned;
    case "array":
      return [sample(schema.items, key, { ...ctx, depth: ctx.depth + 1 })];
    case "object": {
      const out: JsonObject = {};
      const properties = isObject(schema.properties) ? schema.properties : {};
      for (const [name, child] of Object.entries(properties)) {
        out[name] = sample(child, name, { ...ctx, depth: ctx.depth + 1 });
      }
      return out;
    }
    default:
      return null;
  }
}

/** The words of a property name worth looking for: `wants_refund` → ["wants", "refund"]. */
const keyWords = (key: string) =>
  key
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((word) => word.length >= 4);

/** The JSON the fake writes for a request: fits its schema, derived from its transcript. */
export function fakeAnalysis(transcript: string, schema: Record<string, unknown>): JsonObject {
  const lines = transcriptLines(transcript);
  const ctx: SampleContext = { lines, text: transcript, root: schema, depth: 0 };
  const properties = isObject(schema.properties) ? schema.properties : {};
  const out: JsonObject = {};
  for (const [name, child] of Object.entries(properties)) {
    if (name === "summary" && isObject(child) && child.type === "string") {
      out[name] = fakeSummary(lines);
    } else if (name === "outcome" && isObject(child) && Array.isArray(child.enum)) {
      out[name] = fakeOutcome(
        lines,
        child.enum.filter((o): o is string => typeof o === "string"),
      );
    } else {
      out[name] = sample(child, name, { ...ctx, depth: 1 });
    }
  }
  return out;
}

const hex = (bytes: number) => randomBytes(bytes).toString("hex");
/** Roughly four characters a token, as OpenAI's rule of thumb has it. */
const tokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

function responseObject(
  request: ValidRequest,
  answer: FakeResponsesAnswer | undefined,
): JsonObject {
  let status = "completed";
  let error: JsonObject | null = null;
  let incomplete: JsonObject | null = null;
  let content: JsonObject[] = [];
  const good = () => JSON.stringify(fakeAnalysis(request.transcript, request.schema));
  switch (answer?.kind) {
    case "output-text":
      content = [outputText(answer.text)];
      break;
    case "patch":
      content = [
        outputText(
          JSON.stringify({ ...fakeAnalysis(request.transcript, request.schema), ...answer.patch }),
        ),
      ];
      break;
    case "refusal":
      content = [{ type: "refusal", refusal: answer.refusal }];
      break;
    case "incomplete":
      status = "incomplete";
      incomplete = { reason: answer.reason };
      // What had been written when it stopped: JSON cut short.
      content = [outputText(good().slice(0, 20))];
      break;
    case "failed":
      status = "failed";
      error = { code: answer.code, message: answer.message };
      break;
    default:
      content = [outputText(good())];
  }
  const written = content.map((part) => String(part.text ?? part.refusal ?? "")).join("");
  const inputTokens = tokens(
    (request.instructions ?? "") + request.transcript + JSON.stringify(request.schema),
  );
  const outputTokens = status === "failed" ? 0 : tokens(written);
  const createdAt = Math.floor(Date.now() / 1000);
  return {
    id: `resp_${hex(24)}`,
    object: "response",
    created_at: createdAt,
    status,
    ...(status === "completed" ? { completed_at: createdAt } : {}),
    error,
    incomplete_details: incomplete,
    instructions: request.instructions,
    max_output_tokens: request.maxOutputTokens,
    metadata: {},
    model: request.model,
    output:
      status === "failed"
        ? []
        : [
            {
              id: `msg_${hex(24)}`,
              type: "message",
              status: status === "incomplete" ? "incomplete" : "completed",
              role: "assistant",
              content,
            },
          ],
    parallel_tool_calls: true,
    previous_response_id: null,
    store: request.store,
    temperature: 1,
    text: {
      format: {
        type: "json_schema",
        name: request.name,
        schema: request.schema as JsonObject,
        strict: request.strict,
      },
    },
    tool_choice: "auto",
    tools: [],
    top_p: 1,
    truncation: "disabled",
    usage: {
      input_tokens: inputTokens,
      input_tokens_details: { cached_tokens: 0 },
      output_tokens: outputTokens,
      output_tokens_details: { reasoning_tokens: 0 },
      total_tokens: inputTokens + outputTokens,
    },
  };
}

const outputText = (text: string): JsonObject => ({ type: "output_text", annotations: [], text });

function readBody(req: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(
          new RequestError(413, {
            message: `Request body is over ${maxBytes} bytes.`,
            type: "invalid_request_error",
            param: null,
            code: null,
          }),
        );
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
