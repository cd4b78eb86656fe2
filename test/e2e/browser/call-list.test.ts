import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallRepository } from "../../../src/application/ports/index.ts";
import { type Call, endCall, startCall } from "../../../src/domain/call.ts";
import type { CallAnalysis, CallFacts } from "../../../src/domain/call-review.ts";
import { createTranscript } from "../../../src/domain/transcript.ts";
import { concat, silence, speechLike } from "../../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../../support/test-server.ts";
import { TwilioSimulator } from "../../support/twilio-simulator.ts";
import { type Browser, launchBrowser, outputPath } from "./browser.ts";

/**
 * The call list (issue 20) in a real Chromium, at a desktop's and a phone's width, against the
 * real server with API_KEY set: calls seeded through the repository with their facts and
 * analysis, and a simulated call for the live rows.
 */

const API_KEY = "list-test-key-93ab";
const DAY_MS = 86_400_000;
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 390, height: 844 };

interface Seed {
  id: string;
  caller: string;
  called: string | null;
  /** Days before today (UTC) and the UTC hour it started. */
  daysAgo: number;
  hour: number;
  seconds: number;
  status: "completed" | "failed";
  facts: Partial<CallFacts>;
  analysis: CallAnalysis;
}

const SEEDS: Seed[] = [
  {
    id: "call-a",
    caller: "+15551230001",
    called: "+18005550100",
    daysAgo: 3,
    hour: 10,
    seconds: 125,
    status: "completed",
    facts: {
      endReason: "caller_hung_up",
      turns: 6,
      costUsd: 0.042,
      sentiment: "positive",
      networkQuality: "good",
      avgResponseLatencyMs: 800,
      p95ResponseLatencyMs: 1200,
      topic: "I want to change my delivery address",
    },
    analysis: {
      analysisStatus: "done",
      summary: "Caller changed the delivery address of order 1234.",
      outcome: "resolved",
      analysisFields: null,
    },
  },
  {
    id: "call-b",
    caller: "+15559870002",
    called: "+18005550199",
    daysAgo: 2,
    hour: 12,
    seconds: 40,
    status: "failed",
    facts: {
      endReason: "model_failure",
      turns: 2,
      costUsd: 0.011,
      sentiment: "negative",
      networkQuality: "poor",
      avgResponseLatencyMs: 1500,
      p95ResponseLatencyMs: 2600,
      topic: "My internet keeps dropping",
    },
    analysis: { analysisStatus: "pending", summary: null, outcome: null, analysisFields: null },
  },
  {
    id: "call-c",
    caller: "+15551230003",
    called: "+18005550100",
    daysAgo: 2,
    hour: 13,
    seconds: 300,
    status: "completed",
    facts: {
      endReason: "network_drop",
      turns: 0,
      costUsd: null,
      sentiment: "neutral",
      networkQuality: "fair",
      topic: null,
    },
    analysis: { analysisStatus: "off", summary: null, outcome: null, analysisFields: null },
  },
  {
    id: "call-d",
    caller: "+447700900004",
    called: null,
    daysAgo: 1,
    hour: 16,
    seconds: 610,
    status: "completed",
    facts: {
      endReason: "max_duration",
      turns: 9,
      costUsd: 1.25,
      sentiment: "neutral",
      networkQuality: "good",
      avgResponseLatencyMs: 900,
      p95ResponseLatencyMs: 1800,
      topic: "Question about the invoice",
    },
    analysis: {
      analysisStatus: "done",
      summary: "Charged twice on the invoice; a refund is needed.",
      outcome: "needs_follow_up",
      analysisFields: null,
    },
  },
];

/** Turns for the search: "address" is said in call A twice and in call D once, by the caller. */
const TURNS: { callId: string; speaker: "caller" | "assistant"; text: string; at: number }[] = [
  { callId: "call-a", speaker: "caller", text: "Can I change the delivery address", at: 1000 },
  { callId: "call-a", speaker: "assistant", text: "Yes I can change the address", at: 4000 },
  { callId: "call-d", speaker: "caller", text: "I was charged twice on the invoice", at: 2000 },
  { callId: "call-d", speaker: "assistant", text: "I will ask for a refund", at: 6000 },
  { callId: "call-d", speaker: "caller", text: "Same address as before please", at: 9000 },
];

