import { copyFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallRepository } from "../../../src/application/ports/index.ts";
import { FakeRealtimeServer } from "../../support/fake-openai-realtime.ts";
import { concat, silence, speechLike } from "../../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../../support/test-server.ts";
import { TwilioSimulator } from "../../support/twilio-simulator.ts";
import { type Browser, launchBrowser, outputPath } from "./browser.ts";

/**
 * The call browser in a real Chromium, against the real server with API_KEY set, fed by
 * simulated Twilio calls answered by the fake OpenAI Realtime server.
 */

const API_KEY = "browser-test-key-7c1f";
const CALLER = "+15555550101";
const LIVE_CALLER = "+15555550202";
const RATE = 8000;

interface Turn {
  caller: string;
  assistant: string;
}

const FIRST_CALL: Turn[] = [
  { caller: "Hello I am calling about my parcel", assistant: "Of course let me look that up" },
  { caller: "It should have come on Monday", assistant: "It arrives tomorrow before noon" },
];

let fake: FakeRealtimeServer;
let server: TestServer;
let browser: Browser;
let page: Page;
let callId: string;
/** Everything the pages asked for, and every error they logged. */
const requests: string[] = [];
const pageErrors: string[] = [];

/** One caller utterance, then enough silence for the assistant's whole answer. */
const utterance = (speechMs: number, silenceMs = 2600) =>
  concat(speechLike(speechMs, RATE), silence(silenceMs, RATE));

async function transcriptCount(calls: CallRepository, streamSid: string): Promise<number> {
  const call = await calls.getCallByStreamSid(streamSid);
  return call ? (await calls.getTranscriptsByCallId(call.id)).length : 0;
}

/** Plays each turn and waits until both of its transcripts are stored, so the texts stay apart. */
async function speak(sim: TwilioSimulator, turns: Turn[]): Promise<void> {
  const calls = server.running.composition.calls;
  const before = await transcriptCount(calls, sim.streamSid);
  for (const [i, turn] of turns.entries()) {
    fake.setOptions({ callerTranscript: turn.caller, assistantTranscript: turn.assistant });
    await sim.play(utterance(1600));
    const wanted = before + 2 * (i + 1);
    await eventually(
      async () => ((await transcriptCount(calls, sim.streamSid)) >= wanted ? true : undefined),
      10_000,
      `turn ${i + 1} transcribed`,
    );
  }
}

async function endedCall(streamSid: string) {
  const calls = server.running.composition.calls;
  return eventually(async () => {
    const call = await calls.getCallByStreamSid(streamSid);
    if (!call || call.status === "active") return undefined;
    const recordings = await calls.getRecordingsByCallId(call.id);
    return recordings.some((r) => r.track === "conversation") ? call : undefined;
  }, 10_000);
}

/**
 * The parts of the page's DOM these tests read. The test program has no DOM typings (it is
 * Node code); these callbacks run in the browser.
 */
interface AudioElement {
  currentTime: number;
  paused: boolean;
  pause(): void;
}
interface StyledElement {
  style: { left: string };
  dataset: Record<string, string | undefined>;
}
const audio = () => page.locator("audio");
const audioTime = () => audio().evaluate((el) => (el as unknown as AudioElement).currentTime);

const apiGet = (path: string) =>
  fetch(`${server.baseUrl}${path}`, { headers: { Authorization: `Bearer ${API_KEY}` } });

beforeAll(async () => {
  fake = await FakeRealtimeServer.start({
    silenceMs: 500,
    responseDelayMs: 200,
    assistantAudio: speechLike(1500, 24_000, 0.3),
  });
  server = await startTestServer({
    API_KEY,
    OPENAI_API_KEY: "sk-test-fake",
    OPENAI_REALTIME_URL: fake.url,
    ANALYTICS_INTERVAL_SECONDS: "1",
    CALL_LANGUAGE: "en-US",
  });
  const [launched, sim] = await Promise.all([
    launchBrowser(),
    TwilioSimulator.connect({ url: server.mediaStreamUrl, caller: CALLER }),
  ]);
  browser = launched;
  await speak(sim, FIRST_CALL);
  await sim.hangUp();
  callId = (await endedCall(sim.streamSid)).id;

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
  await fake?.close();
});

