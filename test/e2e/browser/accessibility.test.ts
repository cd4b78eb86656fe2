import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FakeRealtimeServer } from "../../support/fake-openai-realtime.ts";
import { FakeResponsesServer } from "../../support/fake-openai-responses.ts";
import { concat, silence, speechLike } from "../../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../../support/test-server.ts";
import { TwilioSimulator } from "../../support/twilio-simulator.ts";
import { type Browser, launchBrowser } from "./browser.ts";

/**
 * axe-core over every page of the call browser, at desktop and phone sizes, with a call that has
 * every new fact of issue 20 (end reason, topic, cost, the post-call analysis). The page's CSP
 * allows only its own scripts, so axe is evaluated through the DevTools protocol, which the CSP
 * does not govern, rather than added as a script tag.
 */

const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve("axe-core/axe.min.js"),
  "utf8",
);
const SIZES = [
  { name: "desktop", width: 1280, height: 900 },
  { name: "phone", width: 390, height: 844 },
] as const;

interface AxeViolation {
  id: string;
  impact: string | null;
  nodes: { target: string[] }[];
}

let realtime: FakeRealtimeServer;
let responses: FakeResponsesServer;
let server: TestServer;
let browser: Browser;
let callId: string;

async function violations(page: Page): Promise<string[]> {
  await page.evaluate(AXE_SOURCE);
  const found = await page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: unknown[] }> } })
      .axe;
    return (await axe.run()).violations;
  });
  return (found as AxeViolation[]).map(
    (v) => `${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`,
  );
}

beforeAll(async () => {
  realtime = await FakeRealtimeServer.start({
    silenceMs: 500,
    responseDelayMs: 200,
    callerTranscript: "Hello, I was charged twice and I would like a refund please",
    assistantTranscript: "I am sorry about that. I have started the refund.",
    assistantAudio: speechLike(1200, 24_000, 0.3),
  });
  responses = await FakeResponsesServer.start({ apiKey: "sk-test-fake" });
  server = await startTestServer({
    OPENAI_API_KEY: "sk-test-fake",
    OPENAI_REALTIME_URL: `${realtime.url}?model=gpt-realtime`,
    OPENAI_BASE_URL: responses.url,
    POST_CALL_ANALYSIS: "on",
  });
  const sim = await TwilioSimulator.connect({
    url: server.mediaStreamUrl,
    caller: "+15555550123",
    customParameters: { To: "+18005550000" },
  });
  await sim.play(concat(speechLike(1500, 8000), silence(2500, 8000)));
  await sim.hangUp();
  const calls = server.running.composition.calls;
  const call = await eventually(async () => {
    const found = await calls.getCallByStreamSid(sim.streamSid);
    return found?.analysisStatus === "done" ? found : undefined;
  }, 20_000);
  callId = call.id;
  browser = await launchBrowser();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await server?.stop();
  await realtime?.close();
  await responses?.close();
});

describe("axe-core finds no violation", () => {
  for (const size of SIZES) {
    it(`on the list, the search results and the call page (${size.name})`, async () => {
      const page = await browser.context.newPage();
      await page.setViewportSize({ width: size.width, height: size.height });
      try {
        await page.goto(`${server.baseUrl}/`);
        await page.getByText("charged twice", { exact: false }).first().waitFor();
        expect(await violations(page)).toEqual([]);

        await page.goto(`${server.baseUrl}/?q=refund`);
        await page.locator("#hits li").first().waitFor();
        expect(await violations(page)).toEqual([]);

        await page.goto(`${server.baseUrl}/calls/${callId}`);
        await page.locator("#turns li").first().waitFor();
        await page.waitForLoadState("networkidle");
        expect(await violations(page)).toEqual([]);

        await page.goto(`${server.baseUrl}/calls/no-such-call`);
        await page.waitForLoadState("networkidle");
        expect(await violations(page)).toEqual([]);
      } finally {
        await page.close();
      }
    }, 60_000);
  }
});
