import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CallAnalysis } from "../../../src/domain/call-review.ts";
import { FakeRealtimeServer } from "../../support/fake-openai-realtime.ts";
import { FakeResponsesServer } from "../../support/fake-openai-responses.ts";
import { concat, silence, speechLike } from "../../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../../support/test-server.ts";
import { TwilioSimulator } from "../../support/twilio-simulator.ts";
import { type Browser, launchBrowser, outputPath } from "./browser.ts";

/**
 * The call page of issue 20 in a real Chromium, at a desktop's size (1280×900) and a phone's
 * (390×844): the summary and facts, the downloads, selecting text without seeking, the
 * transcript in the page on a phone, readable charts, opening a search hit, an unknown call.
 * Against the real server with API_KEY, post-call analysis by the fake Responses API, calls by
 * the Twilio simulator answered by the fake Realtime server.
 */

const API_KEY = "call-page-key-5e2a";
const CALLER = "+15555550101";
const CALLED = "+15557654321";
const RATE = 8000;
const PHONE = { width: 390, height: 844 };
const DESKTOP = { width: 1280, height: 900 };

const TURNS: [caller: string, assistant: string][] = [
  [
    "Hello I am calling about my parcel, order 1042, it arrived broken",
    "Of course let me look that up for you right now",
  ],
  ["It should have come on Monday but it only came today", "I see, it was delayed at the depot"],
  [
    "The box was crushed and the lamp inside is broken",
    "I am sorry to hear that, I can send a replacement",
  ],
  ["Can I get a refund instead of a replacement", "Yes, a refund is possible, it takes five days"],
  ["Please do the refund then", "Done, the refund arrives tomorrow before noon"],
];

/**
 * Run in the page (as text: the test program has no DOM typings). Reads what the assertions
 * need in one go, so that nothing moves between two reads.
 */
const PROBES = `
sessionStorage.setItem("callbridge.apiKey", ${JSON.stringify(API_KEY)});
window.__probe = {
  audio() {
    const a = document.querySelector("#player");
    return { time: a.currentTime, paused: a.paused, duration: a.duration };
  },
  selection() {
    return String(getSelection());
  },
  /** The bottom of what can be seen: above the player docked at the foot of the screen. */
  viewBottom() {
    const docked = document.querySelector(".player-row.docked");
    return innerHeight - (docked ? docked.getBoundingClientRect().height : 0);
  },
  box(selector) {
    const el = document.querySelector(selector);
    if (!el) return null;
    const r = el.getBoundingClientRect();
    return { top: r.top, bottom: r.bottom, left: r.left, right: r.right };
  },
  /** Elements that scroll on their own (not the page). */
  scrollers() {
    return [...document.querySelectorAll("body *")]
      .filter((el) => {
        const style = getComputedStyle(el);
        const y = /(auto|scroll)/.test(style.overflowY) && el.scrollHeight > el.clientHeight + 1;
        const x = /(auto|scroll)/.test(style.overflowX) && el.scrollWidth > el.clientWidth + 1;
        return y || x;
      })
      .map((el) => el.id || el.className || el.tagName);
  },
  /**
   * Every text of the charts under root (SVG text: its CSS size times the SVG's scale on
   * screen) and of the waveform's axis and lanes, and the pairs of labels of one chart whose
   * boxes overlap.
   */
  labels(root) {
    const sizes = [];
    const overlaps = [];
    const groups = [];
    for (const svg of document.querySelectorAll(root + " svg")) {
      const scale = svg.getScreenCTM().a;
      const texts = [...svg.querySelectorAll("text")];
      for (const t of texts) {
        sizes.push({ text: t.textContent, px: parseFloat(getComputedStyle(t).fontSize) * scale });
      }
      groups.push(texts);
    }
    const axis = [...document.querySelectorAll(".time-axis span")];
    groups.push(axis);
    for (const el of [...axis, ...document.querySelectorAll(".lane-label")]) {
      sizes.push({ text: el.textContent, px: parseFloat(getComputedStyle(el).fontSize) });
    }
    // A lane's name fits its column rather than running into the waves.
    for (const el of document.querySelectorAll(".lane-label")) {
      if (el.scrollWidth > el.clientWidth) overlaps.push([el.textContent, "its lane"]);
    }
    for (const texts of groups) {
      const boxes = texts.map((t) => ({ text: t.textContent, r: t.getBoundingClientRect() }));
      for (let i = 0; i < boxes.length; i++) {
        for (let j = i + 1; j < boxes.length; j++) {
          const a = boxes[i].r;
          const b = boxes[j].r;
          // Half a pixel of slack: boxes that only touch do not overlap.
          const apart =
            a.right <= b.left + 0.5 || b.right <= a.left + 0.5 ||
            a.bottom <= b.top + 0.5 || b.bottom <= a.top + 0.5;
          if (!apart) overlaps.push([boxes[i].text, boxes[j].text]);
        }
      }
    }
    return { count: sizes.length, sizes, overlaps };
  },
};
`;

