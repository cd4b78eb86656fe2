import { afterAll, beforeAll, expect, it } from "vitest";
import { openSse, type SseFrame } from "../adapters/http/events/sse-client.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { createTestDatabase, describePostgres, type TestDatabase } from "../support/postgres.ts";
import { concat, silence, speechLike } from "../support/signals.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";
import { TwilioSimulator } from "../support/twilio-simulator.ts";

/**
 * Issue 19: two servers on one PostgreSQL database, as two machines run them. A feed opened on
 * one carries a call that the other runs, from call.started to call.ended, in order.
 */

let database: TestDatabase | null = null;
let fake: FakeRealtimeServer | null = null;
const servers: TestServer[] = [];

const named = (frames: SseFrame[]) =>
  frames.filter((frame) => frame.event !== "comment").map((frame) => frame.event);

describePostgres("live feeds across two instances on one PostgreSQL database", () => {
  beforeAll(async () => {
    database = await createTestDatabase("cb_e2e_feeds");
    fake = await FakeRealtimeServer.start({
      silenceMs: 500,
      callerTranscript: "where is my order",
      assistantTranscript: "it ships today",
    });
  });

  afterAll(async () => {
    for (const server of servers) await server.stop();
    await fake?.close();
    await database?.drop();
  });

  it("shows on B's feeds a call that A runs, every event in order", async () => {
    const start = (instance: string) =>
      startTestServer({
        DATABASE_URL: database!.url,
        INSTANCE_ID: instance,
        OPENAI_API_KEY: "sk-test-fake",
        OPENAI_REALTIME_URL: fake!.url,
        ANALYTICS_INTERVAL_SECONDS: "1",
      }).then((server) => {
        servers.push(server);
        return server;
      });
    const a = await start("feeds-a");
    const b = await start("feeds-b");
    const everyCallOnB = await openSse(`${b.baseUrl}/api/events`);
    const everyCallOnA = await openSse(`${a.baseUrl}/api/events`);

    const sim = await TwilioSimulator.connect({ url: a.mediaStreamUrl, caller: "+15550002" });
    const started = JSON.parse((await everyCallOnB.next((f) => f.event === "call.started")).data);
    expect(started).toMatchObject({ caller: "+15550002", streamSid: sim.streamSid });
    const thisCallOnB = await openSse(`${b.baseUrl}/api/calls/${started.id}/events`);

    await sim.play(concat(speechLike(1200, 8000), silence(2000, 8000)));
    await thisCallOnB.next((f) => f.event === "transcript" && f.data.includes("it ships today"));
    await sim.hangUp();
    const ended = JSON.parse((await thisCallOnB.next((f) => f.event === "call.ended")).data);
    expect(ended).toMatchObject({ id: started.id, status: "completed" });
    await everyCallOnB.next((f) => f.event === "call.ended");
    await everyCallOnA.next((f) => f.event === "call.ended");

    // B's feed of every call carries what A's own carries, in the same order.
    expect(named(everyCallOnB.frames)).toEqual(named(everyCallOnA.frames));
    for (const feed of [everyCallOnB, thisCallOnB]) {
      const names = named(feed.frames);
      expect(names.filter((n) => n === "transcript")).toHaveLength(2);
      expect(names).toContain("analytics");
      expect(names.filter((n) => n === "recording")).toHaveLength(2);
      expect(names.at(-1)).toBe("call.ended");
      expect(names.indexOf("recording")).toBeGreaterThan(names.lastIndexOf("transcript"));
    }
    // The rows are the ones stored: B's transcripts are A's, field for field.
    const data = (frames: SseFrame[], event: string) =>
      frames.filter((f) => f.event === event).map((f) => JSON.parse(f.data));
    expect(data(everyCallOnB.frames, "transcript")).toEqual(
      data(everyCallOnA.frames, "transcript"),
    );
    expect(data(everyCallOnB.frames, "recording")).toEqual(data(everyCallOnA.frames, "recording"));
    // B reads the call's row when it relays call.ended; the post-call analysis may have written
    // its status there since (issue 20), which A's own event predates. The rest is the same.
    const withoutAnalysis = (frames: SseFrame[]) =>
      data(frames, "call.ended").map(
        ({ analysisStatus, summary, outcome, analysisFields, ...call }) => {
          void [analysisStatus, summary, outcome, analysisFields];
          return call;
        },
      );
    expect(withoutAnalysis(everyCallOnB.frames)).toEqual(withoutAnalysis(everyCallOnA.frames));
    for (const feed of [everyCallOnA, everyCallOnB, thisCallOnB]) feed.close();
  });
});
