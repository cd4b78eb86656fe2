import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { ModelPrices } from "../../../src/domain/cost.ts";
import { flush, SessionHarness, START_TIME } from "../../support/session-harness.ts";

let h: SessionHarness;

beforeEach(() => {
  vi.useFakeTimers({ now: START_TIME });
  h = new SessionHarness();
});

afterEach(() => {
  vi.useRealTimers();
});

/** Round prices per 1M tokens (and a minute), so each expected cost reads off the test. */
const REALTIME: ModelPrices = {
  audioIn: 40,
  cachedAudioIn: 4,
  audioOut: 80,
  textIn: 5,
  cachedTextIn: 1,
  textOut: 20,
  perMinute: 0,
};
const TRANSCRIPTION: ModelPrices = {
  audioIn: 3,
  cachedAudioIn: 0,
  audioOut: 0,
  textIn: 1,
  cachedTextIn: 0,
  textOut: 5,
  perMinute: 0.006,
};

/** One response.done's usage (openai-node RealtimeResponseUsage). */
const response = (audioIn: number, cachedAudio: number, audioOut: number) => ({
  total_tokens: audioIn + 100 + audioOut + 10,
  input_tokens: audioIn + 100,
  output_tokens: audioOut + 10,
  input_token_details: {
    text_tokens: 100,
    audio_tokens: audioIn,
    cached_tokens: cachedAudio,
    cached_tokens_details: { text_tokens: 0, audio_tokens: cachedAudio },
  },
  output_token_details: { text_tokens: 10, audio_tokens: audioOut },
});

describe("CallSession usage and cost", () => {
  it("stores the nested token usage, the transcription's and the estimated cost", async () => {
    const s = h.session({ prices: { realtime: REALTIME, transcription: TRANSCRIPTION } });
    await s.start();
    s.connection.ready();
    s.speech(50);
    s.connection.callerTranscript("in1", "What time do you open?", {
      type: "tokens",
      input_tokens: 1000,
      output_tokens: 100,
      total_tokens: 1100,
      input_token_details: { text_tokens: 0, audio_tokens: 1000 },
    });
    s.connection.usage(response(10_000, 0, 20_000));
    s.connection.usage(response(30_000, 8_000, 5_000));
    await flush();
    await s.session.stop("stop");

    const tokenUsage = {
      total_tokens: 65_220,
      input_tokens: 40_200,
      output_tokens: 25_020,
      input_token_details: {
        text_tokens: 200,
        audio_tokens: 40_000,
        cached_tokens: 8_000,
        cached_tokens_details: { text_tokens: 0, audio_tokens: 8_000 },
      },
      output_token_details: { text_tokens: 20, audio_tokens: 25_000 },
    };
    const transcriptionUsage = {
      input_tokens: 1000,
      output_tokens: 100,
      total_tokens: 1100,
      input_token_details: { text_tokens: 0, audio_tokens: 1000 },
    };
    // 32k × 40 + 8k × 4 + 200 × 5 + 25k × 80 + 20 × 20 = 3,313,400 µ$/M;
    // 1k × 3 + 100 × 5 = 3,500 µ$/M.
    const estimatedCostUsd = 3.3169;
    const metadata = await s.metadata();
    expect(metadata?.customData).toMatchObject({
      tokenUsage,
      transcriptionUsage,
      estimatedCostUsd,
    });
    expect((await s.analytics()).at(-1)?.customMetrics).toMatchObject({
      tokenUsage,
      transcriptionUsage,
      estimatedCostUsd,
    });
  });

  it("keeps the usage but estimates no cost without prices", async () => {
    const s = h.session();
    await s.start();
    s.connection.ready();
    s.connection.usage(response(100, 0, 100));
    await s.session.stop("stop");
    const customData = (await s.metadata())?.customData;
    expect(customData).toMatchObject({
      tokenUsage: { input_token_details: { audio_tokens: 100 } },
    });
    expect(customData).not.toHaveProperty("estimatedCostUsd");
  });
});