interface AudioState {
  time: number;
  paused: boolean;
  duration: number;
}
interface Box {
  top: number;
  bottom: number;
  left: number;
  right: number;
}
interface Labels {
  count: number;
  sizes: { text: string; px: number }[];
  overlaps: [string, string][];
}

let fake: FakeRealtimeServer;
let responses: FakeResponsesServer;
let server: TestServer;
let browser: Browser;
let desktop: Page;
let phone: Page;
let callId: string;
/** Everything the pages asked for, and every error they logged. */
const requests: string[] = [];
const pageErrors: string[] = [];

const audioOf = (page: Page) => page.evaluate<AudioState>("__probe.audio()");
const selectionOf = (page: Page) => page.evaluate<string>("__probe.selection()");
const boxOf = (page: Page, selector: string) =>
  page.evaluate<Box | null>(`__probe.box(${JSON.stringify(selector)})`);
const viewBottom = (page: Page) => page.evaluate<number>("__probe.viewBottom()");
const pause = (page: Page, at?: number) =>
  page.evaluate(
    `(() => { const a = document.querySelector("#player"); a.pause(); ${
      at === undefined ? "" : `a.currentTime = ${at};`
    } })()`,
  );

const apiGet = async <T>(path: string): Promise<T> => {
  const answer = await fetch(`${server.baseUrl}${path}`, {
    headers: { Authorization: `Bearer ${API_KEY}` },
  });
  expect(answer.status, path).toBe(200);
  return (await answer.json()) as T;
};

interface ApiCall {
  id: string;
  called: string | null;
  networkQuality: string | null;
  turns: number | null;
  summary: string | null;
  outcome: string | null;
  analysisStatus: string | null;
  analysisFields: Record<string, unknown> | null;
  metadata: { customData: { network?: { jitterMs: number; gaps: number } } | null } | null;
  usage: {
    tokenUsage: {
      input_token_details: { audio_tokens: number; text_tokens: number; cached_tokens: number };
      output_token_details: { audio_tokens: number; text_tokens: number };
    };
    transcriptionUsage: { seconds?: number } | null;
    estimatedCostUsd: number | null;
  } | null;
}
interface ApiTurn {
  id: string;
  speaker: string;
  text: string;
  offsetMs: number | null;
}

async function transcriptCount(streamSid: string): Promise<number> {
  const calls = server.running.composition.calls;
  const call = await calls.getCallByStreamSid(streamSid);
  return call ? (await calls.getTranscriptsByCallId(call.id)).length : 0;
}

/** Plays each turn and waits until both of its transcripts are stored. */
async function speak(sim: TwilioSimulator, turns: [string, string][]): Promise<void> {
  const before = await transcriptCount(sim.streamSid);
  for (const [i, [caller, assistant]] of turns.entries()) {
    fake.setOptions({ callerTranscript: caller, assistantTranscript: assistant });
    await sim.play(concat(speechLike(1600, RATE), silence(2600, RATE)));
    const wanted = before + 2 * (i + 1);
    await eventually(
      async () => ((await transcriptCount(sim.streamSid)) >= wanted ? true : undefined),
      10_000,
      `turn ${i + 1} transcribed`,
    );
  }
}

