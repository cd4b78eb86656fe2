import { afterEach, beforeEach, expect, it } from "vitest";
import type { CallFilter, CallRepository } from "../../src/application/ports/index.ts";
import { type Call, endCall } from "../../src/domain/call.ts";
import { END_REASONS } from "../../src/domain/call-review.ts";
import { InMemoryCallRepository } from "../support/in-memory-call-repository.ts";
import { describeEachWorld, type RepositoryWorld } from "./repository-worlds.ts";
import { aCall } from "./sqlite/sqlite-test-world.ts";

// The totals of a long period come from call_rollup (hourly sums kept by triggers on calls)
// plus the calls of the part-hours at its ends, and the percentile from either end of the p95
// index; a caller's digits are looked up in a trigram index of every number first. Whatever
// path a filter takes, the figures must be those of the calls themselves, which the in-memory
// repository adds up one by one.

let world: RepositoryWorld;

/** Deterministic, so a failure can be replayed: a linear congruential generator. */
function randomness(seed: number) {
  let state = seed;
  const next = () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
  return {
    next,
    int: (below: number) => Math.floor(next() * below),
    pick: <T>(values: readonly T[]): T => values[Math.floor(next() * values.length)]!,
  };
}

const DAY0 = Date.parse("2026-03-01T00:00:00.000Z");
const HOUR = 3_600_000;

/** The same writes on both repositories: starts, ends, analyses, and a few deletes. */
async function storeCalls(repositories: CallRepository[], count: number): Promise<void> {
  const random = randomness(20_261_207);
  const each = (work: (r: CallRepository) => Promise<unknown>) =>
    Promise.all(repositories.map(work));
  for (let i = 0; i < count; i++) {
    const startedAt = new Date(DAY0 + random.int(3 * 24 * HOUR) + random.int(1000));
    const live = aCall(`c${String(i).padStart(3, "0")}`, {
      startedAt,
      createdAt: startedAt,
      updatedAt: startedAt,
      caller: `+1555${String(random.int(10_000)).padStart(4, "0")}${i % 10}`,
      called: random.pick(["+15550000001", "+15550000002", null]),
    });
    await each((r) => r.createCall(live));
    if (random.next() < 0.15) continue; // still live
    // Milliseconds and micro-dollars, as the server stores them.
    const seconds = random.int(600_000) / 1000;
    const ended = endCall(
      live,
      random.next() < 0.2 ? "failed" : "completed",
      new Date(startedAt.getTime() + seconds * 1000),
      {
        endReason: random.pick(END_REASONS),
        turns: random.int(20),
        costUsd: random.next() < 0.2 ? null : random.int(500_000) / 1_000_000,
        sentiment: random.pick(["positive", "neutral", "negative", null] as const),
        networkQuality: "good",
        avgResponseLatencyMs: random.next() < 0.1 ? null : 300 + random.int(900),
        p95ResponseLatencyMs: random.next() < 0.1 ? null : 600 + random.int(2400),
        topic: null,
      },
    );
    await each((r) => r.updateCall(ended));
    if (random.next() < 0.5) {
      const outcome = random.pick(["resolved", "unresolved", "spam"]);
      await each((r) =>
        r.setCallAnalysis(live.id, {
          analysisStatus: "done",
          summary: "s",
          outcome,
          analysisFields: null,
        }),
      );
    }
    if (random.next() < 0.05) await each((r) => r.deleteCall(live.id));
  }
}

const at = (hours: number, minutes = 0) => new Date(DAY0 + hours * HOUR + minutes * 60_000);

