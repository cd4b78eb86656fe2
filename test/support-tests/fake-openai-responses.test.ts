import { afterEach, describe, expect, it } from "vitest";
import {
  type FakeResponsesOptions,
  FakeResponsesServer,
  fakeAnalysis,
} from "../support/fake-openai-responses.ts";

const KEY = "sk-test-fake";

const STRICT_SCHEMA = {
  type: "object",
  properties: {
    summary: { type: "string" },
    outcome: { type: "string", enum: ["resolved", "unresolved", "needs_follow_up", "spam"] },
  },
  required: ["summary", "outcome"],
  additionalProperties: false,
};

const TRANSCRIPT = [
  "[0:01] Assistant: Hello, how can I help?",
  "[0:04] Caller: I want a refund for order 1234",
  "[0:09] Assistant: I can help with that.",
  "[0:15] Caller: Great, thanks",
].join("\n");

function requestBody(overrides: Record<string, unknown> = {}, transcript = TRANSCRIPT) {
  return {
    model: "gpt-4.1-mini",
    instructions: "Analyse the call.",
    input: [{ role: "user", content: transcript }],
    text: {
      format: { type: "json_schema", name: "call_analysis", schema: STRICT_SCHEMA, strict: true },
    },
    store: false,
    ...overrides,
  };
}

interface ErrorJson {
  message: string;
  type: string;
  param: string | null;
  code: string | null;
}
interface OutputItem {
  type: string;
  role?: string;
  status?: string;
  content: { type: string; text?: string; refusal?: string }[];
}
/** What the tests read of an answer: a Response or an error body. */
interface WireJson {
  [key: string]: unknown;
  id?: string;
  error?: ErrorJson | null;
  output?: OutputItem[];
  usage?: { input_tokens: number; output_tokens: number; total_tokens: number };
}

