import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { decodeWav, encodeWav } from "../../src/domain/audio/index.ts";
import { FakeRealtimeServer } from "../support/fake-openai-realtime.ts";
import { tone, toneLevel } from "../support/signals.ts";
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

/** Runs the CLI as `npm run simulate` does (tsx), with none of this shell's server settings. */
function simulate(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const clean = { ...process.env };
  for (const key of ["PORT", "TWILIO_AUTH_TOKEN", "API_KEY", "PUBLIC_BASE_URL"]) delete clean[key];
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
  recordings: ApiRecording[];
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
    const id = line(run, /^call id: (\S+) \(completed, [\d.]+ s\)$/)[1]!;
    const apiUrl = line(run, /^API: (\S+)$/)[1]!;
    expect(apiUrl).toBe(`${server.baseUrl}/api/calls/${id}`);

    const call = await getJson<ApiCallDetail>(apiUrl);
    expect(call).toMatchObject({ id, status: "completed", caller: "+15551112222" });
    const caller = call.recordings.find((r) => r.track === "caller");
    expect(caller).toMatchObject({ durationSeconds: 2.5, sampleRate: 16000, channels: 1 });
    expect(line(run, /^recording: caller, 2\.50 s, 16000 Hz, 1 ch$/)).toBeTruthy();

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
    expect(run.stdout).toContain("playing built-in speech-like test signal: 5.0 s at 8 kHz");
    const heard = Number(
      line(run, /^hung up \(close 1000\); assistant audio received ([\d.]+) s$/)[1],
    );
    expect(heard).toBeGreaterThan(0);
    const apiUrl = line(run, /^API: (\S+)$/)[1]!;
    const call = await getJson<ApiCallDetail>(apiUrl, "simulate-key");
    expect(call.status).toBe("completed");
    expect(call.recordings.find((r) => r.track === "caller")?.durationSeconds).toBe(5);
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
    const help = await simulate(["--help"]);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain("usage: npm run simulate");
  });
});
