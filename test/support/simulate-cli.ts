/**
 * `npm run simulate -- [file.wav] [options]`: plays a WAV file as a Twilio phone call against a
 * running callbridge server, the way Twilio would: POST /twilio/voice for the TwiML, then the
 * media stream it names, then hang-up; prints the call id, its API URL and its transcript.
 *
 * Against `npm run demo`, whose assistant is a fake that cannot understand audio, the call can
 * carry a script (--say, --script, or file.txt next to file.wav): before the stream opens it is
 * registered with the demo's fake (POST /v1/fake/scripts, keyed by the call's streamSid), which
 * then transcribes the call's turns as the script's lines and answers each one.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { parseArgs } from "node:util";
import { computeTwilioSignature } from "../../src/adapters/twilio/signature.ts";
import { decodeWav, resample } from "../../src/domain/audio/index.ts";
import { concat, silence, speechLike } from "./signals.ts";
import { parseTurnScript, ScriptError, type TurnScript } from "./turn-scripts.ts";
import {
  FRAME_BYTES,
  TWILIO_RATE,
  TwilioSimulator,
  UpgradeRejectedError,
} from "./twilio-simulator.ts";

const USAGE = `usage: npm run simulate -- [file.wav] [options]

Plays file.wav (PCM16, any sample rate and channel count) as a Twilio call against a running
server; without a file, plays a built-in 8 s speech-like test signal of two caller turns.

Against \`npm run demo\`, whose assistant is a fake that cannot understand audio, give the words
of each caller turn (--say, --script, or file.txt next to file.wav): the demo's fake transcribes
the call's turns as those lines, in order, and answers each one. Unscripted turns are stored as
not transcribed.

options:
  --url <ws-url>        media-stream URL of the server (default ws://127.0.0.1:\${PORT:-3000}/twilio/media-stream);
                        the webhook POST goes to the same host
  --realtime            send 20 ms of audio every 20 ms, like a phone line (default)
  --fast                send the audio about 10 times faster than real time; the call still lasts
                        as long as its audio (the line waits for its clock before hanging up)
  --say <text>          what the caller says in a turn, for the demo's fake assistant; once per turn
  --script <file.txt>   the same from a file: one caller turn per line, "assistant: ..." after a
                        line scripts the answer to it (default: file.txt next to file.wav, if any)
  --script-url <url>    where the demo takes scripts (default http://HOST:PORT+1/v1/fake/scripts,
                        PORT being the server's)
  --caller <number>     the caller's number (default +15555550123)
  --auth-token <token>  sign the webhook and the stream like Twilio (default: env TWILIO_AUTH_TOKEN)
  --public-url <url>    the server's PUBLIC_BASE_URL, which signatures are computed for
                        (default: env PUBLIC_BASE_URL, else the URL the webhook is posted to)
  --api-key <key>       bearer token for /api (default: env API_KEY)
  --settle-ms <ms>      after the audio (and 1 s of silence), wait until the assistant has been quiet
                        this long (default 1500); 0 hangs up the moment the audio is sent
                        (with --fast, sooner than the audio's length: the call is then shorter)
  --max-wait <s>        give up waiting for the assistant after this many seconds (default 60)
  -h, --help            this text`;

class UsageError extends Error {}

interface Options {
  file: string | undefined;
  streamUrl: URL;
  realtime: boolean;
  say: string[];
  scriptFile: string | undefined;
  scriptUrl: string;
  caller: string;
  authToken: string | undefined;
  publicUrl: string | undefined;
  apiKey: string | undefined;
  settleMs: number;
  maxWaitMs: number;
}

function parseArgv(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: "string" },
        realtime: { type: "boolean" },
        fast: { type: "boolean" },
        say: { type: "string", multiple: true },
        script: { type: "string" },
        "script-url": { type: "string" },
        caller: { type: "string" },
        "auth-token": { type: "string" },
        "public-url": { type: "string" },
        "api-key": { type: "string" },
        "settle-ms": { type: "string" },
        "max-wait": { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

function parseOptions(argv: string[], env: NodeJS.ProcessEnv): Options | null {
  const parsed = parseArgv(argv);
  const { values, positionals } = parsed;
  if (values.help) return null;
  if (positionals.length > 1)
    throw new UsageError(`one WAV file at most, got ${positionals.length}`);
  if (values.realtime && values.fast)
    throw new UsageError("--realtime and --fast exclude each other");
  const url = values.url ?? `ws://127.0.0.1:${env.PORT || "3000"}/twilio/media-stream`;
  let streamUrl: URL;
  try {
    streamUrl = new URL(url);
  } catch {
    throw new UsageError(`--url is not a URL: ${url}`);
  }
  if (streamUrl.protocol !== "ws:" && streamUrl.protocol !== "wss:") {
    throw new UsageError(`--url must be a ws:// or wss:// URL, got ${url}`);
  }
  const say = values.say ?? [];
  if (say.length > 0 && values.script !== undefined) {
    throw new UsageError("--say and --script exclude each other");
  }
  if (say.some((line) => line.trim() === "")) throw new UsageError("--say needs some text");
  const scriptUrl = values["script-url"] ?? defaultScriptUrl(streamUrl);
  if (!/^https?:\/\//.test(scriptUrl)) {
    throw new UsageError(`--script-url must be an http:// URL, got ${scriptUrl}`);
  }
  return {
    file: positionals[0],
    streamUrl,
    realtime: !values.fast,
    say,
    scriptFile: values.script,
    scriptUrl,
    caller: values.caller ?? "+15555550123",
    authToken: values["auth-token"] ?? (env.TWILIO_AUTH_TOKEN || undefined),
    publicUrl: (values["public-url"] ?? (env.PUBLIC_BASE_URL || undefined))?.replace(/\/+$/, ""),
    apiKey: values["api-key"] ?? (env.API_KEY || undefined),
    settleMs: nonNegative("--settle-ms", values["settle-ms"], 1500),
    maxWaitMs: nonNegative("--max-wait", values["max-wait"], 60) * 1000,
  };
}

/** `npm run demo` serves its fake assistant's script endpoint on the port after the server's. */
function defaultScriptUrl(streamUrl: URL): string {
  const port = Number(streamUrl.port || (streamUrl.protocol === "wss:" ? 443 : 80));
  return `http://${streamUrl.hostname}:${port + 1}/v1/fake/scripts`;
}