const todayUtc = Math.floor(Date.now() / DAY_MS) * DAY_MS;
const startOf = (seed: Seed) => new Date(todayUtc - seed.daysAgo * DAY_MS + seed.hour * 3_600_000);
/** The viewer's day of an instant, as a date input takes it (Chromium and Node share the zone). */
const localDay = (at: Date) =>
  `${at.getFullYear()}-${String(at.getMonth() + 1).padStart(2, "0")}-${String(at.getDate()).padStart(2, "0")}`;
const seedOf = (id: string) => SEEDS.find((seed) => seed.id === id) as Seed;

async function seed(calls: CallRepository): Promise<void> {
  for (const s of SEEDS) {
    const startedAt = startOf(s);
    const call: Call = startCall({
      id: s.id,
      streamSid: `MZ${s.id.replace("-", "")}`,
      caller: s.caller,
      called: s.called,
      startedAt,
    });
    await calls.createCall(call);
    await calls.updateCall(
      endCall(call, s.status, new Date(startedAt.getTime() + s.seconds * 1000), s.facts),
    );
    await calls.setCallAnalysis(s.id, s.analysis);
  }
  for (const [i, turn] of TURNS.entries()) {
    const startedAt = startOf(seedOf(turn.callId));
    await calls.createTranscript(
      createTranscript({
        id: `turn-${i}`,
        callId: turn.callId,
        speaker: turn.speaker,
        text: turn.text,
        offsetMs: turn.at,
        createdAt: new Date(startedAt.getTime() + turn.at),
      }),
    );
  }
}

let server: TestServer;
let browser: Browser;
let page: Page;
const requests: string[] = [];
const pageErrors: string[] = [];

/**
 * The browser globals these tests read. The test program has no DOM typings (it is Node code);
 * the callbacks given to evaluate() run in the page.
 */
interface PageGlobals {
  innerWidth: number;
  document: { documentElement: { scrollWidth: number } };
  getComputedStyle(el: unknown, pseudo?: string): { display: string; content: string };
  axe: { run(): Promise<{ violations: unknown[] }> };
}

const rowIds = () =>
  page
    .locator("#call-rows tr")
    .evaluateAll((rows) =>
      rows.map((row) => (row as unknown as { dataset: { callId: string } }).dataset.callId),
    );

/** Opens the list with these query parameters and waits until its rows are in. */
async function openList(query: Record<string, string> = {}) {
  await page.goto(`${server.baseUrl}/?${new URLSearchParams(query)}`);
  await expect.poll(() => page.locator("#list-status").textContent()).not.toBe("");
}

async function shown(query: Record<string, string>): Promise<string[]> {
  await openList(query);
  return (await rowIds()).sort();
}

const noHorizontalScroll = () =>
  page.evaluate(() => {
    const page = globalThis as unknown as PageGlobals;
    return { scrollWidth: page.document.documentElement.scrollWidth, innerWidth: page.innerWidth };
  });

/** axe-core (a devDependency): every page these tests open is checked with it. */
function axeSource(): string {
  return readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
}

/** Every form control has a label, and every id is unique: what axe would check first. */
async function checkLabelsAndIds(): Promise<void> {
  // A script of the page's own (the test program has no DOM typings).
  const problems = await page.evaluate<string[]>(`(() => {
    const found = [];
    for (const el of document.querySelectorAll("input:not([type=hidden]), select")) {
      if (el.closest("dialog")) continue;
      if (el.labels.length === 0) found.push("no label: " + el.name);
    }
    const ids = [...document.querySelectorAll("[id]")].map((el) => el.id);
    for (const id of ids) if (ids.indexOf(id) !== ids.lastIndexOf(id)) found.push("id " + id);
    return found;
  })()`);
  expect(problems).toEqual([]);
  const axe = axeSource();
  // Through the DevTools protocol, which the page's CSP (its own scripts only) does not govern.
  await page.evaluate(axe);
  const violations = await page.evaluate(
    async () => (await (globalThis as unknown as PageGlobals).axe.run()).violations,
  );
  expect(violations).toEqual([]);
}

beforeAll(async () => {
  server = await startTestServer({ API_KEY });
  await seed(server.running.composition.calls);
  browser = await launchBrowser();
  // The key, as the dialog leaves it with "Remember on this device" (call-browser tests the dialog).
  await browser.context.addInitScript(
    `localStorage.setItem("callbridge.apiKey", ${JSON.stringify(API_KEY)})`,
  );
  page = await browser.context.newPage();
  page.on("request", (request) => requests.push(request.url()));
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(message.text());
  });
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
});

