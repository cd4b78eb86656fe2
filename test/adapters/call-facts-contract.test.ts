import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CallFilter } from "../../src/application/ports/index.ts";
import { type Call, endCall } from "../../src/domain/call.ts";
import { type CallFacts, NO_ANALYSIS } from "../../src/domain/call-review.ts";
import { describeEachWorld, type RepositoryWorld } from "./repository-worlds.ts";
import { aCall, at } from "./sqlite/sqlite-test-world.ts";

let world: RepositoryWorld;

const FACTS: CallFacts = {
  endReason: "caller_hung_up",
  turns: 6,
  costUsd: 0.0421,
  sentiment: "negative",
  networkQuality: "fair",
  avgResponseLatencyMs: 640,
  p95ResponseLatencyMs: 1210,
  topic: "I was charged twice for my order and want a refund",
};

/** A call stored live, then ended `seconds` later with `facts`. */
async function endedCall(
  id: string,
  startedAt: string,
  seconds: number,
  facts: Partial<CallFacts> & { caller?: string | null; called?: string | null } = {},
): Promise<Call> {
  const { caller, called, ...rest } = facts;
  const live = aCall(id, {
    startedAt: at(startedAt),
    createdAt: at(startedAt),
    updatedAt: at(startedAt),
    ...(caller !== undefined ? { caller } : {}),
    ...(called !== undefined ? { called } : {}),
  });
  await world.repository.createCall(live);
  const ended = endCall(live, "completed", new Date(at(startedAt).getTime() + seconds * 1000), {
    ...FACTS,
    ...rest,
  });
  return world.repository.updateCall(ended);
}

async function ids(filter: CallFilter): Promise<string[]> {
  const page = await world.repository.getAllCalls({ limit: 50, ...filter });
  return page.data.map((call) => call.id);
}

