import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";

describe("configuration", () => {
  it("works with no variables at all", () => {
    const config = loadConfig({});
    expect(config.port).toBe(3000);
    expect(config.host).toBe("0.0.0.0");
    expect(config.databasePath).toBe("./data/calls.db");
    expect(config.recordingStoragePath).toBe("./recordings");
    expect(config.openai.apiKey).toBeUndefined();
    expect(config.openai.realtimeUrl).toBe("wss://api.openai.com/v1/realtime?model=gpt-realtime");
    expect(config.maxCallSeconds).toBe(3600);
    expect(config.recordingRetentionDays).toBeUndefined();
  });

  it("accepts a file: prefix on DATABASE_URL", () => {
    expect(loadConfig({ DATABASE_URL: "file:/tmp/x.db" }).databasePath).toBe("/tmp/x.db");
  });

  it("treats empty variables as unset", () => {
    expect(loadConfig({ OPENAI_API_KEY: "", PORT: "" }).openai.apiKey).toBeUndefined();
  });

  it.each([
    [{ PORT: "abc" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ OPENAI_REALTIME_URL: "not a url" }, "OPENAI_REALTIME_URL"],
    [{ OPENAI_REALTIME_URL: "http://x" }, "OPENAI_REALTIME_URL"],
    [{ PUBLIC_BASE_URL: "ftp://x" }, "PUBLIC_BASE_URL"],
    [{ MAX_CALL_SECONDS: "0" }, "MAX_CALL_SECONDS"],
    [{ RECORDING_RETENTION_DAYS: "-3" }, "RECORDING_RETENTION_DAYS"],
    [{ LOG_LEVEL: "loud" }, "LOG_LEVEL"],
    [{ OPENAI_AUDIO_FORMAT: "g711_ulaw" }, "OPENAI_AUDIO_FORMAT"],
  ])("names the bad variable in %j", (env, variable) => {
    expect(() => loadConfig(env)).toThrow(new RegExp(`^Invalid configuration: ${variable} `));
  });

  it("takes the model's audio format, pcm16 unless set, in any case", () => {
    expect(loadConfig({}).openai.audioFormat).toBe("pcm16");
    expect(loadConfig({ OPENAI_AUDIO_FORMAT: "pcmu" }).openai.audioFormat).toBe("pcmu");
    expect(loadConfig({ OPENAI_AUDIO_FORMAT: " PCMU " }).openai.audioFormat).toBe("pcmu");
    expect(() => loadConfig({ OPENAI_AUDIO_FORMAT: "opus" })).toThrow(/must be pcm16 or pcmu/);
  });
});
