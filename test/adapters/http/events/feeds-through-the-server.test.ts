import { afterEach, describe, expect, it } from "vitest";
import { FakeRealtimeServer } from "../../../support/fake-openai-realtime.ts";
import { concat, silence, speechLike } from "../../../support/signals.ts";
import { startTestServer, type TestServer } from "../../../support/test-server.ts";
import { TwilioSimulator } from "../../../support/twilio-simulator.ts";
import { openSse, type SseFrame } from "./sse-client.ts";

let server: TestServer | null = null;
let fake: FakeRealtimeServer | null = null;

afterEach(async () => {
  await server?.stop();
  await fake?.close();
  server = null;
  fake = null;
});

const events = (frames: SseFrame[]) => frames.filter((f) => f.event !== "comment");

describe("the live feeds of the composed server", () => {
  it("carry a simulated call from call.started through its turns to call.ended", async () => {
    fake = await FakeRealtimeServer.start({
      silenceMs: 500,
      callerTranscript: "where is my order",
      assistantTranscript: "it ships today",
    });
    server = await startTestServer({
      OPENAI_API_KEY: "sk-test-fake",
      OPENAI_REALTIME_URL: fake.url,
      ANALYTICS_INTERVAL_SECONDS: "1",
    });
    const all = await openSse(`${server.baseUrl}/api/events`);
    const sim = await TwilioSimulator.connect({ url: server.mediaStreamUrl, caller: "+15550001" });
    const started = JSON.parse((await all.next((f) => f.event === "call.started")).data);
    expect(started).toMatchObject({ caller: "+15550001", status: "active" });
    const one = await openSse(`${server.baseUrl}/api/calls/${started.id}/events`);

    await sim.play(concat(speechLike(1200, 8000), silence(2000, 8000)));
    await one.next((f) => f.event === "transcript" && f.data.includes("it ships today"));
    await sim.hangUp();
    const ended = JSON.parse((await one.next((f) => f.event === "call.ended")).data);
    expect(ended).toMatchObject({ id: started.id, status: "completed" });
    await all.next((f) => f.event === "call.ended");

    for (const feed of [all, one]) {
      const names = events(feed.frames).map((f) => f.event);
      expect(names.filter((n) => n === "transcript")).toHaveLength(2);
      expect(names).toContain("analytics");
      expect(names.filter((n) => n === "recording")).toHaveLength(2);
      // Recordings are announced with the end, and nothing of this call follows it.
      expect(names.at(-1)).toBe("call.ended");
      expect(names.indexOf("recording")).toBeGreaterThan(names.lastIndexOf("transcript"));
    }
    const tracks = events(one.frames)
      .filter((f) => f.event === "recording")
      .map((f) => JSON.parse(f.data).track)
      .sort();
    expect(tracks).toEqual(["caller", "conversation"]);
    expect(events(all.frames)[0]?.event).toBe("call.started");

    // Shutdown ends the open streams cleanly rather than cutting their connections.
    await server.stop();
    server = null;
    expect(await Promise.all([all.ended, one.ended])).toEqual([true, true]);
  });
});
