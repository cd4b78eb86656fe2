/**
 * API under load (issue 14, "nothing stalls a live call"): the same live real-time calls as
 * bench/load.ts, alone on an empty database (condition A), and on a production-sized database
 * while one API client issues requests back to back (condition B), alternating A and B in one
 * session. What the API does must not reach the calls' audio: the report gives each condition's
 * frame latencies, losses and server CPU, the differences B − A against the issue's targets, and
 * the API client's own latency per route.
 *
 *   npx tsx bench/api-under-load.ts [--quick] [--calls 100] [--seconds 30] [--runs 2]
 *       [--warmup 5] [--db-calls 1000000] [--db-transcripts 5000000] [--data-dir DIR]
 *       [--out FILE] [--server-root DIR]
 *
 * The database (bench/load/big-dataset.ts) is generated on first use into DIR (default: the OS
 * temp folder's callbridge-api-load) and reused by every later run with the same parameters and
 * migrations. DIR also holds each run's database and recordings: a tmpfs such as /dev/shm keeps
 * disk traffic out of the figures, as for bench/load.ts.
 */
import { spawn } from "node:child_process";
import {
  closeSync,
  constants,
  copyFileSync,
  fsyncSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { scrapeMetrics } from "./lib/server-metrics.ts";
import type {
  ApiClientMessage,
  ApiClientRequest,
  ApiClientResult,
  ApiPlan,
  RouteSamples,
  SortSupport,
} from "./load/api-protocol.ts";
import {
  type Dataset,
  type DatasetParams,
  DEFAULT_DATASET,
  ensureDataset,
  linkRecordings,
} from "./load/big-dataset.ts";
import { VOCABULARY } from "./load/corpus.ts";
import { cpuMs, hasTaskset, mainThreadCpuMs } from "./load/proc.ts";
import { type GeneratorProcess, REPO_ROOT, startGenerator, startServer } from "./load/processes.ts";
import type { GeneratorMessage, GeneratorResult, RunRequest } from "./load/protocol.ts";
import { type StallSummary, summarizeStalls } from "./load/stalls.ts";
import { type LatencySummary, median, quantile } from "./load/stats.ts";
import { waitForNoActiveCalls } from "./load/stored-calls.ts";

export interface ApiUnderLoadOptions {
  /** A 2,000-call database, 10 calls, a few seconds, one run each: under a minute, for CI. */
  quick?: boolean;
  /** Live calls in both conditions (default 100). */
  calls?: number;
  /** Measured window of each run (default 30 s). */
  seconds?: number;
  warmupSeconds?: number;
  /** Runs of each condition, alternating A B A B … (default 2). */
  runs?: number;
  /** Calls in the generated database (default 1,000,000). */
  dbCalls?: number;
  /** Transcripts in it (default five per call: every other call has ten turns). */
  dbTranscripts?: number;
  /** Cache of generated databases, and each run's files (default: tmpdir()/callbridge-api-load). */
  dataDir?: string;
  /** Serve from another checkout of the project (before/after runs of one harness). */
  serverRoot?: string;
  /** How the run was started, for the report. */
  command?: string;
  log?: (line: string) => void;
}

type Condition = "A" | "B";

/** Same cores as bench/load.ts: the server alone on CPU 1, its load on CPU 0. */
const SERVER_CPU = "1";
const LOAD_CPU = "0";
/**
 * The API client shares the generator's core; niced, so that when both want it the generator's
 * frames go first and the calls' latencies measure the server, not the client next to them.
 */
const CLIENT_NICE = "10";
const DATASET_TURNS = 10;
const MAX_RECORDING_CALLS = 1_000;
/** Issue 14's targets for B − A. */
const TARGET_P99_MS = 1;
const TARGET_P999_MS = 5;

interface RunOutcome {
  index: number;
  condition: Condition;
  calls: number;
  pinned: boolean;
  loadBefore: number;
  loadAfter: number;
  windowS: number;
  /** Seconds spent copying the database before the run (B; outside the measurement). */
  copySeconds: number | null;
  serverCpuMsPerCallS: number;
  /** The main thread's share of it: the event loop that carries the audio. */
  mainThreadCpuMsPerCallS: number;
  serverCoreShare: number;
  generatorCoreShare: number;
  clientCoreShare: number | null;
  sendLagP99Ms: number | null;
  inbound: LatencySummary;
  outbound: LatencySummary;
  framesSent: number;
  inboundLost: number;
  outboundExpected: number;
  outboundLost: number;
  clears: number;
  callsWithBargeIn: number;
  failed: number;
  failures: string[];
  serverStalls: StallSummary;
  /** The server's own error counters at the end of the run (callbridge_errors_total by kind). */
  serverErrors: Record<string, number>;
  api: ApiClientResult | null;
  serverLogLines: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface ApiClientProcess {
  readonly pid: number;
  send(message: ApiClientRequest): void;
  /** The client's report, once it has been sent `stop`. */
  result(timeoutMs: number): Promise<ApiClientResult>;
  kill(): void;
}

/** Forks bench/load/api-client.ts, pinned and niced when `cpu` is set. */
async function startApiClient(cpu: string | null): Promise<ApiClientProcess> {
  const script = join(REPO_ROOT, "bench/load/api-client.ts");
  const node = [process.execPath, "--import", "tsx"];
  const command = cpu === null ? node : ["nice", "-n", CLIENT_NICE, "taskset", "-c", cpu, ...node];
  const child = spawn(command[0]!, [...command.slice(1), script], {
    cwd: REPO_ROOT,
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const messages: ApiClientMessage[] = [];
  const waiters: (() => void)[] = [];
  child.on("message", (message: ApiClientMessage) => {
    messages.push(message);
    for (const wake of waiters.splice(0)) wake();
  });
  const exited = new Promise<void>((resolveExit) => child.once("exit", () => resolveExit()));
  void exited.then(() => {
    for (const wake of waiters.splice(0)) wake();
  });
  /** The first message of one of `types` (or an error), within `timeoutMs`. */
  const waitFor = async <T extends ApiClientMessage["type"]>(
    types: T[],
    timeoutMs: number,
  ): Promise<Extract<ApiClientMessage, { type: T }>> => {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const found = messages.find(
        (m) => (types as string[]).includes(m.type) || m.type === "error",
      );
      if (found?.type === "error") throw new Error(`API client: ${found.message}`);
      if (found) return found as Extract<ApiClientMessage, { type: T }>;
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error("the API client exited");
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`the API client sent no ${types.join("/")}`);
      await new Promise<void>((wake) => {
        const timer = setTimeout(wake, left);
        waiters.push(() => {
          clearTimeout(timer);
          wake();
        });
      });
    }
  };
  try {
    await waitFor(["ready"], 30_000);
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
  return {
    pid: child.pid!,
    // Not after the client died: a throw here would land in the generator's message handler.
    send: (message) => {
      if (child.connected) child.send(message);
    },
    result: async (timeoutMs) => (await waitFor(["result"], timeoutMs)).result,
    kill: () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
    },
  };
}

function nextMessage(
  generator: GeneratorProcess,
  request: RunRequest,
  handlers: Partial<Record<GeneratorMessage["type"], () => void>>,
  timeoutMs: number,
): Promise<GeneratorResult> {
  return new Promise((resolveResult, reject) => {
    const timer = setTimeout(() => reject(new Error("the generator did not finish")), timeoutMs);
    generator.run(request, (message) => {
      handlers[message.type]?.();
      if (message.type === "result") {
        clearTimeout(timer);
        resolveResult(message.result);
      } else if (message.type === "error") {
        clearTimeout(timer);
        reject(new Error(`generator: ${message.message}`));
      }
    });
  });
}

/** A copy the run may change, synced so that its writeback does not land in the window. */
function copyDatabase(from: string, to: string): void {
  // A reflink where the filesystem has them, else a plain copy.
  copyFileSync(from, to, constants.COPYFILE_FICLONE);
  const fd = openSync(to, "r+");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The status of every call stored since `sinceMs`, by streamSid (the run's calls only). */
async function callsSince(baseUrl: string, sinceMs: number): Promise<Map<string, string>> {
  const stored = new Map<string, string>();
  let cursor: string | null = null;
  do {
    const query: string = cursor === null ? "" : `&cursor=${encodeURIComponent(cursor)}`;
    const response = await fetch(
      `${baseUrl}/api/calls?limit=200&since=${new Date(sinceMs).toISOString()}${query}`,
    );
    if (!response.ok) throw new Error(`GET /api/calls answered ${response.status}`);
    const page = (await response.json()) as {
      data: { streamSid: string; status: string }[];
      nextCursor: string | null;
    };
    for (const call of page.data) stored.set(call.streamSid, call.status);
    cursor = page.nextCursor;
  } while (cursor !== null);
  return stored;
}

interface RunSettings {
  calls: number;
  warmupS: number;
  steadyS: number;
  pin: boolean;
  dataDir: string;
  serverRoot?: string;
  plan: ApiPlan;
}

async function runOnce(
  index: number,
  condition: Condition,
  dataset: Dataset,
  settings: RunSettings,
  log: (line: string) => void,
): Promise<RunOutcome> {
  const runDir = mkdtempSync(join(settings.dataDir, `run-${condition}-`));
  let generator: GeneratorProcess | null = null;
  let server: Awaited<ReturnType<typeof startServer>> | null = null;
  let client: ApiClientProcess | null = null;
  try {
    let copySeconds: number | null = null;
    if (condition === "B") {
      // A copy, so every B run starts from the same file and the cache is never changed (a
      // run adds calls, transcripts and full-text segments, and WAL checkpoints rewrite pages).
      const copyStarted = performance.now();
      copyDatabase(dataset.dbPath, join(runDir, "calls.db"));
      linkRecordings(dataset, join(runDir, "recordings"));
      copySeconds = (performance.now() - copyStarted) / 1000;
      log(`  database copied in ${copySeconds.toFixed(1)} s`);
    }
    const loadBefore = loadavg()[0]!;
    const runStartedAt = Date.now();
    generator = await startGenerator(settings.pin ? LOAD_CPU : null);
    server = await startServer({
      fakeUrl: generator.fakeUrl,
      dataDir: runDir,
      cpu: settings.pin ? SERVER_CPU : null,
      root: settings.serverRoot,
    });
    const baseUrl = server.baseUrl;
    if (condition === "B") client = await startApiClient(settings.pin ? LOAD_CPU : null);
    await sleep(1000);

    const request: RunRequest = {
      type: "run",
      serverUrl: server.mediaStreamUrl,
      calls: settings.calls,
      warmupS: settings.warmupS,
      steadyS: settings.steadyS,
      // bench/load.ts's call plan: a turn every 6 s, 2 s of tone, a 1.5 s answer.
      tickMs: 1,
      turnPeriodMs: 6000,
      toneMs: 2000,
      answerMs: 1500,
      deltaMs: 100,
      idPrefix: `a${Date.now().toString(36)}`,
    };
    const serverPid = server.pid;
    const generatorPid = generator.pid;
    const clientPid = client?.pid ?? null;
    const snapshot = () => ({
      at: performance.now(),
      epoch: Date.now(),
      server: cpuMs(serverPid),
      mainThread: mainThreadCpuMs(serverPid),
      generator: cpuMs(generatorPid),
      client: clientPid === null ? 0 : cpuMs(clientPid),
    });
    let windowStart = snapshot();
    let windowEnd = windowStart;
    const activeClient = client;
    const result = await nextMessage(
      generator,
      request,
      {
        // The client starts with the warm-up, so the window sees it in its steady state.
        ramped: () => activeClient?.send({ type: "start", baseUrl, plan: settings.plan }),
        "window-start": () => {
          windowStart = snapshot();
          activeClient?.send({ type: "window-start" });
        },
        "window-end": () => {
          windowEnd = snapshot();
          activeClient?.send({ type: "stop" });
        },
      },
      (settings.warmupS + settings.steadyS) * 1000 + settings.calls * 1000 + 120_000,
    );
    // A request in flight at the end of the window (a slow search) finishes first.
    const api = client ? await client.result(120_000) : null;
    const drained = await waitForNoActiveCalls(baseUrl, 60_000);
    const stored = drained ? await callsSince(baseUrl, runStartedAt - 1000) : new Map();
    // What the server itself counted going wrong: audio its recordings dropped because writes
    // fell behind (the event loop did not turn to make them), frames it could not send, etc.
    const serverErrors: Record<string, number> = {};
    for (const sample of await scrapeMetrics(baseUrl)) {
      if (sample.value <= 0) continue;
      if (sample.name === "callbridge_errors_total") {
        const kind = sample.labels.kind ?? "unknown";
        serverErrors[kind] = (serverErrors[kind] ?? 0) + sample.value;
      } else if (sample.name === "callbridge_frames_out_dropped_total") {
        serverErrors.frames_out_dropped = sample.value;
      }
    }

    const windowS = (windowEnd.at - windowStart.at) / 1000;
    const callSeconds = settings.calls * windowS;
    let framesSent = 0;
    let inboundLost = 0;
    let outboundExpected = 0;
    let outboundLost = 0;
    let clears = 0;
    let callsWithBargeIn = 0;
    let failed = 0;
    const failures: string[] = [];
    const fail = (streamSid: string, why: string) => {
      failed++;
      if (failures.length < 5) failures.push(`${streamSid}: ${why}`);
    };
    // Counted as bench/load.ts counts them: every frame of every call, the first 100 ms
    // included; a call whose answer a barge-in cut short is left out of the outbound count.
    for (const call of result.calls) {
      framesSent += call.framesSent;
      inboundLost += Math.max(0, call.framesSent - call.appendsReceived);
      if (call.clears === 0) {
        outboundExpected += call.outboundExpected;
        outboundLost += Math.max(0, call.outboundExpected - call.outboundReceived);
      } else {
        callsWithBargeIn++;
      }
      clears += call.clears;
      if (call.failure !== null) {
        fail(call.streamSid, call.failure);
        continue;
      }
      const status = stored.get(call.streamSid);
      if (status === undefined) fail(call.streamSid, drained ? "not stored" : "still active");
      else if (status !== "completed") fail(call.streamSid, `stored as ${status}`);
    }
    return {
      index,
      condition,
      calls: settings.calls,
      pinned: settings.pin,
      loadBefore,
      loadAfter: loadavg()[0]!,
      windowS,
      copySeconds,
      serverCpuMsPerCallS: (windowEnd.server - windowStart.server) / callSeconds,
      mainThreadCpuMsPerCallS: (windowEnd.mainThread - windowStart.mainThread) / callSeconds,
      serverCoreShare: (windowEnd.server - windowStart.server) / (windowS * 1000),
      generatorCoreShare: (windowEnd.generator - windowStart.generator) / (windowS * 1000),
      clientCoreShare:
        clientPid === null ? null : (windowEnd.client - windowStart.client) / (windowS * 1000),
      sendLagP99Ms: result.sendLagP99Ms,
      inbound: result.inbound,
      outbound: result.outbound,
      framesSent,
      inboundLost,
      outboundExpected,
      outboundLost,
      clears,
      callsWithBargeIn,
      failed,
      failures,
      serverStalls: summarizeStalls(
        server.stalls.filter((s) => s.at >= windowStart.epoch && s.at <= windowEnd.epoch),
      ),
      serverErrors,
      api,
      serverLogLines: server.logLines.slice(),
    };
  } finally {
    client?.kill();
    await server?.stop();
    generator?.kill();
    rmSync(runDir, { recursive: true, force: true });
  }
}

interface ConditionSummary {
  condition: Condition;
  runs: number;
  inbound: LatencySummary;
  outbound: LatencySummary;
  inboundLost: number;
  outboundLost: number;
  outboundExpected: number;
  failed: number;
  serverCpuMsPerCallS: number;
  mainThreadCpuMsPerCallS: number;
}

/** Medians over the condition's runs; losses and failures are totals. */
function summarize(condition: Condition, runs: RunOutcome[]): ConditionSummary {
  const mine = runs.filter((r) => r.condition === condition);
  const med = (pick: (r: RunOutcome) => number | null) =>
    median(mine.map(pick).filter((v): v is number => v !== null)) ?? Number.NaN;
  const latency = (pick: (r: RunOutcome) => LatencySummary): LatencySummary => ({
    count: med((r) => pick(r).count),
    p50: med((r) => pick(r).p50),
    p99: med((r) => pick(r).p99),
    p999: med((r) => pick(r).p999),
    max: Math.max(...mine.map((r) => pick(r).max ?? 0)),
  });
  return {
    condition,
    runs: mine.length,
    inbound: latency((r) => r.inbound),
    outbound: latency((r) => r.outbound),
    inboundLost: mine.reduce((sum, r) => sum + r.inboundLost, 0),
    outboundLost: mine.reduce((sum, r) => sum + r.outboundLost, 0),
    outboundExpected: mine.reduce((sum, r) => sum + r.outboundExpected, 0),
    failed: mine.reduce((sum, r) => sum + r.failed, 0),
    serverCpuMsPerCallS: med((r) => r.serverCpuMsPerCallS),
    mainThreadCpuMsPerCallS: med((r) => r.mainThreadCpuMsPerCallS),
  };
}

interface RouteSummary {
  route: string;
  requests: number;
  statuses: Record<string, number>;
  p50: number | null;
  p99: number | null;
  max: number | null;
  failures: string[];
}

/** Every B run's samples of each route, pooled. */
function routeSummaries(runs: RunOutcome[]): RouteSummary[] {
  const pooled = new Map<string, RouteSamples>();
  for (const run of runs) {
    for (const route of run.api?.routes ?? []) {
      const into = pooled.get(route.route) ?? {
        route: route.route,
        samplesMs: [],
        statuses: {},
        failures: [],
      };
      into.samplesMs.push(...route.samplesMs);
      for (const [status, n] of Object.entries(route.statuses)) {
        into.statuses[status] = (into.statuses[status] ?? 0) + n;
      }
      into.failures.push(...route.failures);
      pooled.set(route.route, into);
    }
  }
  return [...pooled.values()].map((route) => {
    const sorted = Float64Array.from(route.samplesMs).sort();
    return {
      route: route.route,
      requests: sorted.length,
      statuses: route.statuses,
      p50: quantile(sorted, 0.5),
      p99: quantile(sorted, 0.99),
      max: sorted.length === 0 ? null : sorted[sorted.length - 1]!,
      failures: route.failures,
    };
  });
}

const f = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);
const pct = (v: number | null) =>
  v === null || !Number.isFinite(v) ? "–" : `${(v * 100).toFixed(1)}%`;
const signed = (v: number, digits = 2) =>
  Number.isFinite(v) ? `${v >= 0 ? "+" : "−"}${Math.abs(v).toFixed(digits)}` : "–";
const lat = (s: LatencySummary) => `${f(s.p50)} / ${f(s.p99)} / ${f(s.p999)}`;
const count = (n: number) => n.toLocaleString("en-US");
const mib = (bytes: number) =>
  bytes >= 2 ** 30 ? `${(bytes / 2 ** 30).toFixed(2)} GiB` : `${(bytes / 2 ** 20).toFixed(1)} MiB`;

const SORT_NOTE: Record<SortSupport, string> = {
  supported:
    "`sort=relevance` and `sort=recent` are supported by this server (a bogus value is refused with 400); each search route ran with each.",
  refused:
    "**This server answered 400 to `sort=relevance`**: the searches ran without a `sort` parameter (the server's default order).",
  ignored:
    "**This server does not know `sort`** (it answered 200 to a bogus value: unknown parameters are ignored): the searches ran without a `sort` parameter, the server's default order (ranked by relevance), one row per word.",
};

function report(
  runs: RunOutcome[],
  dataset: Dataset,
  options: {
    quick: boolean;
    command: string;
    calls: number;
    steadyS: number;
    warmupS: number;
    runsPerCondition: number;
    dataDir: string;
    serverRoot?: string;
  },
): string {
  const m = dataset.manifest;
  const pinned = runs.every((r) => r.pinned);
  const a = summarize("A", runs);
  const b = summarize("B", runs);
  const sorts = [...new Set(runs.flatMap((r) => (r.api ? [r.api.sort] : [])))];
  const lines = [
    `### API under load: ${options.calls} live calls alone (A) and beside API traffic on ${count(m.counts.calls)} calls (B)${options.quick ? " (quick)" : ""}`,
    "",
    `Machine: ${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} logical CPUs), Node ${process.version}, ${new Date().toISOString()}.`,
    `Command: \`${options.command}\`${options.serverRoot ? ` (server from \`${options.serverRoot}\`)` : ""}. ${
      pinned
        ? "Server pinned to CPU 1 as in bench/load.ts (`taskset -c 1 node --single-threaded-gc --max-semi-space-size=8 --import tsx src/main.ts`); the generator and fake OpenAI on CPU 0, and in B the API client on CPU 0 too, under `nice -n 10` so that the generator's frames go first."
        : "**Not pinned** (taskset unavailable): figures are indicative only."
    } Loopback only; database and recordings under \`${options.dataDir}\`.`,
    `**A**: ${options.calls} real-time calls (bench/load.ts's generator: 20 ms frames at each call's own phase, a caller turn every 6 s, the fake answers each with 1.5 s of audio) on an empty database, no API traffic. **B**: the same calls on a copy of the dataset below (each B run starts from the same file; the cached one is never opened by a server), and an API client issuing requests back to back, one at a time, from the start of the warm-up to the end of the window: searches for a common and a rare word, list pages with filters and cursors, call details, transcripts, waveform peaks and ranged recording downloads. A and B alternate (${Array.from({ length: options.runsPerCondition }, () => "A B").join(" ")}), ${options.warmupS} s of warm-up and a ${options.steadyS} s window each.`,
    `Dataset: ${count(m.counts.calls)} calls (${count(m.counts.failedCalls)} failed, the rest completed, over one year), ${count(m.counts.transcripts)} transcripts (${count(m.counts.conversations)} calls have a conversation of ${m.params.turnsPerCall} turns, spread evenly, the others none; 6–18 everyday words each drawn by Zipf's law from a ${count(VOCABULARY.length)}-word list; "${m.commonWord}" is in ${count(m.commonHits)} of them, "${m.rareWord}" in ${count(m.rareHits)}), ${count(m.counts.recordings)} recordings (caller and conversation tracks of ${count(m.counts.recordings / 2)} calls, real 16 kHz WAV files of 15–120 s, ${mib(m.recordingBytes)} of distinct audio hard-linked under every name); no analytics or metadata rows. Database file ${mib(m.dbBytes)}. ${
      dataset.reused
        ? `Reused from the cache (\`${dataset.dir}\`), generated ${m.generatedAt} in ${f(m.generationSeconds, 1)} s`
        : `Generated by this run into \`${dataset.dir}\` in ${f(m.generationSeconds, 1)} s`
    } (inserts ${f(m.phaseSeconds.insert, 1)} s, full-text index ${f(m.phaseSeconds.fullTextIndex, 1)} s); copying it for a B run took ${f(median(runs.flatMap((r) => (r.copySeconds === null ? [] : [r.copySeconds]))), 1)} s (not measured).`,
    `Frame latency and loss are measured as in bench/load.ts, on the generator's one clock: inbound = a Twilio frame sent → the fake receives the append made from it; outbound = the fake sends a delta → the generator receives the first Twilio frame made from it; for frames and deltas sent in the window. Frames lost count every frame of every call; calls with a barge-in (a \`clear\`, sent when playback runs late, as it does after a long stall) are left out of the outbound count, so the outbound frames counted are shown beside it. Server CPU: utime + stime of the whole process (every thread) over the window, per call-second, and in brackets its main thread's alone (the event loop that carries the audio; the rest is the database and peaks worker threads, libuv's pool and V8's helpers); in B it includes serving the API. Stalls: the server's event loop did not turn for 20 ms or more (longest shown).`,
    ...(sorts.length > 0 ? [`Search sort: ${sorts.map((s) => SORT_NOTE[s]).join(" ")}`] : []),
    "",
    "| run | condition | server CPU ms / call-s (main thread) | server core | inbound p50 / p99 / p99.9 ms | outbound p50 / p99 / p99.9 ms | frames lost: in / out (outbound frames counted) | barge-ins (calls) | server stalls: count / longest ms | API requests (client core) | generator core; send lag p99 ms | load avg |",
    "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...runs.map((r) => {
      const requests = r.api
        ? r.api.routes.reduce((sum, route) => sum + route.samplesMs.length, 0)
        : null;
      return `| ${r.index} | ${r.condition} | ${f(r.serverCpuMsPerCallS)} (${f(r.mainThreadCpuMsPerCallS)}) | ${pct(r.serverCoreShare)} | ${lat(r.inbound)} | ${lat(r.outbound)} | ${r.inboundLost} / ${r.outboundLost} (${count(r.outboundExpected)}) | ${r.clears} (${r.callsWithBargeIn}) | ${r.serverStalls.count} / ${r.serverStalls.maxMs} | ${requests === null ? "–" : `${count(requests)} (${pct(r.clientCoreShare)})`} | ${pct(r.generatorCoreShare)}; ${f(r.sendLagP99Ms)} | ${f(r.loadBefore)} → ${f(r.loadAfter)} |`;
    }),
    "",
    ...runs.flatMap((r) => {
      const kinds = Object.entries(r.serverErrors);
      return kinds.length === 0
        ? []
        : [
            `Run ${r.index} (${r.condition}), the server's own error counters: ${kinds
              .map(([kind, n]) => `${kind} × ${count(n)}`)
              .join(", ")}.`,
          ];
    }),
    ...(runs.some((r) => Object.keys(r.serverErrors).length > 0)
      ? [
          "(`recording_overflow`: a recording began dropping audio because its disk writes fell behind, counted once per episode and recording; here they fall behind when the event loop does not turn to complete them. `frames_out_dropped`: assistant frames not sent because the caller's socket was backed up.)",
          "",
        ]
      : []),
    `Per condition: medians of the runs' figures (${options.runsPerCondition} each); frames lost and calls failed are totals.`,
    "",
    "| condition | inbound p50 / p99 / p99.9 ms | outbound p50 / p99 / p99.9 ms | frames lost: in / out (outbound frames counted) | calls failed | server CPU ms / call-s (main thread) |",
    "|---|---:|---:|---:|---:|---:|",
    ...[a, b].map(
      (s) =>
        `| ${s.condition === "A" ? "A: empty database, no API traffic" : "B: large database, API client"} | ${lat(s.inbound)} | ${lat(s.outbound)} | ${s.inboundLost} / ${s.outboundLost} (${count(s.outboundExpected)}) | ${s.failed} | ${f(s.serverCpuMsPerCallS)} (${f(s.mainThreadCpuMsPerCallS)}) |`,
    ),
    "",
  ];
  const delta = (pick: (s: ConditionSummary) => number | null, target: number, name: string) => {
    const va = pick(a) ?? Number.NaN;
    const vb = pick(b) ?? Number.NaN;
    const d = vb - va;
    return `| ${name} | ${f(va)} | ${f(vb)} | ${signed(d)} | ≤ +${target} ms | ${Number.isFinite(d) ? (d <= target ? "met" : "**missed**") : "–"} |`;
  };
  const lostB = b.inboundLost + b.outboundLost;
  const cpuDelta = b.serverCpuMsPerCallS - a.serverCpuMsPerCallS;
  lines.push(
    "B − A against issue 14's targets:",
    "",
    "| figure | A | B | B − A | target | |",
    "|---|---:|---:|---:|---:|---|",
    delta((s) => s.inbound.p99, TARGET_P99_MS, "inbound p99 ms"),
    delta((s) => s.inbound.p999, TARGET_P999_MS, "inbound p99.9 ms"),
    delta((s) => s.outbound.p99, TARGET_P99_MS, "outbound p99 ms"),
    delta((s) => s.outbound.p999, TARGET_P999_MS, "outbound p99.9 ms"),
    `| frames lost (in + out) | ${a.inboundLost + a.outboundLost} | ${lostB} | ${signed(lostB - a.inboundLost - a.outboundLost, 0)} | 0 in B | ${lostB === 0 ? "met" : "**missed**"} |`,
    `| server CPU ms / call-second | ${f(a.serverCpuMsPerCallS)} | ${f(b.serverCpuMsPerCallS)} | ${signed(cpuDelta)} (${signed((100 * cpuDelta) / a.serverCpuMsPerCallS, 0)}%) | reported | the API's work in B |`,
    `| main thread's CPU ms / call-second | ${f(a.mainThreadCpuMsPerCallS)} | ${f(b.mainThreadCpuMsPerCallS)} | ${signed(b.mainThreadCpuMsPerCallS - a.mainThreadCpuMsPerCallS)} | reported | what serving the API costs the audio thread |`,
    "",
    `The API client in B, every B run's requests started in the window pooled (${options.runsPerCondition} × ${options.steadyS} s); wall time of each request until its body was read:`,
    "",
    "| route | requests | answers | p50 ms | p99 ms | max ms |",
    "|---|---:|---|---:|---:|---:|",
    ...routeSummaries(runs).map(
      (r) =>
        `| ${r.route} | ${count(r.requests)} | ${
          Object.entries(r.statuses)
            .sort(([x], [y]) => x.localeCompare(y))
            .map(([status, n]) => `${status} × ${count(n)}`)
            .join(", ") || "–"
        } | ${f(r.p50, 1)} | ${f(r.p99, 1)} | ${f(r.max, 1)} |`,
    ),
    "",
  );
  const warmup = runs.reduce((sum, r) => sum + (r.api?.warmupRequests ?? 0), 0);
  if (warmup > 0)
    lines.push(`(${count(warmup)} more requests were made during the warm-ups, not counted.)`, "");
  const apiFailures = routeSummaries(runs).flatMap((r) => r.failures);
  if (apiFailures.length > 0) {
    lines.push(
      `Unexpected API answers (first): ${apiFailures
        .slice(0, 3)
        .map((x) => `\`${x.slice(0, 200)}\``)
        .join("; ")}.`,
      "",
    );
  }
  const failures = runs.flatMap((r) => r.failures);
  if (failures.length > 0)
    lines.push(`First failed calls: ${failures.slice(0, 5).join("; ")}.`, "");
  // The server's own watchdog names what overlapped each stall it logged.
  const stallLines = runs.flatMap((r) =>
    r.serverLogLines.flatMap((line) => {
      const stall = parseStallLine(line);
      return stall ? [`run ${r.index} (${r.condition}): ${stall}`] : [];
    }),
  );
  if (stallLines.length > 0) {
    lines.push(
      `The server's watchdog logged ${stallLines.length} stall lines (stalls over 20 ms; at most one line per 10 s, folding the rest; the worst of each line and what overlapped it):`,
      "",
      ...stallLines.slice(0, 24).map((line) => `- ${line}`),
      "",
    );
  }
  const logs = runs.flatMap((r) => r.serverLogLines).filter((line) => !line.includes("is unset"));
  if (logs.length > 0) {
    lines.push(
      `The server logged ${logs.length} warning/error lines; first: \`${logs[0]!.slice(0, 300)}\``,
      "",
    );
  }
  return lines.join("\n");
}

