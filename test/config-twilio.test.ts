import { describe, expect, it } from "vitest";
import { loadConfig } from "../src/config.ts";

describe("configuration of the Twilio endpoints (issue 17)", () => {
  it("defaults to a 64 KiB webhook limit, a 10 s start timeout, 1000 streams, no proxy trust", () => {
    const config = loadConfig({});
    expect(config.twilioMaxBodyBytes).toBe(64 * 1024);
    expect(config.mediaStreamStartTimeoutMs).toBe(10_000);
    expect(config.maxMediaStreams).toBe(1000);
    expect(config.trustProxy).toBe(false);
  });

  it("reads each variable", () => {
    const config = loadConfig({
      TWILIO_MAX_BODY_BYTES: "4096",
      MEDIA_STREAM_START_TIMEOUT_SECONDS: "3",
      MAX_MEDIA_STREAMS: "20",
      TRUST_PROXY: "1",
    });
    expect(config.twilioMaxBodyBytes).toBe(4096);
    expect(config.mediaStreamStartTimeoutMs).toBe(3000);
    expect(config.maxMediaStreams).toBe(20);
    expect(config.trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: "true" }).trustProxy).toBe(true);
    expect(loadConfig({ TRUST_PROXY: "0" }).trustProxy).toBe(false);
  });

  it.each([
    [{ TRUST_PROXY: "yes" }, "TRUST_PROXY"],
    [{ TWILIO_MAX_BODY_BYTES: "12" }, "TWILIO_MAX_BODY_BYTES"],
    [{ TWILIO_MAX_BODY_BYTES: "lots" }, "TWILIO_MAX_BODY_BYTES"],
    [{ MEDIA_STREAM_START_TIMEOUT_SECONDS: "0" }, "MEDIA_STREAM_START_TIMEOUT_SECONDS"],
    [{ MAX_MEDIA_STREAMS: "0" }, "MAX_MEDIA_STREAMS"],
  ])("names the bad variable in %j", (env, variable) => {
    expect(() => loadConfig(env)).toThrow(new RegExp(`^Invalid configuration: ${variable} `));
  });
});
