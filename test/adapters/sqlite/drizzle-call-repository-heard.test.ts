import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { DrizzleCallRepository } from "../../../src/adapters/sqlite/drizzle-call-repository.ts";
import type { TranscriptSearchQuery } from "../../../src/application/ports/index.ts";
import { describeEachWorld, type RepositoryWorld } from "../repository-worlds.ts";
import { aCall, aTranscript, createSqliteWorld } from "./sqlite-test-world.ts";

const ANSWER = "We open at nine and close at five on weekdays.";
const CUT = { heardMs: 1200, generatedMs: 4000, heardText: "We open at nine" };

describeEachWorld("what the caller heard of a turn", (open) => {
  let world: RepositoryWorld;
  beforeEach(async () => {
    world = await open();
    await world.repository.createCall(aCall("c1"));
  });
  afterEach(() => world.close());

  const hitIds = async (q: string, extra: Partial<TranscriptSearchQuery> = {}) =>
    (await world.repository.searchTranscripts({ q, limit: 20, offset: 0, ...extra })).map(
      (hit) => hit.transcriptId,
    );

  /**
   * FTS5's own check that the index holds exactly what its content view gives (SQLite only:
   * PostgreSQL's GIN index is maintained by the server in the same transaction as the row).
   */
  const indexIsConsistent = () =>
    world.sqlite
      ?.prepare("INSERT INTO transcripts_fts(transcripts_fts, rank) VALUES ('integrity-check', 1)")
      .run();

  it("stores and reads back the heard text and both lengths; other turns have none", async () => {
    await world.repository.createTranscript(
      aTranscript("cut", "c1", ANSWER, {
        speaker: "assistant",
        interrupted: true,
        offsetMs: 100,
        ...CUT,
      }),
    );
    await world.repository.createTranscript(aTranscript("whole", "c1", "thanks", { offsetMs: 9 }));
    expect(await world.repository.getTranscriptsByCallId("c1")).toMatchObject([
      { id: "whole", heardText: null, heardMs: null, generatedMs: null, interrupted: false },
      { id: "cut", text: ANSWER, interrupted: true, ...CUT },
    ]);
  });

  it("stores the cut with the interrupted mark, and a mark without one keeps it", async () => {
    await world.repository.createTranscript(aTranscript("t1", "c1", ANSWER));
    await world.repository.markTranscriptInterrupted("t1", CUT);
    expect((await world.repository.getTranscriptsByCallId("c1"))[0]).toMatchObject({
      text: ANSWER,
      interrupted: true,
      ...CUT,
    });
    await world.repository.markTranscriptInterrupted("t1");
    expect((await world.repository.getTranscriptsByCallId("c1"))[0]).toMatchObject(CUT);
  });

  it("finds a cut turn by the words heard, never by the words cut off", async () => {
    await world.repository.createTranscript(
      aTranscript("cut", "c1", ANSWER, { speaker: "assistant", interrupted: true, ...CUT }),
    );
    expect(await hitIds("nine")).toEqual(["cut"]);
    expect(await hitIds("weekdays")).toEqual([]);
    expect(await hitIds("five", { sort: "recent" })).toEqual([]);
    const [hit] = await world.repository.searchTranscripts({ q: "open", limit: 1, offset: 0 });
    // The snippet is made of what the index holds: no word the caller did not hear.
    expect(hit?.snippet).toBe("We [open] at nine");
    indexIsConsistent();
  });

  it("re-indexes a turn marked after it was indexed, and one marked before", async () => {
    await world.repository.createTranscript(aTranscript("early", "c1", ANSWER));
    // A search indexes every waiting transcript first: "early" is in the index now.
    expect(await hitIds("weekdays")).toEqual(["early"]);
    await world.repository.markTranscriptInterrupted("early", CUT);
    await world.repository.createTranscript(aTranscript("late", "c1", ANSWER));
    await world.repository.markTranscriptInterrupted("late", CUT);
    expect(await hitIds("weekdays")).toEqual([]);
    expect((await hitIds("nine")).sort()).toEqual(["early", "late"]);
    indexIsConsistent();
    // Deleting takes the heard text back out of the index.
    await world.repository.deleteCall("c1");
    expect(await hitIds("nine")).toEqual([]);
    indexIsConsistent();
  });

  it("finds a turn heard to its end by all of its words", async () => {
    const whole = { heardMs: 4000, generatedMs: 4000, heardText: ANSWER };
    await world.repository.createTranscript(
      aTranscript("t", "c1", ANSWER, { interrupted: true, ...whole }),
    );
    expect(await hitIds("weekdays")).toEqual(["t"]);
  });
});

describe("DrizzleCallRepository relevance ranking of cut turns", () => {
  it("weighs a cut turn by the length of what was heard, as FTS5's bm25() does", async () => {
    const world = createSqliteWorld();
    try {
      const repository = new DrizzleCallRepository(world.db, world.sqlite);
      await repository.createCall(aCall("c1"));
      const long = `refund ${"word ".repeat(30)}`.trim();
      // Heard: "refund please" (2 tokens); the whole text is 32 tokens and would rank last.
      await repository.createTranscript(
        aTranscript("cut", "c1", `refund please ${"word ".repeat(30)}`.trim(), {
          interrupted: true,
          heardMs: 500,
          generatedMs: 8000,
          heardText: "refund please",
        }),
      );
      await repository.createTranscript(aTranscript("plain", "c1", "refund it now ok"));
      await repository.createTranscript(aTranscript("long", "c1", long));
      // Rows without the word, so that it weighs something (FTS5 floors a negative IDF).
      for (const id of ["o1", "o2", "o3", "o4"]) {
        await repository.createTranscript(aTranscript(id, "c1", "something else entirely"));
      }
      const hits = await repository.searchTranscripts({ q: "refund", limit: 10, offset: 0 });
      const ours = hits.map((hit) => hit.transcriptId);
      const fts5 = (
        world.sqlite
          .prepare(
            `SELECT t.id AS id FROM transcripts_fts JOIN transcripts t ON t.seq = transcripts_fts.rowid
             WHERE transcripts_fts MATCH 'refund' ORDER BY bm25(transcripts_fts), t.seq DESC`,
          )
          .all() as Array<{ id: string }>
      ).map((row) => row.id);
      expect(ours).toEqual(fts5);
      expect(ours).toEqual(["cut", "plain", "long"]);
    } finally {
      world.close();
    }
  });
});