function watch(page: Page): Page {
  page.on("request", (request) => requests.push(request.url()));
  page.on("pageerror", (error) => pageErrors.push(error.message));
  page.on("console", (message) => {
    if (message.type() === "error") pageErrors.push(message.text());
  });
  return page;
}

/** Opens the call and waits until everything on it is drawn. */
async function openCall(page: Page, path = `/calls/${callId}`): Promise<void> {
  // The tab in front: a tab behind gets a frame a second, and every input waits for one.
  await page.bringToFront();
  await page.goto(`${server.baseUrl}${path}`);
  await page.locator(".lane.lane-caller").waitFor();
  await expect.poll(() => page.locator("#turns .turn").count()).toBe(TURNS.length * 2);
  await page.locator("#charts figure svg").first().waitFor();
  await page.locator("#download-caller").waitFor();
}

/**
 * Opens `path` as a person does, by clicking a link on a page of this server (the list's search
 * hits are such links): the browser then lets the page play sound by itself.
 */
async function followLink(page: Page, path: string): Promise<void> {
  await page.bringToFront();
  await page.goto(`${server.baseUrl}/calls/${callId}`);
  await page.evaluate(
    `(() => {
      const a = document.createElement("a");
      a.id = "test-link";
      a.href = ${JSON.stringify(path)};
      a.textContent = "open";
      document.body.prepend(a);
    })()`,
  );
  await page.click("#test-link");
  await page.waitForURL((url) => `${url.pathname}${url.search}` === path);
}

beforeAll(async () => {
  fake = await FakeRealtimeServer.start({
    silenceMs: 500,
    responseDelayMs: 200,
    assistantAudio: speechLike(1500, 24_000, 0.3),
  });
  responses = await FakeResponsesServer.start({ apiKey: "sk-test-fake" });
  server = await startTestServer({
    API_KEY,
    OPENAI_API_KEY: "sk-test-fake",
    OPENAI_REALTIME_URL: fake.url,
    OPENAI_BASE_URL: responses.url,
    POST_CALL_ANALYSIS: "on",
    ANALYSIS_FIELDS: JSON.stringify({
      type: "object",
      properties: { orderNumber: { type: "string" }, damaged: { type: "boolean" } },
      required: ["orderNumber", "damaged"],
    }),
    // The fake reports the transcription in seconds: priced by the minute, the call has a cost.
    OPENAI_PRICES: JSON.stringify({ "gpt-4o-mini-transcribe": { perMinute: 0.003 } }),
    ANALYTICS_INTERVAL_SECONDS: "1",
    CALL_LANGUAGE: "en-US",
  });
  const [launched, sim] = await Promise.all([
    launchBrowser(),
    TwilioSimulator.connect({
      url: server.mediaStreamUrl,
      caller: CALLER,
      customParameters: { To: CALLED },
    }),
  ]);
  browser = launched;
  await browser.context.addInitScript(PROBES);
  await speak(sim, TURNS);
  await sim.hangUp();
  const calls = server.running.composition.calls;
  const ended = await eventually(async () => {
    const call = await calls.getCallByStreamSid(sim.streamSid);
    if (!call || call.status === "active") return undefined;
    const tracks = (await calls.getRecordingsByCallId(call.id)).map((r) => r.track);
    return tracks.includes("conversation") && tracks.includes("caller") ? call : undefined;
  }, 10_000);
  callId = ended.id;
  await eventually(
    async () => ((await apiGet<ApiCall>(`/api/calls/${callId}`)).summary ? true : undefined),
    20_000,
    "the call analysed",
  );
  desktop = watch(await browser.context.newPage());
  await desktop.setViewportSize(DESKTOP);
  phone = watch(await browser.context.newPage());
  await phone.setViewportSize(PHONE);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await fake?.close();
  await responses?.close();
});

