import { afterEach, describe, expect, it } from "vitest";
import { decodeMuLaw } from "../../src/domain/audio/index.ts";
import {
  FakeRealtimeServer,
  REALTIME_RATE,
  SCRIPT_PATH,
  type StartOptions,
} from "../support/fake-openai-realtime.ts";
import { base64ToPcm16, concat, pcm16ToBase64, rms, silence, tone } from "../support/signals.ts";
import { parseTurnScript, replyTo, ScriptError, spokenAudio } from "../support/turn-scripts.ts";
import { RealtimeTestClient } from "./realtime-client.ts";

const KEY = "sk-test-fake";
const session = (format: "audio/pcm" | "audio/pcmu" = "audio/pcm") => ({
  type: "realtime",
  audio: {
    input: {
      format: { type: "audio/pcm", rate: 24000 },
      turn_detection: { type: "server_vad" },
      transcription: { model: "gpt-4o-mini-transcribe" },
    },
    output: { format: { type: format }, voice: "alloy" },
  },
});

const servers: FakeRealtimeServer[] = [];
const clients: RealtimeTestClient[] = [];
afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  for (const s of servers.splice(0)) await s.close();
});

async function startServer(opts: StartOptions = {}): Promise<FakeRealtimeServer> {
  const s = await FakeRealtimeServer.start(opts);
  servers.push(s);
  return s;
}

async function configured(server: FakeRealtimeServer, format?: "audio/pcm" | "audio/pcmu") {
  const c = await RealtimeTestClient.connect(server.url, KEY);
  clients.push(c);
  c.send({ type: "session.update", session: session(format) });
  await c.waitFor("session.updated");
  return c;
}

/** `turns` caller turns: 600 ms of tone then 700 ms of silence each, appended in 20 ms chunks. */
function speak(c: RealtimeTestClient, turns: number): void {
  const turn = concat(tone(300, 600, REALTIME_RATE, 0.3), silence(700, REALTIME_RATE));
  const audio = concat(...Array.from({ length: turns }, () => turn));
  const per = (REALTIME_RATE * 20) / 1000;
  for (let i = 0; i < audio.length; i += per) {
    c.send({ type: "input_audio_buffer.append", audio: pcm16ToBase64(audio.subarray(i, i + per)) });
  }
}

async function waitForCount(c: RealtimeTestClient, type: string, n: number) {
  const deadline = performance.now() + 10_000;
  while (c.ofType(type).length < n) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${n} ${type}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return c.ofType(type);
}

/** `n` caller turns, each after the answer to the one before has been said. */
async function turns(c: RealtimeTestClient, n: number): Promise<void> {
  for (let i = 1; i <= n; i++) {
    speak(c, 1);
    await waitForCount(c, "response.done", i);
  }
}

const transcripts = (c: RealtimeTestClient) =>
  c.ofType("conversation.item.input_audio_transcription.completed").map((e) => e.transcript);
const answers = (c: RealtimeTestClient) =>
  c.ofType("response.output_audio_transcript.done").map((e) => String(e.transcript));

async function post(server: FakeRealtimeServer, body: unknown, method = "POST") {
  const res = await fetch(`http://127.0.0.1:${server.port}${SCRIPT_PATH}`, {
    method,
    headers: { "Content-Type": "application/json" },
    body: method === "POST" ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json().catch(() => null)) as unknown };
}

