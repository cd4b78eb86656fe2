import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { decodeWav, encodeWav } from "../../src/domain/audio/index.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { concat, silence, speechLike, tone, toneLevel } from "../support/signals.ts";
import { startTestServer, type TestServer } from "../support/test-server.ts";

const SCRIPT = "test/support/simulate-cli.ts";

let server: TestServer | null = null;
let fake: FakeRealtimeServer | null = null;
afterEach(async () => {
  await server?.stop();
  await fake?.close();
  server = null;
  fake = null;
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  lines: string[];
}

/** This shell's environment without the settings of a server (or of a demo). */
function cleanEnv(): NodeJS.ProcessEnv {
  const clean = { ...process.env };
  for (const key of ["PORT", "TWILIO_AUTH_TOKEN", "API_KEY", "PUBLIC_BASE_URL", "DEMO_FAKE_PORT"]) {
    delete clean[key];
  }
  return clean;
}

/** Runs the CLI as `npm run simulate` does (tsx), with none of this shell's server settings. */
function simulate(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const clean = cleanEnv();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", SCRIPT, ...args], {
      cwd: process.cwd(),
      env: { ...clean, NO_COLOR: "1", ...env },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (c: string) => {
      stdout += c;
    });
    child.stderr.setEncoding("utf8").on("data", (c: string) => {
      stderr += c;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr, lines: stdout.split("\n") }));
  });
}

function line(run: Run, pattern: RegExp): RegExpExecArray {
  for (const l of run.lines) {
    const m = pattern.exec(l);
    if (m) return m;
  }
  throw new Error(`no line matches ${pattern} in:\n${run.stdout}\n${run.stderr}`);
}

interface ApiRecording {
  id: string;
  track: string;
  durationSeconds: number;
  sampleRate: number;
  channels: number;
}
interface ApiCallDetail {
  id: string;
  status: string;
  callSid: string;
  caller: string;
  durationSeconds: number;
  recordings: ApiRecording[];
}
interface ApiTranscript {
  speaker: "caller" | "assistant";
  text: string;
  interrupted: boolean;
  failed: boolean;
}

