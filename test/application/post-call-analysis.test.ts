import { afterEach, describe, expect, it } from "vitest";
import { createLogger } from "../../src/adapters/logging/pino-logger.ts";
import {
  ResponsesAnalyzer,
  type ResponsesAnalyzerOptions,
} from "../../src/adapters/openai/responses-analyzer.ts";
import {
  PostCallAnalysis,
  type PostCallAnalysisDeps,
} from "../../src/application/post-call-analysis.ts";
import type { JsonObject } from "../../src/domain/analytics.ts";
import { endCall, startCall } from "../../src/domain/call.ts";
import type { AnalysisStatus } from "../../src/domain/call-review.ts";
import { createTranscript, type Speaker } from "../../src/domain/transcript.ts";
import { FakeResponsesServer } from "../support/fake-openai-responses.ts";
import { InMemoryCallRepository } from "../support/in-memory-call-repository.ts";
import { LogCapture } from "../support/log-capture.ts";

const KEY = "sk-test-fake";
const STARTED = new Date("2026-03-01T10:00:00.000Z");
const FAST_RETRY = { delaysMs: [10, 20, 40], maxDelayMs: 1_000 };

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const step of cleanup.reverse()) await step();
  cleanup = [];
});

interface World {
  repo: InMemoryCallRepository;
  fake: FakeResponsesServer;
  analysis: PostCallAnalysis;
  log: LogCapture;
}

async function world(
  deps: Partial<Omit<PostCallAnalysisDeps, "calls" | "logger">> = {},
  analyzerOptions: Partial<ResponsesAnalyzerOptions> = {},
  fakeOptions: Parameters<typeof FakeResponsesServer.start>[0] = {},
): Promise<World> {
  const fake = await FakeResponsesServer.start(fakeOptions);
  const repo = new InMemoryCallRepository();
  const log = new LogCapture();
  const analyzer = new ResponsesAnalyzer({
    baseUrl: fake.url,
    apiKey: KEY,
    model: "gpt-4.1-mini",
    outcomes: ["resolved", "unresolved", "needs_follow_up", "spam"],
    ...analyzerOptions,
  });
  const analysis = new PostCallAnalysis({
    calls: repo,
    analyzer,
    logger: createLogger("debug", log),
    retry: FAST_RETRY,
    ...deps,
  });
  cleanup.push(async () => {
    await analysis.close();
    await fake.close();
  });
  return { repo, fake, analysis, log };
}

let sequence = 0;

/** An ended call with these turns (speaker, words), stored as the server stores one. */
async function endedCall(
  repo: InMemoryCallRepository,
  turns: [Speaker, string][],
  { live = false } = {},
): Promise<string> {
  const n = ++sequence;
  const call = startCall({ id: `call-${n}`, streamSid: `MZ${n}`, startedAt: STARTED });
  await repo.createCall(call);
  for (const [i, [speaker, text]] of turns.entries()) {
    await repo.createTranscript(
      createTranscript({
        id: `t-${n}-${i}`,
        callId: call.id,
        speaker,
        text,
        offsetMs: i * 4_000,
        createdAt: STARTED,
      }),
    );
  }
  if (!live)
    await repo.updateCall(endCall(call, "completed", new Date(STARTED.getTime() + 60_000)));
  return call.id;
}

const REFUND: [Speaker, string][] = [
  ["assistant", "Hello, how can I help?"],
  ["caller", "I would like a refund for my order"],
  ["assistant", "I have passed that on."],
];

async function analysisOf(repo: InMemoryCallRepository, callId: string) {
  const call = await repo.getCallById(callId);
  if (call === null) throw new Error(`no call ${callId}`);
  const { analysisStatus, summary, outcome, analysisFields } = call;
  return { analysisStatus, summary, outcome, analysisFields };
}

/** The statuses written for a call, in order. */
function statusesOf(repo: InMemoryCallRepository, callId: string): (AnalysisStatus | null)[] {
  return repo
    .callsTo("setCallAnalysis")
    .filter(([id]) => id === callId)
    .map(([, analysis]) => analysis.analysisStatus);
}