const servers: FakeResponsesServer[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

async function startFake(options: Partial<FakeResponsesOptions> = {}) {
  const server = await FakeResponsesServer.start(options);
  servers.push(server);
  return server;
}

async function post(
  server: FakeResponsesServer,
  body: unknown,
  key: string | null = KEY,
  path = "/v1/responses",
) {
  const response = await fetch(`${server.url}${path}`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(key === null ? {} : { authorization: `Bearer ${key}` }),
    },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return {
    status: response.status,
    headers: response.headers,
    json: (await response.json()) as WireJson,
  };
}

/** The output_text parts of a Response, joined, as the SDK's output_text computes it. */
function outputText(response: WireJson): string {
  return (response.output ?? [])
    .filter((item) => item.type === "message")
    .flatMap((item) => item.content)
    .filter((part) => part.type === "output_text")
    .map((part) => part.text ?? "")
    .join("");
}

describe("fake OpenAI Responses API", () => {
  it("answers a Response whose output_text fits the schema and follows the transcript", async () => {
    const server = await startFake();
    const { status, json } = await post(server, requestBody());
    expect(status).toBe(200);
    expect(json).toMatchObject({
      object: "response",
      status: "completed",
      error: null,
      incomplete_details: null,
      model: "gpt-4.1-mini",
      store: false,
    });
    expect(json.id).toMatch(/^resp_/);
    expect(json.output).toHaveLength(1);
    expect(json.output?.[0]).toMatchObject({
      type: "message",
      role: "assistant",
      status: "completed",
    });
    const usage = json.usage!;
    expect(usage.input_tokens).toBeGreaterThan(0);
    expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);
    // The SDK computes output_text; the API does not send it.
    expect(json.output_text).toBeUndefined();
    const analysis = JSON.parse(outputText(json));
    expect(Object.keys(analysis).sort()).toEqual(["outcome", "summary"]);
    expect(analysis.summary).toContain("I want a refund for order 1234");
    // "refund" outranks "thanks".
    expect(analysis.outcome).toBe("needs_follow_up");
  });

  it("gives different calls different analyses", async () => {
    const server = await startFake();
    const thanks = await post(server, requestBody({}, "Caller: my order arrived, thank you"));
    const nothing = await post(server, requestBody({}, "Caller: the line keeps dropping"));
    const spam = await post(server, requestBody({}, "Caller: congratulations, you are our winner"));
    const a = JSON.parse(outputText(thanks.json));
    const b = JSON.parse(outputText(nothing.json));
    const c = JSON.parse(outputText(spam.json));
    expect(a).toEqual({
      summary: 'The caller said: "my order arrived, thank you" (1 caller turns).',
      outcome: "resolved",
    });
    expect(b.outcome).toBe("unresolved");
    expect(b.summary).toContain("the line keeps dropping");
    expect(c.outcome).toBe("spam");
  });

  it("picks only outcomes the schema allows", () => {
    const schema = {
      ...STRICT_SCHEMA,
      properties: {
        ...STRICT_SCHEMA.properties,
        outcome: { type: "string", enum: ["sale", "no_sale"] },
      },
    };
    expect(fakeAnalysis("Caller: thanks a lot", schema).outcome).toBe("sale");
  });

  it("fills the operator's fields from the transcript, null where a nullable one is not mentioned", () => {
    const schema = {
      type: "object",
      properties: {
        summary: { type: "string" },
        fields: {
          type: "object",
          properties: {
            order_number: { anyOf: [{ type: "string" }, { type: "null" }] },
            wants_refund: { type: "boolean" },
            callback_phone: { anyOf: [{ type: "string" }, { type: "null" }] },
            turns: { type: "integer" },
            topic: { type: "string", enum: ["billing", "refund", "delivery"] },
            tags: { type: "array", items: { type: "string" } },
          },
          required: ["order_number", "wants_refund", "callback_phone", "turns", "topic", "tags"],
          additionalProperties: false,
        },
      },
      required: ["summary", "fields"],
      additionalProperties: false,
    };
    const analysis = fakeAnalysis(TRANSCRIPT, schema);
    expect(analysis.fields).toEqual({
      order_number: "I want a refund for order 1234",
      wants_refund: true,
      callback_phone: null,
      turns: 2,
      topic: "refund",
      tags: ["I want a refund for order 1234"],
    });
  });

  it("refuses a missing or wrong key with the API's 401 body", async () => {
    const server = await startFake();
    const none = await post(server, requestBody(), null);
    expect(none.status).toBe(401);
    expect(none.json).toEqual({
      error: {
        message: expect.stringContaining("You didn't provide an API key"),
        type: "invalid_request_error",
        param: null,
        code: null,
      },
    });
    const wrong = await post(server, requestBody(), "sk-wrong-key-123456");
    expect(wrong.status).toBe(401);
    expect(wrong.json.error).toMatchObject({
      type: "invalid_request_error",
      code: "invalid_api_key",
    });
    expect(wrong.json.error?.message).toContain("Incorrect API key provided: sk-********3456.");
    expect(wrong.json.error?.message).not.toContain("wrong-key");
  });

  it("accepts any key when made without one", async () => {
    const server = await startFake({ apiKey: null });
    expect((await post(server, requestBody(), null)).status).toBe(200);
  });

  it.each([
    [{ model: undefined }, "model", "missing_required_parameter"],
    [{ input: undefined }, "input", "missing_required_parameter"],
    [{ text: undefined }, "text.format.type", null],
    [{ text: { format: { type: "text" } } }, "text.format.type", null],
    [
      {
        text: {
          format: { type: "json_schema", name: "bad name!", schema: STRICT_SCHEMA, strict: true },
        },
      },
      "text.format.name",
      "invalid_value",
    ],
    [{ max_output_tokens: 3 }, "max_output_tokens", "integer_below_min_value"],
  ])(
    "refuses an invalid request %j with a 400 naming the parameter",
    async (patch, param, code) => {
      const server = await startFake();
      const { status, json } = await post(server, requestBody(patch));
      expect(status).toBe(400);
      expect(json.error).toMatchObject({ type: "invalid_request_error", param, code });
    },
  );

  it("refuses a body that is not JSON", async () => {
    const server = await startFake();
    const { status, json } = await post(server, "{not json");
    expect(status).toBe(400);
    expect(json.error?.message).toMatch(/could not parse the JSON body/);
  });

  it("refuses a strict schema with an open object or an optional property, as the API does", async () => {
    const server = await startFake();
    const open = { ...STRICT_SCHEMA, additionalProperties: undefined };
    const openAnswer = await post(
      server,
      requestBody({
        text: { format: { type: "json_schema", name: "x", schema: open, strict: true } },
      }),
    );
    expect(openAnswer.status).toBe(400);
    expect(openAnswer.json.error).toEqual({
      message:
        "Invalid schema for response_format 'x': In context=(), 'additionalProperties' is required to be supplied and to be false.",
      type: "invalid_request_error",
      param: "text.format.schema",
      code: "invalid_json_schema",
    });
    const optional = { ...STRICT_SCHEMA, required: ["summary"] };
    const optionalAnswer = await post(
      server,
      requestBody({
        text: { format: { type: "json_schema", name: "x", schema: optional, strict: true } },
      }),
    );
    expect(optionalAnswer.status).toBe(400);
    expect(optionalAnswer.json.error?.message).toContain("Missing 'outcome'");
    // Without strict the same schema is taken.
    const loose = await post(
      server,
      requestBody({
        text: { format: { type: "json_schema", name: "x", schema: open, strict: false } },
      }),
    );
    expect(loose.status).toBe(200);
  });

  it("answers 404 off its one route", async () => {
    const server = await startFake();
    const { status, json } = await post(server, requestBody(), KEY, "/v1/chat/completions");
    expect(status).toBe(404);
    expect(json.error?.message).toBe("Invalid URL (POST /v1/chat/completions)");
  });

  it("fails the next requests as asked, with the API's bodies and any headers, then recovers", async () => {
    const server = await startFake();
    server.failNext(1, 429, {}, { "retry-after": "2" });
    server.failNext(1, 500);
    server.failNext(1, 429, {
      type: "insufficient_quota",
      code: "insufficient_quota",
      message: "You exceeded your current quota, please check your plan and billing details.",
    });
    const first = await post(server, requestBody());
    expect(first.status).toBe(429);
    expect(first.headers.get("retry-after")).toBe("2");
    expect(first.json.error).toMatchObject({ code: "rate_limit_exceeded", param: null });
    const second = await post(server, requestBody());
    expect(second.status).toBe(500);
    expect(second.json.error).toEqual({
      message: "The server had an error while processing your request. Sorry about that!",
      type: "server_error",
      param: null,
      code: null,
    });
    const third = await post(server, requestBody());
    expect(third.json.error?.code).toBe("insufficient_quota");
    expect((await post(server, requestBody())).status).toBe(200);
    expect(server.requests.map((r) => r.status)).toEqual([429, 500, 429, 200]);
  });

  it("answers the next request as asked: other text, a patch, a refusal, incomplete, failed", async () => {
    const server = await startFake();
    server.answerNext({ kind: "output-text", text: "not json" });
    server.answerNext({ kind: "patch", patch: { outcome: "maybe" } });
    server.answerNext({ kind: "refusal", refusal: "I can't help with that." });
    server.answerNext({ kind: "incomplete", reason: "max_output_tokens" });
    server.answerNext({ kind: "failed", code: "server_error", message: "boom" });
    const texts = await post(server, requestBody());
    expect(outputText(texts.json)).toBe("not json");
    const patched = await post(server, requestBody());
    expect(JSON.parse(outputText(patched.json)).outcome).toBe("maybe");
    const refused = await post(server, requestBody());
    expect(refused.json.output?.[0]?.content).toEqual([
      { type: "refusal", refusal: "I can't help with that." },
    ]);
    const incomplete = await post(server, requestBody());
    expect(incomplete.json).toMatchObject({
      status: "incomplete",
      incomplete_details: { reason: "max_output_tokens" },
    });
    const failed = await post(server, requestBody());
    expect(failed.status).toBe(200);
    expect(failed.json).toMatchObject({
      status: "failed",
      error: { code: "server_error", message: "boom" },
      output: [],
    });
  });

  it("records requests, delays answers, counts concurrency and marks abandoned requests", async () => {
    const server = await startFake({ delayMs: 150 });
    const started = Date.now();
    await Promise.all([post(server, requestBody()), post(server, requestBody())]);
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(server.maxInFlight).toBe(2);
    expect(server.requests[0]?.headers.authorization).toBe(`Bearer ${KEY}`);
    expect(server.requests[0]?.body).toMatchObject({ model: "gpt-4.1-mini", store: false });

    const abandoned = fetch(`${server.url}/v1/responses`, {
      method: "POST",
      headers: { authorization: `Bearer ${KEY}` },
      body: JSON.stringify(requestBody()),
      signal: AbortSignal.timeout(30),
    });
    await expect(abandoned).rejects.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(server.requests[2]).toMatchObject({ abandoned: true, status: null });
    expect(server.inFlight).toBe(0);
  });

  it("waits for requests to arrive", async () => {
    const server = await startFake();
    const waiting = server.waitForRequests(2, 2_000);
    const answers = [post(server, requestBody()), post(server, requestBody())];
    await waiting;
    await Promise.all(answers);
    expect(server.requests).toHaveLength(2);
  });
});