function nonNegative(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0) throw new UsageError(`${name} must be a number >= 0`);
  return n;
}

// ---- audio ----------------------------------------------------------------------------------

interface Audio {
  label: string;
  samples8k: Int16Array;
}

function downmix(samples: Int16Array, channels: number): Int16Array {
  if (channels === 1) return samples;
  const frames = Math.floor(samples.length / channels);
  const mono = new Int16Array(frames);
  for (let i = 0; i < frames; i++) {
    let sum = 0;
    for (let c = 0; c < channels; c++) sum += samples[i * channels + c]!;
    mono[i] = Math.round(sum / channels);
  }
  return mono;
}

/**
 * The built-in signal: two caller turns with room between them for the answer to the first,
 * and the script the demo's assistant gets for it.
 */
const BUILT_IN_SCRIPT: TurnScript = {
  caller: [
    "Hello, I would like to check the status of my order please.",
    "It is order number four two one seven.",
  ],
  assistant: [
    "Of course. What is the order number?",
    "Thank you. Order four two one seven shipped this morning and arrives tomorrow.",
  ],
};

async function loadAudio(file: string | undefined): Promise<Audio> {
  if (file === undefined) {
    const samples8k = concat(
      speechLike(2000, TWILIO_RATE),
      silence(4000, TWILIO_RATE),
      speechLike(1500, TWILIO_RATE),
      silence(500, TWILIO_RATE),
    );
    return { label: "built-in speech-like test signal", samples8k };
  }
  let bytes: Uint8Array;
  try {
    bytes = new Uint8Array(await readFile(file));
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a folder" : String(code);
    throw new Error(`cannot read ${file}: ${why}`);
  }
  let wav: ReturnType<typeof decodeWav>;
  try {
    wav = decodeWav(bytes);
  } catch (error) {
    throw new Error(
      `${file} is not a WAV file this tool can play (${(error as Error).message}); ` +
        "16-bit PCM is needed, e.g. sox in.wav -b 16 -e signed out.wav",
    );
  }
  const mono = downmix(wav.samples, wav.channels);
  if (mono.length === 0) throw new Error(`${file} holds no audio`);
  const samples8k = resample(mono, wav.sampleRate, TWILIO_RATE);
  const seconds = mono.length / wav.sampleRate;
  return {
    label: `${file} (${wav.sampleRate} Hz, ${wav.channels} ch, ${seconds.toFixed(2)} s)`,
    samples8k,
  };
}