/** Filters of every path: whole hours, part-hours at either end, facts, and none of those. */
const FILTERS: Record<string, CallFilter> = {
  everything: {},
  "whole hours": { since: at(5), until: at(53) },
  "part-hours at both ends": { since: at(5, 20), until: at(53, 40) },
  "open at the start, part-hour end": { until: at(30, 15) },
  "part-hour start, open end": { since: at(40, 45) },
  "inside one hour": { since: at(10, 5), until: at(10, 55) },
  "across two part-hours": { since: at(10, 30), until: at(11, 30) },
  "a day": { since: at(24), until: at(48) },
  "status live": { status: "active" },
  "status failed over part-hours": { status: "failed", since: at(2, 10), until: at(70, 10) },
  "end reason": { endReason: "caller_hung_up" },
  "sentiment over whole hours": { sentiment: "negative", since: at(12), until: at(60) },
  outcome: { outcome: "resolved" },
  called: { called: "+15550000002", since: at(1, 1) },
  "two facts (read from calls)": { outcome: "spam", sentiment: "positive" },
  "a duration range (read from calls)": { minDurationSeconds: 60, maxDurationSeconds: 300 },
  "caller digits": { callerDigits: "5551" },
  "caller digits and a period": { callerDigits: "555", since: at(6), until: at(40) },
};

describeEachWorld("call totals from the hourly rollup", (makeWorld) => {
  beforeEach(async () => {
    world = await makeWorld();
  });
  afterEach(() => world.close());

  it("equal the calls' own figures under every kind of filter, through ends, analyses and deletes", async () => {
    const reference = new InMemoryCallRepository();
    await storeCalls([world.repository, reference], 160);
    const someone = (await reference.getAllCalls({ limit: 1 })).data[0]?.caller ?? undefined;
    const filters = { ...FILTERS, "a caller's whole number": { caller: someone } };
    for (const [name, filter] of Object.entries(filters)) {
      const expected = await reference.getCallTotals(filter);
      expect(expected.calls, name).toBeGreaterThan(0);
      expect(await world.repository.getCallTotals(filter), name).toEqual(expected);
    }
  });

  it("keeps no share of a deleted call", async () => {
    const reference = new InMemoryCallRepository();
    await storeCalls([world.repository, reference], 30);
    for (const call of (await reference.getAllCalls({ limit: 200 })).data) {
      await world.repository.deleteCall(call.id);
    }
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

  it("finds calls by a part of the number however many numbers have it", async () => {
    // 520 numbers have "777" (more than a page reads by number; fewer than the totals do); one
    // has "4242".
    const calls: Call[] = [];
    for (let i = 0; i < 520; i++) {
      const startedAt = new Date(DAY0 + i * 60_000);
      calls.push(
        aCall(`n${String(i).padStart(3, "0")}`, {
          startedAt,
          createdAt: startedAt,
          updatedAt: startedAt,
          caller: i === 7 ? "+442070004242" : `+1777${String(i).padStart(6, "0")}`,
        }),
      );
    }
    for (const call of calls) await world.repository.createCall(call);
    const ids = async (callerDigits: string, limit = 5) =>
      (await world.repository.getAllCalls({ limit, callerDigits })).data.map((c) => c.id);
    const expected = (digits: string, limit = 5) =>
      calls
        .filter((c) => c.caller?.includes(digits))
        .map((c) => c.id)
        .reverse()
        .slice(0, limit);
    expect(await ids("777")).toEqual(["n519", "n518", "n517", "n516", "n515"]);
    expect((await world.repository.getCallTotals({ callerDigits: "777" })).calls).toBe(519);
    expect(await ids("4242")).toEqual(["n007"]);
    expect(await ids("0004242")).toEqual(["n007"]);
    expect(await ids("000424")).toEqual(expected("000424"));
    expect(await ids("77700051")).toEqual(expected("77700051"));
    expect(await ids("77700051")).toHaveLength(5);
    expect(await ids("99999")).toEqual([]);
    expect((await world.repository.getCallTotals({ callerDigits: "99999" })).calls).toBe(0);
    // Two digits have no trigram: every number is tested.
    expect(await ids("42", 3)).toEqual(expected("42", 3));
  });
});
