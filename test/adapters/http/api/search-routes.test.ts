import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { ErrorJson, SearchPageJson } from "../../../../src/adapters/http/api/json-schemas.ts";
import {
  type ApiWorld,
  describeEachBackend,
  internalsIn,
  seedCall,
  seedTranscript,
} from "./api-test-world.ts";

let world: ApiWorld;

async function search(query: string) {
  const response = await world.request(`/api/search?${query}`);
  const text = await response.text();
  expect(response.status, text).toBe(200);
  return SearchPageJson.parse(JSON.parse(text));
}

describeEachBackend("search routes", (backend) => {
  beforeEach(async () => {
    world = await backend.createWorld();
  });
  afterEach(() => world.close());

  describe("GET /api/search", () => {
    it("returns hits with call, transcript, speaker, snippet, offset and call start", async () => {
      const call = await seedCall(world, { id: "c1", startedAt: "2026-04-01T09:30:00.000Z" });
      await seedTranscript(world, call, "t1", "I would like a refund for my order", {
        offsetMs: 2500,
      });
      const page = await search("q=refund");
      expect(page).toEqual({
        data: [
          {
            callId: "c1",
            transcriptId: "t1",
            speaker: "caller",
            snippet: "I would like a [refund] for my order",
            offsetMs: 2500,
            startedAt: "2026-04-01T09:30:00.000Z",
          },
        ],
        nextCursor: null,
      });
    });

    it("puts the best match first", async () => {
      const call = await seedCall(world, { id: "c1" });
      await seedTranscript(
        world,
        call,
        "weak",
        "we talked about the weather, the traffic, the news, the game and finally a refund",
      );
      await seedTranscript(world, call, "strong", "refund refund refund");
      await seedTranscript(world, call, "none", "nothing to see here");
      const page = await search("q=refund");
      expect(page.data.map((hit) => hit.transcriptId)).toEqual(["strong", "weak"]);
    });

    it("requires every word of q to appear", async () => {
      const call = await seedCall(world, { id: "c1" });
      await seedTranscript(world, call, "both", "cancel my subscription please");
      await seedTranscript(world, call, "one", "cancel the meeting");
      const page = await search(`q=${encodeURIComponent("subscription cancel")}`);
      expect(page.data.map((hit) => hit.transcriptId)).toEqual(["both"]);
    });

    it("filters by speaker", async () => {
      const call = await seedCall(world, { id: "c1" });
      await seedTranscript(world, call, "from-caller", "what is my balance");
      await seedTranscript(world, call, "from-assistant", "your balance is ten dollars", {
        speaker: "assistant",
      });
      const ids = async (query: string) => (await search(query)).data.map((h) => h.transcriptId);
      expect((await ids("q=balance")).sort()).toEqual(["from-assistant", "from-caller"]);
      expect(await ids("q=balance&speaker=assistant")).toEqual(["from-assistant"]);
      expect(await ids("q=balance&speaker=caller")).toEqual(["from-caller"]);
    });

    it("pages through every hit exactly once by following nextCursor", async () => {
      const call = await seedCall(world, { id: "c1" });
      for (let i = 0; i < 7; i++) {
        await seedTranscript(world, call, `t${i}`, `order number ${i} ${"padding ".repeat(i)}`);
      }
      const seen: string[] = [];
      let cursor: string | null = null;
      let pages = 0;
      do {
        const suffix: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
        const page = await search(`q=order&limit=3${suffix}`);
        expect(page.data.length).toBeLessThanOrEqual(3);
        seen.push(...page.data.map((hit) => hit.transcriptId));
        cursor = page.nextCursor;
        pages++;
      } while (cursor !== null && pages < 10);
      expect(pages).toBe(3);
      expect(seen).toEqual(["t0", "t1", "t2", "t3", "t4", "t5", "t6"]);
    });

    it("ends with a null cursor when the last page is exactly full", async () => {
      const call = await seedCall(world, { id: "c1" });
      for (let i = 0; i < 4; i++) await seedTranscript(world, call, `t${i}`, `invoice ${i}`);
      const first = await search("q=invoice&limit=2");
      expect(first.data).toHaveLength(2);
      const second = await search(`q=invoice&limit=2&cursor=${first.nextCursor}`);
      expect(second.data).toHaveLength(2);
      expect(second.nextCursor).toBeNull();
    });

    it.each([
      '"',
      "*",
      "NEAR(",
      "AND",
      "^",
      ":",
      "text:refund",
      "refund OR 1=1",
      "' OR 1=1 --",
      "(refund",
      "-refund",
      "re*",
      "{speaker text}: x",
      "\u0000",
      "💸",
    ])("treats the hostile query %j as plain words and answers 200", async (q) => {
      const call = await seedCall(world, { id: "c1" });
      await seedTranscript(world, call, "t1", "and a refund: near the end, OR so");
      const response = await world.request(`/api/search?q=${encodeURIComponent(q)}`);
      const text = await response.text();
      expect(response.status, text).toBe(200);
      SearchPageJson.parse(JSON.parse(text));
      expect(internalsIn(text, world)).toEqual([]);
    });

    it("finds a word even when the query wraps it in FTS syntax", async () => {
      const call = await seedCall(world, { id: "c1" });
      await seedTranscript(world, call, "t1", "and a refund near the end");
      expect((await search(`q=${encodeURIComponent("AND")}`)).data).toHaveLength(1);
      expect((await search(`q=${encodeURIComponent("refund AND near")}`)).data).toHaveLength(1);
      expect((await search(`q=${encodeURIComponent("NEAR(refund")}`)).data).toHaveLength(0);
    });

    it("accepts a 500-character query", async () => {
      await search(`q=${"a".repeat(500)}`);
    });

    it("lists every match newest first with sort=recent, paging by position", async () => {
      const call = await seedCall(world, { id: "c1" });
      for (let i = 0; i < 7; i++) {
        // The densest match is the oldest: relevance would put it first, recent puts it last.
        await seedTranscript(world, call, `t${i}`, `order ${"padding ".repeat(i)}`);
      }
      await seedTranscript(world, call, "other", "nothing to see here");
      const seen: string[] = [];
      let cursor: string | null = null;
      let added = 0;
      do {
        const suffix: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
        const page = await search(`q=order&sort=recent&limit=3${suffix}`);
        seen.push(...page.data.map((hit) => hit.transcriptId));
        cursor = page.nextCursor;
        // Stored between pages: newer than every page, so never on one, and moving nothing.
        await seedTranscript(world, call, `new${added++}`, "order order order");
      } while (cursor !== null && added < 10);
      expect(seen).toEqual(["t6", "t5", "t4", "t3", "t2", "t1", "t0"]);
      const again = await search("q=order&sort=recent&limit=2");
      expect(again.data.map((hit) => hit.transcriptId)).toEqual(["new2", "new1"]);
    });

    it("keeps best match first by default and with sort=relevance", async () => {
      const call = await seedCall(world, { id: "c1" });
      await seedTranscript(world, call, "strong", "refund refund refund");
      await seedTranscript(world, call, "weak", "a refund after a long talk about the weather");
      const ids = async (query: string) => (await search(query)).data.map((h) => h.transcriptId);
      expect(await ids("q=refund")).toEqual(["strong", "weak"]);
      expect(await ids("q=refund&sort=relevance")).toEqual(["strong", "weak"]);
      expect(await ids("q=refund&sort=recent")).toEqual(["weak", "strong"]);
    });

    it("pages a relevance ranking that holds still while transcripts are stored", async () => {
      const call = await seedCall(world, { id: "c1" });
      for (let i = 0; i < 8; i++) {
        await seedTranscript(world, call, `t${i}`, `invoice ${"padding ".repeat((i * 5) % 8)}`);
      }
      const full = (await search("q=invoice&limit=100")).data.map((hit) => hit.transcriptId);
      const seen: string[] = [];
      let cursor: string | null = null;
      let added = 0;
      do {
        const suffix: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
        const page = await search(`q=invoice&limit=3${suffix}`);
        seen.push(...page.data.map((hit) => hit.transcriptId));
        cursor = page.nextCursor;
        await seedTranscript(world, call, `better${added++}`, "invoice");
      } while (cursor !== null && added < 10);
      expect(seen).toEqual(full);
    });

    it("ranks only the newest matches when more than the cap match", async () => {
      await world.close();
      world = await backend.createWorld({ searchCandidates: 3 });
      const call = await seedCall(world, { id: "c1" });
      await seedTranscript(world, call, "best", "refund refund refund");
      for (let i = 0; i < 5; i++) await seedTranscript(world, call, `r${i}`, `refund number ${i}`);
      const first = await search("q=refund&limit=2");
      expect(first.data.map((hit) => hit.transcriptId)).toEqual(["r4", "r3"]);
      const second = await search(`q=refund&limit=2&cursor=${first.nextCursor}`);
      expect(second.data.map((hit) => hit.transcriptId)).toEqual(["r2"]);
      expect(second.nextCursor).toBeNull();
      // recent is not capped.
      expect((await search("q=refund&sort=recent&limit=100")).data).toHaveLength(6);
    });

    it.each(["relevance", "recent"])("filters by speaker with sort=%s", async (sort) => {
      const call = await seedCall(world, { id: "c1" });
      for (let i = 0; i < 6; i++) {
        await seedTranscript(world, call, `t${i}`, `balance check ${i}`, {
          speaker: i % 3 === 0 ? "assistant" : "caller",
        });
      }
      const page = await search(`q=balance&speaker=assistant&sort=${sort}&limit=1`);
      const next = await search(
        `q=balance&speaker=assistant&sort=${sort}&limit=1&cursor=${page.nextCursor}`,
      );
      const ids = [...page.data, ...next.data].map((hit) => hit.transcriptId).sort();
      expect(ids).toEqual(["t0", "t3"]);
      expect(next.nextCursor).toBeNull();
    });

    it.each([
      ["recent", "relevance"],
      ["relevance", "recent"],
    ])("refuses a cursor issued for sort=%s when asked for sort=%s", async (from, to) => {
      const call = await seedCall(world, { id: "c1" });
      for (let i = 0; i < 3; i++) await seedTranscript(world, call, `t${i}`, `order ${i}`);
      const page = await search(`q=order&limit=1&sort=${from}`);
      expect(page.nextCursor).not.toBeNull();
      const response = await world.request(
        `/api/search?q=order&limit=1&sort=${to}&cursor=${page.nextCursor}`,
      );
      expect(response.status).toBe(400);
      const body = ErrorJson.parse(await response.json());
      expect(body.error.message).toMatch(new RegExp(`^cursor: was issued for sort=${from}`));
      // Without a sort, the cursor is read as relevance's.
      const plain = await world.request(`/api/search?q=order&limit=1&cursor=${page.nextCursor}`);
      expect(plain.status).toBe(from === "relevance" ? 200 : 400);
    });

    it.each([
      ["", "q"],
      ["q=", "q"],
      ["q=%20%20%20", "q"],
      [`q=${"a".repeat(501)}`, "q"],
      ["q=x&limit=0", "limit"],
      ["q=x&limit=101", "limit"],
      ["q=x&limit=abc", "limit"],
      ["q=x&speaker=robot", "speaker"],
      ["q=x&cursor=garbage!", "cursor"],
      [`q=x&cursor=${Buffer.from('{"o":-1}').toString("base64url")}`, "cursor"],
      [`q=x&cursor=${Buffer.from('{"o":"3"}').toString("base64url")}`, "cursor"],
      [`q=x&cursor=${Buffer.from('{"o":3}').toString("base64url")}`, "cursor"],
      [`q=x&cursor=${Buffer.from('{"a":9,"o":0}').toString("base64url")}`, "cursor"],
      [`q=x&cursor=${Buffer.from('{"a":0,"o":3}').toString("base64url")}`, "cursor"],
      [`q=x&sort=recent&cursor=${Buffer.from('{"b":1.5}').toString("base64url")}`, "cursor"],
      [`q=x&sort=recent&cursor=${Buffer.from('{"b":9,"o":1}').toString("base64url")}`, "cursor"],
      [`q=x&cursor=${Buffer.from("[]").toString("base64url")}`, "cursor"],
      ["q=a&q=b", "q"],
      ["q=x&sort=newest", "sort"],
      ["q=x&sort=", "sort"],
      ["q=x&sort=RECENT", "sort"],
      ["q=x&sort=recent&sort=recent", "sort"],
      ["q=x&sort=recent&sort=relevance", "sort"],
    ])("answers 400 naming the field for %s", async (query, field) => {
      const response = await world.request(`/api/search?${query}`);
      expect(response.status).toBe(400);
      const body = ErrorJson.parse(await response.json());
      expect(body.error.code).toBe("invalid_request");
      expect(body.error.message.startsWith(`${field}: `)).toBe(true);
    });
  });
});