// ---- the script -----------------------------------------------------------------------------

interface Script {
  turns: TurnScript;
  /** Where it came from, for the output. */
  source: string;
  /** Given on the command line: a server that cannot take it is an error, not a note. */
  explicit: boolean;
}

/** file.wav -> file.txt (a name without an extension gets .txt added). */
const sidecarOf = (file: string): string => file.replace(/(\.[^./\\]*)?$/, ".txt");

async function loadScript(opts: Options): Promise<Script | null> {
  if (opts.say.length > 0) {
    return { turns: { caller: opts.say }, source: "--say", explicit: true };
  }
  const read = async (file: string, explicit: boolean): Promise<Script | null> => {
    let text: string;
    try {
      text = await readFile(file, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (!explicit && code === "ENOENT") return null;
      throw new Error(
        `cannot read the script ${file}: ${code === "ENOENT" ? "no such file" : code}`,
      );
    }
    try {
      return { turns: parseTurnScript(text), source: file, explicit };
    } catch (error) {
      if (error instanceof ScriptError) throw new Error(`${file}: ${error.message}`);
      throw error;
    }
  };
  if (opts.scriptFile !== undefined) return read(opts.scriptFile, true);
  if (opts.file === undefined) {
    return { turns: BUILT_IN_SCRIPT, source: "the built-in script", explicit: false };
  }
  return read(sidecarOf(opts.file), false);
}

/**
 * Hands the script to the demo's fake assistant for the call on `streamSid`: a GET first, so
 * that nothing is posted to whatever else may listen there. True once it is registered.
 */
async function registerScript(opts: Options, script: Script, streamSid: string): Promise<boolean> {
  const url = opts.scriptUrl;
  const refuse = (why: string): false => {
    if (script.explicit) {
      throw new Error(
        `nothing at ${url} takes scripts (${why}): --say and --script are for \`npm run demo\`, ` +
          "whose assistant is a fake that cannot understand audio; otherwise pass --script-url",
      );
    }
    if (opts.file !== undefined) {
      say(`note: ${script.source} not used: nothing at ${url} takes scripts (${why})`);
    }
    return false;
  };
  const call = async (init: RequestInit): Promise<Response | string> => {
    try {
      return await fetch(url, { ...init, signal: AbortSignal.timeout(5_000) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause;
      return cause?.code ?? (error as Error).message;
    }
  };
  const probe = await call({ method: "GET" });
  if (typeof probe === "string") return refuse(probe);
  const about = (await probe.json().catch(() => null)) as { service?: unknown } | null;
  if (!probe.ok || about?.service !== "fake-openai-realtime") {
    return refuse(`HTTP ${probe.status}, not the demo's fake assistant`);
  }
  const posted = await call({
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ ...script.turns, key: streamSid }),
  });
  if (typeof posted === "string") return refuse(posted);
  if (posted.status !== 201) {
    throw new Error(`the demo refused the script (${posted.status}): ${await posted.text()}`);
  }
  const lines = script.turns.caller.length;
  say(`script: ${lines} caller line${lines === 1 ? "" : "s"} from ${script.source}`);
  return true;
}

// ---- HTTP -----------------------------------------------------------------------------------

const sid = (prefix: string) => prefix + randomBytes(16).toString("hex");

async function request(url: string, init: RequestInit, what: string): Promise<Response> {
  try {
    return await fetch(url, { ...init, signal: AbortSignal.timeout(15_000) });
  } catch (error) {
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    const why = cause?.code ?? cause?.message ?? (error as Error).message;
    throw new Error(
      `cannot reach the server for ${what} at ${url} (${why}): is it running (npm start)? ` +
        "Otherwise pass --url",
    );
  }
}

const unescapeXml = (value: string): string =>
  value
    .replaceAll("&lt;", "<")
    .replaceAll("&gt;", ">")
    .replaceAll("&quot;", '"')
    .replaceAll("&apos;", "'")
    .replaceAll("&amp;", "&");

interface Twiml {
  streamUrl: string;
  parameters: Record<string, string>;
}

function parseTwiml(xml: string): Twiml {
  const url = /<Stream\b[^>]*\burl="([^"]*)"/.exec(xml)?.[1];
  if (url === undefined) throw new Error(`the TwiML has no <Stream url>: ${xml.slice(0, 200)}`);
  const parameters: Record<string, string> = {};
  for (const m of xml.matchAll(/<Parameter\b[^>]*?\bname="([^"]*)"[^>]*?\bvalue="([^"]*)"/g)) {
    parameters[unescapeXml(m[1]!)] = unescapeXml(m[2]!);
  }
  return { streamUrl: unescapeXml(url), parameters };
}

