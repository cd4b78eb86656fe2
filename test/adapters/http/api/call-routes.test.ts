import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AnalyticsListJson,
  CallDetailJson,
  CallMetadataJson,
  CallPageJson,
  ErrorJson,
  RecordingListJson,
  TranscriptListJson,
} from "../../../../src/adapters/http/api/json-schemas.ts";
import { endCall, startCall } from "../../../../src/domain/call.ts";
import {
  type ApiWorld,
  describeEachBackend,
  internalsIn,
  seedAnalytics,
  seedCall,
  seedMetadata,
  seedRecording,
  seedTranscript,
} from "./api-test-world.ts";

let world: ApiWorld;

async function listCalls(query = "") {
  const response = await world.request(`/api/calls${query}`);
  expect(response.status).toBe(200);
  return CallPageJson.parse(await response.json());
}

async function expectError(path: string, status: number, code: string) {
  const response = await world.request(path);
  expect(response.status).toBe(status);
  expect(response.headers.get("content-type")).toMatch(/^application\/json/);
  const body = ErrorJson.parse(await response.json());
  expect(body.error.code).toBe(code);
  return body.error.message;
}

/** Follows nextCursor to the end and returns each page's ids. */
async function allPages(query: string): Promise<string[][]> {
  const pages: string[][] = [];
  let cursor: string | null = null;
  for (let guard = 0; guard < 50; guard++) {
    const suffix: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const page = await listCalls(`?${query}${suffix}`);
    pages.push(page.data.map((call) => call.id));
    cursor = page.nextCursor;
    if (cursor === null) return pages;
  }
  throw new Error("paging did not end");
}