/** "3 stalls, worst 61 ms; running: GET /api/search 12 ms, …" from a watchdog line, else null. */
function parseStallLine(line: string): string | null {
  if (!line.includes('"event loop stalled"')) return null;
  try {
    const entry = JSON.parse(line) as {
      stalls?: number;
      worstMs?: number;
      running?: Array<{ what?: string; ms?: number }>;
    };
    const running = (entry.running ?? []).map((a) => `${a.what} ${a.ms} ms`).join(", ");
    return `${entry.stalls} stall(s), worst ${entry.worstMs} ms; running: ${running || "nothing labelled"}`;
  } catch {
    return null;
  }
}

export async function runApiUnderLoadBench(options: ApiUnderLoadOptions = {}): Promise<string> {
  const quick = options.quick ?? false;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const calls = options.calls ?? (quick ? 10 : 100);
  const steadyS = options.seconds ?? (quick ? 6 : 30);
  const warmupS = options.warmupSeconds ?? (quick ? 2 : 5);
  const runsPerCondition = options.runs ?? (quick ? 1 : 2);
  const dbCalls = options.dbCalls ?? (quick ? 2_000 : DEFAULT_DATASET.calls);
  const dataDir = resolve(options.dataDir ?? join(tmpdir(), "callbridge-api-load"));
  const serverRoot = options.serverRoot ? resolve(options.serverRoot) : undefined;
  const command = options.command ?? `npx tsx bench/api-under-load.ts${quick ? " --quick" : ""}`;
  mkdirSync(dataDir, { recursive: true });

  const params: DatasetParams = {
    ...DEFAULT_DATASET,
    calls: dbCalls,
    transcripts:
      options.dbTranscripts ??
      Math.round((dbCalls * DEFAULT_DATASET.transcripts) / DEFAULT_DATASET.calls),
    turnsPerCall: DATASET_TURNS,
    recordingCalls: Math.min(MAX_RECORDING_CALLS, Math.max(1, Math.floor(dbCalls / 10))),
  };
  // The dataset is built with the migrations of the server under test, so the server finds
  // nothing to migrate at start: a migration over 5,000,000 rows would run again at the start of
  // every B run, and could outlast the 30 s the harness waits for /healthz.
  const migrationsFolder = join(serverRoot ?? REPO_ROOT, "migrations");
  const dataset = ensureDataset({ dataDir, params, migrationsFolder, log });
  log(
    dataset.reused
      ? `dataset: reusing ${dataset.dir} (generated in ${f(dataset.manifest.generationSeconds, 1)} s)`
      : `dataset: generated in ${f(dataset.manifest.generationSeconds, 1)} s, ${mib(dataset.manifest.dbBytes)}`,
  );
  const m = dataset.manifest;
  const plan: ApiPlan = {
    commonWord: m.commonWord,
    rareWord: m.rareWord,
    callIds: m.sampleCallIds,
    callers: m.sampleCallers,
    recordings: m.recordings.map((r) => ({ id: r.id, sizeBytes: r.sizeBytes })),
    calls: m.counts.calls,
    firstStartedAtMs: m.firstStartedAtMs,
    lastStartedAtMs: m.lastStartedAtMs,
    seed: 14,
  };
  const settings: RunSettings = {
    calls,
    warmupS,
    steadyS,
    pin: hasTaskset() && cpus().length >= 2,
    dataDir,
    serverRoot,
    plan,
  };
  const runs: RunOutcome[] = [];
  for (let round = 0; round < runsPerCondition; round++) {
    for (const condition of ["A", "B"] as const) {
      const index = runs.length + 1;
      log(
        `api-under-load: run ${index} of ${2 * runsPerCondition}, condition ${condition}, ${calls} calls (load average ${loadavg()[0]!.toFixed(2)})`,
      );
      const outcome = await runOnce(index, condition, dataset, settings, log);
      const requests = outcome.api?.routes.reduce((sum, r) => sum + r.samplesMs.length, 0);
      log(
        `  server ${f(outcome.serverCpuMsPerCallS)} ms/call-s, inbound p99 ${f(outcome.inbound.p99)} / p99.9 ${f(outcome.inbound.p999)} ms, outbound p99 ${f(outcome.outbound.p99)} / p99.9 ${f(outcome.outbound.p999)} ms, lost ${outcome.inboundLost}/${outcome.outboundLost}, stalls ${outcome.serverStalls.count} (longest ${outcome.serverStalls.maxMs} ms)${requests === undefined ? "" : `, ${requests} API requests`}`,
      );
      runs.push(outcome);
    }
  }
  return report(runs, dataset, {
    quick,
    command,
    calls,
    steadyS,
    warmupS,
    runsPerCondition,
    dataDir,
    serverRoot,
  });
}

