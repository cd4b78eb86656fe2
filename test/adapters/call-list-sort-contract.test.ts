import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type {
  CallFilter,
  CallListPosition,
  CallRepository,
  CallSort,
  CallSortField,
  SortOrder,
} from "../../src/application/ports/index.ts";
import { endCall } from "../../src/domain/call.ts";
import { isDomainError } from "../../src/domain/errors.ts";
import { InMemoryCallRepository } from "../support/in-memory-call-repository.ts";
import { describeEachWorld } from "./repository-worlds.ts";
import { aCall, at } from "./sqlite/sqlite-test-world.ts";

/**
 * The list's sorts (issue 20) on every adapter: paged with small pages through calls that tie on
 * the sorted value, on the start time and on both, and that have no value (live calls, a call
 * without a cost), under filters; the pages joined must be the order the test works out itself.
 */

const SUPPORT = "+18005550100";
const SALES = "+18005550199";

interface Seed {
  id: string;
  /** Time of day on 2026-03-01, UTC. */
  start: string;
  /** Null: still live, so no duration, cost or latency. */
  seconds: number | null;
  costUsd?: number | null;
  p95?: number | null;
  called: string;
}

// Ids are not in start order, so that the id tie-breaks are seen. 0.3 and 0.1 + 0.2 are
// neighbouring doubles: a position must carry its value exactly to land between them.
const SEEDS: Seed[] = [
  { id: "k", start: "10:00", seconds: 60, costUsd: 0.3, p95: 900, called: SUPPORT },
  { id: "b", start: "10:00", seconds: 60, costUsd: 0.1 + 0.2, p95: 900, called: SALES },
  { id: "m", start: "09:00", seconds: 60, costUsd: null, p95: null, called: SUPPORT },
  { id: "a", start: "11:00", seconds: 12.5, costUsd: 0.1, p95: 1200, called: SUPPORT },
  { id: "z", start: "11:00", seconds: 300, costUsd: 0.3, p95: 400, called: SALES },
  { id: "c", start: "08:00", seconds: 0, costUsd: 0, p95: 0, called: SUPPORT },
  { id: "n", start: "10:00", seconds: 45, costUsd: null, p95: null, called: SUPPORT },
  { id: "d", start: "10:00", seconds: 45.25, costUsd: 0.3, p95: 900, called: SUPPORT },
  { id: "q", start: "09:30", seconds: 45, costUsd: 1.75, p95: 2600, called: SALES },
  { id: "live1", start: "12:00", seconds: null, called: SUPPORT },
  { id: "live2", start: "12:00", seconds: null, called: SALES },
  { id: "live0", start: "07:00", seconds: null, called: SUPPORT },
];

const startOf = (seed: Seed) => at(`2026-03-01T${seed.start}:00.000Z`);

async function seed(repository: CallRepository): Promise<void> {
  for (const s of SEEDS) {
    const startedAt = startOf(s);
    const live = aCall(s.id, {
      startedAt,
      createdAt: startedAt,
      updatedAt: startedAt,
      called: s.called,
    });
    await repository.createCall(live);
    if (s.seconds === null) continue;
    const endedAt = new Date(startedAt.getTime() + s.seconds * 1000);
    await repository.updateCall(
      endCall(live, "completed", endedAt, {
        costUsd: s.costUsd ?? null,
        p95ResponseLatencyMs: s.p95 ?? null,
      }),
    );
  }
}

const sortedValue = (s: Seed, field: CallSortField): number | null => {
  switch (field) {
    case "startedAt":
      return startOf(s).getTime();
    case "durationSeconds":
      return s.seconds;
    case "costUsd":
      return s.seconds === null ? null : (s.costUsd ?? null);
    case "p95ResponseLatencyMs":
      return s.seconds === null ? null : (s.p95 ?? null);
  }
};

/**
 * The order worked out from the seeds: those with a value by (value, start, id), those without
 * by (start, id), each in the asked direction, the first before the second.
 */
function expectedIds(sort: CallSort, keep: (s: Seed) => boolean): string[] {
  const key = (s: Seed): [number, number, string] => [
    sortedValue(s, sort.field) ?? 0,
    startOf(s).getTime(),
    s.id,
  ];
  const ascending = (a: Seed, b: Seed) => {
    const [av, as, ai] = key(a);
    const [bv, bt, bi] = key(b);
    if (av !== bv) return av < bv ? -1 : 1;
    if (as !== bt) return as < bt ? -1 : 1;
    return ai < bi ? -1 : ai > bi ? 1 : 0;
  };
  const inOrder = (seeds: Seed[]) => {
    const sorted = [...seeds].sort(ascending);
    return sort.order === "asc" ? sorted : sorted.reverse();
  };
  const kept = SEEDS.filter(keep);
  const withValue = kept.filter((s) => sortedValue(s, sort.field) !== null);
  const without = kept.filter((s) => sortedValue(s, sort.field) === null);
  return [...inOrder(withValue), ...inOrder(without)].map((s) => s.id);
}