describeEachBackend("call routes", (backend) => {
  beforeEach(async () => {
    world = await backend.createWorld();
  });
  afterEach(() => world.close());

  describe("GET /api/calls", () => {
    it("lists calls newest first with ISO times and a null cursor on the only page", async () => {
      await seedCall(world, { id: "old", startedAt: "2026-01-01T09:00:00.000Z" });
      await seedCall(world, {
        id: "new",
        startedAt: "2026-01-02T09:00:00.000Z",
        outcome: "active",
      });
      const page = await listCalls();
      expect(page.data.map((c) => c.id)).toEqual(["new", "old"]);
      expect(page.nextCursor).toBeNull();
      expect(page.data[1]).toEqual({
        id: "old",
        streamSid: "MZold",
        callSid: "CAold",
        caller: "+15550001111",
        status: "completed",
        startedAt: "2026-01-01T09:00:00.000Z",
        endedAt: "2026-01-01T09:01:00.000Z",
        durationSeconds: 60,
        createdAt: "2026-01-01T09:00:00.000Z",
        updatedAt: "2026-01-01T09:01:00.000Z",
        // Issue 20's facts and analysis: none for a call stored without them.
        called: null,
        endReason: null,
        turns: null,
        costUsd: null,
        sentiment: null,
        networkQuality: null,
        avgResponseLatencyMs: null,
        p95ResponseLatencyMs: null,
        topic: null,
        analysisStatus: null,
        summary: null,
        outcome: null,
        analysisFields: null,
      });
      expect(page.data[0]).toMatchObject({
        status: "active",
        endedAt: null,
        durationSeconds: null,
      });
    });

    it("returns an empty page when there are no calls", async () => {
      expect(await listCalls()).toEqual({ data: [], nextCursor: null });
    });

    it("pages through calls that share a start time without skipping or repeating any", async () => {
      const ids = ["a", "b", "c", "d", "e", "f", "g"];
      for (const id of ids) await seedCall(world, { id, startedAt: "2026-03-01T12:00:00.000Z" });
      await seedCall(world, { id: "z-older", startedAt: "2026-03-01T11:00:00.000Z" });
      const pages = await allPages("limit=3");
      expect(pages).toEqual([
        ["g", "f", "e"],
        ["d", "c", "b"],
        ["a", "z-older"],
      ]);
    });

    it("ends with a null cursor when the last page is exactly full", async () => {
      for (const id of ["a", "b", "c", "d"]) await seedCall(world, { id });
      const pages = await allPages("limit=2");
      expect(pages).toEqual([
        ["d", "c"],
        ["b", "a"],
      ]);
    });

    it("defaults to 50 calls a page and allows up to 200", async () => {
      for (let i = 0; i < 60; i++) {
        await seedCall(world, { id: `c${String(i).padStart(3, "0")}` });
      }
      const first = await listCalls();
      expect(first.data).toHaveLength(50);
      expect(first.nextCursor).not.toBeNull();
      const all = await listCalls("?limit=200");
      expect(all.data).toHaveLength(60);
      expect(all.nextCursor).toBeNull();
    });

    it("filters by status, caller, callSid and streamSid", async () => {
      await seedCall(world, { id: "a", caller: "+15551230001", outcome: "completed" });
      await seedCall(world, { id: "b", caller: "+15551230002", outcome: "failed" });
      await seedCall(world, { id: "c", caller: "+15551230001", outcome: "active" });
      const ids = async (query: string) => (await listCalls(query)).data.map((c) => c.id);
      expect(await ids("?status=failed")).toEqual(["b"]);
      expect(await ids("?status=active")).toEqual(["c"]);
      expect(await ids("?caller=%2B15551230001")).toEqual(["c", "a"]);
      expect(await ids("?callSid=CAb")).toEqual(["b"]);
      expect(await ids("?streamSid=MZc")).toEqual(["c"]);
      expect(await ids("?caller=%2B15551230001&status=completed")).toEqual(["a"]);
      expect(await ids("?callSid=CAnobody")).toEqual([]);
    });

    it("filters by since (inclusive) and until (exclusive) on startedAt, with offsets and dates", async () => {
      await seedCall(world, { id: "jan1", startedAt: "2026-01-01T00:00:00.000Z" });
      await seedCall(world, { id: "jan2", startedAt: "2026-01-02T00:00:00.000Z" });
      await seedCall(world, { id: "jan3", startedAt: "2026-01-03T00:00:00.000Z" });
      const ids = async (query: string) => (await listCalls(query)).data.map((c) => c.id);
      expect(await ids("?since=2026-01-02T00:00:00Z")).toEqual(["jan3", "jan2"]);
      expect(await ids("?until=2026-01-02T00:00:00.000Z")).toEqual(["jan1"]);
      expect(await ids("?since=2026-01-02&until=2026-01-03")).toEqual(["jan2"]);
      // 01:00 at +01:00 is midnight UTC.
      expect(await ids("?since=2026-01-03T01:00:00%2B01:00")).toEqual(["jan3"]);
    });

    it("keeps filters applied across pages", async () => {
      for (let i = 0; i < 5; i++) {
        await seedCall(world, { id: `f${i}`, outcome: "failed" });
        await seedCall(world, { id: `k${i}`, outcome: "completed" });
      }
      const pages = await allPages("status=failed&limit=2");
      expect(pages).toEqual([["f4", "f3"], ["f2", "f1"], ["f0"]]);
    });

    it("filters by issue 20's fields, shown on every call of the page", async () => {
      const a = await seedCall(world, { id: "a", caller: "+1 (555) 123-4567" });
      await seedCall(world, { id: "b", caller: "+15559990000" });
      await world.repository.updateCall({
        ...a,
        called: "+15550000001",
        endReason: "network_drop",
        sentiment: "negative",
        turns: 4,
        costUsd: 0.012,
        topic: "my order never arrived",
      });
      await world.repository.setCallAnalysis("b", {
        analysisStatus: "done",
        summary: "Asked for opening hours.",
        outcome: "resolved",
        analysisFields: { intent: "hours" },
      });
      const only = async (query: string) => (await listCalls(query)).data.map((c) => c.id);
      expect(await only("?callerContains=%2B1%20555-123")).toEqual([]);
      expect(await only("?callerContains=999")).toEqual(["b"]);
      expect(await only("?callerContains=%2B1555")).toEqual(["b"]);
      expect(await only("?called=%2B15550000001")).toEqual(["a"]);
      expect(await only("?endReason=network_drop&sentiment=negative")).toEqual(["a"]);
      expect(await only("?outcome=resolved")).toEqual(["b"]);
      expect(await only("?minDuration=60&maxDuration=60.5")).toEqual(["b", "a"]);
      expect(await only("?minDuration=61")).toEqual([]);
      const page = await listCalls("?endReason=network_drop");
      expect(page.data[0]).toMatchObject({
        endReason: "network_drop",
        turns: 4,
        costUsd: 0.012,
        topic: "my order never arrived",
        analysisStatus: null,
      });
      expect((await listCalls("?outcome=resolved")).data[0]).toMatchObject({
        summary: "Asked for opening hours.",
        analysisFields: { intent: "hours" },
      });
    });

    it("ignores unknown query parameters", async () => {
      await seedCall(world, { id: "a" });
      expect((await listCalls("?colour=blue&limit=5")).data).toHaveLength(1);
    });

    it.each([
      ["limit=0", "limit"],
      ["limit=201", "limit"],
      ["limit=abc", "limit"],
      ["limit=-1", "limit"],
      ["limit=1.5", "limit"],
      ["limit=", "limit"],
      ["limit=99999999999999999999", "limit"],
      ["status=ringing", "status"],
      ["since=garbage", "since"],
      ["since=2026-01-01T10:00:00", "since"],
      ["until=2026-02-30", "until"],
      ["since=2026-01-02&until=2026-01-01", "until"],
      ["caller=", "caller"],
      ["cursor=garbage!!", "cursor"],
      ["cursor=", "cursor"],
      ["limit=5&limit=6", "limit"],
      ["callerContains=", "callerContains"],
      ["callerContains=%2B", "callerContains"],
      ["callerContains=555%25", "callerContains"],
      ["callerContains=5_5", "callerContains"],
      ["callerContains=abc", "callerContains"],
      [`callerContains=${"1".repeat(41)}`, "callerContains"],
      ["called=", "called"],
      ["endReason=hung_up", "endReason"],
      ["sentiment=angry", "sentiment"],
      ["outcome=Resolved", "outcome"],
      ["outcome=a%20b", "outcome"],
      ["minDuration=-1", "minDuration"],
      ["minDuration=abc", "minDuration"],
      ["maxDuration=1e3", "maxDuration"],
      ["minDuration=60&maxDuration=30", "maxDuration"],
      ["sort=duration", "sort"],
      ["sort=", "sort"],
      ["sort=id", "sort"],
      ["sort=startedAt&sort=costUsd", "sort"],
      ["order=descending", "order"],
      ["order=DESC", "order"],
      ["sort=costUsd&order=", "order"],
    ])("answers 400 naming the field for %s", async (query, field) => {
      const message = await expectError(`/api/calls?${query}`, 400, "invalid_request");
      expect(message.startsWith(`${field}: `)).toBe(true);
    });

    it("answers 400 naming cursor for tampered cursors and for valid base64 of junk JSON", async () => {
      for (const id of ["a", "b", "c"]) await seedCall(world, { id });
      const { nextCursor } = await listCalls("?limit=1");
      expect(nextCursor).not.toBeNull();
      const cursor = nextCursor ?? "";
      const decoded = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
      expect(decoded).toEqual({ s: Date.parse("2026-01-01T10:00:00.000Z"), i: "c" });
      const b64 = (text: string) => Buffer.from(text).toString("base64url");
      const hostile = [
        cursor.slice(0, -2),
        `${cursor}A`,
        b64("not json at all"),
        b64("[1,2,3]"),
        b64("null"),
        b64(JSON.stringify({ s: "yesterday", i: "c" })),
        b64(JSON.stringify({ s: 1, i: "../../etc/passwd" })),
        b64(JSON.stringify({ s: 1, i: "c", extra: true })),
        b64(JSON.stringify({ s: -5, i: "c" })),
        b64(`{ "s": ${decoded.s}, "i": "c" }`),
        "x".repeat(600),
      ];
      for (const bad of hostile) {
        const message = await expectError(
          `/api/calls?cursor=${encodeURIComponent(bad)}`,
          400,
          "invalid_request",
        );
        expect(message).toBe("cursor: is not a cursor this API issued");
      }
    });
  });

  describe("GET /api/calls?sort=…&order=…", () => {
    /** A call that lasted `seconds` (null: still live) and cost `costUsd`. */
    async function seedLasting(
      id: string,
      startedAt: string,
      seconds: number | null,
      costUsd: number | null = null,
    ) {
      const live = startCall({ id, streamSid: `MZ${id}`, startedAt: new Date(startedAt) });
      await world.repository.createCall(live);
      if (seconds === null) return;
      const endedAt = new Date(live.startedAt.getTime() + seconds * 1000);
      await world.repository.updateCall(endCall(live, "completed", endedAt, { costUsd }));
    }

    beforeEach(async () => {
      await seedLasting("a", "2026-01-01T10:00:00.000Z", 30, 0.02);
      await seedLasting("b", "2026-01-01T11:00:00.000Z", 300, null);
      await seedLasting("c", "2026-01-01T12:00:00.000Z", 30, 0.5);
      await seedLasting("d", "2026-01-01T13:00:00.000Z", 90, 0.02);
      await seedLasting("live", "2026-01-01T14:00:00.000Z", null);
    });

    it("pages by duration either way, ties by start time, the live call last", async () => {
      expect(await allPages("sort=durationSeconds&limit=2")).toEqual([
        ["b", "d"],
        ["c", "a"],
        ["live"],
      ]);
      expect(await allPages("sort=durationSeconds&order=asc&limit=2")).toEqual([
        ["a", "c"],
        ["d", "b"],
        ["live"],
      ]);
      expect((await allPages("sort=costUsd&order=asc&limit=10")).flat()).toEqual([
        "a",
        "d",
        "c",
        "b",
        "live",
      ]);
      expect((await allPages("sort=startedAt&order=asc&limit=4")).flat()).toEqual([
        "a",
        "b",
        "c",
        "d",
        "live",
      ]);
    });

    it("keeps today's cursor for the default sort, spelt out or not", async () => {
      const plain = await listCalls("?limit=1");
      const spelt = await listCalls("?limit=1&sort=startedAt&order=desc");
      expect(spelt).toEqual(plain);
      const cursor = plain.nextCursor ?? "";
      expect(JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"))).toEqual({
        s: Date.parse("2026-01-01T14:00:00.000Z"),
        i: "live",
      });
      const next = await listCalls(`?limit=1&sort=startedAt&order=desc&cursor=${cursor}`);
      expect(next.data.map((call) => call.id)).toEqual(["d"]);
    });

    it("answers 400 naming cursor for a cursor of another sort or order", async () => {
      const byDuration = (await listCalls("?sort=durationSeconds&limit=1")).nextCursor ?? "";
      const newest = (await listCalls("?limit=1")).nextCursor ?? "";
      const oldest = (await listCalls("?order=asc&limit=1")).nextCursor ?? "";
      const refused = async (query: string) =>
        expectError(`/api/calls?${query}`, 400, "invalid_request");
      expect(await refused(`sort=costUsd&cursor=${byDuration}`)).toBe(
        "cursor: was issued for sort=durationSeconds&order=desc, not sort=costUsd&order=desc",
      );
      expect(await refused(`sort=durationSeconds&order=asc&cursor=${byDuration}`)).toBe(
        "cursor: was issued for sort=durationSeconds&order=desc, not sort=durationSeconds&order=asc",
      );
      expect(await refused(`cursor=${byDuration}`)).toBe(
        "cursor: was issued for sort=durationSeconds&order=desc, not sort=startedAt&order=desc",
      );
      expect(await refused(`sort=durationSeconds&cursor=${newest}`)).toBe(
        "cursor: was issued for sort=startedAt&order=desc, not sort=durationSeconds&order=desc",
      );
      expect(await refused(`cursor=${oldest}`)).toBe(
        "cursor: was issued for sort=startedAt&order=asc, not sort=startedAt&order=desc",
      );
    });

    it("answers 400 naming cursor for a sorted cursor this API did not issue", async () => {
      const b64 = (value: unknown) => Buffer.from(JSON.stringify(value)).toString("base64url");
      const s = Date.parse("2026-01-01T12:00:00.000Z");
      const hostile = [
        // The default sort spelt out: never issued so, since it has a shorter form.
        ["", b64({ k: "startedAt", o: "desc", s, i: "c" })],
        ["sort=durationSeconds", b64({ k: "durationSeconds", o: "desc", s, i: "c" })],
        ["sort=durationSeconds", b64({ k: "durationSeconds", o: "desc", v: "30", s, i: "c" })],
        ["sort=startedAt&order=asc", b64({ k: "startedAt", o: "asc", v: 1, s, i: "c" })],
        ["sort=costUsd", b64({ k: "costUsd", o: "down", v: 1, s, i: "c" })],
        ["sort=costUsd", b64({ v: 1, k: "costUsd", o: "desc", s, i: "c" })],
        [
          "sort=p95ResponseLatencyMs",
          b64({ k: "p95ResponseLatencyMs", o: "desc", v: 1.5, s, i: "c" }),
        ],
        ["sort=id", b64({ k: "id", o: "desc", v: 1, s, i: "c" })],
      ] as const;
      for (const [query, cursor] of hostile) {
        const message = await expectError(
          `/api/calls?${query}&cursor=${cursor}`,
          400,
          "invalid_request",
        );
        expect(message.startsWith(query.startsWith("sort=id") ? "sort: " : "cursor: ")).toBe(true);
      }
    });
  });

  describe("GET /api/calls/:id and its sub-resources", () => {
    it("returns a call with its metadata, recordings without file paths, and counts", async () => {
      const call = await seedCall(world, { id: "call-1" });
      await seedMetadata(world, call, {
        language: "en-US",
        region: "US/CA/San Francisco",
        customData: { campaign: "spring" },
      });
      const { recording } = await seedRecording(world, call, "rec-1");
      await seedTranscript(world, call, "t1", "hello", { offsetMs: 100 });
      await seedTranscript(world, call, "t2", "hi there", { speaker: "assistant", offsetMs: 900 });
      await seedAnalytics(world, call, "an1", 30_000, { callerTalkMs: 1000 });

      const response = await world.request("/api/calls/call-1");
      expect(response.status).toBe(200);
      const text = await response.text();
      expect(text).not.toContain(recording.fileKey);
      expect(text).not.toContain("fileKey");
      const detail = CallDetailJson.parse(JSON.parse(text));
      expect(detail).toMatchObject({
        id: "call-1",
        status: "completed",
        transcriptCount: 2,
        analyticsCount: 1,
        metadata: {
          callId: "call-1",
          language: "en-US",
          region: "US/CA/San Francisco",
          deviceType: null,
          networkQuality: null,
          customData: { campaign: "spring" },
          updatedAt: "2026-01-01T10:00:00.500Z",
        },
      });
      expect(detail.recordings).toEqual([
        {
          id: "rec-1",
          callId: "call-1",
          track: "caller",
          format: "wav",
          codec: "pcm_s16le",
          sampleRate: 16_000,
          channels: 1,
          sizeBytes: recording.sizeBytes,
          durationSeconds: 0.5,
          cloudUrl: null,
          createdAt: "2026-01-01T10:01:01.000Z",
        },
      ]);
    });

    it("returns null metadata, no recordings and zero counts for a bare call", async () => {
      await seedCall(world, { id: "bare", outcome: "active" });
      const detail = CallDetailJson.parse(await (await world.request("/api/calls/bare")).json());
      expect(detail).toMatchObject({
        metadata: null,
        recordings: [],
        transcriptCount: 0,
        analyticsCount: 0,
      });
    });

    it("lists transcripts in spoken order", async () => {
      const call = await seedCall(world, { id: "c" });
      await seedTranscript(world, call, "late", "second", { offsetMs: 5000, confidence: 0.9 });
      await seedTranscript(world, call, "early", "first", { offsetMs: 1000 });
      await seedTranscript(world, call, "unknown", "no offset", { offsetMs: null });
      const response = await world.request("/api/calls/c/transcripts");
      const body = TranscriptListJson.parse(await response.json());
      expect(body.data.map((t) => t.id)).toEqual(["early", "late", "unknown"]);
      expect(body.data[1]).toEqual({
        id: "late",
        callId: "c",
        speaker: "caller",
        text: "second",
        confidence: 0.9,
        offsetMs: 5000,
        interrupted: false,
        heardText: null,
        heardMs: null,
        generatedMs: null,
        failed: false,
        createdAt: "2026-01-01T10:00:01.000Z",
      });
    });

    it("lists analytics oldest first", async () => {
      const call = await seedCall(world, { id: "c" });
      await seedAnalytics(world, call, "second", 30_000, { sentiment: "negative" });
      await seedAnalytics(world, call, "first", 15_000, {
        sentiment: "positive",
        sentimentScore: 0.75,
        customMetrics: { turns: 3 },
      });
      const body = AnalyticsListJson.parse(
        await (await world.request("/api/calls/c/analytics")).json(),
      );
      expect(body.data.map((a) => a.id)).toEqual(["first", "second"]);
      expect(body.data[0]).toEqual({
        id: "first",
        callId: "c",
        sentiment: "positive",
        sentimentScore: 0.75,
        callerTalkMs: 0,
        assistantTalkMs: 0,
        silenceMs: 0,
        interruptions: 0,
        avgResponseLatencyMs: null,
        p95ResponseLatencyMs: null,
        customMetrics: { turns: 3 },
        createdAt: "2026-01-01T10:00:15.000Z",
      });
    });

    it("returns metadata, and 404 for a call that has none", async () => {
      const withMeta = await seedCall(world, { id: "m" });
      await seedMetadata(world, withMeta, { deviceType: "mobile" });
      await seedCall(world, { id: "plain" });
      const metadata = CallMetadataJson.parse(
        await (await world.request("/api/calls/m/metadata")).json(),
      );
      expect(metadata.deviceType).toBe("mobile");
      await expectError("/api/calls/plain/metadata", 404, "not_found");
    });

    it("lists a call's recordings", async () => {
      const call = await seedCall(world, { id: "c" });
      await seedRecording(world, call, "r-caller");
      await seedRecording(world, call, "r-conv", { track: "conversation" });
      const body = RecordingListJson.parse(
        await (await world.request("/api/calls/c/recordings")).json(),
      );
      expect(body.data.map((r) => [r.id, r.track, r.channels])).toEqual([
        ["r-caller", "caller", 1],
        ["r-conv", "conversation", 2],
      ]);
    });

    it("answers 404 for an unknown call on the call and every sub-resource", async () => {
      for (const suffix of ["", "/transcripts", "/analytics", "/metadata", "/recordings"]) {
        await expectError(`/api/calls/nope${suffix}`, 404, "not_found");
      }
    });

    it.each([
      ["a path traversal", encodeURIComponent("../../etc/passwd")],
      ["an SQL injection", encodeURIComponent("' OR 1=1 --")],
      ["unicode", encodeURIComponent("通話-☎")],
      ["a 10 KB id", "a".repeat(10 * 1024)],
      ["a NUL byte", "%00"],
      ["broken percent-encoding", "%E0%A4%A"],
    ])("answers 404 with a JSON error and no internals for %s", async (_name, id) => {
      await seedCall(world, { id: "real" });
      for (const suffix of ["", "/transcripts", "/analytics", "/metadata", "/recordings"]) {
        const response = await world.request(`/api/calls/${id}${suffix}`);
        expect(response.status).toBe(404);
        const text = await response.text();
        ErrorJson.parse(JSON.parse(text));
        expect(internalsIn(text, world)).toEqual([]);
        expect(text).not.toContain("stack");
      }
      expect((await listCalls()).data).toHaveLength(1);
    });
  });
});
