import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";
import { DEFAULT_PRICES } from "../src/domain/cost.ts";

describe("OPENAI_PRICES", () => {
  it("defaults to the list prices, and names the model of the Realtime URL", () => {
    const { openai } = loadConfig({});
    expect(openai.prices).toEqual(DEFAULT_PRICES);
    expect(openai.realtimeModel).toBe("gpt-realtime");
    expect(
      loadConfig({ OPENAI_REALTIME_URL: "wss://example.test/v1/realtime" }).openai.realtimeModel,
    ).toBeNull();
  });

  it("overrides the prices an entry names and adds models", () => {
    const { prices } = loadConfig({
      OPENAI_PRICES:
        '{"gpt-realtime":{"audioIn":30},"gpt-realtime-2":{"audioOut":70,"textOut":24}}',
    }).openai;
    expect(prices["gpt-realtime"]).toEqual({ ...DEFAULT_PRICES["gpt-realtime"], audioIn: 30 });
    expect(prices["gpt-realtime-2"]).toMatchObject({ audioIn: 0, audioOut: 70, textOut: 24 });
    expect(prices["gpt-4o-mini-transcribe"]).toEqual(DEFAULT_PRICES["gpt-4o-mini-transcribe"]);
  });

  it.each([
    ["not json", /must be a JSON object of model names to prices/],
    ['["gpt-realtime"]', /must be a JSON object/],
    ['{"gpt-realtime":{"audioIn":-1}}', /gpt-realtime\.audioIn/],
    ['{"gpt-realtime":{"audioIn":"32"}}', /gpt-realtime\.audioIn/],
    ['{"gpt-realtime":{"audio_in":32}}', /gpt-realtime/],
  ])("refuses %s, naming the variable", (value, message) => {
    expect(() => loadConfig({ OPENAI_PRICES: value })).toThrow(
      /^Invalid configuration: OPENAI_PRICES /,
    );
    expect(() => loadConfig({ OPENAI_PRICES: value })).toThrow(message);
  });
});