describe("FakeRealtimeServer turn scripts", () => {
  it("serves no script endpoint unless asked to", async () => {
    const server = await startServer();
    const res = await fetch(`http://127.0.0.1:${server.port}${SCRIPT_PATH}`, { method: "POST" });
    expect(res.status).toBe(426);
  });

  it("takes scripts over HTTP, refuses bad ones, and identifies itself", async () => {
    const server = await startServer({ scriptEndpoint: true });
    expect(await post(server, null, "GET")).toEqual({
      status: 200,
      body: { service: "fake-openai-realtime", queued: 0 },
    });
    expect(await post(server, { caller: ["Hi"], key: "MZ1" })).toEqual({
      status: 201,
      body: { key: "MZ1", callerLines: 1, queued: 1 },
    });
    expect((await post(server, { caller: [] })).status).toBe(400);
    expect((await post(server, { caller: ["a"], assistant: ["b", "c"] })).status).toBe(400);
    expect((await post(server, { caller: ["a"], key: 7 })).status).toBe(400);
    expect((await post(server, "not a script")).status).toBe(400);
    expect((await post(server, null, "DELETE")).status).toBe(405);
    expect(server.queuedScripts.map((q) => q.key)).toEqual(["MZ1"]);
  });

  it("transcribes each turn as its script line and answers it by script or by rule", async () => {
    const server = await startServer({ scriptEndpoint: true });
    await post(server, {
      caller: ["Hello, I need my invoice.", "Can you email it?"],
      assistant: ["Sure, one moment.", null],
    });
    const c = await configured(server);
    expect(server.connections[0]!.script?.script.caller).toHaveLength(2);
    expect(server.queuedScripts).toHaveLength(0);
    await turns(c, 2);
    expect(transcripts(c)).toEqual(["Hello, I need my invoice.", "Can you email it?"]);
    expect(answers(c)).toEqual([
      "Sure, one moment.",
      "You asked: can you email it? Let me check that for you.",
    ]);
    // Each answer's audio is as long as its text takes to say, and sounds like something.
    const [first, second] = server.connections[0]!.responses;
    expect(first!.audioMsSent).toBeCloseTo(
      (spokenAudio("Sure, one moment.", REALTIME_RATE).length / REALTIME_RATE) * 1000,
      0,
    );
    expect(second!.audioMsSent).toBeGreaterThan(first!.audioMsSent * 2);
    const deltas = c.ofType("response.output_audio.delta");
    const audio = concat(...deltas.map((d) => base64ToPcm16(String(d.delta))));
    expect(rms(audio)).toBeGreaterThan(1000);
  });

  it("falls back to the fixed transcripts past the script's end, by default", async () => {
    const server = await startServer({
      callerTranscript: "fixed caller",
      assistantTranscript: "fixed answer",
    });
    server.queueScript({ caller: ["only line"] });
    const c = await configured(server);
    await turns(c, 2);
    expect(transcripts(c)).toEqual(["only line", "fixed caller"]);
    expect(answers(c)).toEqual(["Got it: only line.", "fixed answer"]);
  });

  it("with unscripted 'unheard', fails the transcription of turns no line covers", async () => {
    const server = await startServer({ unscripted: "unheard" });
    const c = await configured(server);
    speak(c, 1);
    await waitForCount(c, "response.done", 1);
    expect(transcripts(c)).toEqual([]);
    const failed = c.ofType("conversation.item.input_audio_transcription.failed");
    expect(failed).toHaveLength(1);
    expect(answers(c)).toEqual(["Sorry, I didn't catch that. Could you say it again?"]);
  });

  it("lets pickScript choose a connection's script, and leaves the rest queued", async () => {
    const server = await startServer({
      pickScript: (queued) => queued.find((q) => q.key === "wanted") ?? null,
    });
    server.queueScript({ caller: ["not this one"] }, "other");
    server.queueScript({ caller: ["this one"] }, "wanted");
    const c = await configured(server);
    speak(c, 1);
    await waitForCount(c, "response.done", 1);
    expect(transcripts(c)).toEqual(["this one"]);
    expect(server.queuedScripts.map((q) => q.key)).toEqual(["other"]);
  });

  it("says a scripted answer in audio/pcmu too, cut short to what was sent when cancelled", async () => {
    const server = await startServer({ deltaIntervalMs: 100 });
    server.queueScript({
      caller: ["one", "two"],
      assistant: ["A long answer that the caller interrupts halfway through it.", "Done."],
    });
    const c = await configured(server, "audio/pcmu");
    speak(c, 1);
    await c.waitFor("response.output_audio.delta");
    await new Promise((r) => setTimeout(r, 300));
    speak(c, 1);
    await waitForCount(c, "response.done", 2);
    const [cut, done] = c.ofType("response.done").map((e) => e.response as { status: string });
    expect(cut!.status).toBe("cancelled");
    expect(done!.status).toBe("completed");
    const said = answers(c);
    expect(said[0]).toMatch(/^A long/);
    expect(said[0]!.length).toBeLessThan(
      "A long answer that the caller interrupts halfway through it.".length,
    );
    expect(said[1]).toBe("Done.");
    const second = server.connections[0]!.responses[1]!;
    expect(second.format).toBe("audio/pcmu");
    expect(second.audioMsSent).toBeCloseTo(
      (spokenAudio("Done.", REALTIME_RATE).length / REALTIME_RATE) * 1000,
      -1,
    );
    const mulaw = c
      .ofType("response.output_audio.delta")
      .filter((d) => d.response_id === second.id)
      .map((d) => Buffer.from(String(d.delta), "base64"));
    expect(rms(decodeMuLaw(new Uint8Array(Buffer.concat(mulaw))))).toBeGreaterThan(1000);
  });
});

describe("turn scripts", () => {
  it("reads one caller line per line, with optional assistant lines after them", () => {
    expect(parseTurnScript("# a call\nHello there\nassistant: Hi!\n\ncaller: Bye now\n")).toEqual({
      caller: ["Hello there", "Bye now"],
      assistant: ["Hi!", null],
    });
    expect(parseTurnScript("One\r\nTwo\r\n")).toEqual({ caller: ["One", "Two"] });
    expect(() => parseTurnScript("assistant: first")).toThrow(ScriptError);
    expect(() => parseTurnScript("a\nassistant: b\nassistant: c")).toThrow(/second assistant/);
    expect(() => parseTurnScript("# nothing\n")).toThrow(/at least one line/);
  });

  it("answers each line by a small rule set that repeats it back", () => {
    expect(replyTo("Hello")).toBe("Hello! How can I help you today?");
    expect(replyTo("Hi, I need my invoice.")).toBe("Hello! Got it: you need your invoice.");
    expect(replyTo("You charged me twice")).toBe("Got it: I charged you twice.");
    expect(replyTo("Please send me my invoice")).toBe("Sure, I will send you your invoice.");
    expect(replyTo("When does it arrive?")).toBe(
      "You asked: when does it arrive? Let me check that for you.",
    );
    expect(replyTo("Thanks, bye")).toBe("You're welcome. Goodbye!");
    expect(replyTo(null)).toBe("Sorry, I didn't catch that. Could you say it again?");
  });

  it("makes deterministic audio as long as the text takes to say", () => {
    const short = spokenAudio("Yes.", 8000);
    const long = spokenAudio("Yes, your order shipped this morning and arrives tomorrow.", 8000);
    expect(spokenAudio("Yes.", 8000)).toEqual(short);
    expect(long.length).toBeGreaterThan(short.length * 5);
    expect(long.length / 8000).toBeGreaterThan(3);
    expect(long.length / 8000).toBeLessThan(6);
  });
});
