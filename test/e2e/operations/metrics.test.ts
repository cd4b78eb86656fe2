import { afterEach, describe, expect, it } from "vitest";
import { FakeRealtimeServer } from "../../support/fake-openai-realtime.ts";
import { metricValue, parsePrometheus, type Sample } from "../../support/prometheus-text.ts";
import { concat, silence, tone } from "../../support/signals.ts";
import { eventually, startTestServer, type TestServer } from "../../support/test-server.ts";
import { TwilioSimulator } from "../../support/twilio-simulator.ts";

let server: TestServer | null = null;
let fake: FakeRealtimeServer | null = null;
afterEach(async () => {
  await server?.stop();
  await fake?.close();
  server = null;
  fake = null;
});

async function scrape(s: TestServer): Promise<{ contentType: string; samples: Sample[] }> {
  const res = await fetch(`${s.baseUrl}/metrics`);
  expect(res.status).toBe(200);
  return {
    contentType: res.headers.get("content-type") ?? "",
    samples: parsePrometheus(await res.text()),
  };
}

describe("GET /metrics", () => {
  it("counts a whole call: active calls, status, frames, latency, bytes, upstream errors, HTTP", async () => {
    fake = await FakeRealtimeServer.start({
      // One error event from the model early in the call: an upstream error of a known kind.
      fault: { kind: "error-events", afterAppends: 5, error: { code: "rate_limit_exceeded" } },
    });
    server = await startTestServer({
      OPENAI_API_KEY: "sk-test-fake",
      OPENAI_REALTIME_URL: fake.url,
    });
    const s = server;

    const sim = await TwilioSimulator.connect({ url: s.mediaStreamUrl });
    const during = await eventually(
      async () => {
        const { samples } = await scrape(s);
        // call.started is counted once the call's row is stored, a database round trip after
        // the call became live.
        return metricValue(samples, "callbridge_active_calls") === 1 &&
          metricValue(samples, "callbridge_calls_total", { status: "active" }) === 1
          ? samples
          : undefined;
      },
      10_000,
      "the call to show as active",
    );
    expect(metricValue(during, "callbridge_calls_total", { status: "active" })).toBe(1);

    await sim.play(concat(tone(300, 1500, 8000, 0.4), silence(700, 8000)));
    await sim.waitForMedia(25, 15_000);
    await sim.waitForPlaybackIdle(300);
    await sim.hangUp();
    // call.ended is published once the call is fully finished (recording, row, sidecars).
    await eventually(
      async () => {
        const { samples } = await scrape(s);
        return metricValue(samples, "callbridge_calls_total", { status: "completed" }) === 1
          ? true
          : undefined;
      },
      10_000,
      "the call to end",
    );
    const call = (await s.running.composition.calls.getCallByStreamSid(sim.streamSid))!;
    // Routes with a parameter and paths that match nothing, for the HTTP histogram.
    expect((await fetch(`${s.baseUrl}/api/calls/${call.id}`)).status).toBe(200);
    expect((await fetch(`${s.baseUrl}/healthz`)).status).toBe(200);
    expect((await fetch(`${s.baseUrl}/no/such/${"x".repeat(40)}`)).status).toBe(404);

    const { contentType, samples } = await scrape(s);
    expect(contentType).toMatch(/^text\/plain/);

    expect(metricValue(samples, "callbridge_active_calls")).toBe(0);
    // What each V8 heap space holds in RAM (the load benchmark splits RSS with it).
    for (const space of ["new", "old", "code"]) {
      expect(
        metricValue(samples, "callbridge_nodejs_heap_space_physical_bytes", { space }),
      ).toBeGreaterThan(0);
    }
    expect(metricValue(samples, "callbridge_calls_total", { status: "active" })).toBe(1);
    expect(metricValue(samples, "callbridge_calls_total", { status: "completed" })).toBe(1);

    // Every frame the simulator sent was counted in and timed; assistant audio went out.
    expect(sim.framesSent).toBeGreaterThan(100);
    expect(metricValue(samples, "callbridge_frames_in_total")).toBe(sim.framesSent);
    expect(metricValue(samples, "callbridge_frame_processing_seconds_count")).toBe(sim.framesSent);
    const latencySum = metricValue(samples, "callbridge_frame_processing_seconds_sum")!;
    expect(latencySum).toBeGreaterThan(0);
    const buckets = samples.filter((x) => x.name === "callbridge_frame_processing_seconds_bucket");
    expect(buckets.find((b) => b.labels.le === "+Inf")?.value).toBe(sim.framesSent);
    expect(sim.mediaReceived).toBeGreaterThan(0);
    expect(metricValue(samples, "callbridge_frames_out_total")).toBeGreaterThanOrEqual(
      sim.mediaReceived,
    );

    // Every byte of audio in every recording file, headers not counted; the caller track is
    // 16 kHz PCM16: 640 bytes per 20 ms frame.
    const recordings = await s.running.composition.calls.getRecordingsByCallId(call.id);
    const caller = recordings.find((r) => r.track === "caller");
    expect(caller!.sizeBytes - 44).toBe(sim.framesSent * 640);
    expect(metricValue(samples, "callbridge_recording_bytes_written_total")).toBe(
      recordings.reduce((sum, r) => sum + r.sizeBytes - 44, 0),
    );

    expect(
      metricValue(samples, "callbridge_errors_total", { kind: "upstream_rate_limit_exceeded" }),
    ).toBe(1);

    const http = (route: string, status: string) =>
      metricValue(samples, "callbridge_http_request_duration_seconds_count", {
        method: "GET",
        route,
        status,
      });
    expect(http("/api/calls/:id", "200")).toBe(1);
    expect(http("/healthz", "200")).toBeGreaterThanOrEqual(1);
    expect(http("/metrics", "200")).toBeGreaterThanOrEqual(1);
    expect(http("unmatched", "404")).toBe(1);
    const routes = new Set(
      samples
        .filter((x) => x.name === "callbridge_http_request_duration_seconds_count")
        .map((x) => x.labels.route),
    );
    for (const route of routes) expect(route).not.toContain(call.id);
    for (const route of routes) expect(route).not.toContain("xxxx");
    expect(
      metricValue(samples, "callbridge_http_request_duration_seconds_sum", {
        route: "/api/calls/:id",
      }),
    ).toBeGreaterThan(0);
  });
});
