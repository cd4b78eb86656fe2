import { describe, expect, it } from "vitest";
import { UsageMeter } from "../../../src/application/bridge/usage-meter.ts";
import type { ModelPrices } from "../../../src/domain/cost.ts";

/** openai-node RealtimeResponseUsage, as one response.done carries it. */
const response = (audioIn: number, cachedAudio: number, audioOut: number) => ({
  total_tokens: audioIn + 20 + audioOut + 5,
  input_tokens: audioIn + 20,
  output_tokens: audioOut + 5,
  input_token_details: {
    text_tokens: 20,
    audio_tokens: audioIn,
    image_tokens: 0,
    cached_tokens: cachedAudio,
    cached_tokens_details: { text_tokens: 0, audio_tokens: cachedAudio, image_tokens: 0 },
  },
  output_token_details: { text_tokens: 5, audio_tokens: audioOut },
});

const PRICES: ModelPrices = {
  audioIn: 32,
  cachedAudioIn: 0.4,
  audioOut: 64,
  textIn: 4,
  cachedTextIn: 0.4,
  textOut: 16,
  perMinute: 0.006,
};

describe("UsageMeter", () => {
  it("sums every number of the usage, the nested details included", () => {
    const meter = new UsageMeter();
    meter.add(response(100, 0, 200));
    meter.add(response(300, 80, 50));
    expect(meter.data()).toEqual({
      tokenUsage: {
        total_tokens: 700,
        input_tokens: 440,
        output_tokens: 260,
        input_token_details: {
          text_tokens: 40,
          audio_tokens: 400,
          image_tokens: 0,
          cached_tokens: 80,
          cached_tokens_details: { text_tokens: 0, audio_tokens: 80, image_tokens: 0 },
        },
        output_token_details: { text_tokens: 10, audio_tokens: 250 },
      },
    });
  });

  it("keeps the transcription's usage apart, without its type, and skips what is no amount", () => {
    const meter = new UsageMeter();
    const tokens = {
      type: "tokens",
      input_tokens: 12,
      output_tokens: 4,
      total_tokens: 16,
      input_token_details: { text_tokens: 0, audio_tokens: 12 },
    };
    meter.addTranscription(tokens);
    meter.addTranscription({ ...tokens, note: null, list: [1, 2] });
    meter.addTranscription({ type: "duration", seconds: 2.5 });
    expect(meter.data()).toEqual({
      transcriptionUsage: {
        input_tokens: 24,
        output_tokens: 8,
        total_tokens: 32,
        input_token_details: { text_tokens: 0, audio_tokens: 24 },
        seconds: 2.5,
      },
    });
  });

  it("hands out copies: what it returned does not change with later usage", () => {
    const meter = new UsageMeter();
    meter.add(response(1, 0, 1));
    const first = meter.data();
    meter.add(response(1, 0, 1));
    expect(first).toMatchObject({ tokenUsage: { input_token_details: { audio_tokens: 1 } } });
  });

  it("estimates the cost from the prices of the models in use", () => {
    const meter = new UsageMeter({ realtime: PRICES, transcription: PRICES });
    meter.add(response(10_000, 4_000, 20_000));
    meter.addTranscription({ type: "duration", seconds: 30 });
    // 6,000 × 32 + 4,000 × 0.4 + 20 × 4 + 20,000 × 64 + 5 × 16 = 1,473,760 µ$/M, + 0.003.
    expect(meter.data().estimatedCostUsd).toBe(1.47676);
  });

  it("gives no cost without prices, or without a price for a model that was used", () => {
    const unpriced = new UsageMeter();
    unpriced.add(response(1, 0, 1));
    expect(unpriced.data()).not.toHaveProperty("estimatedCostUsd");
    const noTranscriptionPrice = new UsageMeter({ realtime: PRICES, transcription: null });
    noTranscriptionPrice.add(response(1, 0, 1));
    noTranscriptionPrice.addTranscription({ seconds: 1 });
    expect(noTranscriptionPrice.data()).not.toHaveProperty("estimatedCostUsd");
    expect(new UsageMeter({ realtime: PRICES, transcription: PRICES }).data()).toEqual({});
  });
});
