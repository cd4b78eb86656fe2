import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CallListQuery } from "../../../src/application/ports/index.ts";
import { endCall } from "../../../src/domain/call.ts";
import { DomainError } from "../../../src/domain/errors.ts";
import { describeEachWorld, type RepositoryWorld } from "../repository-worlds.ts";
import { aCall, at } from "./sqlite-test-world.ts";

let world: RepositoryWorld;

async function rejection(promise: Promise<unknown>): Promise<DomainError> {
  const error = await promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return error as DomainError;
}

/** Reads every page of a query and returns the ids in the order they were served. */
async function allPages(query: Omit<CallListQuery, "after">): Promise<string[][]> {
  const pages: string[][] = [];
  let after: CallListQuery["after"];
  for (let guard = 0; guard < 100; guard++) {
    const page = await world.repository.getAllCalls({ ...query, after });
    pages.push(page.data.map((c) => c.id));
    if (page.next === null) return pages;
    after = page.next;
  }
  throw new Error("paging did not end");
}

describeEachWorld("", (makeWorld, kind) => {
  beforeEach(async () => {
    world = await makeWorld();
  });
  afterEach(() => world.close());

  describe("DrizzleCallRepository calls", () => {
    it("stores a call and reads back every field by id and by streamSid", async () => {
      const call = aCall("c1", { caller: null, callSid: null });
      await world.repository.createCall(call);
      expect(await world.repository.getCallById("c1")).toEqual(call);
      expect(await world.repository.getCallByStreamSid("MZc1")).toEqual(call);
      expect(await world.repository.getCallById("missing")).toBeNull();
      expect(await world.repository.getCallByStreamSid("MZmissing")).toBeNull();
    });

    it("updates a call to its ended state, keeping millisecond precision", async () => {
      const call = aCall("c1", { startedAt: at("2026-01-01T10:00:00.123Z") });
      await world.repository.createCall(call);
      const ended = endCall(call, "completed", at("2026-01-01T10:03:20.456Z"));
      await world.repository.updateCall(ended);
      const stored = await world.repository.getCallById("c1");
      expect(stored).toEqual(ended);
      expect(stored?.durationSeconds).toBe(200.333);
      expect(stored?.endedAt?.getTime()).toBe(Date.parse("2026-01-01T10:03:20.456Z"));
    });

    it("refuses a second call with the same streamSid as a conflict without SQL in the message", async () => {
      await world.repository.createCall(aCall("c1"));
      const error = await rejection(
        world.repository.createCall(aCall("c2", { streamSid: "MZc1" })),
      );
      expect(error.code).toBe("conflict");
      expect(error.message).toContain("streamSid");
      expect(error.message).not.toMatch(/insert|constraint|calls\.|stream_sid/i);
      expect(await world.repository.getCallById("c2")).toBeNull();
    });

    it("refuses a second call with the same id as a conflict", async () => {
      await world.repository.createCall(aCall("c1"));
      const error = await rejection(
        world.repository.createCall(aCall("c1", { streamSid: "MZother" })),
      );
      expect(error.code).toBe("conflict");
    });

    it("reports updating an unknown call as not_found", async () => {
      const error = await rejection(world.repository.updateCall(aCall("ghost")));
      expect(error.code).toBe("not_found");
      expect(await world.repository.getCallById("ghost")).toBeNull();
    });

    it("lists only active calls as active", async () => {
      const done = aCall("c1");
      await world.repository.createCall(done);
      await world.repository.updateCall(endCall(done, "failed", at("2026-01-01T10:01:00Z")));
      await world.repository.createCall(aCall("c2", { startedAt: at("2026-01-01T11:00:00Z") }));
      await world.repository.createCall(aCall("c3", { startedAt: at("2026-01-01T09:00:00Z") }));
      const active = await world.repository.getActiveCalls();
      expect(active.map((c) => c.id)).toEqual(["c3", "c2"]);
    });

    it("answers ping while open and fails with storage_unavailable once the database is closed", async () => {
      await expect(world.repository.ping()).resolves.toBeUndefined();
      await world.closeDatabase();
      const error = await rejection(world.repository.ping());
      expect(error.code).toBe("storage_unavailable");
      expect((await rejection(world.repository.getCallById("c1"))).code).toBe(
        "storage_unavailable",
      );
    });
  });

  describe("DrizzleCallRepository.getAllCalls", () => {
    // Several calls share a start time so that the id tie-break decides their order.
    const starts: Array<[string, string]> = [
      ["a", "2026-01-01T10:00:00.000Z"],
      ["b", "2026-01-01T10:00:00.000Z"],
      ["c", "2026-01-01T10:00:00.000Z"],
      ["d", "2026-01-01T09:00:00.000Z"],
      ["e", "2026-01-01T11:00:00.000Z"],
      ["f", "2026-01-01T10:00:00.000Z"],
      ["g", "2026-01-01T08:00:00.000Z"],
    ];
    const newestFirst = ["e", "f", "c", "b", "a", "d", "g"];

    beforeEach(async () => {
      for (const [id, startedAt] of starts) {
        await world.repository.createCall(
          aCall(id, {
            startedAt: at(startedAt),
            caller: id === "a" || id === "d" ? "+15550002222" : "+15550001111",
            callSid: `CA-${id}`,
          }),
        );
      }
    });

    it("serves newest first with ties broken by id, across pages, without gaps or repeats", async () => {
      for (const limit of [1, 2, 3, 7, 50]) {
        const pages = await allPages({ limit });
        expect(pages.flat()).toEqual(newestFirst);
        expect(pages.every((p) => p.length <= limit)).toBe(true);
      }
    });

    it("returns next only when more rows follow, positioned on the page's last row", async () => {
      const first = await world.repository.getAllCalls({ limit: 3 });
      expect(first.data.map((c) => c.id)).toEqual(["e", "f", "c"]);
      expect(first.next).toEqual({ startedAt: at("2026-01-01T10:00:00.000Z"), id: "c" });
      const exact = await world.repository.getAllCalls({ limit: 7 });
      expect(exact.next).toBeNull();
    });

    it("filters by status, caller, callSid and streamSid", async () => {
      const c = (await world.repository.getCallById("c"))!;
      await world.repository.updateCall(endCall(c, "completed", at("2026-01-01T10:10:00Z")));
      const ids = async (q: Omit<CallListQuery, "limit" | "after">) =>
        (await allPages({ limit: 2, ...q })).flat();
      expect(await ids({ status: "completed" })).toEqual(["c"]);
      expect(await ids({ status: "active" })).toEqual(newestFirst.filter((id) => id !== "c"));
      expect(await ids({ status: "failed" })).toEqual([]);
      expect(await ids({ caller: "+15550002222" })).toEqual(["a", "d"]);
      expect(await ids({ caller: "+1555000" })).toEqual([]);
      expect(await ids({ callSid: "CA-f" })).toEqual(["f"]);
      expect(await ids({ streamSid: "MZd" })).toEqual(["d"]);
      expect(await ids({ caller: "+15550001111", status: "active" })).toEqual(["e", "f", "b", "g"]);
    });

    it("includes since and excludes until, both on startedAt", async () => {
      const ids = async (q: Omit<CallListQuery, "limit" | "after">) =>
        (await allPages({ limit: 2, ...q })).flat();
      expect(await ids({ since: at("2026-01-01T10:00:00.000Z") })).toEqual([
        "e",
        "f",
        "c",
        "b",
        "a",
      ]);
      expect(await ids({ until: at("2026-01-01T10:00:00.000Z") })).toEqual(["d", "g"]);
      expect(
        await ids({ since: at("2026-01-01T09:00:00.000Z"), until: at("2026-01-01T11:00:00.000Z") }),
      ).toEqual(["f", "c", "b", "a", "d"]);
      expect(await ids({ since: at("2026-01-01T10:00:00.001Z") })).toEqual(["e"]);
    });

    it("uses an index for the page query instead of scanning and sorting the table", async () => {
      if (world.sqlite) {
        const details = await world.explain(
          `SELECT * FROM calls WHERE (started_at, id) < (${Date.now()}, 'x')
         ORDER BY started_at DESC, id DESC LIMIT 51`,
        );
        expect(details).toMatch(/USING (COVERING )?INDEX calls_started_at_id_caller_idx/);
        expect(details).not.toMatch(/TEMP B-TREE/);
        return;
      }
      expect(kind.name).toContain("PostgreSQL");
      // A table of some size: on an empty one PostgreSQL's guess of its rows depends on the row
      // width, and a sort of its few guessed rows may look cheaper than the index.
      const ids = Array.from({ length: 2000 }, (_, i) => `p${String(i).padStart(4, "0")}`);
      for (let i = 0; i < ids.length; i += 200) {
        await Promise.all(
          ids.slice(i, i + 200).map((id) => world.repository.createCall(aCall(id))),
        );
      }
      const plan = await world.explain(
        `SELECT * FROM calls WHERE (started_at, id) < (now(), 'x')
         ORDER BY started_at DESC, id DESC LIMIT 51`,
      );
      expect(plan).toMatch(/Index Scan Backward using calls_started_at_id_caller_idx/);
      expect(plan).not.toMatch(/Sort/);
    });
  });
});