function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

const KNOWN = new Set([
  "--quick",
  "--calls",
  "--seconds",
  "--warmup",
  "--runs",
  "--db-calls",
  "--db-transcripts",
  "--data-dir",
  "--out",
  "--server-root",
]);

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const unknown = argv.find((arg) => arg.startsWith("--") && !KNOWN.has(arg));
  if (unknown) {
    process.stderr.write(`unknown argument ${unknown} (known: ${[...KNOWN].join(", ")})\n`);
    process.exit(2);
  }
  const number = (name: string) => {
    const value = argValue(argv, name);
    if (value === undefined) return undefined;
    const n = Number(value);
    if (!(Number.isInteger(n) && n > 0)) {
      process.stderr.write(`${name} needs a positive integer, not ${value}\n`);
      process.exit(2);
    }
    return n;
  };
  const out = argValue(argv, "--out");
  runApiUnderLoadBench({
    quick: argv.includes("--quick"),
    calls: number("--calls"),
    seconds: number("--seconds"),
    warmupSeconds: number("--warmup"),
    runs: number("--runs"),
    dbCalls: number("--db-calls"),
    dbTranscripts: number("--db-transcripts"),
    dataDir: argValue(argv, "--data-dir"),
    serverRoot: argValue(argv, "--server-root"),
    command: `npx tsx bench/api-under-load.ts${argv.length ? ` ${argv.join(" ")}` : ""}`,
  }).then(
    (markdown) => {
      if (out) writeFileSync(out, `${markdown}\n`);
      // Explicit exit: a child that refused to die must not keep the bench alive.
      process.stdout.write(`${markdown}\n`, () => process.exit(0));
    },
    (error: unknown) => {
      process.stderr.write(
        `api-under-load bench failed: ${error instanceof Error ? error.stack : error}\n`,
      );
      process.exit(1);
    },
  );
}