describe("the call list at a desktop's width", () => {
  it("shows what each call was about, how it ended, its cost, sentiment and line", async () => {
    await page.setViewportSize(DESKTOP);
    await openList();
    expect(await rowIds()).toEqual(["call-d", "call-c", "call-b", "call-a"]);
    const row = (id: string) => page.locator(`tr[data-call-id="${id}"]`);

    expect(await row("call-a").locator(".about").textContent()).toBe(
      "Caller changed the delivery address of order 1234.",
    );
    expect(await row("call-a").locator(".end-reason").textContent()).toBe("Caller hung up");
    expect(await row("call-a").locator(".outcome").textContent()).toBe("Resolved");
    expect(await row("call-a").locator(".cost").textContent()).toBe("$0.042");
    expect(await row("call-a").locator(".duration").textContent()).toBe("2:05");
    expect(await row("call-a").locator(".mood").textContent()).toBe("Positive");
    expect(await row("call-a").locator(".line").textContent()).toBe("Good");
    expect(await row("call-a").locator(".called").textContent()).toBe("to +18005550100");

    // No summary yet: the caller's first words, and that the analysis is under way.
    expect(await row("call-b").locator(".about").textContent()).toBe(
      "My internet keeps dropping · Analysing…",
    );
    expect(await row("call-b").locator(".end-reason").textContent()).toBe("Assistant failed");
    expect(await row("call-b").locator(".badge").textContent()).toBe("Failed");
    expect(await row("call-b").locator(".outcome").count()).toBe(0);

    // Nothing was said and no analysis is made; no cost is known.
    expect(await row("call-c").locator(".about").textContent()).toBe("No words");
    expect(await row("call-c").locator(".cost").textContent()).toBe("—not known");
    expect(await row("call-c").locator(".end-reason").textContent()).toBe("Network dropped");

    expect(await row("call-d").locator(".outcome").textContent()).toBe("Needs follow-up");
    expect(await row("call-d").locator(".end-reason").textContent()).toBe("Time limit reached");
    expect(await row("call-d").locator(".cost").textContent()).toBe("$1.25");
    expect(await page.locator("#list-status").textContent()).toBe("4 calls shown");
    await checkLabelsAndIds();
    await page.screenshot({ path: outputPath("list-desktop.png"), fullPage: true });
  });

  it("shows the totals of the filtered calls above the list, with a bar per day", async () => {
    await openList();
    const total = (key: string) => page.locator(`[data-total="${key}"] dd`).textContent();
    await expect.poll(() => total("calls")).toBe("4");
    // 125 + 40 + 300 + 610 seconds; 1 failed of 4 ended; latencies of A, B and D (C has none):
    // mean of 800, 1500, 900 and the nearest-rank p95 of 1200, 2600, 1800; costs of A, B, D.
    expect(await total("minutes")).toBe("17.9");
    expect(await total("failure-rate")).toBe("25% (1 failed)");
    expect(await total("avg-latency")).toBe("1.1 s");
    expect(await total("p95-latency")).toBe("2.6 s");
    expect(await total("cost")).toBe("$1.30");
    const totalsBox = await page.locator("#totals-section").boundingBox();
    const listBox = await page.locator("table.calls").boundingBox();
    expect(totalsBox && listBox && totalsBox.y < listBox.y).toBe(true);

    // Three UTC days with calls, one bar each (and a failed part on B's day); the table says it
    // in text, newest first.
    const chart = page.locator("#per-day-chart svg");
    expect(await chart.getAttribute("role")).toBe("img");
    expect(await chart.getAttribute("aria-label")).toContain("3 days");
    expect(await page.locator("#per-day-chart rect.bar-ok").count()).toBe(3);
    expect(await page.locator("#per-day-chart rect.bar-failed").count()).toBe(1);
    await page.locator(".per-day-details summary").click();
    const days = await page
      .locator("#per-day-table tbody tr")
      .evaluateAll((rows) =>
        rows.map((row) =>
          [...(row as unknown as { cells: { textContent: string }[] }).cells].map(
            (c) => c.textContent,
          ),
        ),
      );
    const utcDay = (daysAgo: number) =>
      new Date(todayUtc - daysAgo * DAY_MS).toISOString().slice(0, 10);
    expect(days.map((d) => d.slice(1))).toEqual([
      ["1", "0", "10.2", "$1.25"],
      ["2", "1", "5.7", "$0.011"],
      ["1", "0", "2.1", "$0.042"],
    ]);
    expect(days.map((d) => d[0]?.slice(-4))).toEqual([1, 2, 3].map((n) => utcDay(n).slice(0, 4)));

    // Filtered: the completed calls only.
    await openList({ status: "completed" });
    await expect.poll(() => total("calls")).toBe("3");
    expect(await total("failure-rate")).toBe("0% (0 failed)");
    expect(await page.locator("#totals-scope").textContent()).toContain("these filters");
  });

  it("narrows the list by each filter", async () => {
    const dayB = localDay(startOf(seedOf("call-b")));
    expect(await shown({ caller: "(555) 123" })).toEqual(["call-a", "call-c"]);
    expect(await shown({ caller: "0004" })).toEqual(["call-d"]);
    expect(await shown({ called: "+18005550100" })).toEqual(["call-a", "call-c"]);
    expect(await shown({ status: "failed" })).toEqual(["call-b"]);
    expect(await shown({ outcome: "resolved" })).toEqual(["call-a"]);
    expect(await shown({ endReason: "max_duration" })).toEqual(["call-d"]);
    expect(await shown({ sentiment: "negative" })).toEqual(["call-b"]);
    expect(await shown({ minDuration: "200" })).toEqual(["call-c", "call-d"]);
    expect(await shown({ maxDuration: "60" })).toEqual(["call-b"]);
    expect(await shown({ minDuration: "100", maxDuration: "400" })).toEqual(["call-a", "call-c"]);
    expect(await shown({ from: dayB, to: dayB })).toEqual(["call-b", "call-c"]);
    expect(await shown({ from: dayB })).toEqual(["call-b", "call-c", "call-d"]);
    expect(await shown({ outcome: "spam" })).toEqual([]);
    expect(await page.locator("#list-status").textContent()).toBe("No calls match these filters.");
    expect(await page.locator("#empty-state").isVisible()).toBe(false);
  });

  it("applies the form with the keyboard alone, the secondary filters folded until used", async () => {
    await openList();
    expect(await page.locator(".more-filters").getAttribute("open")).toBeNull();
    await page.locator("#f-caller").focus();
    await page.keyboard.type("555 123");
    await page.keyboard.press("Enter");
    await page.waitForURL(/caller=555/);
    await expect.poll(() => page.locator("#list-status").textContent()).toBe("2 calls shown");

    await page.locator(".more-filters summary").focus();
    await page.keyboard.press("Space");
    expect(await page.locator(".more-filters").getAttribute("open")).toBe("");
    await page.keyboard.press("Tab"); // Number dialled
    await page.keyboard.press("Tab"); // How it ended
    await page.keyboard.press("Tab"); // Sentiment
    await page.keyboard.press("Tab"); // Longer than
    await page.keyboard.type("200");
    await page.keyboard.press("Enter");
    await page.waitForURL(/minDuration=200/);
    await expect.poll(() => page.locator("#list-status").textContent()).toBe("1 call shown");
    expect(await rowIds()).toEqual(["call-c"]);
    // A secondary filter is set: the form shows it unfolded, the caller's digits kept.
    expect(await page.locator(".more-filters").getAttribute("open")).toBe("");
    expect(await page.locator("#f-minDuration").inputValue()).toBe("200");
    expect(await page.locator("#f-caller").inputValue()).toBe("555 123");
  });

  it("shows the API's message about an invalid filter next to that field", async () => {
    await page.goto(`${server.baseUrl}/?caller=abc`);
    const error = page.locator("#f-caller-error");
    await error.waitFor();
    expect(await error.textContent()).toMatch(/^Must be digits of a phone number/);
    const field = page.locator("#f-caller");
    expect(await field.getAttribute("aria-invalid")).toBe("true");
    expect(await field.getAttribute("aria-describedby")).toBe("f-caller-error");
    expect(await field.inputValue()).toBe("abc");
    const fieldBox = await field.boundingBox();
    const errorBox = await error.boundingBox();
    expect(fieldBox && errorBox && Math.abs(errorBox.x - fieldBox.x) < 2).toBe(true);
    expect(
      fieldBox &&
        errorBox &&
        errorBox.y >= fieldBox.y + fieldBox.height - 1 &&
        errorBox.y < fieldBox.y + fieldBox.height + 20,
    ).toBe(true);
    expect(await page.locator("#list-status").textContent()).toContain("not valid");
    expect(await page.locator("#call-rows tr").count()).toBe(0);
    expect(await page.locator("#exports").isVisible()).toBe(false);
    expect(await page.locator("#totals-section").isVisible()).toBe(false);

    // A range the wrong way round: said under the field the API names, unfolded.
    await page.goto(`${server.baseUrl}/?minDuration=300&maxDuration=100`);
    const max = page.locator("#f-maxDuration-error");
    await max.waitFor();
    expect(await max.textContent()).toBe("Must not be less than “Longer than”");
    expect(await page.locator("#f-maxDuration").getAttribute("aria-invalid")).toBe("true");
    expect(await page.locator("#f-minDuration").getAttribute("aria-invalid")).toBeNull();

    await page.goto(`${server.baseUrl}/?from=2026-03-05&to=2026-03-01`);
    const to = page.locator("#f-to-error");
    await to.waitFor();
    expect(await to.textContent()).toBe("Must be later than “From”");
    // The browser logged the refused requests (400); those are expected.
    const expected = pageErrors.filter((e) => e.includes("400"));
    expect(expected.length).toBeGreaterThan(0);
    pageErrors.splice(0, pageErrors.length, ...pageErrors.filter((e) => !e.includes("400")));
  });

  it("downloads the filtered calls as CSV and JSON Lines, with the key in a header", async () => {
    await openList({ called: "+18005550100" });
    await page.locator("#exports").waitFor();
    const [csv] = await Promise.all([
      page.waitForEvent("download"),
      page.locator("#export-csv").click(),
    ]);
    expect(csv.suggestedFilename()).toMatch(/^calls-\d{4}-\d{2}-\d{2}\.csv$/);
    const lines = readFileSync(await csv.path(), "utf8")
      .trimEnd()
      .split("\r\n");
    expect(lines[0]?.split(",").slice(0, 3)).toEqual(["id", "startedAt", "endedAt"]);
    expect(lines.slice(1).map((line) => line.split(",")[0])).toEqual(["call-c", "call-a"]);
    await expect
      .poll(() => page.locator("#export-status").textContent())
      .toBe("The CSV file is downloaded.");

    const [jsonl] = await Promise.all([
      page.waitForEvent("download"),
      page.locator("#export-jsonl").click(),
    ]);
    expect(jsonl.suggestedFilename()).toMatch(/\.jsonl$/);
    const calls = readFileSync(await jsonl.path(), "utf8")
      .trimEnd()
      .split("\n")
      .map((line) => JSON.parse(line) as { id: string; called: string });
    expect(calls.map((call) => [call.id, call.called])).toEqual([
      ["call-c", "+18005550100"],
      ["call-a", "+18005550100"],
    ]);
    const exports = requests.filter((url) => url.includes("/api/export/calls"));
    expect(exports.length).toBe(2);
    expect(new URL(exports[0] ?? "").searchParams.get("called")).toBe("+18005550100");
  });

  it("says a one-time notice once: it does not survive a reload", async () => {
    await page.goto(`${server.baseUrl}/?deleted=1&status=completed`);
    const notice = page.locator("#notice");
    await expect.poll(() => notice.textContent()).toBe("The call was deleted.");
    expect(await notice.isVisible()).toBe(true);
    // The other parameters stay; the notice's goes.
    expect(new URL(page.url()).search).toBe("?status=completed");
    await page.reload();
    await expect.poll(() => page.locator("#list-status").textContent()).toBe("3 calls shown");
    expect(await notice.isVisible()).toBe(false);
  });

  it("groups search hits by call, with caller, time and count, and narrows by speaker and day", async () => {
    await page.goto(`${server.baseUrl}/?q=address`);
    const status = page.locator("#search-status");
    await expect.poll(() => status.textContent()).toBe("3 turns in 2 calls");
    const groups = page.locator(".hit-group");
    expect(await groups.count()).toBe(2);
    const a = page.locator('.hit-group[data-call-id="call-a"]');
    await expect.poll(() => a.locator(".group-caller").textContent()).toBe("+15551230001");
    expect(await a.locator(".group-count").textContent()).toBe("2 turns");
    expect(await a.locator(".hit").count()).toBe(2);
    expect(await a.locator("time").getAttribute("datetime")).toBe(
      startOf(seedOf("call-a")).toISOString(),
    );
    const d = page.locator('.hit-group[data-call-id="call-d"]');
    await expect.poll(() => d.locator(".group-caller").textContent()).toBe("+447700900004");
    expect(await d.locator(".group-count").textContent()).toBe("1 turn");

    await page.selectOption("#s-speaker", "caller");
    await page.click("#search-filters button[type=submit]");
    await page.waitForURL(/speaker=caller/);
    await expect.poll(() => status.textContent()).toBe("2 turns in 2 calls");
    expect(await page.locator(".hit .speaker").allTextContents()).toEqual(["Caller", "Caller"]);
    // The sort links keep the filters.
    expect(await page.locator("#sort-relevance").getAttribute("href")).toContain("speaker=caller");

    const dayD = localDay(startOf(seedOf("call-d")));
    await page.fill("#s-from", dayD);
    await page.fill("#s-to", dayD);
    await page.click("#search-filters button[type=submit]");
    await page.waitForURL(/from=/);
    await expect.poll(() => status.textContent()).toBe("1 turn in 1 call");
    expect(await groups.count()).toBe(1);
    expect(await d.count()).toBe(1);
    await checkLabelsAndIds();
  });
});

