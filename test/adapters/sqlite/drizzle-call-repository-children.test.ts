import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { CallMetadata } from "../../../src/domain/call-metadata.ts";
import { DomainError } from "../../../src/domain/errors.ts";
import { describeEachWorld, type RepositoryWorld } from "../repository-worlds.ts";
import { aCall, anAnalytics, aRecording, aTranscript, at } from "./sqlite-test-world.ts";

let world: RepositoryWorld;

async function rejectionCode(promise: Promise<unknown>): Promise<string> {
  const error = await promise.then(
    () => "resolved",
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DomainError);
  return (error as DomainError).code;
}

const rowCount = (table: string, callId: string): Promise<number> => world.rowCount(table, callId);

const aMetadata = (callId: string, overrides: Partial<CallMetadata> = {}): CallMetadata => ({
  callId,
  language: "en",
  region: "US-CA-San Francisco",
  deviceType: null,
  networkQuality: "good",
  customData: { campaign: "spring", attempt: 2 },
  updatedAt: at("2026-01-01T10:00:01Z"),
  ...overrides,
});

describeEachWorld("", (makeWorld) => {
  beforeEach(async () => {
    world = await makeWorld();
    await world.repository.createCall(aCall("c1"));
    await world.repository.createCall(aCall("c2", { startedAt: at("2026-01-02T10:00:00Z") }));
  });
  afterEach(() => world.close());

  describe("DrizzleCallRepository recordings", () => {
    it("stores recordings with every field and lists them by call", async () => {
      const caller = aRecording("r1", "c1");
      const conversation = aRecording("r2", "c1", {
        track: "conversation",
        channels: 2,
        durationSeconds: 12.345,
        cloudUrl: "https://bucket.example/r2.wav",
        fileKey: "MZc1_1767261600000_conversation.wav",
        createdAt: at("2026-01-01T10:05:00.001Z"),
      });
      await world.repository.createRecording(conversation);
      await world.repository.createRecording(caller);
      expect(await world.repository.getRecordingById("r2")).toEqual(conversation);
      expect(await world.repository.getRecordingById("nope")).toBeNull();
      expect(await world.repository.getRecordingsByCallId("c1")).toEqual([caller, conversation]);
      expect(await world.repository.getRecordingsByCallId("c2")).toEqual([]);
    });

    it("refuses a recording of an unknown call as not_found and a duplicate id as conflict", async () => {
      expect(await rejectionCode(world.repository.createRecording(aRecording("r1", "ghost")))).toBe(
        "not_found",
      );
      await world.repository.createRecording(aRecording("r1", "c1"));
      expect(await rejectionCode(world.repository.createRecording(aRecording("r1", "c2")))).toBe(
        "conflict",
      );
    });

    it("lists recordings of calls started before a time, oldest call first, up to the limit", async () => {
      await world.repository.createCall(aCall("c0", { startedAt: at("2025-12-31T10:00:00Z") }));
      await world.repository.createRecording(aRecording("r-c2", "c2"));
      await world.repository.createRecording(aRecording("r-c1", "c1"));
      await world.repository.createRecording(aRecording("r-c0", "c0"));
      const recordingsBefore = async (iso: string, limit: number) =>
        (await world.repository.getRecordingsOfCallsStartedBefore(at(iso), limit)).map((r) => r.id);
      expect(await recordingsBefore("2026-01-02T10:00:00Z", 10)).toEqual(["r-c0", "r-c1"]);
      expect(await recordingsBefore("2026-01-02T10:00:00.001Z", 10)).toEqual([
        "r-c0",
        "r-c1",
        "r-c2",
      ]);
      expect(await recordingsBefore("2026-01-02T10:00:00.001Z", 1)).toEqual(["r-c0"]);
      expect(await recordingsBefore("2025-01-01T00:00:00Z", 10)).toEqual([]);
    });

    it("deletes one recording and says whether it existed", async () => {
      await world.repository.createRecording(aRecording("r1", "c1"));
      expect(await world.repository.deleteRecording("r1")).toBe(true);
      expect(await world.repository.deleteRecording("r1")).toBe(false);
      expect(await world.repository.getRecordingById("r1")).toBeNull();
      expect(await world.repository.getCallById("c1")).not.toBeNull();
    });

    it("records a recording's object-storage address and says whether the row existed", async () => {
      await world.repository.createRecording(aRecording("r1", "c1"));
      await world.repository.createRecording(aRecording("r2", "c1", { fileKey: "other.wav" }));
      const url = "s3://bucket/calls/MZc1_1767261600000.wav";
      expect(await world.repository.setRecordingCloudUrl("r1", url)).toBe(true);
      expect((await world.repository.getRecordingById("r1"))?.cloudUrl).toBe(url);
      expect((await world.repository.getRecordingById("r2"))?.cloudUrl).toBeNull();
      expect(await world.repository.setRecordingCloudUrl("missing", url)).toBe(false);
    });
  });

  describe("DrizzleCallRepository transcripts", () => {
    it("stores transcripts with every field and counts them per call", async () => {
      const t = aTranscript("t1", "c1", "hello there", {
        speaker: "assistant",
        confidence: 0.93,
        offsetMs: 1520,
        interrupted: true,
      });
      await world.repository.createTranscript(t);
      await world.repository.createTranscript(aTranscript("t2", "c1", "hi"));
      expect(await world.repository.getTranscriptsByCallId("c1")).toEqual([
        t,
        expect.objectContaining({ id: "t2" }),
      ]);
      expect(await world.repository.countTranscriptsByCallId("c1")).toBe(2);
      expect(await world.repository.countTranscriptsByCallId("c2")).toBe(0);
      expect(await world.repository.countTranscriptsByCallId("ghost")).toBe(0);
    });

    it("returns transcripts in spoken order: by offset, then insertion, unknown offsets last", async () => {
      // The caller's transcription often lands after the assistant has started answering.
      const rows = [
        aTranscript("late-caller", "c1", "a", { offsetMs: 1000 }),
        aTranscript("assistant", "c1", "b", { offsetMs: 2500, speaker: "assistant" }),
        aTranscript("unknown-1", "c1", "c", { offsetMs: null }),
        aTranscript("first", "c1", "d", { offsetMs: 200 }),
        aTranscript("tie-1", "c1", "e", { offsetMs: 2500 }),
        aTranscript("unknown-2", "c1", "f", { offsetMs: null }),
      ];
      for (const row of rows) await world.repository.createTranscript(row);
      const ids = (await world.repository.getTranscriptsByCallId("c1")).map((t) => t.id);
      expect(ids).toEqual(["first", "late-caller", "assistant", "tie-1", "unknown-1", "unknown-2"]);
    });

    it("marks a transcript interrupted and reports an unknown one as not_found", async () => {
      await world.repository.createTranscript(aTranscript("t1", "c1", "let me explain"));
      await world.repository.markTranscriptInterrupted("t1");
      expect((await world.repository.getTranscriptsByCallId("c1"))[0]?.interrupted).toBe(true);
      expect(await rejectionCode(world.repository.markTranscriptInterrupted("ghost"))).toBe(
        "not_found",
      );
    });

    it("refuses a transcript of an unknown call as not_found and a duplicate id as conflict", async () => {
      expect(
        await rejectionCode(world.repository.createTranscript(aTranscript("t", "ghost", "x"))),
      ).toBe("not_found");
      await world.repository.createTranscript(aTranscript("t", "c1", "x"));
      expect(
        await rejectionCode(world.repository.createTranscript(aTranscript("t", "c1", "y"))),
      ).toBe("conflict");
    });
  });

  describe("DrizzleCallRepository analytics", () => {
    it("stores snapshots with every field, JSON included, oldest first with same-ms ties in insertion order", async () => {
      const later = anAnalytics("z-later", "c1", { createdAt: at("2026-01-01T10:09:00Z") });
      const tieA = anAnalytics("z-tie", "c1", {
        sentiment: null,
        sentimentScore: null,
        avgResponseLatencyMs: null,
        p95ResponseLatencyMs: null,
        customMetrics: null,
      });
      const tieB = anAnalytics("a-tie", "c1");
      await world.repository.createAnalytics(later);
      await world.repository.createAnalytics(tieA);
      await world.repository.createAnalytics(tieB);
      expect(await world.repository.getAnalyticsByCallId("c1")).toEqual([tieA, tieB, later]);
      expect(await world.repository.countAnalyticsByCallId("c1")).toBe(3);
      expect(await world.repository.getAnalyticsByCallId("c2")).toEqual([]);
    });

    it("refuses analytics of an unknown call as not_found", async () => {
      expect(await rejectionCode(world.repository.createAnalytics(anAnalytics("a", "ghost")))).toBe(
        "not_found",
      );
    });
  });

  describe("DrizzleCallRepository metadata", () => {
    it("creates metadata, then replaces it on the next write", async () => {
      expect(await world.repository.getMetadataByCallId("c1")).toBeNull();
      const first = aMetadata("c1");
      await world.repository.createOrUpdateMetadata(first);
      expect(await world.repository.getMetadataByCallId("c1")).toEqual(first);
      const second = aMetadata("c1", {
        language: null,
        deviceType: "mobile",
        customData: { campaign: "summer", list: [1, "two", null] },
        updatedAt: at("2026-01-01T10:07:00Z"),
      });
      await world.repository.createOrUpdateMetadata(second);
      expect(await world.repository.getMetadataByCallId("c1")).toEqual(second);
      expect(await rowCount("call_metadata", "c1")).toBe(1);
    });

    it("refuses metadata of an unknown call as not_found", async () => {
      expect(await rejectionCode(world.repository.createOrUpdateMetadata(aMetadata("ghost")))).toBe(
        "not_found",
      );
    });
  });

  describe("DrizzleCallRepository.deleteCall", () => {
    beforeEach(async () => {
      for (const callId of ["c1", "c2"]) {
        await world.repository.createRecording(
          aRecording(`${callId}-r1`, callId, { fileKey: `${callId}.wav` }),
        );
        await world.repository.createRecording(
          aRecording(`${callId}-r2`, callId, { fileKey: `${callId}_conversation.wav` }),
        );
        await world.repository.createTranscript(
          aTranscript(`${callId}-t`, callId, "refund please"),
        );
        await world.repository.createAnalytics(anAnalytics(`${callId}-a`, callId));
        await world.repository.createOrUpdateMetadata(aMetadata(callId));
      }
    });

    it("deletes the call and every child row, returning the recordings' file keys", async () => {
      const result = await world.repository.deleteCall("c1");
      expect(result.deleted).toBe(true);
      expect(result.fileKeys.sort()).toEqual(["c1.wav", "c1_conversation.wav"]);
      expect(await world.repository.getCallById("c1")).toBeNull();
      for (const table of ["recordings", "transcripts", "analytics", "call_metadata"]) {
        expect(await rowCount(table, "c1")).toBe(0);
        expect(await rowCount(table, "c2")).toBeGreaterThan(0);
      }
      const hits = await world.repository.searchTranscripts({ q: "refund", limit: 10, offset: 0 });
      expect(hits.map((h) => h.callId)).toEqual(["c2"]);
    });

    it("leaves every row in place when any part of the delete fails", async () => {
      await world.refuseDeletes("call_metadata");
      const error = await world.repository.deleteCall("c1").catch((e: unknown) => e);
      expect(error).toMatchObject({ code: "storage_unavailable" });
      expect((error as Error).message).not.toMatch(/refused|DELETE|call_metadata/);
      expect(await world.repository.getCallById("c1")).not.toBeNull();
      for (const table of ["recordings", "transcripts", "analytics", "call_metadata"]) {
        expect(await rowCount(table, "c1")).toBeGreaterThan(0);
      }
    });

    it("reports an unknown call as not deleted with no file keys", async () => {
      expect(await world.repository.deleteCall("ghost")).toEqual({ deleted: false, fileKeys: [] });
      expect(await rowCount("recordings", "c1")).toBe(2);
    });
  });
});
