import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { openDatabase } from "../../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../../src/adapters/sqlite/drizzle-call-repository.ts";
import { migrateDatabase } from "../../src/adapters/sqlite/migrate.ts";
import { CALL_SORT_FIELDS, SORT_ORDERS } from "../../src/application/call-list-sort.ts";
import type {
  CallListQuery,
  CallRepository,
  TranscriptSearchPosition,
  TranscriptSearchQuery,
} from "../../src/application/ports/index.ts";
import { CALL_STATUSES, type Call } from "../../src/domain/call.ts";
import { isDomainError } from "../../src/domain/errors.ts";
import {
  aCall,
  anAnalytics,
  aRecording,
  aTranscript,
  MIGRATIONS,
} from "../adapters/sqlite/sqlite-test-world.ts";
import { InMemoryCallRepository } from "../support/in-memory-call-repository.ts";

/**
 * The in-memory repository against DrizzleCallRepository: random sequences of writes and reads
 * run on both, and every answer (value, or DomainError code and message) must be the same. This
 * holds the fake to the adapter's behaviour where the contract suites cannot (they assert
 * through a SQLite connection of their own).
 */

const TIMES = [
  "2026-01-01T10:00:00.000Z",
  "2026-01-01T10:00:00.000Z",
  "2026-01-01T09:00:00.000Z",
  "2026-01-01T11:00:00.500Z",
].map((iso) => new Date(iso));
const CALL_IDS = ["a", "b", "c", "Ω", "ab"];
const STREAM_SIDS = ["MZa", "MZ1", "MZ2"];
const CALLERS = ["+15550001111", "+15550002222", null];
// Sentence ends (`ok.`, `note:`) and diacritics exercise FTS5's snippet and tokenizer.
const VOCABULARY = [
  "order",
  "refund",
  "the",
  "e-mail",
  "Café",
  "ORDER",
  "late",
  "ok.",
  "note:",
  "Zoë",
];
const QUERY_WORDS = [
  "order",
  "refund",
  "e-mail",
  "cafe",
  "late",
  "zoe",
  "mail",
  "the",
  "!!!",
  "ok",
];

const time = fc.constantFrom(...TIMES);
const callId = fc.constantFrom(...CALL_IDS);

const callArb: fc.Arbitrary<CallInput> = fc.record({
  id: callId,
  // Mostly the call's own streamSid, so that updates succeed; sometimes one another call has.
  streamSid: fc.constantFrom(undefined, undefined, undefined, ...STREAM_SIDS),
  caller: fc.constantFrom(...CALLERS),
  callSid: fc.constantFrom("CA1", "CA2", null),
  status: fc.constantFrom(...CALL_STATUSES),
  startedAt: time,
  endedAt: fc.option(time, { nil: null }),
  durationSeconds: fc.constantFrom(null, 12.345),
});

const baseCall = {
  streamSid: undefined,
  caller: "+15550001111",
  callSid: "CA1",
  status: "active" as const,
  endedAt: null,
  durationSeconds: null,
};

const text = fc
  .array(fc.constantFrom(...VOCABULARY), { minLength: 1, maxLength: 20 })
  .chain((words) => fc.constantFrom(words.join(" "), words.join(", ")));

const query = fc.array(fc.constantFrom(...QUERY_WORDS), { minLength: 1, maxLength: 2 });

type CallInput = {
  id: string;
  streamSid: string | undefined;
  caller: string | null;
  callSid: string | null;
  status: Call["status"];
  startedAt: Date;
  endedAt: Date | null;
  durationSeconds: number | null;
};

type Op =
  | { op: "createCall" | "updateCall"; call: CallInput }
  | { op: "getCall"; id: string; streamSid: string }
  | { op: "list"; query: Omit<CallListQuery, "after"> }
  | { op: "active" }
  | { op: "deleteCall"; id: string }
  | { op: "createRecording"; id: string; callId: string; createdAt: Date; fileKey: string }
  | { op: "recordings"; id: string; callId: string; before: Date; limit: number }
  | { op: "deleteRecording"; id: string }
  | {
      op: "createTranscript";
      id: string;
      callId: string;
      text: string;
      speaker: "caller" | "assistant";
      offsetMs: number | null;
    }
  /** With `heardText`, what the caller heard of it: search then matches those words only. */
  | { op: "interrupt"; id: string; heardText: string | null }
  | { op: "transcripts"; callId: string }
  | { op: "search"; query: Omit<TranscriptSearchQuery, "after"> }
  | { op: "createAnalytics"; id: string; callId: string; createdAt: Date }
  | { op: "analytics"; callId: string }
  | { op: "metadata"; callId: string; language: string | null; n: number };