describe("PostCallAnalysis", () => {
  it("marks an ended call pending, then stores the model's summary and outcome, in one log line", async () => {
    const { repo, fake, analysis, log } = await world();
    const callId = await endedCall(repo, REFUND);
    analysis.enqueue(callId);
    expect(analysis.pending).toBe(1);
    await analysis.idle();
    expect(await analysisOf(repo, callId)).toEqual({
      analysisStatus: "done",
      summary: 'The caller said: "I would like a refund for my order" (1 caller turns).',
      outcome: "needs_follow_up",
      analysisFields: null,
    });
    expect(statusesOf(repo, callId)).toEqual(["pending", "done"]);
    expect(fake.requests).toHaveLength(1);
    const [line] = log.withMessage("call analysed");
    expect(line).toMatchObject({
      component: "post-call-analysis",
      callId,
      outcome: "needs_follow_up",
      attempts: 1,
    });
    expect(line?.inputTokens).toBeGreaterThan(0);
    expect(analysis.pending).toBe(0);
  });

  it("gives different calls different analyses, and stores the operator's fields", async () => {
    const fields: JsonObject = {
      type: "object",
      properties: { wants_refund: { type: "boolean" }, caller_turns: { type: "integer" } },
      required: ["wants_refund", "caller_turns"],
    };
    const { repo, analysis } = await world({}, { fields });
    const refund = await endedCall(repo, REFUND);
    const thanks = await endedCall(repo, [
      ["caller", "Is my parcel on its way?"],
      ["assistant", "Yes, it arrives tomorrow."],
      ["caller", "Thank you!"],
    ]);
    analysis.enqueue(refund);
    analysis.enqueue(thanks);
    await analysis.idle();
    const a = await analysisOf(repo, refund);
    const b = await analysisOf(repo, thanks);
    expect(a).toMatchObject({
      outcome: "needs_follow_up",
      analysisFields: { wants_refund: true, caller_turns: 1 },
    });
    expect(b).toMatchObject({
      outcome: "resolved",
      summary: expect.stringContaining("Is my parcel on its way?"),
      analysisFields: { wants_refund: false, caller_turns: 2 },
    });
  });

  it("reads the words the caller heard of an interrupted answer and leaves failed transcriptions out", async () => {
    const { repo, fake, analysis } = await world();
    const callId = await endedCall(repo, [["caller", "Hi there"]]);
    await repo.createTranscript(
      createTranscript({
        id: "cut",
        callId,
        speaker: "assistant",
        text: "Let me read you all our terms and conditions in full",
        offsetMs: 5_000,
        cut: { heardMs: 500, generatedMs: 5_000, heardText: "Let me read" },
        createdAt: STARTED,
      }),
    );
    await repo.createTranscript(
      createTranscript({
        id: "lost",
        callId,
        speaker: "caller",
        text: "",
        failed: true,
        offsetMs: 9_000,
        createdAt: STARTED,
      }),
    );
    analysis.enqueue(callId);
    await analysis.idle();
    const body = fake.requests[0]?.body as { input: { content: string }[] };
    expect(body.input[0]?.content).toBe("[0:00] Caller: Hi there\n[0:05] Assistant: Let me read");
  });

  it("marks calls off without asking anything when there is no analyzer", async () => {
    const repo = new InMemoryCallRepository();
    const analysis = new PostCallAnalysis({
      calls: repo,
      analyzer: null,
      logger: createLogger("silent"),
    });
    const callId = await endedCall(repo, REFUND);
    analysis.enqueue(callId);
    await analysis.idle();
    expect(await analysisOf(repo, callId)).toEqual({
      analysisStatus: "off",
      summary: null,
      outcome: null,
      analysisFields: null,
    });
    await analysis.close();
  });

  it("stores done with nothing when the caller said nothing, without asking the model", async () => {
    const { repo, fake, analysis, log } = await world();
    const callId = await endedCall(repo, [["assistant", "Hello? Is anyone there?"]]);
    analysis.enqueue(callId);
    await analysis.idle();
    expect(await analysisOf(repo, callId)).toEqual({
      analysisStatus: "done",
      summary: null,
      outcome: null,
      analysisFields: null,
    });
    expect(fake.requests).toHaveLength(0);
    expect(log.withMessage("call analysed: the caller said nothing")).toHaveLength(1);
  });

  it("retries server errors with backoff, then stores the analysis", async () => {
    const { repo, fake, analysis, log } = await world();
    fake.failNext(2, 500);
    const callId = await endedCall(repo, REFUND);
    analysis.enqueue(callId);
    await analysis.idle();
    expect((await analysisOf(repo, callId)).analysisStatus).toBe("done");
    expect(fake.requests.map((r) => r.status)).toEqual([500, 500, 200]);
    const retries = log.withMessage("call analysis failed; it is retried");
    expect(retries.map((line) => line.retryInMs)).toEqual([10, 20]);
    expect(retries[0]).toMatchObject({ callId, kind: "server", status: 500, attempts: 1 });
    expect(log.withMessage("call analysed")[0]).toMatchObject({ attempts: 3 });
    expect(statusesOf(repo, callId)).toEqual(["pending", "done"]);
  });

  it("waits at least as long as a rate limit's retry-after asks", async () => {
    const { repo, fake, analysis } = await world();
    fake.failNext(1, 429, {}, { "retry-after-ms": "200" });
    const callId = await endedCall(repo, REFUND);
    analysis.enqueue(callId);
    await analysis.idle();
    const [first, second] = fake.requests;
    expect(second!.receivedAtMs - first!.receivedAtMs).toBeGreaterThanOrEqual(190);
    expect((await analysisOf(repo, callId)).analysisStatus).toBe("done");
  });

  it("marks the call failed once every retry has failed", async () => {
    const { repo, fake, analysis, log } = await world({
      retry: { delaysMs: [5, 5], maxDelayMs: 100 },
    });
    fake.failNext(10, 429);
    const callId = await endedCall(repo, REFUND);
    analysis.enqueue(callId);
    await analysis.idle();
    expect(await analysisOf(repo, callId)).toEqual({
      analysisStatus: "failed",
      summary: null,
      outcome: null,
      analysisFields: null,
    });
    expect(fake.requests).toHaveLength(3);
    expect(log.withMessage("call analysis failed")).toEqual([
      expect.objectContaining({ callId, attempts: 3, retryable: true, kind: "rate_limited" }),
    ]);
  });

  it("fails at once on a rejected key or an answer off the schema", async () => {
    const { repo, fake, analysis, log } = await world({}, { apiKey: "sk-wrong" });
    const callId = await endedCall(repo, REFUND);
    analysis.enqueue(callId);
    await analysis.idle();
    expect((await analysisOf(repo, callId)).analysisStatus).toBe("failed");
    expect(fake.requests).toHaveLength(1);
    expect(log.withMessage("call analysis failed")[0]).toMatchObject({
      kind: "auth",
      status: 401,
      retryable: false,
    });

    const other = await world();
    other.fake.answerNext({ kind: "patch", patch: { outcome: "escalated" } });
    const second = await endedCall(other.repo, REFUND);
    other.analysis.enqueue(second);
    await other.analysis.idle();
    expect((await analysisOf(other.repo, second)).analysisStatus).toBe("failed");
    expect(other.fake.requests).toHaveLength(1);
  });

  it("retries while the database is unavailable, and stores the result again if only its write failed", async () => {
    const { repo, fake, analysis } = await world();
    const callId = await endedCall(repo, REFUND);
    repo.failNext("getTranscriptsByCallId");
    analysis.enqueue(callId);
    await fake.waitForRequests(1);
    repo.failNext("setCallAnalysis");
    await analysis.idle();
    expect((await analysisOf(repo, callId)).analysisStatus).toBe("done");
    // The model was asked once: the failed write was retried with the answer kept.
    expect(fake.requests).toHaveLength(1);
    expect(statusesOf(repo, callId)).toEqual(["pending", "done", "done"]);
  });

  it("runs at most `concurrency` analyses at once and takes each call once", async () => {
    const { repo, fake, analysis } = await world({ concurrency: 2 }, {}, { delayMs: 60 });
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push(await endedCall(repo, REFUND));
    for (const id of ids) analysis.enqueue(id);
    analysis.enqueue(ids[0]!);
    await analysis.idle();
    expect(fake.maxInFlight).toBe(2);
    expect(fake.requests).toHaveLength(5);
    for (const id of ids) expect((await analysisOf(repo, id)).analysisStatus).toBe("done");
  });

  it("marks a call failed at once when too many are waiting", async () => {
    const { repo, analysis, log } = await world(
      { concurrency: 1, maxQueued: 1 },
      {},
      { delayMs: 50 },
    );
    const [a, b, c] = [
      await endedCall(repo, REFUND),
      await endedCall(repo, REFUND),
      await endedCall(repo, REFUND),
    ];
    analysis.enqueue(a);
    analysis.enqueue(b);
    analysis.enqueue(c);
    await analysis.idle();
    expect((await analysisOf(repo, a)).analysisStatus).toBe("done");
    expect((await analysisOf(repo, b)).analysisStatus).toBe("done");
    expect((await analysisOf(repo, c)).analysisStatus).toBe("failed");
    expect(
      log.withMessage("call analysis failed: too many calls are waiting for analysis"),
    ).toHaveLength(1);
  });

  it("skips a deleted call, and resets a call that is still live", async () => {
    const { repo, fake, analysis, log } = await world();
    analysis.enqueue("no-such-call");
    const live = await endedCall(repo, REFUND, { live: true });
    analysis.enqueue(live);
    await analysis.idle();
    expect(fake.requests).toHaveLength(0);
    expect(log.withMessage("call not analysed: it was deleted")).toHaveLength(1);
    expect(log.withMessage("call not analysed: it is still live")).toHaveLength(1);
    expect((await analysisOf(repo, live)).analysisStatus).toBeNull();
  });

  it("close() waits for analyses in flight, then takes no more calls", async () => {
    const { repo, analysis, log } = await world({ closeTimeoutMs: 5_000 }, {}, { delayMs: 100 });
    const callId = await endedCall(repo, REFUND);
    analysis.enqueue(callId);
    await analysis.close();
    expect((await analysisOf(repo, callId)).analysisStatus).toBe("done");
    const later = await endedCall(repo, REFUND);
    analysis.enqueue(later);
    expect((await analysisOf(repo, later)).analysisStatus).toBeNull();
    expect(log.withMessage("call not analysed: the server is stopping")).toHaveLength(1);
  });

  it("close() abandons what outlasts its timeout and cancels retries, leaving those calls pending", async () => {
    const { repo, fake, analysis, log } = await world(
      { closeTimeoutMs: 100, concurrency: 1, retry: { delaysMs: [60_000], maxDelayMs: 60_000 } },
      {},
      { delayMs: 10_000 },
    );
    const slow = await endedCall(repo, REFUND);
    const queued = await endedCall(repo, REFUND);
    analysis.enqueue(slow);
    analysis.enqueue(queued);
    await fake.waitForRequests(1);
    const started = Date.now();
    await analysis.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect((await analysisOf(repo, slow)).analysisStatus).toBe("pending");
    expect((await analysisOf(repo, queued)).analysisStatus).toBe("pending");
    expect(fake.requests).toHaveLength(1);
    expect(log.withMessage("calls left pending analysis at shutdown")[0]).toMatchObject({
      calls: 2,
    });

    const retrying = await world({ retry: { delaysMs: [60_000], maxDelayMs: 60_000 } });
    retrying.fake.failNext(1, 500);
    const callId = await endedCall(retrying.repo, REFUND);
    retrying.analysis.enqueue(callId);
    await retrying.fake.waitForRequests(1);
    await waitFor(
      () => retrying.log.withMessage("call analysis failed; it is retried").length === 1,
    );
    const before = Date.now();
    await retrying.analysis.close();
    expect(Date.now() - before).toBeLessThan(500);
    expect((await analysisOf(retrying.repo, callId)).analysisStatus).toBe("pending");
    await retrying.analysis.idle();
  });
});

async function waitFor(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