/** What Twilio does when the call comes in: POST the voice webhook, signed when it can be. */
async function fetchTwiml(opts: Options, httpBase: string, callSid: string): Promise<Twiml> {
  const params: Record<string, string> = {
    AccountSid: sid("AC"),
    ApiVersion: "2010-04-01",
    CallSid: callSid,
    CallStatus: "ringing",
    Called: "+18005550100",
    Caller: opts.caller,
    Direction: "inbound",
    From: opts.caller,
    To: "+18005550100",
  };
  const url = `${httpBase}/twilio/voice`;
  const headers: Record<string, string> = {
    "Content-Type": "application/x-www-form-urlencoded",
  };
  if (opts.authToken) {
    const signed = `${opts.publicUrl ?? httpBase}/twilio/voice`;
    headers["X-Twilio-Signature"] = computeTwilioSignature(opts.authToken, signed, params);
  }
  const res = await request(
    url,
    { method: "POST", headers, body: new URLSearchParams(params).toString() },
    "the voice webhook",
  );
  const body = await res.text();
  if (res.status === 403) {
    throw new Error(
      "the server refused the webhook's signature (403): give the server's TWILIO_AUTH_TOKEN " +
        "with --auth-token, and its PUBLIC_BASE_URL with --public-url if it has one",
    );
  }
  if (res.status !== 200) {
    throw new Error(`POST ${url} answered ${res.status}: ${body.slice(0, 200)}`);
  }
  return parseTwiml(body);
}

interface ApiTranscript {
  speaker: "caller" | "assistant";
  text: string;
  interrupted: boolean;
  failed: boolean;
}

interface ApiCall {
  id: string;
  status: string;
  durationSeconds: number | null;
  recordings?: { track: string; durationSeconds: number; sampleRate: number; channels: number }[];
}

async function api<T>(opts: Options, url: string): Promise<T> {
  const headers: Record<string, string> = opts.apiKey
    ? { Authorization: `Bearer ${opts.apiKey}` }
    : {};
  const res = await request(url, { headers }, "the API");
  if (res.status === 401) {
    throw new Error("the API needs a key (401): pass --api-key or set API_KEY");
  }
  if (!res.ok)
    throw new Error(`GET ${url} answered ${res.status}: ${(await res.text()).slice(0, 200)}`);
  return (await res.json()) as T;
}

