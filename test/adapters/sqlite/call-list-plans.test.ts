import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openDatabase } from "../../../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import { defaultMigrationsFolder, migrateDatabase } from "../../../src/adapters/sqlite/migrate.ts";
import type { CallListQuery } from "../../../src/application/ports/index.ts";
import { endCall } from "../../../src/domain/call.ts";
import { aCall } from "./sqlite-test-world.ts";

// On SQLite a filtered page picks its plan by how many calls match (fewCalls): few are read
// through the filter's index and sorted; more are found walking the order's index, with every
// condition written so that no index serves it (`+column`), and a duration range likewise. Both
// plans must give the same pages: one repository always takes the first, the other the second.

let dir: string;
let opened: ReturnType<typeof openDatabase>;
let byFilter: DrizzleCallRepository;
let byOrder: DrizzleCallRepository;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "callbridge-plans-"));
  opened = openDatabase(join(dir, "calls.db"));
  migrateDatabase(opened.sqlite, defaultMigrationsFolder());
  byFilter = new DrizzleCallRepository(opened.db, opened.sqlite, { fewCalls: 1_000_000 });
  byOrder = new DrizzleCallRepository(opened.db, opened.sqlite, { fewCalls: 0 });
  const day0 = Date.parse("2026-04-01T00:00:00Z");
  for (let i = 0; i < 90; i++) {
    const startedAt = new Date(day0 + (i % 30) * 3_600_000 + Math.floor(i / 30) * 1000);
    const live = aCall(`c${String(i).padStart(2, "0")}`, {
      startedAt,
      createdAt: startedAt,
      updatedAt: startedAt,
      caller: `+1555000${String(i % 17).padStart(4, "0")}`,
      called: i % 3 === 0 ? "+18005550001" : "+18005550002",
    });
    await byFilter.createCall(live);
    if (i % 11 === 0) continue;
    await byFilter.updateCall(
      endCall(
        live,
        i % 7 === 0 ? "failed" : "completed",
        new Date(startedAt.getTime() + (i % 13) * 10_000),
        {
          endReason: i % 7 === 0 ? "network_drop" : "caller_hung_up",
          turns: i % 5,
          costUsd: i % 4 === 0 ? null : (i % 9) / 100,
          sentiment: i % 2 === 0 ? "negative" : "neutral",
          networkQuality: "good",
          avgResponseLatencyMs: 500,
          p95ResponseLatencyMs: 600 + (i % 6) * 100,
          topic: null,
        },
      ),
    );
  }
});

afterAll(() => {
  opened.sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every page of a query, followed through its cursors. */
async function allPages(
  repository: DrizzleCallRepository,
  query: CallListQuery,
): Promise<string[]> {
  const ids: string[] = [];
  let after: CallListQuery["after"];
  for (let pages = 0; pages < 100; pages++) {
    const page = await repository.getAllCalls({ ...query, after });
    ids.push(...page.data.map((call) => call.id));
    if (page.next === null) return ids;
    after = page.next;
  }
  throw new Error("more than 100 pages");
}

const FIELDS = ["startedAt", "durationSeconds", "costUsd", "p95ResponseLatencyMs"] as const;
const FILTERS: Omit<CallListQuery, "limit">[] = [
  { status: "completed" },
  { called: "+18005550001", sentiment: "negative" },
  { since: new Date("2026-04-01T05:00:00Z"), until: new Date("2026-04-01T20:00:00Z") },
  { minDurationSeconds: 30, maxDurationSeconds: 90 },
  { callerDigits: "5550000012" },
  { callerDigits: "55" },
  { endReason: "network_drop", minDurationSeconds: 0 },
];

it("gives the same pages whether a filter's index or the order's index is read", async () => {
  let compared = 0;
  for (const filter of FILTERS) {
    for (const field of FIELDS) {
      for (const order of ["asc", "desc"] as const) {
        const query = { ...filter, limit: 7, sort: { field, order } };
        const expected = await allPages(byFilter, query);
        expect(expected.length, JSON.stringify(query)).toBeGreaterThan(0);
        expect(await allPages(byOrder, query), JSON.stringify(query)).toEqual(expected);
        compared++;
      }
    }
  }
  expect(compared).toBe(FILTERS.length * FIELDS.length * 2);
});
