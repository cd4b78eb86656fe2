import { afterEach, describe, expect, it } from "vitest";
import { CSV_COLUMNS, csvField } from "../../../../src/adapters/http/api/call-export.ts";
import {
  CallJson,
  CallPageJson,
  CallTotalsJson,
  ErrorJson,
} from "../../../../src/adapters/http/api/json-schemas.ts";
import { endCall, startCall } from "../../../../src/domain/call.ts";
import { type ApiWorld, describeEachBackend, seedCall, seedTranscript } from "./api-test-world.ts";

let world: ApiWorld;

afterEach(() => world.close());

/** RFC 4180 records (quoted fields may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else field += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") {
      row.push(field);
      field = "";
    } else if (ch === "\r" && text[i + 1] === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
      i++;
    } else field += ch;
  }
  expect(field).toBe("");
  expect(row).toEqual([]);
  return rows;
}

describeEachBackend("call export", (backend) => {
  describe("GET /api/export/calls", () => {
    it("streams every filtered call as CSV, across many pages, newest first", async () => {
      world = await backend.createWorld({ exportPageSize: 3 });
      for (let i = 0; i < 8; i++) {
        await seedCall(world, {
          id: `c${i}`,
          startedAt: `2026-02-0${i + 1}T10:00:00.000Z`,
          caller: i % 2 === 0 ? "+15551230000" : "+15559990000",
        });
      }
      const response = await world.request("/api/export/calls?callerContains=123");
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
      expect(response.headers.get("content-disposition")).toMatch(
        /^attachment; filename="calls-\d{4}-\d{2}-\d{2}\.csv"$/,
      );
      const rows = parseCsv(await response.text());
      expect(rows[0]).toEqual([...CSV_COLUMNS]);
      expect(rows.slice(1).map((r) => r[0])).toEqual(["c6", "c4", "c2", "c0"]);
      const c6 = Object.fromEntries(CSV_COLUMNS.map((name, i) => [name, rows[1]![i]]));
      expect(c6).toMatchObject({
        startedAt: "2026-02-07T10:00:00.000Z",
        durationSeconds: "60",
        status: "completed",
        caller: "+15551230000",
        endReason: "",
      });
    });

    it("streams JSON Lines, one Call (as the list shows it) per line", async () => {
      world = await backend.createWorld({ exportPageSize: 2 });
      for (let i = 0; i < 5; i++) {
        await seedCall(world, { id: `c${i}`, startedAt: `2026-02-0${i + 1}T10:00:00.000Z` });
      }
      const response = await world.request("/api/export/calls?format=jsonl&since=2026-02-02");
      expect(response.headers.get("content-type")).toBe("application/x-ndjson; charset=utf-8");
      const text = await response.text();
      expect(text.endsWith("\n")).toBe(true);
      const calls = text
        .trimEnd()
        .split("\n")
        .map((line) => CallJson.parse(JSON.parse(line)));
      expect(calls.map((c) => c.id)).toEqual(["c4", "c3", "c2", "c1"]);
      const listed = CallPageJson.parse(
        await (await world.request("/api/calls?since=2026-02-02")).json(),
      );
      expect(calls).toEqual(listed.data);
    });

    it("exports in the list's sort and order, across pages, as the list shows them", async () => {
      world = await backend.createWorld({ exportPageSize: 2 });
      for (const [id, day, seconds] of [
        ["c1", 1, 30],
        ["c2", 2, 300],
        ["c3", 3, 30],
        ["c4", 4, 90],
        ["c5", 5, null],
      ] as const) {
        const live = startCall({
          id,
          streamSid: `MZ${id}`,
          startedAt: new Date(`2026-02-0${day}T10:00:00.000Z`),
        });
        await world.repository.createCall(live);
        if (seconds !== null) {
          const endedAt = new Date(live.startedAt.getTime() + seconds * 1000);
          await world.repository.updateCall(endCall(live, "completed", endedAt));
        }
      }
      const query = "sort=durationSeconds&order=asc";
      const response = await world.request(`/api/export/calls?format=jsonl&${query}`);
      const ids = (await response.text())
        .trimEnd()
        .split("\n")
        .map((line) => CallJson.parse(JSON.parse(line)).id);
      expect(ids).toEqual(["c1", "c3", "c4", "c2", "c5"]);
      const listed = CallPageJson.parse(await (await world.request(`/api/calls?${query}`)).json());
      expect(listed.data.map((c) => c.id)).toEqual(ids);
      const csv = parseCsv(
        await (await world.request("/api/export/calls?sort=durationSeconds")).text(),
      );
      expect(csv.slice(1).map((row) => row[0])).toEqual(["c2", "c4", "c3", "c1", "c5"]);
    });

    it("answers a header alone (CSV) or nothing (JSON Lines) when no call matches", async () => {
      world = await backend.createWorld();
      const csv = await world.request("/api/export/calls");
      expect(await csv.text()).toBe(`${CSV_COLUMNS.join(",")}\r\n`);
      const jsonl = await world.request("/api/export/calls?format=jsonl");
      expect(await jsonl.text()).toBe("");
    });

    it.each([
      ["format=xlsx", "format"],
      ["format=csv&format=jsonl", "format"],
      ["endReason=bored", "endReason"],
      ["since=2026-02-02&until=2026-02-01", "until"],
      ["minDuration=9&maxDuration=1", "maxDuration"],
      ["sort=duration", "sort"],
      ["order=up", "order"],
    ])("answers 400 naming the field for %s", async (query, field) => {
      world = await backend.createWorld();
      const response = await world.request(`/api/export/calls?${query}`);
      expect(response.status).toBe(400);
      const body = ErrorJson.parse(await response.json());
      expect(body.error.message.startsWith(`${field}: `)).toBe(true);
    });

    it("is a JSON 503 or 500, not a cut download, when the database is gone", async () => {
      world = await backend.createWorld();
      await world.loseDatabase();
      const response = await world.request("/api/export/calls");
      expect(response.status).toBeGreaterThanOrEqual(500);
      expect(response.headers.get("content-type")).toMatch(/^application\/json/);
    });

    it("needs the API key like the rest of the API", async () => {
      world = await backend.createWorld({ apiKey: "k".repeat(32) });
      expect((await world.request("/api/export/calls")).status).toBe(401);
    });
  });
});

describeEachBackend("call totals", (backend) => {
  it("GET /api/totals/calls adds up the filtered calls, with the failure rate of the ended ones", async () => {
    world = await backend.createWorld();
    await seedCall(world, { id: "a", startedAt: "2026-02-01T10:00:00.000Z" });
    await seedCall(world, { id: "b", startedAt: "2026-02-02T10:00:00.000Z", outcome: "failed" });
    await seedCall(world, { id: "c", startedAt: "2026-02-02T11:00:00.000Z", outcome: "active" });
    const response = await world.request("/api/totals/calls");
    expect(response.status).toBe(200);
    const totals = CallTotalsJson.parse(await response.json());
    expect(totals).toEqual({
      calls: 3,
      active: 1,
      failed: 1,
      failureRate: 0.5,
      minutes: 2,
      avgResponseLatencyMs: null,
      p95ResponseLatencyMs: null,
      costUsd: null,
      days: [
        { date: "2026-02-01", calls: 1, minutes: 1, failed: 0, costUsd: null },
        { date: "2026-02-02", calls: 2, minutes: 1, failed: 1, costUsd: null },
      ],
    });
    const live = CallTotalsJson.parse(
      await (await world.request("/api/totals/calls?status=active")).json(),
    );
    expect(live).toMatchObject({ calls: 1, failureRate: null, minutes: 0 });
    const bad = await world.request("/api/totals/calls?sentiment=meh");
    expect(bad.status).toBe(400);
    expect(ErrorJson.parse(await bad.json()).error.message).toMatch(/^sentiment: /);
  });

  it("GET /api/calls/:id/transcripts?format=text is the transcript for people", async () => {
    world = await backend.createWorld();
    const call = await seedCall(world, { id: "a" });
    await seedTranscript(world, call, "t1", "I need  a refund", { offsetMs: 1500 });
    await seedTranscript(world, call, "t2", "Of course.", {
      speaker: "assistant",
      offsetMs: 64_000,
    });
    const response = await world.request("/api/calls/a/transcripts?format=text");
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(response.headers.get("content-disposition")).toBe(
      'attachment; filename="call-a-transcript.txt"',
    );
    expect(await response.text()).toBe(
      "[00:01.500] caller: I need a refund\n[01:04.000] assistant: Of course.\n",
    );
    expect((await world.request("/api/calls/a/transcripts?format=json")).status).toBe(200);
    expect((await world.request("/api/calls/a/transcripts?format=pdf")).status).toBe(400);
    expect((await world.request("/api/calls/missing/transcripts?format=text")).status).toBe(404);
  });
});

describe("csvField", () => {
  it("quotes commas, quotes and line breaks (RFC 4180)", () => {
    expect(csvField('said "hi", then\nleft')).toBe('"said ""hi"", then\nleft"');
    expect(csvField(null)).toBe("");
    expect(csvField(12.5)).toBe("12.5");
    expect(csvField({ a: 1 })).toBe('"{""a"":1}"');
  });

  it("defuses text a spreadsheet would run as a formula, leaving phone numbers and negatives", () => {
    expect(csvField('=HYPERLINK("http://x")')).toBe('"\'=HYPERLINK(""http://x"")"');
    expect(csvField("@SUM(A1)")).toBe("'@SUM(A1)");
    expect(csvField("+cmd|' /C calc'!A0")).toBe("'+cmd|' /C calc'!A0");
    expect(csvField("-2+3")).toBe("'-2+3");
    expect(csvField("\tx")).toBe("'\tx");
    expect(csvField("+15551234567")).toBe("+15551234567");
    expect(csvField("+1 (555) 123-4567")).toBe("+1 (555) 123-4567");
    expect(csvField("-12.5")).toBe("-12.5");
  });
});