/** The call once the server has finished ending it. */
async function endedCall(opts: Options, httpBase: string, streamSid: string): Promise<ApiCall> {
  const deadline = performance.now() + 15_000;
  for (;;) {
    const page = await api<{ data: ApiCall[] }>(
      opts,
      `${httpBase}/api/calls?streamSid=${encodeURIComponent(streamSid)}`,
    );
    const call = page.data[0];
    if (call && call.status !== "active") {
      return api<ApiCall>(opts, `${httpBase}/api/calls/${encodeURIComponent(call.id)}`);
    }
    if (performance.now() > deadline) {
      throw new Error(
        call
          ? `call ${call.id} is still active 15 s after hang-up`
          : `the server has no call for stream ${streamSid}`,
      );
    }
    await sleep(100);
  }
}

// ---- the call -------------------------------------------------------------------------------

const FAST_PAUSE_MS = 100;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const secs = (samples: number) => (samples / TWILIO_RATE).toFixed(1);
const say = (line: string) => process.stdout.write(`${line}\n`);

async function run(opts: Options): Promise<void> {
  const audio = await loadAudio(opts.file);
  const script = await loadScript(opts);
  const total = audio.samples8k.length;
  say(`playing ${audio.label}: ${secs(total)} s at 8 kHz mu-law`);

  const httpBase = `${opts.streamUrl.protocol === "wss:" ? "https:" : "http:"}//${opts.streamUrl.host}`;
  const callSid = sid("CA");
  const streamSid = sid("MZ");
  const twiml = await fetchTwiml(opts, httpBase, callSid);
  say(`webhook: POST ${httpBase}/twilio/voice -> stream ${twiml.streamUrl}`);
  const scripted = script !== null && (await registerScript(opts, script, streamSid));

  const headers: Record<string, string> = {};
  if (opts.authToken) {
    headers["X-Twilio-Signature"] = computeTwilioSignature(opts.authToken, twiml.streamUrl);
  }
  let sim: TwilioSimulator;
  try {
    sim = await TwilioSimulator.connect({
      url: twiml.streamUrl,
      headers,
      callSid,
      streamSid,
      caller: opts.caller,
      customParameters: twiml.parameters,
      realtime: opts.realtime,
      recordMessages: false,
    });
  } catch (error) {
    if (error instanceof UpgradeRejectedError) {
      throw new Error(`the server refused the media stream (HTTP ${error.status})`);
    }
    const why = (error as { code?: string }).code ?? (error as Error).message;
    throw new Error(`cannot open the media stream ${twiml.streamUrl} (${why})`);
  }
  say(`call: callSid ${sim.callSid}, streamSid ${sim.streamSid}, caller ${opts.caller}`);

  const progress = () =>
    say(
      `  sent ${secs(Math.min(sim.framesSent * FRAME_BYTES, total))}/${secs(total)} s, ` +
        `${sim.framesSent} frames; assistant audio ${secs(sim.mediaBytesReceived)} s`,
    );
  const ticker = setInterval(progress, 1000);
  try {
    await play(sim, audio.samples8k, opts.realtime);
    progress();
    if (!sim.isOpen) throw new Error(`the server closed the stream: ${describeClose(sim)}`);
    say("audio sent; waiting for the assistant to finish");
    await settle(sim, opts);
  } finally {
    clearInterval(ticker);
  }
  const close = await sim.hangUp();
  say(`hung up (close ${close.code}); assistant audio received ${secs(sim.mediaBytesReceived)} s`);

  const call = await endedCall(opts, httpBase, sim.streamSid);
  say(`call id: ${call.id} (${call.status}, ${call.durationSeconds ?? "?"} s)`);
  for (const r of call.recordings ?? []) {
    say(
      `recording: ${r.track}, ${r.durationSeconds.toFixed(2)} s, ${r.sampleRate} Hz, ${r.channels} ch`,
    );
  }
  say(`API: ${httpBase}/api/calls/${call.id}`);
  await printTranscript(opts, httpBase, call.id, scripted ? script : null);
}

