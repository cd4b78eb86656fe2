import { describe, expect, it } from "vitest";
import {
  DEFAULT_PRICES,
  estimateCallCostUsd,
  type ModelPrices,
  pricesFor,
  realtimeCostUsd,
  storedUsage,
  transcriptionCostUsd,
  withPriceOverrides,
} from "../../src/domain/cost.ts";

/** Round numbers, so that each expected cost can be read off the test. */
const PRICES: ModelPrices = {
  audioIn: 40,
  cachedAudioIn: 4,
  audioOut: 80,
  textIn: 5,
  cachedTextIn: 1,
  textOut: 20,
  perMinute: 0.006,
};

describe("realtimeCostUsd", () => {
  it("prices each kind of token, cached input as the subset of input it is", () => {
    const usage = {
      input_tokens: 1_500_000,
      output_tokens: 300_000,
      input_token_details: {
        audio_tokens: 1_000_000,
        text_tokens: 500_000,
        cached_tokens: 600_000,
        cached_tokens_details: { audio_tokens: 400_000, text_tokens: 200_000 },
      },
      output_token_details: { audio_tokens: 200_000, text_tokens: 100_000 },
    };
    // audio in 0.6 M × 40 + cached 0.4 M × 4 + text in 0.3 M × 5 + cached 0.2 M × 1
    // + audio out 0.2 M × 80 + text out 0.1 M × 20
    expect(realtimeCostUsd(usage, PRICES)).toBeCloseTo(24 + 1.6 + 1.5 + 0.2 + 16 + 2, 9);
  });

  it("without details prices the totals as audio, the costlier reading", () => {
    expect(realtimeCostUsd({ input_tokens: 1_000_000, output_tokens: 500_000 }, PRICES)).toBe(
      40 + 40,
    );
  });

  it("without the split of cached tokens counts them as text first", () => {
    const usage = {
      input_token_details: {
        audio_tokens: 1_000_000,
        text_tokens: 100_000,
        cached_tokens: 300_000,
      },
    };
    // 0.1 M cached text, 0.2 M cached audio, 0.8 M audio.
    expect(realtimeCostUsd(usage, PRICES)).toBeCloseTo(0.1 + 0.8 + 32, 9);
  });
});

describe("transcriptionCostUsd", () => {
  it("prices token usage: audio and text in, text out", () => {
    const usage = {
      input_tokens: 1_100_000,
      output_tokens: 100_000,
      input_token_details: { audio_tokens: 1_000_000, text_tokens: 100_000 },
    };
    expect(transcriptionCostUsd(usage, PRICES)).toBeCloseTo(40 + 0.5 + 2, 9);
  });

  it("prices duration usage by the minute", () => {
    expect(transcriptionCostUsd({ seconds: 90 }, PRICES)).toBeCloseTo(0.009, 12);
  });
});

describe("estimateCallCostUsd", () => {
  const tokenUsage = {
    input_token_details: { audio_tokens: 10_000, text_tokens: 2_000 },
    output_token_details: { audio_tokens: 5_000, text_tokens: 500 },
  };

  it("adds the model's and the transcription's cost, in micro-dollars", () => {
    const cost = estimateCallCostUsd(
      { tokenUsage, transcriptionUsage: { seconds: 60 } },
      { realtime: PRICES, transcription: PRICES },
    );
    // 0.4 + 0.01 + 0.4 + 0.01 + 0.006
    expect(cost).toBe(0.826);
  });

  it("prices a gpt-realtime call with the default table", () => {
    const prices = {
      realtime: pricesFor(DEFAULT_PRICES, "gpt-realtime"),
      transcription: pricesFor(DEFAULT_PRICES, "gpt-4o-mini-transcribe"),
    };
    const transcriptionUsage = {
      input_tokens: 1000,
      output_tokens: 100,
      input_token_details: { audio_tokens: 1000 },
    };
    // 10k × 32 + 2k × 4 + 5k × 64 + 500 × 16 = 656,000 µ$/M; 1k × 3 + 100 × 5 = 3,500 µ$/M.
    expect(estimateCallCostUsd({ tokenUsage, transcriptionUsage }, prices)).toBe(0.6595);
  });

  it("is null when a model that was used has no price, zero when nothing was used", () => {
    expect(
      estimateCallCostUsd(
        { tokenUsage, transcriptionUsage: {} },
        { realtime: null, transcription: PRICES },
      ),
    ).toBeNull();
    expect(
      estimateCallCostUsd(
        { tokenUsage, transcriptionUsage: { seconds: 3 } },
        { realtime: PRICES, transcription: null },
      ),
    ).toBeNull();
    expect(
      estimateCallCostUsd(
        { tokenUsage: {}, transcriptionUsage: {} },
        { realtime: null, transcription: null },
      ),
    ).toBe(0);
  });
});

describe("price table", () => {
  it("finds a model by name, or by its name without the snapshot date", () => {
    expect(pricesFor(DEFAULT_PRICES, "gpt-realtime")?.audioOut).toBe(64);
    expect(pricesFor(DEFAULT_PRICES, "gpt-realtime-2025-08-28")).toEqual(
      DEFAULT_PRICES["gpt-realtime"],
    );
    expect(pricesFor(DEFAULT_PRICES, "gpt-9-realtime")).toBeNull();
    expect(pricesFor(DEFAULT_PRICES, "toString")).toBeNull();
  });

  it("overrides the prices an entry names and adds new models priced at what they name", () => {
    const table = withPriceOverrides(DEFAULT_PRICES, {
      "gpt-realtime": { audioIn: 30 },
      "my-model": { textOut: 2 },
    });
    expect(table["gpt-realtime"]).toEqual({ ...DEFAULT_PRICES["gpt-realtime"], audioIn: 30 });
    expect(table["my-model"]).toEqual({
      audioIn: 0,
      cachedAudioIn: 0,
      audioOut: 0,
      textIn: 0,
      cachedTextIn: 0,
      textOut: 2,
      perMinute: 0,
    });
    expect(DEFAULT_PRICES["gpt-realtime"]?.audioIn).toBe(32);
  });
});

describe("storedUsage", () => {
  it("reads the usage and cost back from customData, and nothing from other entries", () => {
    expect(
      storedUsage({ tokenUsage: { input_tokens: 3 }, estimatedCostUsd: 0.5, caller: "+1" }),
    ).toEqual({ tokenUsage: { input_tokens: 3 }, transcriptionUsage: null, estimatedCostUsd: 0.5 });
    // A stream parameter of the same name is a string, not a cost.
    expect(storedUsage({ estimatedCostUsd: "0.5" })).toBeNull();
    expect(storedUsage(null)).toBeNull();
  });
});