const searchArb = fc.record({
  op: fc.constant("search" as const),
  query: fc.record(
    {
      q: query.map((words) => words.join(" ")),
      limit: fc.integer({ min: 1, max: 4 }),
      sort: fc.constantFrom("relevance" as const, "recent" as const),
      speaker: fc.constantFrom("caller" as const, "assistant" as const),
      offset: fc.integer({ min: 0, max: 2 }),
    },
    { requiredKeys: ["q", "limit"] },
  ),
});

const transcriptArb = (ids: fc.Arbitrary<string>, callIds: fc.Arbitrary<string>) =>
  fc.record({
    op: fc.constant("createTranscript" as const),
    id: ids,
    callId: callIds,
    text,
    speaker: fc.constantFrom("caller" as const, "assistant" as const),
    offsetMs: fc.constantFrom(null, 0, 100, 100, 2500),
  });

/** Mostly transcripts and searches: pages of hits, rankings, snippets, deletes in between. */
const corpusArb: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 8,
    arbitrary: transcriptArb(
      fc.integer({ min: 0, max: 80 }).map((n) => `t${n}`),
      fc.constantFrom("a", "b", "c"),
    ),
  },
  { weight: 4, arbitrary: searchArb },
  fc.record({
    op: fc.constant("interrupt" as const),
    id: fc.constantFrom("t1", "t2", "t3"),
    heardText: fc.option(text, { nil: null }),
  }),
  fc.record({ op: fc.constant("deleteCall" as const), id: fc.constantFrom("b", "c") }),
);

const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 2, arbitrary: callArb.map((call) => ({ op: "createCall" as const, call })) },
  { weight: 3, arbitrary: callArb.map((call) => ({ op: "updateCall" as const, call })) },
  fc.record({
    op: fc.constant("getCall" as const),
    id: callId,
    streamSid: fc.constantFrom(...STREAM_SIDS),
  }),
  fc.record({
    op: fc.constant("list" as const),
    query: fc.record(
      {
        limit: fc.integer({ min: 0, max: 3 }),
        status: fc.constantFrom(...CALL_STATUSES),
        caller: fc.constantFrom("+15550001111", "+15550002222"),
        callSid: fc.constantFrom("CA1", "CA2"),
        streamSid: fc.constantFrom(...STREAM_SIDS),
        since: time,
        until: time,
        sort: fc.record({
          field: fc.constantFrom(...CALL_SORT_FIELDS),
          order: fc.constantFrom(...SORT_ORDERS),
        }),
      },
      { requiredKeys: ["limit"] },
    ),
  }),
  fc.constant({ op: "active" as const }),
  fc.record({ op: fc.constant("deleteCall" as const), id: callId }),
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant("createRecording" as const),
      id: fc.constantFrom("r1", "r2", "r3"),
      callId,
      createdAt: time,
      fileKey: fc.constantFrom("MZ1_1.wav", "MZ1_1_conversation.wav"),
    }),
  },
  fc.record({
    op: fc.constant("recordings" as const),
    id: fc.constantFrom("r1", "r2"),
    callId,
    before: time,
    limit: fc.integer({ min: 0, max: 3 }),
  }),
  fc.record({ op: fc.constant("deleteRecording" as const), id: fc.constantFrom("r1", "r2") }),
  {
    weight: 5,
    arbitrary: transcriptArb(fc.constantFrom("t1", "t2", "t3", "t4", "t5", "t6"), callId),
  },
  fc.record({
    op: fc.constant("interrupt" as const),
    id: fc.constantFrom("t1", "t2", "t9"),
    heardText: fc.option(text, { nil: null }),
  }),
  fc.record({ op: fc.constant("transcripts" as const), callId }),
  { weight: 4, arbitrary: searchArb },
  fc.record({
    op: fc.constant("createAnalytics" as const),
    id: fc.constantFrom("a1", "a2", "a3"),
    callId,
    createdAt: time,
  }),
  fc.record({ op: fc.constant("analytics" as const), callId }),
  fc.record({
    op: fc.constant("metadata" as const),
    callId,
    language: fc.constantFrom("en", null),
    n: fc.integer({ min: 0, max: 3 }),
  }),
);

type Outcome = { ok: unknown } | { error: string; message: string };

async function outcome(work: () => Promise<unknown>): Promise<Outcome> {
  try {
    return { ok: await work() };
  } catch (error) {
    if (!isDomainError(error)) throw error;
    return { error: error.code, message: error.message };
  }
}

/** Follows `next` from page to page, so that paging (`after`) is compared too. */
async function allCallPages(repository: CallRepository, query: Omit<CallListQuery, "after">) {
  const pages: unknown[] = [];
  let after: CallListQuery["after"];
  for (let page = 0; page < 8; page++) {
    const result = await repository.getAllCalls({ ...query, after });
    pages.push(result);
    if (result.next === null || query.limit === 0) break;
    after = result.next;
  }
  return pages;
}