describe("the list's order", () => {
  it("sorts by a heading, either way, kept in the URL, the form and the exports; on a phone by a select", async () => {
    await openList();
    const duration = page.locator('th[data-sort="durationSeconds"]');
    await duration.getByRole("button").click();
    // 610, 300, 125 and 40 seconds.
    await expect.poll(rowIds).toEqual(["call-d", "call-c", "call-a", "call-b"]);
    expect(await duration.getAttribute("aria-sort")).toBe("descending");
    expect(await page.locator('th[data-sort="startedAt"]').getAttribute("aria-sort")).toBeNull();
    expect(await page.locator("#list-heading").textContent()).toBe("Longest first");
    await duration.getByRole("button").click();
    await expect.poll(rowIds).toEqual(["call-b", "call-a", "call-c", "call-d"]);
    expect(await duration.getAttribute("aria-sort")).toBe("ascending");
    expect(new URL(page.url()).search).toBe("?sort=durationSeconds&order=asc");
    expect(await page.locator("#export-csv").getAttribute("href")).toBe(
      "/api/export/calls?sort=durationSeconds&order=asc&format=csv",
    );
    await checkLabelsAndIds();

    // Applying a filter keeps the order.
    await page.selectOption("#f-status", "completed");
    await page.click("#filters button[type=submit]");
    await page.waitForURL(/status=completed/);
    expect(new URL(page.url()).searchParams.get("sort")).toBe("durationSeconds");
    await expect.poll(rowIds).toEqual(["call-a", "call-c", "call-d"]);

    await page.setViewportSize(PHONE);
    try {
      const select = page.locator("#list-sort");
      expect(await select.inputValue()).toBe("durationSeconds:asc");
      await select.selectOption("costUsd:desc");
      // $1.25 and $0.042; call C has no cost, so it comes last.
      await expect.poll(rowIds).toEqual(["call-d", "call-a", "call-c"]);
      expect(new URL(page.url()).searchParams.get("order")).toBe("desc");
      expect(await page.locator("#list-heading").textContent()).toBe("Most expensive first");
    } finally {
      await page.setViewportSize(DESKTOP);
    }
  });
});