describeEachWorld("call facts and analysis", (makeWorld) => {
  beforeEach(async () => {
    world = await makeWorld();
  });
  afterEach(() => world.close());

  describe("facts stored at a call's end", () => {
    it("reads back every fact, the number dialled included, by id and in the list", async () => {
      const stored = await endedCall("c1", "2026-02-01T10:00:00.000Z", 95.5, {
        called: "+15557770000",
      });
      expect(stored).toMatchObject({ ...FACTS, called: "+15557770000", durationSeconds: 95.5 });
      expect(await world.repository.getCallById("c1")).toEqual(stored);
      const page = await world.repository.getAllCalls({ limit: 10 });
      expect(page.data).toEqual([stored]);
    });

    it("a live call has none; endCall without facts keeps the ones it has", async () => {
      const live = aCall("c1");
      await world.repository.createCall(live);
      expect(await world.repository.getCallById("c1")).toMatchObject({
        endReason: null,
        turns: null,
        costUsd: null,
        topic: null,
        ...NO_ANALYSIS,
      });
      const ended = endCall(live, "failed", at("2026-01-01T10:00:05.000Z"), {
        endReason: "server_crash",
      });
      await world.repository.updateCall(ended);
      expect(await world.repository.getCallById("c1")).toMatchObject({
        status: "failed",
        endReason: "server_crash",
        turns: null,
      });
    });
  });

  describe("setCallAnalysis", () => {
    it("stores the analysis, JSON fields included, and a later updateCall leaves it alone", async () => {
      const call = await endedCall("c1", "2026-02-01T10:00:00.000Z", 30);
      const analysis = {
        analysisStatus: "done" as const,
        summary: "Caller charged twice; refund promised within 5 days.",
        outcome: "resolved",
        analysisFields: { orderNumber: "A-1042", refund: true, amount: 19.5 },
      };
      expect(await world.repository.setCallAnalysis("c1", analysis)).toBe(true);
      expect(await world.repository.getCallById("c1")).toEqual({ ...call, ...analysis });
      // The call's own writes (its end, a recovery) never carry the analysis back over it.
      await world.repository.updateCall(call);
      expect(await world.repository.getCallById("c1")).toMatchObject(analysis);
      expect((await world.repository.getAllCalls({ limit: 1 })).data[0]).toMatchObject(analysis);
    });

    it("stores a status alone, and answers false for a call that does not exist", async () => {
      await endedCall("c1", "2026-02-01T10:00:00.000Z", 30);
      await world.repository.setCallAnalysis("c1", { ...NO_ANALYSIS, analysisStatus: "pending" });
      expect(await world.repository.getCallById("c1")).toMatchObject({
        analysisStatus: "pending",
        summary: null,
      });
      expect(
        await world.repository.setCallAnalysis("missing", {
          ...NO_ANALYSIS,
          analysisStatus: "off",
        }),
      ).toBe(false);
    });
  });

  describe("list filters", () => {
    beforeEach(async () => {
      await endedCall("a", "2026-02-01T10:00:00.000Z", 20, {
        caller: "+15551234567",
        called: "+15550000001",
        endReason: "caller_hung_up",
        sentiment: "positive",
      });
      await endedCall("b", "2026-02-02T10:00:00.000Z", 200, {
        caller: "+442071234567",
        called: "+15550000002",
        endReason: "network_drop",
        sentiment: "negative",
      });
      await endedCall("c", "2026-02-03T10:00:00.000Z", 65, {
        caller: "+15559876543",
        called: "+15550000001",
        endReason: "max_duration",
        sentiment: "neutral",
      });
      // A live call: no duration, no facts.
      await world.repository.createCall(
        aCall("live", { startedAt: at("2026-02-04T10:00:00.000Z"), caller: "+15551239999" }),
      );
      await world.repository.setCallAnalysis("a", {
        analysisStatus: "done",
        summary: "x",
        outcome: "resolved",
        analysisFields: null,
      });
      await world.repository.setCallAnalysis("b", {
        analysisStatus: "done",
        summary: "y",
        outcome: "needs_follow_up",
        analysisFields: null,
      });
    });

    it("matches any part of the caller's number, by digits", async () => {
      expect(await ids({ callerDigits: "1234567" })).toEqual(["b", "a"]);
      expect(await ids({ callerDigits: "555123" })).toEqual(["live", "a"]);
      expect(await ids({ callerDigits: "44207" })).toEqual(["b"]);
      expect(await ids({ callerDigits: "000000" })).toEqual([]);
    });

    it("filters by the number dialled, end reason, sentiment and outcome", async () => {
      expect(await ids({ called: "+15550000001" })).toEqual(["c", "a"]);
      expect(await ids({ endReason: "network_drop" })).toEqual(["b"]);
      expect(await ids({ sentiment: "neutral" })).toEqual(["c"]);
      expect(await ids({ outcome: "resolved" })).toEqual(["a"]);
      expect(await ids({ outcome: "spam" })).toEqual([]);
    });

    it("filters by a duration range, inclusive, leaving out calls still running", async () => {
      expect(await ids({ minDurationSeconds: 60 })).toEqual(["c", "b"]);
      expect(await ids({ maxDurationSeconds: 65 })).toEqual(["c", "a"]);
      expect(await ids({ minDurationSeconds: 20, maxDurationSeconds: 20 })).toEqual(["a"]);
    });

    it("combines filters with each other, the date range and keyset paging", async () => {
      expect(
        await ids({ called: "+15550000001", minDurationSeconds: 30, since: at("2026-02-01") }),
      ).toEqual(["c"]);
      const first = await world.repository.getAllCalls({ limit: 1, callerDigits: "555" });
      expect(first.data.map((c) => c.id)).toEqual(["live"]);
      const second = await world.repository.getAllCalls({
        limit: 5,
        callerDigits: "555",
        after: first.next ?? undefined,
      });
      expect(second.data.map((c) => c.id)).toEqual(["c", "a"]);
      expect(second.next).toBeNull();
    });
  });

  describe("getCallTotals", () => {
    it("adds up calls, minutes, failures, latency and cost, per UTC day, under a filter", async () => {
      await endedCall("a", "2026-02-01T10:00:00.000Z", 60, {
        costUsd: 0.1,
        avgResponseLatencyMs: 400,
        p95ResponseLatencyMs: 900,
      });
      await endedCall("b", "2026-02-01T23:59:59.000Z", 120, {
        costUsd: 0.2,
        avgResponseLatencyMs: 600,
        p95ResponseLatencyMs: 1500,
        endReason: "network_drop",
      });
      const failing = aCall("c", { startedAt: at("2026-02-03T08:00:00.000Z") });
      await world.repository.createCall(failing);
      await world.repository.updateCall(
        endCall(failing, "failed", at("2026-02-03T08:00:30.000Z"), {
          ...FACTS,
          costUsd: null,
          avgResponseLatencyMs: null,
          p95ResponseLatencyMs: null,
          endReason: "server_crash",
        }),
      );
      await world.repository.createCall(aCall("live", { startedAt: at("2026-02-03T09:00:00Z") }));

      const totals = await world.repository.getCallTotals({});
      expect(totals).toEqual({
        calls: 4,
        active: 1,
        failed: 1,
        minutes: 3.5,
        avgResponseLatencyMs: 500,
        p95ResponseLatencyMs: 1500,
        costUsd: 0.3,
        days: [
          { date: "2026-02-01", calls: 2, minutes: 3, failed: 0, costUsd: 0.3 },
          { date: "2026-02-03", calls: 2, minutes: 0.5, failed: 1, costUsd: null },
        ],
      });
      expect(await world.repository.getCallTotals({ endReason: "network_drop" })).toMatchObject({
        calls: 1,
        minutes: 2,
        p95ResponseLatencyMs: 1500,
        days: [{ date: "2026-02-01", calls: 1 }],
      });
      expect(await world.repository.getCallTotals({ since: at("2026-02-02") })).toMatchObject({
        calls: 2,
        avgResponseLatencyMs: null,
        p95ResponseLatencyMs: null,
        costUsd: null,
      });
    });

    it("is all zeros and nulls with no calls", async () => {
      expect(await world.repository.getCallTotals({})).toEqual({
        calls: 0,
        active: 0,
        failed: 0,
        minutes: 0,
        avgResponseLatencyMs: null,
        p95ResponseLatencyMs: null,
        costUsd: null,
        days: [],
      });
    });

    it("takes the nearest-rank 95th percentile of the calls' p95 latencies", async () => {
      for (let i = 1; i <= 40; i++) {
        await endedCall(`c${i}`, `2026-03-01T10:${String(i).padStart(2, "0")}:00.000Z`, 10, {
          p95ResponseLatencyMs: i * 10,
        });
      }
      // ceil(0.95 × 40) = 38th of 10, 20, … 400.
      expect((await world.repository.getCallTotals({})).p95ResponseLatencyMs).toBe(380);
    });
  });
});
