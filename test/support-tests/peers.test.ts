/**
 * The Twilio simulator and the fake OpenAI Realtime server, joined by a minimal relay that shares
 * no code with src/: proves each peer meets the other's protocol expectations.
 */
import { afterEach, describe, expect, it } from "vitest";
import { decodeMuLaw, encodeMuLaw } from "../../src/domain/audio/index.ts";
import { FakeRealtimeServer, type StartOptions } from "../support/fake-openai-realtime.ts";
import {
  concat,
  naiveResample,
  silence,
  speakWithEspeak,
  tone,
  toneLevel,
} from "../support/signals.ts";
import { TwilioSimulator } from "../support/twilio-simulator.ts";
import { type MiniBridge, startMiniBridge } from "./mini-bridge.ts";

const KEY = "sk-test-fake";
const cleanups: (() => Promise<void> | void)[] = [];

afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function setup(
  opts: StartOptions = {},
): Promise<{ fake: FakeRealtimeServer; bridge: MiniBridge }> {
  const fake = await FakeRealtimeServer.start({ apiKey: KEY, ...opts });
  cleanups.push(() => fake.close());
  const bridge = await startMiniBridge({ openaiUrl: fake.url, apiKey: KEY });
  cleanups.push(() => bridge.close());
  return { fake, bridge };
}

async function call(url: string, realtime: boolean): Promise<TwilioSimulator> {
  const sim = await TwilioSimulator.connect({ url, realtime });
  cleanups.push(() => sim.terminate());
  return sim;
}

const muLawRoundTrip = (x: Int16Array) => decodeMuLaw(encodeMuLaw(x));

/** Index of the first differing sample (or length mismatch), -1 when equal; far faster than toEqual. */
function firstDifference(a: Int16Array, b: Int16Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return a.length === b.length ? -1 : n;
}

describe("simulator <-> mini bridge <-> fake realtime", () => {
  it("detects a 3 s caller tone then 2 s of silence at the right audio times and answers", async () => {
    const { fake, bridge } = await setup();
    const sim = await call(bridge.url, false);
    const caller = concat(tone(300, 3000, 8000, 0.3), silence(2000, 8000));
    await sim.play(caller);

    const conn = await fake.waitForConnection(0);
    const stopped = await conn.waitForSent("input_audio_buffer.speech_stopped");
    expect(conn.sentOfType("input_audio_buffer.speech_started")[0]!.audio_start_ms).toBe(0);
    expect(stopped.audio_end_ms).toBe(3500);
    await conn.waitForSent("conversation.item.input_audio_transcription.completed");

    // No frame lost or reordered on the way in.
    await conn.waitFor(() => (conn.appendCount === 250 ? true : undefined));
    expect(firstDifference(conn.audio(), naiveResample(muLawRoundTrip(caller), 8000, 24000))).toBe(
      -1,
    );

    const mark = await sim.waitFor(() => sim.echoedMarks[0]);
    const heard = sim.heard();
    expect(mark.cleared).toBe(false);
    expect(mark.atMs - heard[0]!.atMs).toBeGreaterThanOrEqual(999.999);
    const audio = sim.heardAudio();
    expect(audio).toHaveLength(8000);
    expect(toneLevel(audio, 440, 8000)).toBeGreaterThan(0.2);
    expect(sim.protocolErrors).toEqual([]);
    expect(conn.sentOfType("error")).toEqual([]);
  });

  it("lets the caller barge in: the bridge clears Twilio and truncates what was not heard", async () => {
    const { fake, bridge } = await setup({ assistantAudio: tone(440, 5000, 24000) });
    const sim = await call(bridge.url, true);
    await sim.play(concat(tone(300, 600, 8000, 0.3), silence(600, 8000)));
    const conn = await fake.waitForConnection(0);
    await conn.waitForSent("response.done");
    await sim.waitForMedia(250);
    await sim.play(silence(600, 8000));
    await sim.play(tone(300, 400, 8000, 0.3));

    const echoed = await sim.waitFor(() => sim.echoedMarks[0]);
    expect(echoed.cleared).toBe(true);
    expect(sim.clearsReceived).toBe(1);
    const heardMs = sim.heardAudio().length / 8;
    expect(heardMs).toBeGreaterThan(0);
    expect(heardMs).toBeLessThan(5000);

    const truncated = await conn.waitForSent("conversation.item.truncated");
    const truncate = conn.truncates[0]!;
    expect(truncate.item_id).toBe(conn.responses[0]!.itemId);
    expect(truncated.audio_end_ms).toBe(truncate.audio_end_ms);
    expect(truncate.audio_end_ms).toBeGreaterThan(0);
    expect(truncate.audio_end_ms).toBeLessThan(5000);
    expect(conn.sentOfType("error")).toEqual([]);
    expect(sim.protocolErrors).toEqual([]);
  });

  it("hears real espeak-ng speech as a caller turn", async () => {
    const { fake, bridge } = await setup({ autoRespond: false });
    const speech = await speakWithEspeak("hello, I would like to book a table for two", 8000);
    const sim = await call(bridge.url, false);
    await sim.play(concat(silence(400, 8000), speech, silence(1500, 8000)));
    const conn = await fake.waitForConnection(0);
    await conn.waitForSent("input_audio_buffer.committed");
    const started = conn.sentOfType("input_audio_buffer.speech_started");
    const stopped = conn.sentOfType("input_audio_buffer.speech_stopped");
    const speechEndMs = 400 + (speech.length / 8000) * 1000;
    expect(started[0]!.audio_start_ms).toBeGreaterThanOrEqual(390);
    expect(started[0]!.audio_start_ms).toBeLessThan(700);
    expect(stopped.at(-1)!.audio_end_ms).toBeLessThanOrEqual(speechEndMs + 600);
  });

  it("carries many concurrent calls without losing audio", async () => {
    const { fake, bridge } = await setup({ keepAudio: true });
    const caller = concat(tone(300, 1000, 8000, 0.3), silence(800, 8000));
    const sims = await Promise.all(Array.from({ length: 25 }, () => call(bridge.url, false)));
    await Promise.all(sims.map((s) => s.play(caller)));
    await fake.waitFor(() => (fake.totalAppends === 25 * 90 ? true : undefined), 20_000);
    const expected = naiveResample(muLawRoundTrip(caller), 8000, 24000);
    expect(fake.connections).toHaveLength(25);
    for (const c of fake.connections) expect(firstDifference(c.audio(), expected)).toBe(-1);
    await Promise.all(sims.map((s) => s.waitFor(() => s.echoedMarks[0], 20_000)));
    for (const s of sims) expect(s.heardAudio()).toHaveLength(8000);
  });
});