describe("the call list on a phone", () => {
  it("shows each call as a card with the same facts, nothing wider than the screen", async () => {
    await page.setViewportSize(PHONE);
    try {
      await openList();
      const card = page.locator('tr[data-call-id="call-a"]');
      expect(
        await card.evaluate(
          (el) => (globalThis as unknown as PageGlobals).getComputedStyle(el).display,
        ),
      ).toBe("grid");
      // The column headings are for screen readers only; each fact says what it is.
      const header = await page.locator("table.calls thead").boundingBox();
      expect(header === null || header.height <= 1).toBe(true);
      expect(
        await card
          .locator(".cost")
          .evaluate(
            (el) => (globalThis as unknown as PageGlobals).getComputedStyle(el, "::before").content,
          ),
      ).toBe('"Cost "');
      expect(await card.locator(".about").isVisible()).toBe(true);
      expect(await card.locator(".end-reason").isVisible()).toBe(true);
      expect(await card.locator(".outcome").isVisible()).toBe(true);
      const cardBox = await card.boundingBox();
      expect(cardBox && cardBox.x >= 0 && cardBox.x + cardBox.width <= PHONE.width).toBe(true);
      const measured = await noHorizontalScroll();
      expect(measured.scrollWidth).toBeLessThanOrEqual(measured.innerWidth);
      await page.screenshot({ path: outputPath("list-phone.png"), fullPage: true });

      // Unfolded, with an error shown, the form still fits.
      await page.goto(`${server.baseUrl}/?minDuration=300&maxDuration=100`);
      await page.locator("#f-maxDuration-error").waitFor();
      const unfolded = await noHorizontalScroll();
      expect(unfolded.scrollWidth).toBeLessThanOrEqual(unfolded.innerWidth);
      pageErrors.splice(0, pageErrors.length, ...pageErrors.filter((e) => !e.includes("400")));

      await page.goto(`${server.baseUrl}/?q=address`);
      await expect.poll(() => page.locator("#search-status").textContent()).toContain("turns");
      const search = await noHorizontalScroll();
      expect(search.scrollWidth).toBeLessThanOrEqual(search.innerWidth);
    } finally {
      await page.setViewportSize(DESKTOP);
    }
  });
});

