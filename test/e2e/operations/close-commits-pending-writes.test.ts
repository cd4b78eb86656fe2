import { afterEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../../src/adapters/sqlite/database.ts";
import { DrizzleCallRepository } from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import { aCall, anAnalytics, aTranscript } from "../../adapters/sqlite/sqlite-test-world.ts";
import { startTestServer, type TestServer } from "../../support/test-server.ts";

let server: TestServer | null = null;
afterEach(async () => {
  await server?.stop();
  server = null;
});

describe("the composition's close()", () => {
  it("commits the transcripts and analytics still written behind before it closes the database", async () => {
    server = await startTestServer();
    const { calls } = server.running.composition;
    await calls.createCall(aCall("c1"));
    const created = [
      calls.createTranscript(aTranscript("t1", "c1", "goodbye")),
      calls.createAnalytics(anAnalytics("a1", "c1")),
    ];
    await server.running.composition.close();
    await Promise.all(created);

    const database = openDatabase(server.databasePath);
    try {
      const repository = new DrizzleCallRepository(database.db, database.sqlite);
      expect((await repository.getTranscriptsByCallId("c1")).map((t) => t.text)).toEqual([
        "goodbye",
      ]);
      expect(await repository.countAnalyticsByCallId("c1")).toBe(1);
    } finally {
      database.sqlite.close();
    }
  });
});