/** The call's stored transcript, and how it went with the script it had, if any. */
async function printTranscript(
  opts: Options,
  httpBase: string,
  callId: string,
  script: Script | null,
): Promise<void> {
  const { data } = await api<{ data: ApiTranscript[] }>(
    opts,
    `${httpBase}/api/calls/${encodeURIComponent(callId)}/transcripts`,
  );
  if (data.length === 0) {
    say("transcript: none");
    return;
  }
  say("transcript:");
  for (const t of data) {
    const text = t.failed ? "(not transcribed)" : t.text;
    say(`  ${t.speaker}: ${text}${t.interrupted ? " (interrupted)" : ""}`);
  }
  const turns = data.filter((t) => t.speaker === "caller").length;
  const failed = data.some((t) => t.speaker === "caller" && t.failed);
  if (script) {
    const lines = script.turns.caller.length;
    if (turns !== lines) {
      say(
        `note: the script has ${lines} caller line${lines === 1 ? "" : "s"} and the call had ` +
          `${turns} caller turn${turns === 1 ? "" : "s"}: lines go to turns in order, and a turn ` +
          "past the last line is not transcribed",
      );
    }
  } else if (failed) {
    say(
      "note: if this is `npm run demo`, its assistant cannot understand audio: " +
        "give each caller turn's words with --say, --script or a .txt file next to the WAV",
    );
  }
}

/**
 * Real time: 20 ms per 20 ms. Fast: one second of audio at a time, 100 ms apart, because the
 * server's recorder buffers at most 3 s ahead of its disk and drops audio that comes faster.
 */
async function play(sim: TwilioSimulator, samples8k: Int16Array, realtime: boolean) {
  if (realtime) return sim.play(samples8k);
  for (let from = 0; from < samples8k.length && sim.isOpen; from += TWILIO_RATE) {
    if (from > 0) await sleep(FAST_PAUSE_MS);
    await sim.play(samples8k.subarray(from, from + TWILIO_RATE), { realtime: false });
  }
}

/** Silence after the audio, longer than a server VAD's 500 ms: the caller's last turn ends. */
const TAIL_MS = 1000;

/**
 * Keeps the line open, as a phone does while its caller waits for an answer: first TAIL_MS of
 * silence (ahead of real time with --fast), then silence in real time, until the assistant has
 * been quiet for --settle-ms. The server measures a call's duration by its wall clock, so the
 * line hangs up no sooner than its own clock (the audio sent) says: a --fast call, whose audio
 * ran ahead, waits for the wall clock to catch up, and lasts as long as its recording.
 */
async function settle(sim: TwilioSimulator, opts: Options): Promise<void> {
  if (opts.settleMs === 0) return;
  if (!opts.realtime) await sleep(FAST_PAUSE_MS);
  await sim.play(silence(TAIL_MS, TWILIO_RATE), { realtime: opts.realtime });
  let idle = false;
  void sim.waitForPlaybackIdle(opts.settleMs, opts.maxWaitMs).then(
    () => {
      idle = true;
    },
    () => {
      say(`gave up waiting for the assistant after ${opts.maxWaitMs / 1000} s`);
      idle = true;
    },
  );
  const quiet = silence(100, TWILIO_RATE);
  while (sim.isOpen && !(idle && sim.sentMs <= sim.now())) {
    const ahead = sim.sentMs - sim.now();
    if (ahead > 0) await sleep(Math.min(ahead, 100));
    else await sim.play(quiet, { realtime: true });
  }
}

function describeClose(sim: TwilioSimulator): string {
  const info = sim.closeInfo;
  return info ? `code ${info.code}${info.reason ? ` "${info.reason}"` : ""}` : "unknown";
}

async function main(): Promise<number> {
  let opts: Options | null;
  try {
    opts = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    process.stderr.write(`simulate: ${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (opts === null) {
    say(USAGE);
    return 0;
  }
  try {
    await run(opts);
    return 0;
  } catch (error) {
    process.stderr.write(`simulate: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
}

main().then((code) => process.exit(code));