describe("the live view", () => {
  it("adds a call as it starts and lets it go as it ends, the full list keeping it", async () => {
    await openList({ status: "active" });
    const status = page.locator("#list-status");
    expect(await status.textContent()).toBe(
      "No call is live now. Calls appear here as they start.",
    );
    const all = await browser.context.newPage();
    try {
      await all.goto(`${server.baseUrl}/`);
      await expect.poll(() => all.locator("#call-rows tr").count()).toBe(4);

      const sim = await TwilioSimulator.connect({
        url: server.mediaStreamUrl,
        caller: "+15550001111",
      });
      const live = page.locator("tr.is-live");
      await live.waitFor();
      await expect.poll(() => status.textContent()).toBe("1 call shown");
      expect(await page.locator("#live-count").textContent()).toBe("1 live");
      expect(await live.locator(".caller").textContent()).toBe("+15550001111");
      const liveId = await live.getAttribute("data-call-id");
      await all.locator(`tr.is-live[data-call-id="${liveId}"]`).waitFor();
      await expect.poll(() => all.locator("#call-rows tr").count()).toBe(5);

      // A live row opened after its first turns shows the latest of them (the feed, the next).
      await server.running.composition.calls.createTranscript(
        createTranscript({
          id: "live-turn",
          callId: liveId ?? "",
          speaker: "caller",
          text: "Is anyone there",
          offsetMs: 300,
          createdAt: new Date(),
        }),
      );
      await page.reload();
      await expect.poll(() => live.locator(".about").textContent()).toBe("Caller Is anyone there");
      expect(await status.textContent()).toBe("1 call shown");

      await sim.play(concat(speechLike(800, 8000), silence(200, 8000)));
      await sim.hangUp();
      await expect.poll(() => page.locator("#call-rows tr").count(), { timeout: 10_000 }).toBe(0);
      await expect
        .poll(() => status.textContent())
        .toBe("No call is live now. Calls appear here as they start.");
      expect(await page.locator("#live-count").isVisible()).toBe(false);

      // The full list keeps the ended call, with how it ended, and its totals follow.
      const ended = all.locator(`tr[data-call-id="${liveId}"]`);
      await expect.poll(() => ended.locator(".badge").textContent()).toBe("Completed");
      expect(await ended.getAttribute("class")).toBeNull();
      expect(await ended.locator(".end-reason").textContent()).toBe("Caller hung up");
      expect(await ended.locator(".about").textContent()).toBe("No words");
      await expect
        .poll(() => all.locator('[data-total="calls"] dd').textContent(), { timeout: 10_000 })
        .toBe("5");
      const stored = await eventually(async () => {
        const call = await server.running.composition.calls.getCallById(liveId ?? "");
        return call?.status === "completed" ? call : undefined;
      });
      expect(stored.endReason).toBe("caller_hung_up");
    } finally {
      await all.close();
    }
  });
});