describe("the call browser in a real browser", () => {
  it("asks for the API key once, then lists the call", async () => {
    await page.goto(`${server.baseUrl}/`);
    await page.locator("#key-dialog").waitFor({ state: "visible" });
    await page.fill("#key-input", "not-the-key");
    await page.click("#key-form button[type=submit]");
    await expect.poll(() => page.locator("#key-error").textContent()).toContain("refused");
    // Chromium logs the refused attempt's 401; that one is expected.
    await expect.poll(() => pageErrors.some((e) => e.includes("401"))).toBe(true);
    pageErrors.length = 0;

    await page.fill("#key-input", API_KEY);
    await page.check("#key-remember");
    await page.click("#key-form button[type=submit]");
    const row = page.locator(`tr[data-call-id="${callId}"]`);
    await row.waitFor();
    expect(await row.locator(".caller").textContent()).toBe(CALLER);
    expect(await row.locator(".badge").textContent()).toBe("Completed");
    await page.screenshot({ path: outputPath("call-list.png"), fullPage: true });

    // A reload keeps the key: the dialog is not shown again.
    await page.reload();
    await row.waitFor();
    expect(await page.locator("#key-dialog").isVisible()).toBe(false);
  });

  it("filters the list by caller and status", async () => {
    await page.goto(`${server.baseUrl}/?caller=${encodeURIComponent("+15550000000")}`);
    await expect.poll(() => page.locator("#list-status").textContent()).toContain("No calls");
    await page.goto(`${server.baseUrl}/?caller=${encodeURIComponent(CALLER)}&status=completed`);
    await page.locator(`tr[data-call-id="${callId}"]`).waitFor();
    expect(await page.locator("select[name=status]").inputValue()).toBe("completed");
  });

  it("opens the call and plays it, the highlighted turn following the audio", async () => {
    await page.goto(`${server.baseUrl}/`);
    await page.locator(`tr[data-call-id="${callId}"] a.call-link`).click();
    await page.waitForURL(`**/calls/${callId}`);
    await page.locator(".lane.lane-caller").waitFor();
    expect(await page.locator(".lane").count()).toBe(2);
    await expect.poll(() => page.locator("#turns .turn").count()).toBe(4);
    const texts = await page.locator("#turns .turn-text").allTextContents();
    expect(texts).toEqual(FIRST_CALL.flatMap((turn) => [turn.caller, turn.assistant]));
    await page.locator("#charts figure").first().waitFor();

    const ids = await page
      .locator("#turns .turn")
      .evaluateAll((items) => items.map((item) => (item as unknown as StyledElement).dataset.id));
    await page.locator("#turns .turn").first().click();
    await expect
      .poll(() => page.locator("#turns .turn.current").getAttribute("data-id"))
      .toBe(ids[0]);
    // Playing on from the caller's first words, the assistant's answer becomes the current turn.
    await expect
      .poll(() => page.locator("#turns .turn.current").getAttribute("data-id"), {
        timeout: 10_000,
      })
      .toBe(ids[1]);
    const playing = await audio().evaluate((el) => {
      const player = el as unknown as AudioElement;
      player.pause();
      return { paused: player.paused, at: player.currentTime };
    });
    expect(playing.at).toBeGreaterThan(1);
    const playhead = await page
      .locator(".playhead")
      .evaluate((el) => (el as unknown as StyledElement).style.left);
    expect(Number.parseFloat(playhead)).toBeGreaterThan(0);

    await page.screenshot({ path: outputPath("call-playing.png"), fullPage: true });
  });

  it("finds a spoken word and opens the call at that moment", async () => {
    await page.fill("#q", "tomorrow");
    await page.press("#q", "Enter");
    await page.locator(".hit a").first().waitFor();
    // Newest first by default (its cost does not grow with the matches); best match on request.
    const searches = () => requests.filter((url) => url.includes("/api/search?"));
    expect(new URL(searches().at(-1) ?? "").searchParams.get("sort")).toBe("recent");
    expect(await page.locator("#sort-recent").getAttribute("aria-current")).toBe("true");
    await page.locator("#sort-relevance").click();
    await page.waitForURL(/sort=relevance/);
    const hit = page.locator(".hit a").first();
    await hit.waitFor();
    expect(new URL(searches().at(-1) ?? "").searchParams.get("sort")).toBe("relevance");
    expect(await page.locator("#sort-relevance").getAttribute("aria-current")).toBe("true");
    expect(await page.locator(".hit").count()).toBe(1);
    expect(await hit.locator("mark").textContent()).toBe("tomorrow");
    const target = new URL((await hit.getAttribute("href")) ?? "", server.baseUrl);
    const turnId = target.searchParams.get("turn");
    const offsetMs = Number(target.searchParams.get("t"));
    expect(turnId).toBeTruthy();
    expect(offsetMs).toBeGreaterThan(0);

    await hit.click();
    await page.waitForURL(/\/calls\//);
    await page.locator(`.turn.found[data-id="${turnId}"]`).waitFor();
    await expect.poll(() => page.locator(".turn.current").getAttribute("data-id")).toBe(turnId);
    // It plays from the turn's moment: by the time it is read it may have played on a little
    // (87 ms once on a loaded CI machine), never started earlier.
    const at = await audioTime();
    expect(at).toBeGreaterThanOrEqual(offsetMs / 1000 - 0.05);
    expect(at).toBeLessThan(offsetMs / 1000 + 0.5);
  });

  it("shows a live call in the list, then its turns as they are said", async () => {
    await page.goto(`${server.baseUrl}/`);
    await page.locator(`tr[data-call-id="${callId}"]`).waitFor();
    const sim = await TwilioSimulator.connect({ url: server.mediaStreamUrl, caller: LIVE_CALLER });
    const liveRow = page.locator("tr.is-live");
    await liveRow.waitFor();
    expect(await liveRow.locator(".caller").textContent()).toBe(LIVE_CALLER);
    expect(await page.locator("#live-count").textContent()).toBe("1 live");

    await liveRow.locator("a.call-link").click();
    await page.waitForURL(/\/calls\//);
    await expect.poll(() => page.locator("#call-status").textContent()).toBe("Live");
    // Set on this document: still there at the end proves the turns came without a reload.
    await page.locator("body").evaluate((el) => {
      (el as unknown as StyledElement).dataset.sameDocument = "yes";
    });
    await speak(sim, [{ caller: "Is anyone there", assistant: "Yes I am listening" }]);
    await expect.poll(() => page.locator("#turns .turn").count()).toBe(2);
    expect(await page.locator("#turns .turn-text").allTextContents()).toEqual([
      "Is anyone there",
      "Yes I am listening",
    ]);
    await page.screenshot({ path: outputPath("live-call.png"), fullPage: true });

    // The caller talks over the assistant's answer, 200 ms after it starts.
    fake.setOptions({
      callerTranscript: "Wait a second",
      assistantTranscript: "Sure take your time",
    });
    await sim.play(concat(speechLike(1600, RATE), silence(900, RATE), utterance(1000)));
    await expect.poll(() => page.locator("#turns .turn").count()).toBeGreaterThanOrEqual(4);
    await sim.hangUp();
    await expect
      .poll(() => page.locator("#call-status").textContent(), { timeout: 10_000 })
      .toBe("Completed");
    await page.locator(".lane.lane-assistant").waitFor();
    expect(await page.locator("#player").isVisible()).toBe(true);
    // Once ended, the page shows the barge-in on the turn and on the assistant's lane.
    await page.locator(".turn.interrupted .badge-interrupted").first().waitFor();
    expect(await page.locator(".lane-assistant .marker-interrupted").count()).toBeGreaterThan(0);

    // The README's picture: the ended call, its interrupted answer selected.
    await page.locator(".turn.interrupted").first().click();
    await expect.poll(() => page.locator(".turn.current.interrupted").count()).toBe(1);
    await audio().evaluate((el) => (el as unknown as AudioElement).pause());
    const shot = outputPath("call-page.png");
    await page.screenshot({ path: shot, fullPage: true });
    // Only on request, so a test run never rewrites a committed file.
    if (process.env.UPDATE_DOCS_SCREENSHOT) {
      mkdirSync(join(process.cwd(), "docs"), { recursive: true });
      copyFileSync(shot, join(process.cwd(), "docs", "call-page.png"));
    }
    await page.setViewportSize({ width: 390, height: 844 });
    await page.screenshot({ path: outputPath("call-page-narrow.png"), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 900 });
    const body = page.locator("body");
    expect(await body.evaluate((el) => (el as unknown as StyledElement).dataset.sameDocument)).toBe(
      "yes",
    );
  });

  it("deletes a call only once the deletion is confirmed", async () => {
    const liveCallId = page.url().split("/calls/")[1]?.split("?")[0] ?? "";
    await page.click("#delete");
    await page.locator("#delete-dialog").waitFor({ state: "visible" });
    await page.click("#delete-dialog button[value=cancel]");
    expect((await apiGet(`/api/calls/${liveCallId}`)).status).toBe(200);

    await page.click("#delete");
    await page.click("#delete-dialog button[value=delete]");
    // The list says it once: the notice's parameter leaves the URL as it is shown.
    await expect.poll(() => page.locator("#notice").textContent()).toBe("The call was deleted.");
    expect(new URL(page.url()).search).toBe("");
    expect(await page.locator(`tr[data-call-id="${liveCallId}"]`).count()).toBe(0);
    expect((await apiGet(`/api/calls/${liveCallId}`)).status).toBe(404);
  });

  it("loaded nothing from outside the server and logged no error", () => {
    expect(requests.length).toBeGreaterThan(0);
    expect(requests.filter((url) => !url.startsWith(`${server.baseUrl}/`))).toEqual([]);
    expect(pageErrors).toEqual([]);
  });

  it("never put the API key in a URL: the audio and the feeds were loaded with signed URLs", async () => {
    expect(requests.filter((url) => url.includes("access_token") || url.includes(API_KEY))).toEqual(
      [],
    );
    const audio = requests.filter((url) => /\/api\/recordings\/[\w-]+\/audio\?/.test(url));
    const feeds = requests.filter((url) => /\/api\/(calls\/[\w-]+\/)?events\?/.test(url));
    expect(audio.length).toBeGreaterThan(0);
    expect(feeds.length).toBeGreaterThan(1);
    for (const url of [...audio, ...feeds]) {
      const query = new URL(url).searchParams;
      expect([...query.keys()].sort(), url).toEqual(["expires", "sig"]);
    }
    // The download link is in plain sight (and may be copied): it too is signed.
    await page.goto(`${server.baseUrl}/calls/${callId}`);
    const href = (await page.locator("#download").getAttribute("href")) ?? "";
    expect(href).toMatch(/^\/api\/recordings\/[\w-]+\/audio\?expires=\d+&sig=[\w-]{43}$/);
  });
});

describe("the call browser without API_KEY or an AI model", () => {
  it("shows a record-only call without asking for a key, with its recording and empty states", async () => {
    const open = await startTestServer({});
    const tab = await browser.context.newPage();
    try {
      const sim = await TwilioSimulator.connect({ url: open.mediaStreamUrl, caller: CALLER });
      await sim.play(concat(speechLike(1500, RATE), silence(500, RATE)));
      await sim.hangUp();
      const calls = open.running.composition.calls;
      const call = await eventually(async () => {
        const found = await calls.getCallByStreamSid(sim.streamSid);
        return found && found.status !== "active" ? found : undefined;
      });
      await tab.goto(`${open.baseUrl}/`);
      await tab.locator(`tr[data-call-id="${call.id}"] a.call-link`).click();
      await tab.locator(".lane.lane-caller").waitFor();
      expect(await tab.locator("#key-dialog").isVisible()).toBe(false);
      expect(await tab.locator("#forget-key").isVisible()).toBe(false);
      expect(await tab.locator("#transcript-note").textContent()).toBe(
        "No turns were transcribed for this call.",
      );
      const src = (await tab.locator("#player").getAttribute("src")) ?? "";
      expect(src).toMatch(/^\/api\/recordings\/[\w-]+\/audio$/);
      await tab.screenshot({ path: outputPath("record-only-call.png"), fullPage: true });
    } finally {
      await tab.close();
      await open.stop();
    }
  });
});
