import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DatabaseThread } from "../../../src/adapters/sqlite/database-thread.ts";
import { aCall, MIGRATIONS } from "./sqlite-test-world.ts";

let dir: string;
let thread: DatabaseThread;
const exits: string[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "callbridge-db-thread-"));
  exits.length = 0;
  thread = new DatabaseThread(
    "test-writer",
    { role: "writer", databaseUrl: join(dir, "calls.db"), migrationsPath: MIGRATIONS, nice: 0 },
    { onUnexpectedExit: (name) => exits.push(name) },
  );
});
afterEach(async () => {
  await thread.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("DatabaseThread", () => {
  it("rejects the calls in flight when its thread dies, and starts a new one for the next", async () => {
    await thread.start();
    await thread.call("createCall", [aCall("c1")]);
    // Many rows in one message: the thread is still at them when it is killed.
    const inFlight = Array.from({ length: 10_000 }, (_, i) =>
      thread.call("getCallById", [`c${i % 2}`]).then(
        () => "answered",
        (error: unknown) => error,
      ),
    );
    await new Promise((resolve) => setTimeout(resolve, 0));
    await thread.kill();
    const outcomes = await Promise.all(inFlight);
    const rejected = outcomes.filter((o) => o !== "answered");
    expect(rejected.length).toBeGreaterThan(0);
    for (const error of rejected) expect(error).toMatchObject({ code: "storage_unavailable" });
    expect(exits).toEqual(["test-writer"]);
    expect(thread.busy).toBe(0);

    // The database is still there; a new thread answers.
    expect(await thread.call("getCallById", ["c1"])).toMatchObject({ id: "c1" });
  });

  it("refuses an unknown method with an error, not a crash", async () => {
    await expect(
      thread.call("dropEverything" as Parameters<DatabaseThread["call"]>[0], []),
    ).rejects.toThrow(/unknown database method/);
    expect(await thread.call("ping", [])).toBeUndefined();
  });
});