describe("a pending analysis", () => {
  it("is read again until done: the summary and outcome replace the caller's first words", async () => {
    await openList();
    const row = page.locator('tr[data-call-id="call-b"]');
    expect(await row.locator(".about").textContent()).toContain("Analysing…");
    await server.running.composition.calls.setCallAnalysis("call-b", {
      analysisStatus: "done",
      summary: "The line kept dropping; the caller will call back.",
      outcome: "unresolved",
      analysisFields: null,
    });
    await expect
      .poll(() => row.locator(".about").textContent(), { timeout: 15_000 })
      .toBe("The line kept dropping; the caller will call back.");
    expect(await row.locator(".outcome").textContent()).toBe("Unresolved");
    expect(await row.getAttribute("data-analysis")).toBe("done");
  });
});

describe("an empty database", () => {
  it("says how to place a first call; without a key the export is a plain link", async () => {
    const empty = await startTestServer({});
    const tab = await browser.context.newPage();
    try {
      await tab.goto(`${empty.baseUrl}/`);
      const state = tab.locator("#empty-state");
      await state.waitFor();
      const text = (await state.textContent()) ?? "";
      expect(text).toContain("npm run demo");
      expect(text).toContain("npm run simulate");
      expect(text).toContain("npm run simulate -- recording.wav");
      expect(await tab.locator("#list-status").textContent()).toBe("");
      expect(await tab.locator("#totals-section").isVisible()).toBe(false);
      // Nothing to download yet; once a call is stored, a plain link (no key to send).
      expect(await tab.locator("#exports").isVisible()).toBe(false);
      await tab.setViewportSize(PHONE);
      await tab.screenshot({ path: outputPath("list-empty-phone.png"), fullPage: true });
      // A filter that finds nothing is not an empty database.
      await tab.goto(`${empty.baseUrl}/?status=failed`);
      await expect
        .poll(() => tab.locator("#list-status").textContent())
        .toBe("No calls match these filters.");
      expect(await tab.locator("#empty-state").isVisible()).toBe(false);

      // Without API_KEY the export is a plain link that downloads by itself.
      const first = startCall({ id: "first", streamSid: "MZfirst", startedAt: new Date() });
      await empty.running.composition.calls.createCall(first);
      await empty.running.composition.calls.updateCall(endCall(first, "completed", new Date()));
      await tab.goto(`${empty.baseUrl}/`);
      const link = tab.locator("#export-csv");
      await link.waitFor();
      expect(await link.getAttribute("href")).toBe("/api/export/calls?format=csv");
      const [download] = await Promise.all([tab.waitForEvent("download"), link.click()]);
      const lines = readFileSync(await download.path(), "utf8")
        .trimEnd()
        .split("\r\n");
      expect(lines.map((line) => line.split(",")[0])).toEqual(["id", "first"]);
    } finally {
      await tab.close();
      await empty.stop();
    }
  });
});