async function searchPages(
  repository: CallRepository,
  query: Omit<TranscriptSearchQuery, "after">,
) {
  const pages: unknown[] = [];
  let after: TranscriptSearchPosition | undefined;
  for (let page = 0; page < 4; page++) {
    const hits = await repository.searchTranscripts({ ...query, after });
    pages.push(hits);
    if (hits.length < query.limit) break;
    after = hits.at(-1)?.next;
  }
  return pages;
}

/** aCall's overrides, where no streamSid means the call's own (`MZ<id>`). */
function withStreamSid(call: CallInput): Partial<Call> {
  return { ...call, streamSid: call.streamSid ?? `MZ${call.id}` };
}

function apply(repository: CallRepository, step: Op): Promise<unknown> {
  switch (step.op) {
    case "createCall":
      return repository.createCall(aCall(step.call.id, withStreamSid(step.call)));
    case "updateCall":
      return repository.updateCall(aCall(step.call.id, withStreamSid(step.call)));
    case "getCall":
      return Promise.all([
        repository.getCallById(step.id),
        repository.getCallByStreamSid(step.streamSid),
      ]);
    case "list":
      return allCallPages(repository, step.query);
    case "active":
      return repository.getActiveCalls();
    case "deleteCall":
      return repository.deleteCall(step.id);
    case "createRecording":
      return repository.createRecording(
        aRecording(step.id, step.callId, { createdAt: step.createdAt, fileKey: step.fileKey }),
      );
    case "recordings":
      return Promise.all([
        repository.getRecordingById(step.id),
        repository.getRecordingsByCallId(step.callId),
        repository.getRecordingsOfCallsStartedBefore(step.before, step.limit),
      ]);
    case "deleteRecording":
      return repository.deleteRecording(step.id);
    case "createTranscript":
      return repository.createTranscript(
        aTranscript(step.id, step.callId, step.text, {
          speaker: step.speaker,
          offsetMs: step.offsetMs,
        }),
      );
    case "interrupt":
      return step.heardText === null
        ? repository.markTranscriptInterrupted(step.id)
        : repository.markTranscriptInterrupted(step.id, {
            heardMs: 400,
            generatedMs: 1000,
            heardText: step.heardText,
          });
    case "transcripts":
      return Promise.all([
        repository.getTranscriptsByCallId(step.callId),
        repository.countTranscriptsByCallId(step.callId),
      ]);
    case "search":
      return searchPages(repository, step.query);
    case "createAnalytics":
      return repository.createAnalytics(
        anAnalytics(step.id, step.callId, {
          createdAt: step.createdAt,
          customMetrics: { n: 1, nested: { list: [1, "x", null] } },
        }),
      );
    case "analytics":
      return Promise.all([
        repository.getAnalyticsByCallId(step.callId),
        repository.countAnalyticsByCallId(step.callId),
      ]);
    case "metadata":
      return repository
        .createOrUpdateMetadata({
          callId: step.callId,
          language: step.language,
          region: null,
          deviceType: "mobile",
          networkQuality: null,
          customData: step.n === 0 ? null : { n: step.n },
          updatedAt: TIMES[step.n]!,
        })
        .then(() => repository.getMetadataByCallId(step.callId));
  }
}

/** A fresh, migrated in-memory SQLite database behind the real adapter. */
function sqliteRepository() {
  const { db, sqlite } = openDatabase(":memory:");
  migrateDatabase(sqlite, MIGRATIONS);
  const repository = new DrizzleCallRepository(db, sqlite);
  return {
    repository,
    close() {
      repository.flush();
      sqlite.close();
    },
  };
}

/** Runs `random` after creating calls a, b and c on both repositories; every answer must match. */
async function bothAnswerAlike(random: Op[]): Promise<void> {
  // Calls to hang rows on, so that most child writes succeed; random ones add and end more.
  const steps: Op[] = [
    ...["a", "b", "c"].map((id, i) => ({
      op: "createCall" as const,
      call: { ...baseCall, id, startedAt: TIMES[i]! },
    })),
    ...random,
  ];
  const sqlite = sqliteRepository();
  const memory = new InMemoryCallRepository();
  try {
    for (const [i, step] of steps.entries()) {
      const expected = await outcome(() => apply(sqlite.repository, step));
      const actual = await outcome(() => apply(memory, step));
      expect(actual, `step ${i}: ${JSON.stringify(step)}`).toEqual(expected);
    }
  } finally {
    sqlite.close();
  }
}

describe("InMemoryCallRepository against DrizzleCallRepository", () => {
  it("answers every sequence of operations as the SQLite adapter does", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 1, maxLength: 40 }), bothAnswerAlike),
      { numRuns: 150 },
    );
  });

  it("searches, ranks, pages and cuts snippets as the SQLite adapter does", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(corpusArb, { minLength: 10, maxLength: 80 }), bothAnswerAlike),
      { numRuns: 200 },
    );
  });
});