describe("the call page", () => {
  it("shows the summary, outcome, fields, how the call ended, its quality and its cost", async () => {
    const call = await apiGet<ApiCall>(`/api/calls/${callId}`);
    await openCall(desktop);
    expect(await desktop.locator("#summary").textContent()).toBe(call.summary);
    expect(await desktop.locator("#outcome .badge").textContent()).toBe("Needs follow up");
    expect(await desktop.locator("#analysis-note").isVisible()).toBe(false);
    expect(await desktop.locator("#analysis-fields dt").allTextContents()).toEqual([
      "Order number",
      "Damaged",
    ]);
    expect(await desktop.locator("#analysis-fields dd").allTextContents()).toEqual([
      String(call.analysisFields?.orderNumber),
      call.analysisFields?.damaged ? "Yes" : "No",
    ]);

    /** The facts of one group as label → value. */
    const facts = async (selector: string) => {
      const labels = await desktop.locator(`${selector} dt`).allTextContents();
      const values = await desktop.locator(`${selector} dd`).allTextContents();
      return Object.fromEntries(labels.map((label, i) => [label, values[i]]));
    };
    const main = await facts("#call-meta");
    expect(main).toMatchObject({
      From: CALLER,
      To: CALLED,
      "How it ended": "The caller hung up",
      Turns: String(TURNS.length * 2),
      Duration: expect.stringMatching(/^0:2\d$/),
    });
    const network = call.metadata?.customData?.network;
    expect(network).toBeTruthy();
    const quality = await facts("#call-quality");
    expect(quality).toMatchObject({
      "Line quality": expect.stringMatching(new RegExp(`^${call.networkQuality}$`, "i")),
      Jitter: `${network?.jitterMs} ms`,
      "Gaps in the audio": network?.gaps === 0 ? "None" : expect.stringMatching(/missing/),
      "Response time (avg)": expect.stringMatching(/\d+ ms/),
      "Response time (p95)": expect.stringMatching(/\d+ ms/),
    });
    const usage = call.usage;
    expect(usage?.estimatedCostUsd).toBeGreaterThan(0);
    const input = usage?.tokenUsage.input_token_details;
    const output = usage?.tokenUsage.output_token_details;
    const usd = usage?.estimatedCostUsd ?? 0;
    const n = (count: number | undefined) => (count ?? 0).toLocaleString("en-US");
    const cost = await facts("#call-cost");
    expect(cost).toEqual({
      "Estimated cost": `$${usd < 0.01 ? usd.toFixed(4) : usd.toFixed(2)}`,
      "Audio tokens": `${n(input?.audio_tokens)} in · ${n(output?.audio_tokens)} out`,
      "Text tokens": `${n(input?.text_tokens)} in · ${n(output?.text_tokens)} out`,
      "Cached tokens": n(input?.cached_tokens),
      Transcription: `${usage?.transcriptionUsage?.seconds} s of audio`,
    });
    await pause(desktop, 0);
    await desktop.screenshot({ path: outputPath("call-desktop.png"), fullPage: true });
  });

  it("says plainly when the summary is pending, failed or off, and shows it once written", async () => {
    const calls = server.running.composition.calls;
    const done = await apiGet<ApiCall>(`/api/calls/${callId}`);
    const analysis = (status: CallAnalysis["analysisStatus"]): CallAnalysis => ({
      analysisStatus: status,
      summary: null,
      outcome: null,
      analysisFields: null,
    });
    const note = desktop.locator("#analysis-note");
    try {
      for (const [status, words] of [
        ["failed", "No summary: the model could not analyse this call, even after retrying."],
        ["off", "No summary: post-call analysis is turned off on this server."],
        ["pending", "The model is writing the summary. It appears here when it is ready."],
      ] as const) {
        await calls.setCallAnalysis(callId, analysis(status));
        await openCall(desktop);
        expect(await note.textContent()).toBe(words);
        expect(await desktop.locator("#outcome").isVisible()).toBe(false);
        expect(await desktop.locator("#analysis-fields").isVisible()).toBe(false);
        // Without a summary, the caller's first words say what the call was about.
        expect(await desktop.locator("#summary").textContent()).toMatch(
          /^First words: Hello I am calling about my parcel/,
        );
      }
    } finally {
      // Written while the page shows "pending": it asks again and shows the summary.
      await calls.setCallAnalysis(callId, {
        analysisStatus: "done",
        summary: done.summary,
        outcome: done.outcome,
        analysisFields: done.analysisFields as CallAnalysis["analysisFields"],
      });
    }
    await expect
      .poll(() => desktop.locator("#summary").textContent(), { timeout: 10_000 })
      .toBe(done.summary);
    expect(await note.isVisible()).toBe(false);
    expect(await desktop.locator("#outcome").isVisible()).toBe(true);
  });

  it("offers both tracks and the transcript as text and JSON, and each download works", async () => {
    await openCall(desktop);
    const turns = (await apiGet<{ data: ApiTurn[] }>(`/api/calls/${callId}/transcripts`)).data;
    // The audio: signed URLs anyone holding the link may fetch for a while, without the key.
    for (const [selector, track, channels] of [
      ["#download", "conversation", 2],
      ["#download-caller", "caller", 1],
    ] as const) {
      const link = desktop.locator(selector);
      expect(await link.isVisible()).toBe(true);
      expect(await link.getAttribute("download")).toBe(`call-${callId}-${track}.wav`);
      const href = (await link.getAttribute("href")) ?? "";
      expect(href).toMatch(/^\/api\/recordings\/[\w-]+\/audio\?expires=\d+&sig=[\w-]{43}$/);
      const answer = await fetch(`${server.baseUrl}${href}`);
      expect(answer.status, selector).toBe(200);
      expect(answer.headers.get("content-type")).toContain("audio/wav");
      const wav = Buffer.from(await answer.arrayBuffer());
      expect(wav.subarray(0, 4).toString("ascii")).toBe("RIFF");
      expect(wav.readUInt16LE(22), `${selector} channels`).toBe(channels);
    }
    expect(await desktop.locator("#audio-downloads").textContent()).toMatch(
      /Conversation \(stereo WAV, [\d.]+ [KM]B\)[\s\S]*Caller only \(mono WAV, [\d.]+ [KM]B\)/,
    );

    // The transcript: the API needs the key in a header, so the page fetches it and saves it.
    const save = async (selector: string) => {
      const [download] = await Promise.all([
        desktop.waitForEvent("download"),
        desktop.click(selector),
      ]);
      return {
        name: download.suggestedFilename(),
        body: readFileSync(await download.path(), "utf8"),
      };
    };
    const text = await save("#download-transcript-text");
    expect(text.name).toBe(`call-${callId}-transcript.txt`);
    const lines = text.body.trim().split("\n");
    expect(lines).toHaveLength(turns.length);
    // One line a turn, in spoken order: its time, who spoke, what was said.
    for (const [i, line] of lines.entries()) {
      const turn = turns[i];
      expect(line).toMatch(/^\[[\d:.]+\] (caller|assistant)\b[^:]*: \S/i);
      expect(line.toLowerCase()).toContain(`${turn?.speaker}`);
      expect(line).toContain(turn?.text);
    }
    const json = await save("#download-transcript-json");
    expect(json.name).toBe(`call-${callId}-transcript.json`);
    expect((JSON.parse(json.body) as { data: ApiTurn[] }).data).toEqual(turns);
  });

  it("plays from a click or a turn's time button, not when text is selected to copy it", async () => {
    await openCall(desktop);
    const turns = (await apiGet<{ data: ApiTurn[] }>(`/api/calls/${callId}/transcripts`)).data;
    const offset = (i: number) => (turns[i]?.offsetMs ?? 0) / 1000;
    const turn = (i: number) => desktop.locator("#turns .turn").nth(i);
    await pause(desktop, 0);
    const still = async () => {
      // Long enough for a play() or a seek to have shown.
      await desktop.waitForTimeout(400);
      const audio = await audioOf(desktop);
      expect(audio.paused).toBe(true);
      expect(audio.time).toBe(0);
    };

    // A drag across a turn's words selects them, and neither seeks nor plays.
    await turn(2).scrollIntoViewIfNeeded();
    const words = await turn(2).locator(".turn-text").boundingBox();
    if (!words) throw new Error("no words to select");
    await desktop.mouse.move(words.x + 2, words.y + words.height / 2);
    await desktop.mouse.down();
    await desktop.mouse.move(words.x + words.width - 2, words.y + words.height / 2, { steps: 8 });
    await desktop.mouse.up();
    expect((await selectionOf(desktop)).length).toBeGreaterThan(10);
    await still();

    // A double-click selects a word; the seek its first click made is taken back.
    await turn(4).locator(".turn-text").dblclick();
    expect((await selectionOf(desktop)).trim()).toMatch(/^\w+$/);
    await still();

    // A deliberate click plays the turn.
    await desktop.waitForTimeout(800);
    await turn(3).click();
    await expect.poll(async () => (await audioOf(desktop)).paused).toBe(false);
    const playing = await audioOf(desktop);
    expect(playing.time).toBeGreaterThanOrEqual(offset(3) - 0.05);
    expect(await turn(3).getAttribute("class")).toContain("current");
    await pause(desktop);

    // From the keyboard: a turn's time button, and the waveform (a slider).
    await turn(5).locator("button.turn-time").focus();
    await desktop.keyboard.press("Enter");
    await expect
      .poll(async () => (await audioOf(desktop)).time)
      .toBeGreaterThanOrEqual(offset(5) - 0.05);
    await pause(desktop);
    await desktop.locator("#waveform").focus();
    await desktop.keyboard.press("Home");
    expect((await audioOf(desktop)).time).toBe(0);
    await desktop.keyboard.press("ArrowRight");
    expect((await audioOf(desktop)).time).toBe(5);
  });

  it("on a phone, the transcript scrolls with the page: no scroll box inside it", async () => {
    await openCall(phone);
    await pause(phone, 0);
    expect(
      await phone.evaluate(`getComputedStyle(document.querySelector("#turns")).overflowY`),
    ).toBe("visible");
    expect(await phone.evaluate<string[]>("__probe.scrollers()")).toEqual([]);
    const page = await phone.evaluate<{ width: number; height: number }>(
      "({ width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight })",
    );
    // The page scrolls, down only: nothing is wider than the phone.
    expect(page.width).toBeLessThanOrEqual(PHONE.width);
    expect(page.height).toBeGreaterThan(PHONE.height);
    // Every turn is laid out in full (a box would clip the ones below its fold).
    const last = await boxOf(phone, "#turns .turn:last-child");
    const list = await boxOf(phone, "#turns");
    expect(last?.bottom).toBeLessThanOrEqual(list?.bottom ?? 0);
    await phone.screenshot({ path: outputPath("call-phone.png"), fullPage: true });
  });

  it("draws chart text at 11 px or more with no two labels overlapping, on a phone and a desktop", async () => {
    const check = async (page: Page, label: string) => {
      const labels = await page.evaluate<Labels>(`__probe.labels("#charts")`);
      expect(labels.count, label).toBeGreaterThan(20);
      expect(
        labels.sizes.filter((s) => s.px < 11),
        label,
      ).toEqual([]);
      expect(labels.overlaps, label).toEqual([]);
    };
    await openCall(phone);
    await check(phone, "phone");
    await openCall(desktop);
    await check(desktop, "desktop");
    // Narrowed after drawing: the charts are drawn again at the new width.
    await desktop.setViewportSize(PHONE);
    await expect
      .poll(async () => Number(await desktop.locator("#charts svg").first().getAttribute("width")))
      .toBeLessThan(PHONE.width);
    await check(desktop, "desktop narrowed to a phone");
    await desktop.setViewportSize(DESKTOP);

    // Crowded charts at a phone's width: 60 answers, an hour-long call.
    await phone.evaluate(`(async () => {
      const { barChart, lineChart } = await import("/ui/assets/charts.js");
      const box = document.createElement("div");
      box.id = "crowded";
      box.style.width = "340px";
      const values = Array.from({ length: 60 }, (_, i) => 300 + ((i * 37) % 900));
      box.append(
        barChart({
          title: "Many answers", description: "", name: "Latency", cls: "s-latency", values,
          references: [
            { value: 820, label: "avg", cls: "r-avg" },
            { value: 1190, label: "p95", cls: "r-p95" },
          ],
          yFormat: (v) => Math.round(v) + " ms", width: 340,
        }),
        lineChart({
          title: "A long call", description: "", xMax: 3725, width: 340,
          series: [{ name: "Caller", cls: "s-caller", points: [[0, 0], [1800, 900], [3725, 1800]] }],
          xFormat: (s) => Math.floor(s / 3600) + ":" + String(Math.floor(s / 60) % 60).padStart(2, "0"),
          yFormat: (v) => v + " s",
        }),
      );
      document.querySelector("#analytics-section").append(box);
    })()`);
    const crowded = await phone.evaluate<Labels>(`__probe.labels("#crowded")`);
    expect(crowded.count).toBeGreaterThan(10);
    expect(crowded.sizes.filter((s) => s.px < 11)).toEqual([]);
    expect(crowded.overlaps).toEqual([]);
  });

  it("opens a search hit playing from its moment, the matched turn on screen", async () => {
    const hits = await apiGet<{
      data: { callId: string; transcriptId: string; offsetMs: number }[];
    }>("/api/search?q=tomorrow");
    const hit = hits.data[0];
    expect(hit?.callId).toBe(callId);
    if (!hit) return;
    // As list.js links a hit.
    const path = `/calls/${callId}?${new URLSearchParams({ turn: hit.transcriptId, t: String(hit.offsetMs) })}`;
    for (const [page, label] of [
      [phone, "phone"],
      [desktop, "desktop"],
    ] as const) {
      await followLink(page, path);
      const found = page.locator(`.turn.found[data-id="${hit.transcriptId}"]`);
      await found.waitFor();
      await expect.poll(async () => (await audioOf(page)).paused, { message: label }).toBe(false);
      const audio = await audioOf(page);
      expect(audio.time, label).toBeGreaterThanOrEqual(hit.offsetMs / 1000 - 0.05);
      expect(audio.time, label).toBeLessThan(hit.offsetMs / 1000 + 3);
      expect(await found.getAttribute("class")).toContain("current");
      const box = await boxOf(page, ".turn.found");
      expect(box?.top, label).toBeGreaterThanOrEqual(0);
      expect(box?.bottom, label).toBeLessThanOrEqual(await viewBottom(page));
      if (page === phone) {
        // Scrolled past the player, it stays at the foot of the screen to pause it.
        expect(await page.locator(".player-row.docked").isVisible()).toBe(true);
        await page.screenshot({ path: outputPath("call-phone-search-hit.png") });
      }
      await pause(page);
    }

    // Opened without a click (typed, or from another site) the browser may refuse to play by
    // itself: the player waits at that moment and says so.
    await desktop.goto(`${server.baseUrl}${path}`);
    await desktop.locator(".turn.found").waitFor();
    await expect
      .poll(async () => (await audioOf(desktop)).time)
      .toBeCloseTo(hit.offsetMs / 1000, 1);
    const audio = await audioOf(desktop);
    if (audio.paused) {
      expect(await desktop.locator("#player-status").textContent()).toBe(
        "Press play to listen from 0:19.",
      );
    }
    await pause(desktop);
  });

  it("says there is no such call for an unknown id, on a phone and a desktop", async () => {
    const errorsBefore = pageErrors.length;
    for (const page of [phone, desktop]) {
      await page.bringToFront();
      await page.goto(`${server.baseUrl}/calls/01a00000-0000-7000-8000-000000000000`);
      const missing = page.locator("#call-missing");
      await missing.waitFor();
      expect(await page.locator("h1").textContent()).toBe("No such call");
      expect(await page.title()).toBe("No such call · callbridge");
      expect(await missing.textContent()).toContain(
        "There is no call with the id 01a00000-0000-7000-8000-000000000000.",
      );
      expect(await missing.locator("a[href='/']").textContent()).toBe("See all calls");
      expect(await page.locator("#call section:visible").count()).toBe(0);
      expect(await page.locator("#call-status").isVisible()).toBe(false);
    }
    await desktop.screenshot({ path: outputPath("call-missing.png") });
    // Chromium logs the API's 404 for the call; that one is expected.
    const logged = pageErrors.splice(errorsBefore);
    expect(logged.filter((e) => !e.includes("404"))).toEqual([]);
  });

  it("keeps a live call's first turn in sight as new turns arrive, on a phone and a desktop", async () => {
    const sim = await TwilioSimulator.connect({
      url: server.mediaStreamUrl,
      caller: "+15555550202",
    });
    const calls = server.running.composition.calls;
    const live = await eventually(() =>
      calls.getCallByStreamSid(sim.streamSid).then((c) => c ?? undefined),
    );
    for (const page of [phone, desktop]) {
      await page.goto(`${server.baseUrl}/calls/${live.id}`);
      await expect.poll(() => page.locator("#call-status").textContent()).toBe("Live");
    }
    // On the phone the person reads the transcript: its heading at the top of the screen.
    await phone
      .locator("#transcript-section")
      .evaluate((el) =>
        (el as unknown as { scrollIntoView(o: object): void }).scrollIntoView({ block: "start" }),
      );
    await speak(sim, [
      ["Is anyone there", "Yes I am listening"],
      ["I have a question about my bill", "Of course, what would you like to know"],
    ]);
    for (const [page, label] of [
      [phone, "phone"],
      [desktop, "desktop"],
    ] as const) {
      await expect.poll(() => page.locator("#turns .turn").count(), { message: label }).toBe(4);
      // Arrivals fade in; wait for the last one to settle.
      await page.waitForTimeout(700);
      const list = await boxOf(page, "#turns");
      const first = await boxOf(page, "#turns .turn:first-child");
      const last = await boxOf(page, "#turns .turn:last-child");
      // Nothing scrolled the first turn out of the transcript's box (a desktop's) or off the
      // top of the screen (a phone's, reading along), and the newest turn is in sight.
      expect(await page.evaluate(`document.querySelector("#turns").scrollTop`), label).toBe(0);
      expect(first?.top, label).toBeGreaterThanOrEqual(list?.top ?? 0);
      expect(last?.bottom, label).toBeLessThanOrEqual(list?.bottom ?? 0);
      if (page === phone) {
        expect(first?.top, label).toBeGreaterThanOrEqual(0);
        expect(last?.bottom, label).toBeLessThanOrEqual(await viewBottom(page));
      }
    }
    await sim.hangUp();
    await expect
      .poll(() => desktop.locator("#call-status").textContent(), { timeout: 10_000 })
      .toBe("Completed");
  });

  it("has no accessibility violations that axe-core finds, the player docked or not", async () => {
    const axe = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8");
    const violations = async (page: Page) => {
      await page.evaluate(axe);
      return page.evaluate<{ id: string; nodes: string[] }[]>(
        `axe.run(document, { resultTypes: ["violations"] }).then((r) =>
          r.violations.map((v) => ({ id: v.id, nodes: v.nodes.map((n) => n.target.join(" ")) })))`,
      );
    };
    for (const [page, label] of [
      [desktop, "desktop"],
      [phone, "phone"],
    ] as const) {
      await openCall(page);
      expect(await violations(page), label).toEqual([]);
      // Scrolled to the transcript: the player docked at the foot of the screen.
      await page.locator("#turns .turn:last-child").scrollIntoViewIfNeeded();
      await page.locator(".player-row.docked").waitFor();
      expect(await violations(page), `${label}, docked`).toEqual([]);
    }
  });

  it("loaded nothing from another host and logged no error", () => {
    expect(requests.length).toBeGreaterThan(0);
    const elsewhere = requests.filter(
      (url) => !url.startsWith(`${server.baseUrl}/`) && !url.startsWith(`blob:${server.baseUrl}/`),
    );
    expect(elsewhere).toEqual([]);
    expect(pageErrors).toEqual([]);
  });
});