async function getJson<T>(url: string, apiKey?: string): Promise<T> {
  const res = await fetch(url, apiKey ? { headers: { Authorization: `Bearer ${apiKey}` } } : {});
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

function stereoWav(seconds: number, rate: number): Uint8Array {
  const left = tone(440, seconds * 1000, rate, 0.3);
  const right = tone(660, seconds * 1000, rate, 0.3);
  const interleaved = new Int16Array(left.length * 2);
  for (let i = 0; i < left.length; i++) {
    interleaved[2 * i] = left[i]!;
    interleaved[2 * i + 1] = right[i]!;
  }
  return encodeWav(interleaved, rate, 2);
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const address = probe.address();
  const port = typeof address === "object" && address ? address.port : 0;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

describe("npm run simulate", () => {
  it("plays a 44.1 kHz stereo WAV as a call and prints its id and API URL", async () => {
    server = await startTestServer();
    const file = join(server.dir, "stereo.wav");
    writeFileSync(file, stereoWav(2.5, 44_100));

    const run = await simulate([
      file,
      "--url",
      server.mediaStreamUrl,
      "--fast",
      "--settle-ms",
      "100",
      "--caller",
      "+15551112222",
    ]);

    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain(`playing ${file} (44100 Hz, 2 ch, 2.50 s): 2.5 s at 8 kHz`);
    expect(line(run, /^ {2}sent 2\.5\/2\.5 s, 125 frames; assistant audio 0\.0 s$/)).toBeTruthy();
    // Nobody answers a record-only server: its transcript is empty, and no script was offered.
    expect(line(run, /^transcript: none$/)).toBeTruthy();
    const id = line(run, /^call id: (\S+) \(completed, [\d.]+ s\)$/)[1]!;
    const apiUrl = line(run, /^API: (\S+)$/)[1]!;
    expect(apiUrl).toBe(`${server.baseUrl}/api/calls/${id}`);

    const call = await getJson<ApiCallDetail>(apiUrl);
    expect(call).toMatchObject({ id, status: "completed", caller: "+15551112222" });
    // The file, then the second of silence a waiting caller's line carries; --fast sent it ahead
    // of real time, and the line hung up when the clock had caught up: the call lasted as long
    // as its recording.
    const caller = call.recordings.find((r) => r.track === "caller");
    expect(caller).toMatchObject({ durationSeconds: 3.5, sampleRate: 16000, channels: 1 });
    expect(line(run, /^recording: caller, 3\.50 s, 16000 Hz, 1 ch$/)).toBeTruthy();
    expect(Math.abs(call.durationSeconds - caller!.durationSeconds)).toBeLessThanOrEqual(0.2);

    // Both channels are in the mono downmix, at the right pitch after 44.1k -> 8k -> 16k.
    const audio = await fetch(`${server.baseUrl}/api/recordings/${caller!.id}/audio`);
    const wav = decodeWav(new Uint8Array(await audio.arrayBuffer()));
    const middle = wav.samples.subarray(8000, 32000);
    expect(toneLevel(middle, 440, 16000)).toBeGreaterThan(0.04);
    expect(toneLevel(middle, 660, 16000)).toBeGreaterThan(0.04);
    expect(toneLevel(middle, 1000, 16000)).toBeLessThan(0.005);
  });

  it("plays the built-in signal to a signed, keyed server with an assistant, which answers", async () => {
    fake = await FakeRealtimeServer.start();
    server = await startTestServer({
      TWILIO_AUTH_TOKEN: "simulate-token",
      API_KEY: "simulate-key",
      OPENAI_API_KEY: "sk-test-fake",
      OPENAI_REALTIME_URL: fake.url,
    });

    const run = await simulate(["--url", server.mediaStreamUrl, "--fast", "--settle-ms", "300"], {
      TWILIO_AUTH_TOKEN: "simulate-token",
      API_KEY: "simulate-key",
    });

    expect(run.stderr).toBe("");
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("playing built-in speech-like test signal: 8.0 s at 8 kHz");
    const heard = Number(
      line(run, /^hung up \(close 1000\); assistant audio received ([\d.]+) s$/)[1],
    );
    expect(heard).toBeGreaterThan(0);
    const apiUrl = line(run, /^API: (\S+)$/)[1]!;
    const call = await getJson<ApiCallDetail>(apiUrl, "simulate-key");
    expect(call.status).toBe("completed");
    const caller = call.recordings.find((r) => r.track === "caller")!;
    expect(caller.durationSeconds).toBeGreaterThanOrEqual(9);
    expect(Math.abs(call.durationSeconds - caller.durationSeconds)).toBeLessThanOrEqual(0.2);
    // This fake takes no scripts: it says what it was started with, and the CLI prints it.
    expect(line(run, /^ {2}caller: hello$/)).toBeTruthy();
    expect(line(run, /^ {2}assistant: Hi there, how can I help you today\?$/)).toBeTruthy();
  });

  it("paces the audio in real time by default and reports progress", async () => {
    server = await startTestServer();
    const file = join(server.dir, "short.wav");
    writeFileSync(file, encodeWav(tone(300, 1200, 16_000, 0.3), 16_000, 1));

    const run = await simulate([file, "--url", server.mediaStreamUrl, "--settle-ms", "200"]);

    expect(run.code).toBe(0);
    expect(line(run, /^ {2}sent 1\.2\/1\.2 s, 60 frames; assistant audio 0\.0 s$/)).toBeTruthy();
    const apiUrl = line(run, /^API: (\S+)$/)[1]!;
    const call = await getJson<ApiCallDetail>(apiUrl);
    // Real time keeps the line open with silence while it waits: at least the 1.2 s of audio.
    expect(call.recordings[0]!.durationSeconds).toBeGreaterThanOrEqual(1.2);
  });

  it("fails clearly, with a non-zero exit code, for a missing or invalid file", async () => {
    server = await startTestServer();
    const missing = await simulate([join(server.dir, "nope.wav"), "--url", server.mediaStreamUrl]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^simulate: cannot read .*nope\.wav: no such file\n$/);

    const text = join(server.dir, "text.wav");
    writeFileSync(text, "this is not audio at all");
    const invalid = await simulate([text, "--url", server.mediaStreamUrl]);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain("is not a WAV file this tool can play (not a RIFF/WAVE file)");
    // Nothing reached the server.
    const calls = await getJson<{ data: unknown[] }>(`${server.baseUrl}/api/calls`);
    expect(calls.data).toEqual([]);
  });

  it("fails clearly when the server cannot be reached or refuses the signature", async () => {
    const port = await freePort();
    const unreachable = await simulate(["--url", `ws://127.0.0.1:${port}/twilio/media-stream`]);
    expect(unreachable.code).toBe(1);
    expect(unreachable.stderr).toContain(
      `cannot reach the server for the voice webhook at http://127.0.0.1:${port}/twilio/voice (ECONNREFUSED)`,
    );

    server = await startTestServer({ TWILIO_AUTH_TOKEN: "the-real-token" });
    const unsigned = await simulate(["--url", server.mediaStreamUrl, "--fast"]);
    expect(unsigned.code).toBe(1);
    expect(unsigned.stderr).toContain("refused the webhook's signature (403)");
    const wrong = await simulate(["--url", server.mediaStreamUrl, "--auth-token", "not-it"]);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain("(403)");

    // A script needs the demo's fake assistant to take it.
    const nowhere = `http://127.0.0.1:${await freePort()}/v1/fake/scripts`;
    const scripted = await simulate([
      "--url",
      server.mediaStreamUrl,
      "--auth-token",
      "the-real-token",
      "--say",
      "hello",
      "--script-url",
      nowhere,
    ]);
    expect(scripted.code).toBe(1);
    expect(scripted.stderr).toContain(
      `nothing at ${nowhere} takes scripts (ECONNREFUSED): --say and --script are for \`npm run demo\``,
    );
  });

  it("rejects bad options with usage and exit code 2", async () => {
    const bogus = await simulate(["--bogus"]);
    expect(bogus.code).toBe(2);
    expect(bogus.stderr).toContain("usage: npm run simulate");
    const url = await simulate(["--url", "http://127.0.0.1:1/x"]);
    expect(url.code).toBe(2);
    expect(url.stderr).toContain("--url must be a ws:// or wss:// URL");
    const both = await simulate(["--fast", "--realtime"]);
    expect(both.code).toBe(2);
    const twoScripts = await simulate(["--say", "hi", "--script", "x.txt"]);
    expect(twoScripts.code).toBe(2);
    expect(twoScripts.stderr).toContain("--say and --script exclude each other");
    const help = await simulate(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("usage: npm run simulate");
  });
});

// ---- npm run demo + npm run simulate ------------------------------------------------------------

async function portIsFree(port: number): Promise<boolean> {
  const probe = createServer();
  const free = await new Promise<boolean>((resolve) => {
    probe.once("error", () => resolve(false));
    probe.listen(port, "127.0.0.1", () => resolve(true));
  });
  if (free) await new Promise<void>((resolve) => probe.close(() => resolve()));
  return free;
}

/** A free port whose next port is free too: the demo's server and its fake assistant. */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await freePort();
    if (port < 65535 && (await portIsFree(port + 1))) return port;
  }
  throw new Error("no two consecutive free ports");
}

interface Demo {
  child: ChildProcess;
  port: number;
  dir: string;
  output: () => string;
}

/** `npm run demo` (tsx scripts/demo.ts) on PORT, with its own database and recordings. */
async function startDemo(): Promise<Demo> {
  const port = await freePortPair();
  const dir = mkdtempSync(join(tmpdir(), "callbridge-demo-"));
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/demo.ts"], {
    cwd: process.cwd(),
    env: {
      ...cleanEnv(),
      NO_COLOR: "1",
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: join(dir, "calls.db"),
      RECORDING_STORAGE_PATH: join(dir, "recordings"),
      LOG_LEVEL: "silent",
    },
  });
  let output = "";
  child.stdout!.setEncoding("utf8").on("data", (c: string) => {
    output += c;
  });
  child.stderr!.setEncoding("utf8").on("data", (c: string) => {
    output += c;
  });
  const deadline = performance.now() + 60_000;
  while (!output.includes(`open http://localhost:${port}/`)) {
    if (child.exitCode !== null || performance.now() > deadline) {
      throw new Error(`the demo did not start:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, port, dir, output: () => output };
}

async function stopDemo(demo: Demo): Promise<void> {
  const exited = new Promise<void>((resolve) => {
    if (demo.child.exitCode !== null) resolve();
    else demo.child.once("exit", () => resolve());
  });
  demo.child.kill("SIGTERM");
  const timer = setTimeout(() => demo.child.kill("SIGKILL"), 15_000);
  await exited;
  clearTimeout(timer);
  rmSync(demo.dir, { recursive: true, force: true });
}

/** 16 kHz speech-like turns of `speechMs`, `gapMs` apart, ending on speech (no silence after). */
function turnsWav(turns: number, speechMs: number, gapMs: number): Uint8Array {
  const parts: Int16Array[] = [];
  for (let i = 0; i < turns; i++) {
    if (i > 0) parts.push(silence(gapMs, 16_000));
    parts.push(speechLike(speechMs, 16_000));
  }
  return encodeWav(concat(...parts), 16_000, 1);
}

describe("npm run demo with npm run simulate", () => {
  let demo: Demo;
  let dir: string;
  beforeAll(async () => {
    demo = await startDemo();
    dir = mkdtempSync(join(tmpdir(), "callbridge-demo-wavs-"));
  }, 90_000);
  afterAll(async () => {
    if (demo) await stopDemo(demo);
    if (dir) rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  /** Runs the simulator against the demo as a newcomer would: PORT set, no --url. */
  const call = async (args: string[]) => {
    const run = await simulate(args, { PORT: String(demo.port) });
    if (run.code !== 0) throw new Error(`simulate failed:\n${run.stdout}\n${run.stderr}`);
    const apiUrl = line(run, /^API: (\S+)$/)[1]!;
    const detail = await getJson<ApiCallDetail>(apiUrl);
    const { data } = await getJson<{ data: ApiTranscript[] }>(`${apiUrl}/transcripts`);
    return { run, detail, transcripts: data };
  };
  const said = (transcripts: ApiTranscript[]) =>
    transcripts.map((t) => [t.speaker, t.failed ? null : t.text, t.interrupted]);

  it("transcribes and answers two calls by their own scripts", async () => {
    // Two turns with room for the answer between them; the file ends on speech.
    const wav = join(dir, "order.wav");
    writeFileSync(wav, turnsWav(2, 1000, 5000));
    writeFileSync(
      join(dir, "order.txt"),
      "# the caller of order.wav\nHi, my name is Ada and I need my invoice.\n" +
        "assistant: Of course, Ada. It is on its way.\nThanks, bye!\n",
    );
    const first = await call([wav, "--settle-ms", "500"]);
    expect(first.run.stdout).toContain(`script: 2 caller lines from ${join(dir, "order.txt")}`);
    expect(said(first.transcripts)).toEqual([
      ["caller", "Hi, my name is Ada and I need my invoice.", false],
      ["assistant", "Of course, Ada. It is on its way.", false],
      ["caller", "Thanks, bye!", false],
      ["assistant", "You're welcome. Goodbye!", false],
    ]);
    expect(line(first.run, /^ {2}caller: Thanks, bye!$/)).toBeTruthy();

    const second = await call([
      wav,
      "--say",
      "I would like to cancel my order.",
      "--say",
      "Can you confirm it by email?",
      "--settle-ms",
      "500",
    ]);
    expect(second.run.stdout).toContain("script: 2 caller lines from --say");
    expect(said(second.transcripts)).toEqual([
      ["caller", "I would like to cancel my order.", false],
      ["assistant", "Got it: you would like to cancel your order.", false],
      ["caller", "Can you confirm it by email?", false],
      ["assistant", "You asked: can you confirm it by email? Let me check that for you.", false],
    ]);
    // Each answer's audio follows its text: the assistant said more in the second call.
    const assistantMs = async (id: string) => {
      const { data } = await getJson<{ data: { assistantTalkMs: number }[] }>(
        `http://127.0.0.1:${demo.port}/api/calls/${id}/analytics`,
      );
      return data.at(-1)!.assistantTalkMs;
    };
    expect(await assistantMs(second.detail.id)).toBeGreaterThan(await assistantMs(first.detail.id));
  }, 60_000);

  it("stores the last turn of a WAV with no silence after it, answered or cut off", async () => {
    const wav = join(dir, "abrupt.wav");
    writeFileSync(wav, turnsWav(1, 1200, 0));
    // The line stays open (with silence, as a phone's does) while the caller waits: answered.
    const waited = await call([wav, "--say", "Where is my parcel?", "--settle-ms", "500"]);
    expect(said(waited.transcripts)).toEqual([
      ["caller", "Where is my parcel?", false],
      ["assistant", "You asked: where is my parcel? Let me check that for you.", false],
    ]);
    // Hung up on the last sample: the server's commit at hang-up still transcribes the turn,
    // and (as with the real API) a commit asks for no answer.
    const cut = await call([wav, "--say", "Never mind, goodbye.", "--settle-ms", "0"]);
    expect(said(cut.transcripts)).toEqual([["caller", "Never mind, goodbye.", false]]);
    const recording = cut.detail.recordings.find((r) => r.track === "caller")!;
    expect(recording.durationSeconds).toBeCloseTo(1.2, 1);
  }, 60_000);

  it("with --fast, stores a duration within 0.2 s of the caller's recording", async () => {
    const wav = join(dir, "fast.wav");
    writeFileSync(wav, turnsWav(2, 1000, 2000));
    const { run, detail, transcripts } = await call([
      wav,
      "--fast",
      "--say",
      "Hello, I have a question about my bill.",
      "--say",
      "Why is it so high this month?",
      "--settle-ms",
      "300",
    ]);
    const caller = detail.recordings.find((r) => r.track === "caller")!;
    // 4 s of audio and 1 s of silence after it, sent in well under a second.
    expect(caller.durationSeconds).toBeGreaterThanOrEqual(5);
    expect(Math.abs(detail.durationSeconds - caller.durationSeconds)).toBeLessThanOrEqual(0.2);
    expect(line(run, /^call id: \S+ \(completed, ([\d.]+) s\)$/)).toBeTruthy();
    // Both turns came faster than the assistant could answer the first: the last is answered.
    const callerLines = transcripts.filter((t) => t.speaker === "caller").map((t) => t.text);
    expect(callerLines).toEqual([
      "Hello, I have a question about my bill.",
      "Why is it so high this month?",
    ]);
    expect(transcripts.at(-1)).toMatchObject({
      speaker: "assistant",
      text: "You asked: why is it so high this month? Let me check that for you.",
    });
  }, 60_000);

  it("stores the turns of an unscripted call as not transcribed, and says why", async () => {
    const wav = join(dir, "unscripted.wav");
    writeFileSync(wav, turnsWav(1, 800, 0));
    const { run, transcripts } = await call([wav, "--settle-ms", "500"]);
    expect(said(transcripts)).toEqual([
      ["caller", null, false],
      ["assistant", "Sorry, I didn't catch that. Could you say it again?", false],
    ]);
    expect(transcripts[0]!.failed).toBe(true);
    expect(line(run, /^ {2}caller: \(not transcribed\)$/)).toBeTruthy();
    expect(run.stdout).toContain(
      "note: if this is `npm run demo`, its assistant cannot understand audio",
    );
  }, 60_000);
});