const FILTERS: { name: string; filter: CallFilter; keep: (s: Seed) => boolean }[] = [
  { name: "no filter", filter: {}, keep: () => true },
  { name: "called", filter: { called: SUPPORT }, keep: (s) => s.called === SUPPORT },
  {
    name: "since",
    filter: { since: at("2026-03-01T09:30:00.000Z") },
    keep: (s) => startOf(s).getTime() >= at("2026-03-01T09:30:00.000Z").getTime(),
  },
];

const SORTS: CallSort[] = (
  ["startedAt", "durationSeconds", "costUsd", "p95ResponseLatencyMs"] as const
).flatMap((field) => (["desc", "asc"] as const).map((order: SortOrder) => ({ field, order })));

/** Every page of a query, followed by its `next` positions. */
async function allPages(
  repository: CallRepository,
  query: CallFilter & { sort: CallSort; limit: number },
): Promise<string[][]> {
  const pages: string[][] = [];
  let after: CallListPosition | undefined;
  for (let guard = 0; guard <= SEEDS.length; guard++) {
    const page = await repository.getAllCalls({ ...query, after });
    expect(page.data.length).toBeLessThanOrEqual(query.limit);
    pages.push(page.data.map((call) => call.id));
    if (page.next === null) return pages;
    after = page.next;
  }
  throw new Error("paging did not end");
}

async function refusal(work: Promise<unknown>): Promise<string> {
  try {
    await work;
  } catch (error) {
    expect(isDomainError(error) && error.code).toBe("invalid_argument");
    return (error as Error).message;
  }
  throw new Error("the position was taken");
}

function sortSuite(open: () => Promise<{ repository: CallRepository; close(): Promise<void> }>) {
  let repository: CallRepository;
  let close: () => Promise<void>;
  beforeEach(async () => {
    ({ repository, close } = await open());
    await seed(repository);
  });
  afterEach(() => close());

  it.each(SORTS.map((sort) => [`${sort.field} ${sort.order}`, sort] as const))(
    "pages %s through ties and calls without a value, under each filter",
    async (_name, sort) => {
      for (const { name, filter, keep } of FILTERS) {
        const expected = expectedIds(sort, keep);
        for (const limit of [1, 2, 3, 50]) {
          const pages = await allPages(repository, { ...filter, sort, limit });
          expect(pages.flat(), `${name}, limit ${limit}`).toEqual(expected);
        }
      }
    },
  );

  it("leaves the default sort's positions as they were: startedAt and id alone", async () => {
    const page = await repository.getAllCalls({ limit: 2 });
    expect(page.data.map((call) => call.id)).toEqual(["live2", "live1"]);
    expect(page.next).toEqual({ startedAt: at("2026-03-01T12:00:00.000Z"), id: "live1" });
    const same = await repository.getAllCalls({
      limit: 2,
      sort: { field: "startedAt", order: "desc" },
      after: { startedAt: at("2026-03-01T12:00:00.000Z"), id: "live1" },
    });
    expect(same.data.map((call) => call.id)).toEqual(["z", "a"]);
  });

  it("hands out a position with the sort and the value, null among the calls without one", async () => {
    const byDuration: CallSort = { field: "durationSeconds", order: "desc" };
    const first = await repository.getAllCalls({ limit: 1, sort: byDuration });
    expect(first.next).toEqual({
      startedAt: at("2026-03-01T11:00:00.000Z"),
      id: "z",
      sort: byDuration,
      value: 300,
    });
    const last = await repository.getAllCalls({ limit: 10, sort: byDuration });
    expect(last.next).toEqual({
      startedAt: at("2026-03-01T12:00:00.000Z"),
      id: "live2",
      sort: byDuration,
      value: null,
    });
  });

  it("refuses a position issued for another sort or order", async () => {
    const byDuration: CallSort = { field: "durationSeconds", order: "desc" };
    const { next } = await repository.getAllCalls({ limit: 2, sort: byDuration });
    const after = next ?? undefined;
    expect(
      await refusal(
        repository.getAllCalls({ limit: 2, sort: { field: "costUsd", order: "desc" }, after }),
      ),
    ).toBe("cursor: was issued for sort=durationSeconds&order=desc, not sort=costUsd&order=desc");
    expect(
      await refusal(
        repository.getAllCalls({
          limit: 2,
          sort: { field: "durationSeconds", order: "asc" },
          after,
        }),
      ),
    ).toBe(
      "cursor: was issued for sort=durationSeconds&order=desc, not sort=durationSeconds&order=asc",
    );
    expect(await refusal(repository.getAllCalls({ limit: 2, after }))).toBe(
      "cursor: was issued for sort=durationSeconds&order=desc, not sort=startedAt&order=desc",
    );
    const newest = await repository.getAllCalls({ limit: 2 });
    expect(
      await refusal(
        repository.getAllCalls({ limit: 2, sort: byDuration, after: newest.next ?? undefined }),
      ),
    ).toBe("cursor: was issued for sort=startedAt&order=desc, not sort=durationSeconds&order=desc");
  });
}

describeEachWorld("the call list's sorts", (makeWorld) => {
  sortSuite(async () => {
    const world = await makeWorld();
    return { repository: world.repository, close: () => world.close() };
  });
});

// The fake the application's tests use holds to the same order.
describe("in memory: the call list's sorts", () => {
  sortSuite(async () => ({ repository: new InMemoryCallRepository(), close: async () => {} }));
});
