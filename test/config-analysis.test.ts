import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";

describe("post-call analysis configuration", () => {
  it("is on by default, but only with an OpenAI key", () => {
    const without = loadConfig({});
    expect(without.analysis).toEqual({
      enabled: false,
      model: "gpt-4.1-mini",
      outcomes: ["resolved", "unresolved", "needs_follow_up", "spam"],
      fields: null,
    });
    expect(without.openai.baseUrl).toBe("https://api.openai.com");
    expect(loadConfig({ OPENAI_API_KEY: "sk-x" }).analysis.enabled).toBe(true);
    expect(loadConfig({ OPENAI_API_KEY: "sk-x", POST_CALL_ANALYSIS: "OFF" }).analysis.enabled).toBe(
      false,
    );
    expect(
      loadConfig({ OPENAI_API_KEY: "sk-x", POST_CALL_ANALYSIS: " on " }).analysis.enabled,
    ).toBe(true);
    expect(() => loadConfig({ POST_CALL_ANALYSIS: "yes" })).toThrow(
      "Invalid configuration: POST_CALL_ANALYSIS must be on or off",
    );
  });

  it("takes the model and the base URL, with or without /v1", () => {
    const config = loadConfig({
      ANALYSIS_MODEL: "gpt-4.1",
      OPENAI_BASE_URL: "https://proxy.example/openai/v1/",
    });
    expect(config.analysis.model).toBe("gpt-4.1");
    expect(config.openai.baseUrl).toBe("https://proxy.example/openai");
    expect(loadConfig({ OPENAI_BASE_URL: "http://127.0.0.1:9999" }).openai.baseUrl).toBe(
      "http://127.0.0.1:9999",
    );
    expect(() => loadConfig({ ANALYSIS_MODEL: "gpt 4" })).toThrow(
      /^Invalid configuration: ANALYSIS_MODEL must be a model name/,
    );
    expect(() => loadConfig({ OPENAI_BASE_URL: "wss://api.openai.com" })).toThrow(
      "Invalid configuration: OPENAI_BASE_URL must be a https: or http: URL",
    );
  });

  it("reads ANALYSIS_OUTCOMES as a comma list, forgiving spaces and a trailing comma", () => {
    expect(
      loadConfig({ ANALYSIS_OUTCOMES: " sale, no_sale ,callback_2," }).analysis.outcomes,
    ).toEqual(["sale", "no_sale", "callback_2"]);
  });

  it.each([
    ["Resolved", /"Resolved" is not one/],
    ["ok,not ok", /"not ok" is not one/],
    ["a".repeat(41), /1-40 characters each/],
    [",", /must name between 1 and 20 outcomes \(it names 0\)/],
    [Array.from({ length: 21 }, (_, i) => `o${i}`).join(","), /it names 21/],
    ["yes,no,yes", /names yes twice/],
  ])("refuses ANALYSIS_OUTCOMES=%s with one clear line", (value, message) => {
    let error: unknown;
    try {
      loadConfig({ ANALYSIS_OUTCOMES: value });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(Error);
    const text = (error as Error).message;
    expect(text).toMatch(/^Invalid configuration: ANALYSIS_OUTCOMES /);
    expect(text).toMatch(message);
    expect(text).not.toContain("\n");
  });

  it("takes ANALYSIS_FIELDS as a JSON schema of an object", () => {
    const fields = {
      type: "object",
      properties: { order_number: { type: "string" }, wants_refund: { type: "boolean" } },
      required: ["wants_refund"],
    };
    expect(loadConfig({ ANALYSIS_FIELDS: JSON.stringify(fields) }).analysis.fields).toEqual(fields);
    // "type" may be left out: properties say it is an object.
    expect(
      loadConfig({ ANALYSIS_FIELDS: '{"properties":{"a":{"type":"string"}}}' }).analysis.fields,
    ).toEqual({ properties: { a: { type: "string" } } });
  });

  it.each([
    ["{not json", /is not valid JSON/],
    ["[1,2]", /must be a JSON schema object such as/],
    ['{"type":"string"}', /must describe an object \("type":"object"\), not "string"/],
    ['{"type":"object"}', /must have "properties" naming at least one field/],
    ['{"type":"object","properties":{}}', /must have "properties" naming at least one field/],
    ['{"type":"object","properties":{"a":"string"}}', /property "a" must be a schema object/],
    [
      JSON.stringify({
        type: "object",
        properties: { a: { type: "string", description: "x".repeat(9000) } },
      }),
      /must be at most 8192 bytes \(it is \d+\)/,
    ],
  ])("refuses ANALYSIS_FIELDS=%s with one clear line", (value, message) => {
    let error: unknown;
    try {
      loadConfig({ ANALYSIS_FIELDS: value });
    } catch (caught) {
      error = caught;
    }
    const text = (error as Error).message;
    expect(text).toMatch(/^Invalid configuration: ANALYSIS_FIELDS /);
    expect(text).toMatch(message);
    expect(text).not.toContain("\n");
  });
});