describe("a list longer than a page", () => {
  it("shows the first page's rows and brings the rest with Load more", async () => {
    // 30 calls to one number of their own, so the other tests' calls stay as they are.
    const calls = server.running.composition.calls;
    const base = todayUtc - 5 * DAY_MS;
    for (let i = 0; i < 30; i++) {
      const startedAt = new Date(base + i * 60_000);
      const call = startCall({
        id: `many-${String(i).padStart(2, "0")}`,
        streamSid: `MZmany${i}`,
        caller: "+15550004444",
        called: "+18005550777",
        startedAt,
      });
      await calls.createCall(call);
      await calls.updateCall(endCall(call, "completed", new Date(startedAt.getTime() + 30_000)));
    }
    await openList({ called: "+18005550777" });
    await expect.poll(async () => (await rowIds()).length).toBe(25);
    expect((await rowIds())[0]).toBe("many-29");
    await page.getByRole("button", { name: "Load more" }).click();
    await expect.poll(async () => (await rowIds()).length).toBe(30);
    expect((await rowIds()).at(-1)).toBe("many-00");
    expect(new Set(await rowIds()).size).toBe(30);
  });
});

describe("what the list loads", () => {
  it("came from this server only, never carried the key in a URL, and logged no error", () => {
    expect(requests.length).toBeGreaterThan(0);
    const local = /^http:\/\/127\.0\.0\.1:\d+\//;
    expect(requests.filter((url) => !local.test(url) && !url.startsWith("blob:"))).toEqual([]);
    expect(requests.filter((url) => url.includes(API_KEY))).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
