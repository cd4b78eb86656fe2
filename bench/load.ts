/**
 * Load benchmark (issue 7): N concurrent real-time calls through the real server, against a
 * fake OpenAI, the generator and the server on different cores.
 *
 *   npx tsx bench/load.ts [--quick] [--calls 50,100,200] [--seconds 30] [--runs 3]
 *       [--warmup 5] [--tick-ms 1] [--data-dir /dev/shm]
 *       (without --quick, --server, --backend, --workers, --server-root or --profile, the run
 *       alternates the reference forwarder and the server: --server passthrough,callbridge)
 *   npx tsx bench/load.ts --server passthrough [...]    the reference forwarder, same harness
 *   npx tsx bench/load.ts --server passthrough,callbridge,pcmu --calls 100 --runs 5 [...]
 *       the servers under test, alternating run by run (in each round every listed one runs
 *       once, in the listed order, so the machine's drift is shared): passthrough = the reference
 *       forwarder (bench/load/passthrough-forwarder.ts, "the floor"), callbridge = the server as
 *       configured by default (PCM16 24 kHz to the model), pcmu = the server with
 *       OPENAI_AUDIO_FORMAT=pcmu (8 kHz mu-law both ways to the model; the fake answers in
 *       mu-law). Default: callbridge alone. With the forwarder and a callbridge variant, an
 *       "Against the floor" section (issue 21) follows the usual tables: every run's CPU against
 *       the forwarder's run of the same round (targets callbridge ≤ 1.7×, pcmu ≤ 1.3×)
 *   npx tsx bench/load.ts --server-root DIR [...]       another checkout's server (before/after)
 *   npx tsx bench/load.ts --backend sqlite,postgres-s3 [...]   storage backends, alternating
 *       (postgres-s3: BENCH_POSTGRES_URL or TEST_POSTGRES_URL, a role that may CREATE DATABASE)
 *   npx tsx bench/load.ts --backend postgres-s3,postgres-s3-pair --calls 100 [...]
 *       the cost of membership (issue 19): postgres-s3-pair is postgres-s3 plus a second
 *       instance B on the same database and bucket (pinned with PostgreSQL to the generator's
 *       core) whose live feed of every call is read throughout, so that the server's NOTIFYs
 *       are fanned out and loaded back on B; the server under test (A) is compared with the
 *       single instance at the same call count (target ≤ 1.03×); B's CPU and feed are shown
 *   npx tsx bench/load.ts --workers 1,2 --calls 50,100,150 --runs 2 [...]
 *       WORKERS=N (issue 19): the server started with WORKERS=<n> for each value of the list,
 *       alternating run by run like --backend; nothing is pinned (the server's processes and the
 *       generator share every core, the scheduler places them), the same for every value, so
 *       the comparison is like for like; CPU and RSS are summed over the server's process tree
 *       (the cluster primary and its workers); a comparison table follows the usual ones
 *   npx tsx bench/load.ts --profile [--calls 200] [--profile-dir DIR]
 *       the server unpinned under `node --cpu-prof`, then a summary of the profile
 *   npx tsx bench/load/profile-summary.ts FILE.cpuprofile [--top 30]
 *   npx tsx bench/load.ts --perf [--perf-dir DIR] [--server passthrough,callbridge,pcmu] [...]
 *       the usual pinned runs, each run of each server recorded with `perf record -e cpu-clock
 *       -F 499 -g -C 1` (the server's core only) over exactly its measured window, the server
 *       started with `node --perf-basic-prof` (JIT code named in /tmp/perf-<pid>.map, deleted
 *       after the summary); a "perf" section per run follows the report: CPU 1 by idle / the
 *       server's main thread / its other threads / other processes, the main thread by kernel,
 *       V8/Node native and JIT-compiled JavaScript (by origin: src/ files, ws, other packages,
 *       node: internals), its top symbols, and socket writes, reads and GC inclusively. Data
 *       files in DIR (default: a temp folder, printed). Not with --workers or --profile
 *   npx tsx bench/load/perf.ts FILE.perf.data [--top 25]    one recording summarised again
 */
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { samplesOf } from "../test/support/prometheus-text.ts";
import { metric, scrapeMetrics } from "./lib/server-metrics.ts";
import {
  checkPerf,
  keepPerfRun,
  type PerfRecording,
  perfSectionHeading,
  removePerfMap,
  startPerfRecord,
  summarizePerf,
  threadNames,
} from "./load/perf.ts";
import {
  commandName,
  cpuMs,
  hasTaskset,
  hostCpuMs,
  rssKb,
  type TreeCpu,
  treeCpuBetween,
  treeCpuMs,
  treeRssKb,
} from "./load/proc.ts";
import { type GeneratorProcess, REPO_ROOT, startGenerator, startServer } from "./load/processes.ts";
import { summarizeProfile } from "./load/profile-summary.ts";
import type { CallResult, GeneratorMessage, GeneratorResult, RunRequest } from "./load/protocol.ts";
import {
  type MonitoredProcess,
  STALL_MS,
  type StallSummary,
  summarizeStalls,
} from "./load/stalls.ts";
import { type LatencySummary, median } from "./load/stats.ts";
import {
  parseStorageBackend,
  type StorageBackendName,
  startStorageBackend,
} from "./load/storage-backend.ts";
import { storedCalls, waitForNoActiveCalls } from "./load/stored-calls.ts";

export interface LoadBenchOptions {
  /** 20 calls, a 6 s window: under a minute in all, for CI. No timing assertions either way. */
  quick?: boolean;
  /** Call counts to run; the full default extends past 200 while the generator has headroom. */
  calls?: number[];
  /** Length of the measured steady-state window of each run. */
  seconds?: number;
  warmupSeconds?: number;
  /** Runs per call count (default 3, quick 1); the table shows medians. */
  runs?: number;
  /** Profile the server (unpinned, `node --cpu-prof`) at the first call count instead. */
  profile?: boolean;
  /** Where the profile goes (default: a temp folder, printed). */
  profileDir?: string;
  /**
   * `perf record` CPU 1 (the pinned server's core) over each run's measured window, the server
   * started with `node --perf-basic-prof`, and a summary of each recording after the report.
   */
  perf?: boolean;
  /** Where the perf data files go (default: a temp folder, printed). */
  perfDir?: string;
  tickMs?: number;
  /** Serve from another checkout of the project (for before/after runs). */
  serverRoot?: string;
  /**
   * Parent folder of each run's database and recordings (default: the OS temp folder). A tmpfs
   * such as /dev/shm keeps other disk traffic on a shared machine out of the figures.
   */
  dataDir?: string;
  /**
   * The servers under test, alternating run by run in one session (default `["callbridge"]`):
   * `passthrough` is the minimal reference forwarder ("the floor"), `callbridge` the server with
   * its default configuration, `pcmu` the server started with OPENAI_AUDIO_FORMAT=pcmu.
   */
  servers?: ServerName[];
  /**
   * Where the server stores calls: `sqlite` (default), `postgres-s3` or `postgres-s3-pair`
   * (postgres-s3 with a second instance following every call); several, comma separated,
   * alternate run by run in one session (e.g. `sqlite,postgres-s3`).
   */
  backends?: StorageBackendName[];
  /**
   * Start the server with WORKERS=<n> (src/composition/cluster.ts), each value of the list in
   * turn, alternating run by run (with the backends) in one session. Nothing is pinned then,
   * for any value: the server's processes and the generator share every core. CPU and RSS cover
   * the server's whole process tree. Unset: WORKERS is not set, and the server and generator
   * are pinned to a core each as before.
   */
  workers?: number[];
  /** How the run was started, for the report. */
  command?: string;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
}

/**
 * What serves the calls: the reference forwarder, callbridge as configured by default (PCM16
 * 24 kHz to the model), or callbridge with OPENAI_AUDIO_FORMAT=pcmu (8 kHz mu-law both ways).
 */
export type ServerName = "passthrough" | "callbridge" | "pcmu";

const SERVER_NAMES: readonly ServerName[] = ["passthrough", "callbridge", "pcmu"];

export function parseServerName(value: string): ServerName {
  const name = SERVER_NAMES.find((n) => n === value);
  if (name) return name;
  throw new Error(`--server takes ${SERVER_NAMES.join(", ")} (comma separated), not ${value}`);
}

/** Issue 21: server CPU per call-second at most this many times the forwarder's, same round. */
const FLOOR_TARGETS: Record<Exclude<ServerName, "passthrough">, number> = {
  callbridge: 1.7,
  pcmu: 1.3,
};

const SERVER_CPU = "1";
const GENERATOR_CPU = "0";
/** Extension past the fixed counts stops where the generator's core is this busy. */
const GENERATOR_HEADROOM = 0.8;
const MAX_EXTENDED_CALLS = 600;
/** …and where the server's core would be this busy. */
const SERVER_HEADROOM = 0.9;

interface RunOutcome {
  calls: number;
  /** Which server ran. */
  server: ServerName;
  /** server === "passthrough": outbound frames, recordings and storage do not apply. */
  passthrough: boolean;
  /**
   * Calls whose model session asked for `audio/pcmu` output (the fake answered them in 8 kHz
   * mu-law): every call for pcmu and the forwarder, none for callbridge's default.
   */
  muLawAnswerCalls: number;
  pinned: boolean;
  loadBefore: number;
  loadAfter: number;
  rampMs: number;
  windowS: number;
  serverCpuMsPerCallS: number;
  serverCoreShare: number;
  generatorCpuMsPerCallS: number;
  generatorCoreShare: number;
  rssIdleKb: number;
  /** Median RSS over the window. */
  rssSteadyKb: number;
  rssPerCallKb: number;
  /**
   * rssPerCallKb split by memoryPerCall(): V8 heap spaces (`new` is the young generation,
   * sized by the allocation rate), external (array buffers), rest (native: sockets, SQLite,
   * libuv, malloc). Null for the reference forwarder, which has no /metrics.
   */
  memoryPerCallKb: Record<string, number> | null;
  rssGrowthKbPerCallMin: number;
  inbound: LatencySummary;
  outbound: LatencySummary;
  sendLagP99Ms: number | null;
  serverStalls: StallSummary;
  generatorStalls: StallSummary;
  framesSent: number;
  inboundLost: number;
  inboundExtra: number;
  framesBeforeModelOpen: number;
  modelConnectP50Ms: number | null;
  outboundExpected: number;
  outboundLost: number;
  clears: number;
  truncates: number;
  /** Calls left out of the outbound frame count because a barge-in cut an answer. */
  callsWithBargeIn: number;
  failed: number;
  failures: string[];
  backend: StorageBackendName;
  /** CPU of the database server's own processes per call-second (PostgreSQL), else 0. */
  databaseCpuMsPerCallS: number;
  /** postgres-s3-pair: CPU of the second instance (B) per call-second of A's calls, else 0. */
  extraCpuMsPerCallS: number;
  /** postgres-s3-pair: events B's live feed of every call received in the whole run. */
  feedFrames: number | null;
  /** From the last call's end until every recording and sidecar was in the object store. */
  uploadedAfterS: number | null;
  callerRecordingMin: number | null;
  callerRecordingMean: number | null;
  conversationRecordingMin: number | null;
  serverLogLines: string[];
  /** WORKERS the server was started with; null when --workers was not given (not set). */
  workers: number | null;
  /** --workers: the whole host's busy share over the window, all cores (/proc/stat). */
  hostBusyShare: number | null;
  /**
   * --workers: host CPU over the window that none of the bench's processes used (the server's
   * tree, the generator, the database, a second instance, the bench itself), in cores: other
   * tenants of the machine.
   */
  otherCores: number | null;
  /** WORKERS > 1: the cluster primary's own CPU per call-second (included in the server's). */
  primaryCpuMsPerCallS: number | null;
  /** --workers: the server's processes at the end of the window (command names). */
  serverProcesses: string[];
  /** --workers: processes of the server that ended during the window (their CPU is missing). */
  serverProcessesEnded: number;
  /** --workers: live calls per worker at the end of the window (/metrics, `worker` label). */
  callsByWorker: Record<string, number> | null;
  /** WORKERS > 1: the primary's stalls (serverStalls are then its workers', added up). */
  primaryStalls: StallSummary | null;
  /** The processes the stall monitor ran in (the primary and each worker, with WORKERS > 1). */
  monitored: MonitoredProcess[];
  /** --perf: the run's recording, the server's pid and its threads' names; else null. */
  perf: {
    file: string;
    serverPid: number;
    threads: Record<string, string>;
    /** The bench's other processes by pid, to name them among CPU 1's other processes. */
    knownPids: Record<string, string>;
    /** Why perf did not record (it failed to start or exited with an error), else null. */
    error: string | null;
  } | null;
}

interface RunSettings {
  warmupS: number;
  steadyS: number;
  tickMs: number;
  pin: boolean;
  profileDir?: string;
  serverRoot?: string;
  server: ServerName;
  dataDir: string;
  backend: StorageBackendName;
  /** WORKERS=<n> for the server; undefined: not set. */
  workers?: number;
  /** --perf: record CPU 1 over the window into this file (the server gets --perf-basic-prof). */
  perfFile?: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function nextMessage(
  generator: GeneratorProcess,
  request: RunRequest,
  handlers: Partial<Record<GeneratorMessage["type"], (m: GeneratorMessage) => void>>,
  timeoutMs: number,
): Promise<GeneratorResult> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("the generator did not finish")), timeoutMs);
    generator.run(request, (message) => {
      handlers[message.type]?.(message);
      if (message.type === "result") {
        clearTimeout(timer);
        resolve(message.result);
      } else if (message.type === "error") {
        clearTimeout(timer);
        reject(new Error(`generator: ${message.message}`));
      }
    });
  });
}

async function runOnce(
  calls: number,
  settings: RunSettings,
  log: (line: string) => void,
): Promise<RunOutcome> {
  const passthrough = settings.server === "passthrough";
  const dataDir = mkdtempSync(join(settings.dataDir, "callbridge-load-"));
  const loadBefore = loadavg()[0]!;
  const generator = await startGenerator(settings.pin ? GENERATOR_CPU : null).catch(
    (error: unknown) => {
      rmSync(dataDir, { recursive: true, force: true });
      throw error;
    },
  );
  const storage = await startStorageBackend(
    settings.backend,
    dataDir,
    settings.pin ? GENERATOR_CPU : null,
  ).catch((error: unknown) => {
    generator.kill();
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  });
  // --perf: V8 names its JIT code in /tmp/perf-<pid>.map. startServer reads the extra node
  // flags from LOAD_SERVER_NODE_ARGS; set for this start only, then restored.
  const nodeArgsBefore = process.env.LOAD_SERVER_NODE_ARGS;
  if (settings.perfFile) {
    process.env.LOAD_SERVER_NODE_ARGS = [nodeArgsBefore, "--perf-basic-prof"]
      .filter(Boolean)
      .join(" ");
  }
  const restoreNodeArgs = () => {
    if (!settings.perfFile) return;
    if (nodeArgsBefore === undefined) delete process.env.LOAD_SERVER_NODE_ARGS;
    else process.env.LOAD_SERVER_NODE_ARGS = nodeArgsBefore;
  };
  const server = await startServer({
    fakeUrl: generator.fakeUrl,
    dataDir,
    cpu: settings.pin && !settings.profileDir ? SERVER_CPU : null,
    cpuProfileDir: settings.profileDir,
    root: settings.serverRoot,
    entry: passthrough ? join(REPO_ROOT, "bench/load/passthrough-forwarder.ts") : undefined,
    env: {
      ...storage.env,
      ...(settings.server === "pcmu" ? { OPENAI_AUDIO_FORMAT: "pcmu" } : {}),
    },
    workers: settings.workers,
  }).catch(async (error: unknown) => {
    restoreNodeArgs();
    generator.kill();
    await storage.close();
    rmSync(dataDir, { recursive: true, force: true });
    throw error;
  });
  restoreNodeArgs();
  // --workers: the server is a process tree (WORKERS > 1: the primary and its workers); it is
  // read whole for WORKERS=1 too, so that both are measured the same way.
  const tree = settings.workers !== undefined;
  const serverRss = () => (tree ? treeRssKb(server.pid) : rssKb(server.pid));
  // --perf: started exactly when the window starts, for the window's length.
  let recording = null as PerfRecording | null;
  const threads = new Map<number, string>();
  try {
    await sleep(1000);
    const rssIdleKb = serverRss();
    const memoryIdle = passthrough ? null : await memoryPartsKb(server.baseUrl);
    let memoryAtEnd: Promise<{ parts: Record<string, number>; rss: number } | null> =
      Promise.resolve(null);
    let windowStart = {
      at: 0,
      epoch: 0,
      server: 0,
      serverTree: new Map() as TreeCpu,
      generator: 0,
      database: 0,
      extra: 0,
      bench: 0,
      host: { busyMs: 0, totalMs: 0, cores: 0 },
      rss: 0,
    };
    let windowEnd = { ...windowStart };
    const rssSamples: number[] = [];
    let sampler: ReturnType<typeof setInterval> | null = null;
    let rampMs = 0;
    const request: RunRequest = {
      type: "run",
      serverUrl: server.mediaStreamUrl,
      calls,
      warmupS: settings.warmupS,
      steadyS: settings.steadyS,
      tickMs: settings.tickMs,
      turnPeriodMs: 6000,
      toneMs: 2000,
      answerMs: 1500,
      deltaMs: 100,
      idPrefix: `b${Date.now().toString(36)}`,
    };
    const snapshot = () => {
      const serverTree: TreeCpu = tree ? treeCpuMs(server.pid) : new Map();
      return {
        at: performance.now(),
        epoch: Date.now(),
        server: tree ? 0 : cpuMs(server.pid),
        serverTree,
        generator: cpuMs(generator.pid),
        database: storage.databaseCpuMs(),
        extra: storage.extraCpuMs(),
        bench: cpuMs(process.pid),
        host: hostCpuMs(),
        rss: serverRss(),
      };
    };
    let callsByWorker: Promise<Record<string, number> | null> = Promise.resolve(null);
    const result = await nextMessage(
      generator,
      request,
      {
        ramped: (m) => {
          if (m.type !== "ramped") return;
          rampMs = m.rampMs;
          log(`  ${m.started} calls started in ${(m.rampMs / 1000).toFixed(1)} s`);
        },
        "window-start": () => {
          // perf first: it takes a moment to start, and it runs on the generator's core.
          if (settings.perfFile) {
            recording = startPerfRecord(
              settings.perfFile,
              settings.steadyS,
              SERVER_CPU,
              GENERATOR_CPU,
            );
          }
          windowStart = snapshot();
          sampler = setInterval(() => rssSamples.push(serverRss()), 1000);
          if (settings.perfFile) threadNames(server.pid, threads);
        },
        "window-end": () => {
          windowEnd = snapshot();
          if (sampler) clearInterval(sampler);
          // Threads started during the window too (names only: cheap).
          if (settings.perfFile) threadNames(server.pid, threads);
          // After the CPU snapshot, so the scrape is not counted as the calls' work.
          if (!passthrough) {
            const rss = serverRss();
            const scrape = scrapeMetrics(server.baseUrl);
            memoryAtEnd = scrape.then(
              (samples) => ({ parts: memoryPartsOf(samples), rss }),
              () => null,
            );
            if (tree) callsByWorker = scrape.then(activeCallsByWorker, () => null);
          }
        },
      },
      (settings.warmupS + settings.steadyS) * 1000 + calls * 1000 + 120_000,
    );
    // perf's `sleep` ends with the window: wait for it to write its file.
    const perfExit = recording
      ? await recording.done
      : { code: null, stderr: "perf did not start (no window)" };
    const memoryLoaded = await memoryAtEnd;
    const liveByWorker = await callsByWorker;
    const drained = await waitForNoActiveCalls(server.baseUrl, 60_000, settings.workers ?? 1);
    const uploadedAfterS = drained
      ? await waitForUploads(storage, server.baseUrl, calls, log)
      : null;
    // The reference forwarder stores nothing and has no API.
    const stored = drained && !passthrough ? await storedCalls(server.baseUrl) : new Map();
    // After the calls' last events (their ends, recordings) had time to reach the other instance.
    const feedFrames = storage.feedFrames();
    const windowS = (windowEnd.at - windowStart.at) / 1000;
    const callSeconds = calls * windowS;
    const serverTreeCpu = treeCpuBetween(windowStart.serverTree, windowEnd.serverTree);
    const serverCpu = tree ? serverTreeCpu.totalMs : windowEnd.server - windowStart.server;
    const generatorCpu = windowEnd.generator - windowStart.generator;
    const databaseCpu = windowEnd.database - windowStart.database;
    const extraCpu = windowEnd.extra - windowStart.extra;

    const failures: string[] = [];
    let failed = 0;
    let framesSent = 0;
    let inboundLost = 0;
    let inboundExtra = 0;
    let framesBeforeModelOpen = 0;
    let outboundExpected = 0;
    let outboundLost = 0;
    let clears = 0;
    let truncates = 0;
    let callsWithBargeIn = 0;
    let muLawAnswerCalls = 0;
    const callerRatios: number[] = [];
    const conversationRatios: number[] = [];
    const connectMs: number[] = [];
    const fail = (call: CallResult, why: string) => {
      failed++;
      if (failures.length < 5) failures.push(`${call.streamSid}: ${why}`);
    };
    for (const call of result.calls) {
      framesSent += call.framesSent;
      inboundLost += Math.max(0, call.framesSent - call.appendsReceived);
      inboundExtra += Math.max(0, call.appendsReceived - call.framesSent);
      framesBeforeModelOpen += call.framesBeforeModelOpen;
      if (call.modelOutputFormat === "audio/pcmu") muLawAnswerCalls++;
      // A barge-in (clear) legitimately cuts an answer short: such calls' frames are not counted.
      if (call.clears === 0) {
        outboundExpected += call.outboundExpected;
        outboundLost += Math.max(0, call.outboundExpected - call.outboundReceived);
      } else {
        callsWithBargeIn++;
      }
      clears += call.clears;
      truncates += call.truncates;
      if (call.modelConnectMs !== null) connectMs.push(call.modelConnectMs);
      if (call.failure !== null) {
        fail(call, call.failure);
        continue;
      }
      if (passthrough) continue;
      const saved = stored.get(call.streamSid);
      if (!saved) {
        fail(call, drained ? "not stored" : "still active after 60 s");
        continue;
      }
      if (saved.status !== "completed") fail(call, `stored as ${saved.status}`);
      const sentS = (call.framesSent * 20) / 1000;
      callerRatios.push((saved.tracks.caller ?? 0) / sentS);
      conversationRatios.push((saved.tracks.conversation ?? 0) / sentS);
    }
    const rssMid = median(rssSamples) ?? windowEnd.rss;
    const windowStalls = server.stalls.filter(
      (s) => s.at >= windowStart.epoch && s.at <= windowEnd.epoch,
    );
    // WORKERS > 1: the calls are the workers'; the primary (the root pid) only hands out
    // connections and relays events and scrapes.
    const clustered = (settings.workers ?? 1) > 1;
    const serverStalls = summarizeStalls(
      clustered ? windowStalls.filter((s) => s.pid !== server.pid) : windowStalls,
    );
    const hostBusyMs = windowEnd.host.busyMs - windowStart.host.busyMs;
    const hostTotalMs = windowEnd.host.totalMs - windowStart.host.totalMs;
    const benchCpu = windowEnd.bench - windowStart.bench;
    const ours = serverCpu + generatorCpu + databaseCpu + extraCpu + benchCpu;
    return {
      calls,
      server: settings.server,
      passthrough,
      muLawAnswerCalls,
      pinned: settings.pin && !settings.profileDir,
      loadBefore,
      loadAfter: loadavg()[0]!,
      rampMs,
      windowS,
      serverCpuMsPerCallS: serverCpu / callSeconds,
      serverCoreShare: serverCpu / (windowS * 1000),
      generatorCpuMsPerCallS: generatorCpu / callSeconds,
      generatorCoreShare: generatorCpu / (windowS * 1000),
      rssIdleKb,
      rssSteadyKb: rssMid,
      rssPerCallKb: (rssMid - rssIdleKb) / calls,
      memoryPerCallKb:
        memoryIdle && memoryLoaded
          ? memoryPerCall(memoryIdle, memoryLoaded.parts, rssIdleKb, memoryLoaded.rss, calls)
          : null,
      rssGrowthKbPerCallMin: (windowEnd.rss - windowStart.rss) / calls / (windowS / 60),
      inbound: result.inbound,
      outbound: result.outbound,
      sendLagP99Ms: result.sendLagP99Ms,
      serverStalls,
      generatorStalls: result.stalls,
      framesSent,
      inboundLost,
      inboundExtra,
      framesBeforeModelOpen,
      modelConnectP50Ms: median(connectMs),
      outboundExpected,
      outboundLost,
      clears,
      truncates,
      callsWithBargeIn,
      failed,
      failures,
      backend: settings.backend,
      databaseCpuMsPerCallS: databaseCpu / callSeconds,
      extraCpuMsPerCallS: extraCpu / callSeconds,
      feedFrames,
      uploadedAfterS,
      callerRecordingMin: callerRatios.length ? Math.min(...callerRatios) : null,
      callerRecordingMean: callerRatios.length
        ? callerRatios.reduce((a, b) => a + b, 0) / callerRatios.length
        : null,
      conversationRecordingMin: conversationRatios.length ? Math.min(...conversationRatios) : null,
      serverLogLines: [...server.logLines, ...storage.extraProblems()],
      workers: settings.workers ?? null,
      hostBusyShare: tree && hostTotalMs > 0 ? hostBusyMs / hostTotalMs : null,
      otherCores: tree ? (hostBusyMs - ours) / (windowS * 1000) : null,
      primaryCpuMsPerCallS: clustered
        ? (serverTreeCpu.byPid.get(server.pid) ?? Number.NaN) / callSeconds
        : null,
      serverProcesses: [...windowEnd.serverTree.keys()].map((pid) => commandName(pid) ?? "?"),
      serverProcessesEnded: serverTreeCpu.ended.length,
      callsByWorker: liveByWorker,
      primaryStalls: clustered
        ? summarizeStalls(windowStalls.filter((s) => s.pid === server.pid))
        : null,
      monitored: [...server.monitored],
      perf: settings.perfFile
        ? {
            file: settings.perfFile,
            serverPid: server.pid,
            threads: Object.fromEntries([...threads].map(([tid, name]) => [String(tid), name])),
            knownPids: {
              [String(generator.pid)]: "the generator and fake OpenAI (pinned to CPU 0)",
              [String(process.pid)]: "the bench's own process (bench/load.ts, unpinned)",
            },
            error:
              perfExit.code === 0
                ? null
                : `perf record exited with ${perfExit.code}: ${perfExit.stderr.trim().slice(-300)}`,
          }
        : null,
    };
  } finally {
    recording?.stop();
    await server.stop();
    generator.kill();
    await storage.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * Seconds from the end of the last call until the store holds each call's two recordings and
 * two sidecar files (null without object storage; Infinity when they are not there in 60 s).
 * The server's /healthz is polled until its upload queue is empty, and only then the store
 * listed: listing every object four times a second loads a small local S3 server enough to
 * slow the uploads it measures.
 */
async function waitForUploads(
  storage: Awaited<ReturnType<typeof startStorageBackend>>,
  baseUrl: string,
  calls: number,
  log: (line: string) => void,
): Promise<number | null> {
  const started = performance.now();
  const expected = calls * 4;
  for (;;) {
    const seconds = () => (performance.now() - started) / 1000;
    const pending = await pendingUploads(baseUrl);
    if (pending === null || pending === 0) {
      const stored = await storage.storedObjects();
      if (stored === null) return null;
      if (stored >= expected) {
        const after = seconds();
        log(`  ${stored} objects in the store ${after.toFixed(1)} s after the calls ended`);
        return after;
      }
    }
    if (seconds() > 60) {
      log(
        `  only ${(await storage.storedObjects()) ?? 0} of ${expected} objects in the store after 60 s`,
      );
      return Number.POSITIVE_INFINITY;
    }
    await sleep(100);
  }
}

/** The server's pending uploads (/healthz), or null when it does not say. */
async function pendingUploads(baseUrl: string): Promise<number | null> {
  try {
    const response = await fetch(`${baseUrl}/healthz`);
    const body = (await response.json()) as { uploads?: { pending?: unknown } };
    return typeof body.uploads?.pending === "number" ? body.uploads.pending : null;
  } catch {
    return null;
  }
}

function stallMedian(list: StallSummary[]): StallSummary {
  const med = (pick: (s: StallSummary) => number) => median(list.map(pick)) ?? 0;
  return {
    count: med((s) => s.count),
    totalMs: med((s) => s.totalMs),
    maxMs: med((s) => s.maxMs),
    busyMs: med((s) => s.busyMs),
  };
}

/** Median of each figure over repeated runs at one call count (integrity counts: the worst). */
function combine(runs: RunOutcome[]): RunOutcome {
  if (runs.length === 1) return runs[0]!;
  const med = (pick: (r: RunOutcome) => number | null) =>
    median(runs.map(pick).filter((v): v is number => v !== null)) ?? Number.NaN;
  const worst = (pick: (r: RunOutcome) => number) => Math.max(...runs.map(pick));
  const latency = (pick: (r: RunOutcome) => LatencySummary): LatencySummary => ({
    count: med((r) => pick(r).count),
    p50: med((r) => pick(r).p50),
    p99: med((r) => pick(r).p99),
    p999: med((r) => pick(r).p999),
    max: worst((r) => pick(r).max ?? 0),
  });
  const first = runs[0]!;
  return {
    ...first,
    loadBefore: med((r) => r.loadBefore),
    loadAfter: med((r) => r.loadAfter),
    rampMs: med((r) => r.rampMs),
    windowS: med((r) => r.windowS),
    serverCpuMsPerCallS: med((r) => r.serverCpuMsPerCallS),
    serverCoreShare: med((r) => r.serverCoreShare),
    generatorCpuMsPerCallS: med((r) => r.generatorCpuMsPerCallS),
    generatorCoreShare: med((r) => r.generatorCoreShare),
    rssIdleKb: med((r) => r.rssIdleKb),
    rssSteadyKb: med((r) => r.rssSteadyKb),
    rssPerCallKb: med((r) => r.rssPerCallKb),
    memoryPerCallKb: first.memoryPerCallKb
      ? Object.fromEntries(
          Object.keys(first.memoryPerCallKb).map((part) => [
            part,
            med((r) => r.memoryPerCallKb?.[part] ?? null),
          ]),
        )
      : null,
    rssGrowthKbPerCallMin: med((r) => r.rssGrowthKbPerCallMin),
    inbound: latency((r) => r.inbound),
    outbound: latency((r) => r.outbound),
    sendLagP99Ms: med((r) => r.sendLagP99Ms),
    serverStalls: stallMedian(runs.map((r) => r.serverStalls)),
    generatorStalls: stallMedian(runs.map((r) => r.generatorStalls)),
    framesSent: runs.reduce((a, r) => a + r.framesSent, 0),
    inboundLost: runs.reduce((a, r) => a + r.inboundLost, 0),
    inboundExtra: runs.reduce((a, r) => a + r.inboundExtra, 0),
    framesBeforeModelOpen: runs.reduce((a, r) => a + r.framesBeforeModelOpen, 0),
    modelConnectP50Ms: med((r) => r.modelConnectP50Ms),
    outboundExpected: runs.reduce((a, r) => a + r.outboundExpected, 0),
    outboundLost: runs.reduce((a, r) => a + r.outboundLost, 0),
    clears: runs.reduce((a, r) => a + r.clears, 0),
    truncates: runs.reduce((a, r) => a + r.truncates, 0),
    callsWithBargeIn: runs.reduce((a, r) => a + r.callsWithBargeIn, 0),
    muLawAnswerCalls: runs.reduce((a, r) => a + r.muLawAnswerCalls, 0),
    failed: runs.reduce((a, r) => a + r.failed, 0),
    failures: runs.flatMap((r) => r.failures).slice(0, 5),
    databaseCpuMsPerCallS: med((r) => r.databaseCpuMsPerCallS),
    extraCpuMsPerCallS: med((r) => r.extraCpuMsPerCallS),
    // The fewest of any run: one run whose feed received nothing must not be hidden.
    feedFrames: first.feedFrames === null ? null : Math.min(...runs.map((r) => r.feedFrames ?? 0)),
    // The slowest upload of any run: the target is a bound, not a typical value.
    uploadedAfterS: first.uploadedAfterS === null ? null : worst((r) => r.uploadedAfterS ?? 0),
    callerRecordingMin: Math.min(...runs.map((r) => r.callerRecordingMin ?? Number.NaN)),
    callerRecordingMean: med((r) => r.callerRecordingMean),
    conversationRecordingMin: Math.min(
      ...runs.map((r) => r.conversationRecordingMin ?? Number.NaN),
    ),
    serverLogLines: runs.flatMap((r) => r.serverLogLines),
    hostBusyShare: first.hostBusyShare === null ? null : med((r) => r.hostBusyShare),
    otherCores: first.otherCores === null ? null : med((r) => r.otherCores),
    primaryCpuMsPerCallS:
      first.primaryCpuMsPerCallS === null ? null : med((r) => r.primaryCpuMsPerCallS),
    serverProcessesEnded: runs.reduce((a, r) => a + r.serverProcessesEnded, 0),
    // The most uneven split of any run: a worker that got no calls must not be hidden.
    callsByWorker:
      runs
        .map((r) => r.callsByWorker)
        .filter((split): split is Record<string, number> => split !== null)
        .sort((a, b) => spread(b) - spread(a))[0] ?? null,
    primaryStalls: first.primaryStalls
      ? stallMedian(runs.map((r) => r.primaryStalls ?? first.primaryStalls!))
      : null,
  };
}

/** Largest minus smallest count of a per-worker split. */
function spread(split: Record<string, number>): number {
  const counts = Object.values(split);
  return counts.length === 0 ? 0 : Math.max(...counts) - Math.min(...counts);
}

const HEAP_SPACES = ["new", "old", "code", "large_object", "new_large_object", "map", "trusted"];

/**
 * The server's memory by part, KB, from its /metrics: the resident size of each V8 heap space
 * (`new` is the young generation) and the memory V8 tracks outside its heap (array buffers).
 */
async function memoryPartsKb(baseUrl: string): Promise<Record<string, number>> {
  return memoryPartsOf(await scrapeMetrics(baseUrl));
}

/** memoryPartsKb from a scrape (WORKERS > 1: every worker's, added up). */
function memoryPartsOf(samples: Awaited<ReturnType<typeof scrapeMetrics>>): Record<string, number> {
  const parts: Record<string, number> = {};
  for (const space of HEAP_SPACES) {
    const bytes = metric(samples, "callbridge_nodejs_heap_space_physical_bytes", { space });
    if (bytes > 0) parts[space] = bytes / 1024;
  }
  parts.external = metric(samples, "callbridge_nodejs_external_memory_bytes") / 1024;
  return parts;
}

/**
 * Live calls per worker from a scrape: `callbridge_active_calls` carries a `worker` label with
 * WORKERS > 1; a single process's has none (`single`).
 */
function activeCallsByWorker(samples: Awaited<ReturnType<typeof scrapeMetrics>>) {
  const split: Record<string, number> = {};
  for (const sample of samplesOf(samples, "callbridge_active_calls")) {
    const worker = sample.labels.worker ?? "single";
    split[worker] = (split[worker] ?? 0) + sample.value;
  }
  return split;
}

/** Per-call growth of each part from idle to load, and of the rest of RSS (native, sockets). */
function memoryPerCall(
  idle: Record<string, number>,
  loaded: Record<string, number>,
  rssIdleKb: number,
  rssKb: number,
  calls: number,
): Record<string, number> {
  const perCall: Record<string, number> = {};
  let counted = 0;
  for (const [part, kb] of Object.entries(loaded)) {
    perCall[part] = (kb - (idle[part] ?? 0)) / calls;
    // external overlaps no heap space; every part is resident memory within RSS.
    counted += perCall[part];
  }
  perCall.rest = (rssKb - rssIdleKb) / calls - counted;
  return perCall;
}

const f = (v: number | null | undefined, digits = 2) =>
  v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(digits);
const pct = (v: number | null) =>
  v === null || !Number.isFinite(v) ? "–" : `${(v * 100).toFixed(2)}%`;
const lat = (s: LatencySummary) => `${f(s.p50)} / ${f(s.p99)} / ${f(s.p999)}`;

const label = (o: RunOutcome) => {
  const workers = o.workers === null ? "" : `WORKERS=${o.workers}`;
  if (o.passthrough) return `${o.calls} (reference forwarder)`;
  const notes = [
    o.server === "callbridge" ? "" : o.server,
    o.backend === "sqlite" ? "" : o.backend,
    workers,
  ].filter(Boolean);
  return notes.length === 0 ? `${o.calls}` : `${o.calls} (${notes.join(", ")})`;
};

function mark(ok: boolean): string {
  return ok ? "met" : "**missed**";
}

function targetsAt(outcome: RunOutcome): string[] {
  const inboundOk = (outcome.inbound.p99 ?? Number.POSITIVE_INFINITY) <= 5;
  const outboundOk = (outcome.outbound.p99 ?? Number.POSITIVE_INFINITY) <= 5;
  return [
    `Targets at ${outcome.calls} calls${outcome.pinned ? ", server pinned to one core" : ""}:`,
    `- CPU ≤ 2.0 ms per call-second: ${f(outcome.serverCpuMsPerCallS)} ms, ${mark(outcome.serverCpuMsPerCallS <= 2)} (passthrough forwarder 1.16, naive transcoder 2.85).`,
    `- Inbound p99 ≤ 5 ms: ${f(outcome.inbound.p99)} ms, ${mark(inboundOk)}; outbound p99 ≤ 5 ms: ${f(outcome.outbound.p99)} ms, ${mark(outboundOk)}.`,
    `- 0 frames lost, the first 100 ms included: ${outcome.inboundLost} inbound and ${outcome.outboundLost} outbound lost, ${mark(outcome.inboundLost === 0 && outcome.outboundLost === 0)}.`,
    `- ≤ 200 KB RSS per active call, flat: ${f(outcome.rssPerCallKb, 0)} KB, growing ${f(outcome.rssGrowthKbPerCallMin, 1)} KB per call per minute, ${mark(outcome.rssPerCallKb <= 200)}.`,
    ...(outcome.memoryPerCallKb
      ? [
          `  RSS per call by part, idle → end of the window (V8 heap spaces resident, \`new\` = young generation; external = array buffers; rest = native: sockets, SQLite, malloc): ${Object.entries(
            outcome.memoryPerCallKb,
          )
            .map(([part, kb]) => `${part} ${f(kb, 0)} KB`)
            .join(", ")}.`,
        ]
      : []),
  ];
}

function report(
  outcomes: RunOutcome[],
  options: {
    quick: boolean;
    command: string;
    runs: number;
    steadyS: number;
    warmupS: number;
    tickMs: number;
    dataDir: string;
    /** Every run in the order it ran (the floor comparison). */
    ordered: OrderedRun[];
  },
): string {
  const pinned = outcomes.every((o) => o.pinned);
  const workersRuns = outcomes.some((o) => o.workers !== null);
  const forwarder = outcomes.some((o) => o.passthrough);
  const callbridge = outcomes.some((o) => !o.passthrough);
  const pcmu = outcomes.some((o) => o.server === "pcmu");
  // What was served, for the pinned prose: the forwarder gets the same core and GC, not the cap.
  const served = [
    ...(callbridge
      ? [
          "Server pinned to CPU 1 (`taskset -c 1 node --single-threaded-gc --max-semi-space-size=8 --import tsx src/main.ts`, the young-generation cap `npm start` uses too; `LOAD_PARALLEL_GC=1` leaves V8's default parallel GC, `LOAD_SERVER_NODE_ARGS=--max-semi-space-size=16` V8's default cap)",
        ]
      : []),
    ...(forwarder
      ? [
          `${callbridge ? "the reference forwarder with the same pinning and `--single-threaded-gc`" : "The reference forwarder pinned to CPU 1 with `--single-threaded-gc`"} (\`taskset -c 1 node --single-threaded-gc --import tsx bench/load/passthrough-forwarder.ts\`; no \`--max-semi-space-size\`, so V8's default young generation: it is not what \`npm start\` runs; \`LOAD_PARALLEL_GC=1\` and \`LOAD_SERVER_NODE_ARGS\` apply to it too)`,
        ]
      : []),
  ].join("; ");
  const lines = [
    `### Load: concurrent real-time calls${options.quick ? " (quick)" : ""}`,
    "",
    `Machine: ${cpus()[0]?.model ?? "unknown CPU"} (${cpus().length} logical CPUs), Node ${process.version}, ${new Date().toISOString()}.`,
    `Command: \`${options.command}\`. ${
      workersRuns
        ? "**Not pinned, by design (`--workers`)**: the server (`node --max-semi-space-size=8 --import tsx src/main.ts` with `WORKERS=<n>`: with n > 1 a `node:cluster` primary and n worker processes) and the generator with the fake OpenAI (`bench/load/generator.ts`, one process) share every core and the kernel's scheduler places them, for every WORKERS value alike, alternated run by run; V8's default (parallel) GC on both sides. CPU and RSS are summed over the server's process tree (the root and every descendant, found by parent pid in /proc); RSS so counts shared pages (the node binary) once per process, which cancels out of the per-call figures."
        : pinned
          ? `${served}; generator and fake OpenAI pinned to CPU 0 (\`bench/load/generator.ts\`).${pcmu ? " pcmu: the same server started with `OPENAI_AUDIO_FORMAT=pcmu` (8 kHz mu-law both ways to the model)." : ""}`
          : "**Not pinned** (taskset unavailable or profiling): figures are indicative only."
    } Loopback only. Each call sends its 20 ms frames at its own phase (a shared ${options.tickMs} ms timer sends whatever is due), has a caller turn (2 s of tone, then silence) every 6 s, and the fake answers each turn with 1.5 s of audio in 100 ms deltas at real-time pace${forwarder || pcmu ? " (PCM16 24 kHz, or 8 kHz mu-law to a session that asks for `audio/pcmu` output: the forwarder and pcmu)" : ""}; marks are echoed when their audio would have played, as Twilio does. Database and recordings in \`${options.dataDir}\`.`,
    `Each run: all calls started one by one, ${options.warmupS} s of warm-up, a ${options.steadyS} s measured window, hang-up, then a check of what the API stored. CPU: utime + stime from /proc/<pid>/stat over the window, per call-second. RSS from /proc/<pid>/status: average = (median over the window − idle server) / calls; marginal = the difference to the previous row per added call, which cancels fixed costs such as the heap's young generation. Inbound latency: generator sends a Twilio frame → the fake receives the append made from it (appends are one per frame, in order); outbound: the fake sends a delta → the generator receives the first Twilio frame made from it; both on the generator's one clock, for frames and deltas sent in the window. Frames lost count every frame of every call, the first 100 ms included (frames sent before the bridge's OpenAI socket was ready are shown). A call with a barge-in (a \`clear\`, which only happens when playback runs late) is left out of the outbound count. Recording completeness: seconds stored per track / seconds of audio sent. ${
      options.runs > 1
        ? `Medians of ${options.runs} runs per row (losses and failures: totals).`
        : "One run per row."
    } Load average: the 1-minute figure before → after each run.`,
    "",
    "| calls | server CPU ms / call-s | server core | RSS KB / call: average (marginal) | RSS growth KB / call / min | inbound p50 / p99 / p99.9 ms | outbound p50 / p99 / p99.9 ms | generator CPU ms / call-s (core; send lag p99 ms) | load avg |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...outcomes.map((o, i) => {
      // The same server and configuration's previous call count: between two call counts the
      // fixed costs (heap growth, JIT) cancel out.
      const previous = outcomes
        .slice(0, i)
        .reverse()
        .find((p) => p.calls !== o.calls && variantName(p) === variantName(o));
      const marginal = previous
        ? (o.rssSteadyKb - previous.rssSteadyKb) / (o.calls - previous.calls)
        : null;
      return `| ${label(o)} | ${f(o.serverCpuMsPerCallS)} | ${pct(o.serverCoreShare)} | ${f(o.rssPerCallKb, 0)} (${f(marginal, 0)}) | ${f(o.rssGrowthKbPerCallMin, 1)} | ${lat(o.inbound)} | ${o.passthrough ? "n/a" : lat(o.outbound)} | ${f(o.generatorCpuMsPerCallS)} (${pct(o.generatorCoreShare)}; ${f(o.sendLagP99Ms)}) | ${f(o.loadBefore)} → ${f(o.loadAfter)} |`;
    }),
    "",
    "| calls | frames sent | inbound lost (extra) | sent before the OpenAI socket was ready | model connect p50 ms | outbound frames expected | outbound lost | clears / truncates (calls) | calls failed | caller recording: min / mean of audio sent | conversation recording: min |",
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...outcomes.map((o) =>
      o.passthrough
        ? `| ${label(o)} | ${o.framesSent} | ${o.inboundLost} (${o.inboundExtra}) | ${o.framesBeforeModelOpen} | ${f(o.modelConnectP50Ms, 1)} | n/a | n/a | n/a | ${o.failed} | n/a | n/a |`
        : `| ${label(o)} | ${o.framesSent} | ${o.inboundLost} (${o.inboundExtra}) | ${o.framesBeforeModelOpen} | ${f(o.modelConnectP50Ms, 1)} | ${o.outboundExpected} | ${o.outboundLost} | ${o.clears} / ${o.truncates} (${o.callsWithBargeIn}) | ${o.failed} | ${pct(o.callerRecordingMin)} / ${pct(o.callerRecordingMean)} | ${pct(o.conversationRecordingMin)} |`,
    ),
    "",
  ];
  const stall = (s: StallSummary) =>
    s.count === 0
      ? "none"
      : `${s.count} / ${s.totalMs} ms / ${s.maxMs} ms / ${s.totalMs > 0 ? Math.round((100 * s.busyMs) / s.totalMs) : 0}%`;
  lines.push(
    `Event-loop stalls in the window (the loop did not turn for ${STALL_MS} ms or more): count / time lost / longest / share of that time the process was on the CPU. A stall mostly off the CPU is time spent waiting (descheduled by other processes on the core, or blocked in a system call), not work.`,
    "",
    "| calls | server stalls | generator stalls |",
    "|---:|---:|---:|",
    ...outcomes.map(
      (o) => `| ${label(o)} | ${stall(o.serverStalls)} | ${stall(o.generatorStalls)} |`,
    ),
    "",
  );
  const measured = outcomes.filter((o) => o.calls >= 100);
  const perCall = median(
    (measured.length ? measured : outcomes).map((o) => o.generatorCpuMsPerCallS),
  );
  // Extrapolate from the largest run whose server still had headroom: a saturated server batches
  // its work and looks cheaper per call-second than it is.
  // callbridge's, when the forwarder ran too.
  const servers = outcomes.some((o) => !o.passthrough)
    ? outcomes.filter((o) => !o.passthrough)
    : outcomes;
  const unsaturated = servers.filter((o) => o.serverCoreShare < SERVER_HEADROOM);
  const basis = unsaturated.at(-1) ?? servers.at(-1)!;
  // Per core, for pinned runs; unpinned --workers runs have their own comparison below.
  if (perCall !== null && perCall > 0 && !workersRuns) {
    lines.push(
      `Generator capacity: ${f(perCall)} ms of CPU per call-second on its core, so about ${Math.floor((GENERATOR_HEADROOM * 1000) / perCall)} calls at ${GENERATOR_HEADROOM * 100}% of one core (${Math.floor(1000 / perCall)} at 100%); beyond that the generator, not the server, would set the pace, so larger counts are extrapolated from CPU per call-second: at ${f(basis.serverCpuMsPerCallS)} ms (${basis.calls} calls), one core holds about ${Math.floor(1000 / basis.serverCpuMsPerCallS)} calls.`,
      "",
    );
  }
  lines.push(...backendComparison(outcomes));
  lines.push(...workersComparison(outcomes));
  lines.push(...floorComparison(options.ordered));
  // Also without the forwarder in the list (--server pcmu alone).
  const ignored = outcomes.filter((o) => o.server === "pcmu" && o.muLawAnswerCalls === 0);
  if (ignored.length > 0 && !outcomes.some((o) => o.passthrough)) {
    lines.push(
      `**No session of the pcmu runs asked the model for \`audio/pcmu\` output (${ignored.map((o) => o.calls).join(", ")} calls): that server ignores \`OPENAI_AUDIO_FORMAT\`, so they measured callbridge's default configuration.**`,
      "",
    );
  }
  const at200 = outcomes.find((o) => o.calls === 200 && !o.passthrough);
  if (at200 && !options.quick) lines.push(...targetsAt(at200), "");
  const failures = outcomes.flatMap((o) => o.failures);
  if (failures.length > 0) lines.push(`First failures: ${failures.slice(0, 5).join("; ")}.`, "");
  // Start-up notices about unset optional variables are expected here.
  const logs = outcomes
    .flatMap((o) => o.serverLogLines)
    .filter((line) => !line.includes("is unset"));
  if (logs.length > 0) {
    // By message, so that a run's one stall and a flood of the same warning read differently.
    const byMessage = new Map<string, number>();
    for (const line of logs) {
      const message = /"msg":"((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line.slice(0, 120);
      byMessage.set(message, (byMessage.get(message) ?? 0) + 1);
    }
    const counted = [...byMessage].sort((a, b) => b[1] - a[1]);
    lines.push(
      `The server logged ${logs.length} warning/error lines: ${counted
        .slice(0, 6)
        .map(([message, n]) => `${n} × \`${message}\``)
        .join(", ")}; first: \`${logs[0]!.slice(0, 300)}\``,
      "",
    );
  }
  return lines.join("\n");
}

/**
 * tsx's loader runs in a worker thread, which writes a profile of its own: the main thread's is
 * the one named with thread id 0 (CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile).
 */
function mainThreadProfile(dir: string): string {
  const files = readdirSync(dir).filter((name) => name.endsWith(".cpuprofile"));
  const main = files.find((name) => name.split(".")[4] === "0") ?? files[0];
  if (!main) throw new Error(`no .cpuprofile was written in ${dir}`);
  return join(dir, main);
}

export async function runLoadBench(options: LoadBenchOptions = {}): Promise<string> {
  const quick = options.quick ?? false;
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  // The plain full run (`npm run bench`, `npx tsx bench/load.ts`) measures the reference
  // forwarder alternately with the server, so its CPU figure is also a ratio that carries from one
  // machine to another (issue 21). Quick runs and the comparisons of other options (backends,
  // workers, another tree, a profile) run the server alone unless --server says otherwise.
  const plain =
    !quick &&
    !options.profile &&
    options.workers === undefined &&
    options.backends === undefined &&
    options.serverRoot === undefined;
  const servers = options.servers ?? (plain ? ["passthrough", "callbridge"] : ["callbridge"]);
  if (servers.length === 0 || new Set(servers).size !== servers.length)
    throw new Error("--server takes each of passthrough, callbridge, pcmu at most once");
  if (options.profile && servers.length > 1) throw new Error("--profile takes one --server");
  if (options.perf && options.profile)
    throw new Error(
      "--perf does not take --profile: --profile runs the server unpinned under V8's sampler, --perf records the pinned server's core (CPU 1); run them separately",
    );
  if (options.perf && options.workers !== undefined)
    throw new Error(
      "--perf does not take --workers: --workers leaves the server's processes unpinned, and --perf records only CPU 1, the pinned server's core",
    );
  const workersList = options.workers;
  if (workersList !== undefined) {
    const bad = workersList.find((n) => !Number.isInteger(n) || n < 1 || n > 256);
    if (bad !== undefined || workersList.length === 0)
      throw new Error(`--workers takes whole numbers from 1 to 256, comma separated`);
    if (options.profile) throw new Error("--profile does not take --workers");
    if (servers.includes("passthrough"))
      throw new Error("--workers applies to callbridge, not the reference forwarder");
    // The floor comparison needs the server pinned to its core, which --workers does not do.
    if (servers.includes("pcmu"))
      throw new Error("--workers applies to callbridge's default configuration, not pcmu");
  }
  // --workers: nothing pinned, for any WORKERS value (see the option).
  const pin = workersList === undefined && hasTaskset() && cpus().length >= 2;
  if (options.perf) {
    if (!pin)
      throw new Error(
        "--perf records CPU 1, the pinned server's core: it needs taskset and at least 2 CPUs",
      );
    checkPerf();
  }
  const perfDir = options.perf
    ? (options.perfDir ?? mkdtempSync(join(tmpdir(), "callbridge-perf-")))
    : undefined;
  if (perfDir) {
    mkdirSync(perfDir, { recursive: true });
    log(`perf: CPU ${SERVER_CPU} recorded over each run's window; data files in ${perfDir}`);
  }
  /** --perf: each run's summary, in the order they ran. */
  const perfSections: string[] = [];
  const steadyS = options.seconds ?? (quick ? 6 : 30);
  const warmupS = options.warmupSeconds ?? (quick ? 2 : 5);
  // The issue asks for medians over several runs; quick mode is a smoke run.
  const runs = options.runs ?? (quick ? 1 : 3);
  // A 5 ms tick would send a quarter of all calls' frames in one burst, and the server would
  // queue them: real calls' frames arrive spread over the 20 ms. 1 ms keeps bursts small.
  const tickMs = options.tickMs ?? 1;
  const fixed = options.calls ?? (quick ? [20] : [50, 100, 200]);
  const extend =
    options.calls === undefined && !quick && !options.profile && workersList === undefined;
  const command =
    options.command ??
    `npx tsx bench/load.ts${quick ? " --quick" : ""}${options.profile ? " --profile" : ""}${options.perf ? " --perf" : ""}`;

  const backends = options.backends ?? ["sqlite"];
  const base: RunSettings = {
    backend: backends[0]!,
    warmupS,
    steadyS,
    tickMs,
    pin,
    serverRoot: options.serverRoot,
    server: servers[0]!,
    dataDir: options.dataDir ?? tmpdir(),
  };

  if (options.profile) {
    const calls = fixed[0] ?? 200;
    const profileDir = options.profileDir ?? mkdtempSync(join(tmpdir(), "callbridge-profile-"));
    mkdirSync(profileDir, { recursive: true });
    log(`profiling the server at ${calls} calls (unpinned); profile in ${profileDir}`);
    const outcome = await runOnce(calls, { ...base, profileDir }, log);
    const profilePath = mainThreadProfile(profileDir);
    return [
      report([outcome], {
        quick,
        command,
        runs: 1,
        steadyS,
        warmupS,
        tickMs,
        dataDir: base.dataDir,
        ordered: [],
      }),
      `Profile: \`${profilePath}\` (whole server lifetime, start-up and shutdown included).`,
      "",
      summarizeProfile(profilePath, 30),
    ].join("\n");
  }

  // Servers, backends and WORKERS values alternate run by run, in the listed order, so that a
  // machine's drift during the session is shared. The forwarder stores nothing: it runs once a
  // round, whatever the backends, with nothing but a folder behind it.
  const variants = servers.flatMap<{
    server: ServerName;
    backend: StorageBackendName;
    workers?: number;
  }>((server) =>
    server === "passthrough"
      ? [{ server, backend: "sqlite" }]
      : backends.flatMap((backend) =>
          (workersList ?? [undefined]).map((workers) => ({ server, backend, workers })),
        ),
  );
  const outcomes: RunOutcome[] = [];
  /** Every run in the order it ran, with its round: the floor comparison's per-round ratios. */
  const ordered: OrderedRun[] = [];
  const counts = [...fixed];
  for (let i = 0; i < counts.length; i++) {
    const calls = counts[i]!;
    const repeats = new Map<string, RunOutcome[]>();
    for (let r = 0; r < runs; r++) {
      const round: RunOutcome[] = [];
      for (const { server, backend, workers } of variants) {
        log(
          `load: ${calls} calls, ${variantName({ server, backend, workers: workers ?? null })}, run ${r + 1} of ${runs} (load average ${loadavg()[0]!.toFixed(2)})`,
        );
        const variant = variantName({ server, backend, workers: workers ?? null });
        const perfFile = perfDir
          ? join(
              perfDir,
              `${calls}-calls-${variant.replace(/[^A-Za-z0-9]+/g, "-")}-round-${r + 1}.perf.data`,
            )
          : undefined;
        const outcome = await runOnce(calls, { ...base, server, backend, workers, perfFile }, log);
        const pair =
          outcome.feedFrames === null
            ? ""
            : `, instance B ${f(outcome.extraCpuMsPerCallS)} ms/call-s with ${outcome.feedFrames} events on its feed`;
        const split = outcome.callsByWorker
          ? `, live calls by worker ${Object.entries(outcome.callsByWorker)
              .map(([worker, n]) => `${worker}: ${n}`)
              .join(", ")}, host busy ${pct(outcome.hostBusyShare)}`
          : "";
        const muLaw =
          server === "callbridge" && outcome.muLawAnswerCalls === 0
            ? ""
            : `, mu-law answers to ${outcome.muLawAnswerCalls} of ${calls} calls`;
        log(
          `  server ${f(outcome.serverCpuMsPerCallS)} ms/call-s, inbound p99 ${f(outcome.inbound.p99)} ms, outbound p99 ${outcome.passthrough ? "n/a" : `${f(outcome.outbound.p99)} ms`}, generator core ${pct(outcome.generatorCoreShare)}, failed ${outcome.failed}${pair}${split}${muLaw}`,
        );
        // Between runs, so that perf script's work is in no window.
        if (outcome.perf) {
          perfSections.push(
            await perfSummary(
              outcome,
              `${variant} at ${calls} calls, round ${r + 1} of ${runs}`,
              log,
            ),
          );
        }
        const key = `${server} ${backend} ${workers ?? ""}`;
        repeats.set(key, [...(repeats.get(key) ?? []), outcome]);
        round.push(outcome);
        ordered.push({ round: r + 1, outcome });
      }
      const floor = round.find((o) => o.passthrough);
      const others = round.filter((o) => !o.passthrough);
      if (floor && others.length > 0) {
        log(
          `  round ${r + 1} of ${runs} at ${calls} calls, against the forwarder's ${f(floor.serverCpuMsPerCallS)} ms/call-s: ${others
            .map((o) => {
              const target = floorTarget(o);
              return `${variantName(o)} ${f(o.serverCpuMsPerCallS / floor.serverCpuMsPerCallS)}×${target === null ? "" : ` (target ≤ ${target}×)`}`;
            })
            .join(", ")}`,
        );
      }
    }
    const combined = [...repeats.values()].map(combine);
    outcomes.push(...combined);
    const last = i === counts.length - 1;
    // Past the fixed counts, 100 more calls while both sides would keep headroom (with every
    // server and backend): a saturated server measures only its own queueing, and its ceiling
    // is extrapolated in the report.
    const grow = (calls + 100) / calls;
    if (
      last &&
      extend &&
      combined.every(
        (o) =>
          o.generatorCoreShare * grow <= GENERATOR_HEADROOM &&
          o.serverCoreShare * grow <= SERVER_HEADROOM &&
          o.failed === 0,
      ) &&
      calls + 100 <= MAX_EXTENDED_CALLS
    ) {
      counts.push(calls + 100);
    }
  }
  const markdown = report(outcomes, {
    quick,
    command,
    runs,
    steadyS,
    warmupS,
    tickMs,
    dataDir: base.dataDir,
    ordered,
  });
  if (!perfDir) return markdown;
  return [markdown, ...perfSectionHeading(perfDir), ...perfSections].join("\n");
}

/**
 * --perf: one run's recording summarised (markdown), kept with its sidecar and a copy of the
 * server's JIT map, whose /tmp original is then deleted.
 */
async function perfSummary(
  outcome: RunOutcome,
  heading: string,
  log: (line: string) => void,
): Promise<string> {
  const perf = outcome.perf!;
  const run = {
    file: perf.file,
    serverPid: perf.serverPid,
    threads: perf.threads,
    calls: outcome.calls,
    windowS: outcome.windowS,
    serverCpuMsPerCallS: outcome.serverCpuMsPerCallS,
    label: heading,
    knownPids: perf.knownPids,
  };
  try {
    if (perf.error) return `##### ${heading}\n\n**No recording**: ${perf.error}\n`;
    keepPerfRun(run);
    const markdown = await summarizePerf(run);
    log(`  perf: ${perf.file} summarised`);
    return markdown;
  } catch (error: unknown) {
    log(`  perf: ${perf.file} could not be summarised: ${error}`);
    return `##### ${heading}\n\n**The recording could not be summarised**: ${error instanceof Error ? error.message : error}\n`;
  } finally {
    removePerfMap(perf.serverPid);
  }
}

interface OrderedRun {
  /** 1-based: the r-th run of every variant at this call count. */
  round: number;
  outcome: RunOutcome;
}

/** The server and its configuration, without the call count: `pcmu`, `callbridge, postgres-s3`. */
function variantName(o: Pick<RunOutcome, "server" | "backend" | "workers">): string {
  if (o.server === "passthrough") return "reference forwarder";
  return [
    o.server,
    o.backend === "sqlite" ? "" : o.backend,
    o.workers === null ? "" : `WORKERS=${o.workers}`,
  ]
    .filter(Boolean)
    .join(", ");
}

/** Issue 21's CPU target against the forwarder (× its CPU per call-second), null for the floor. */
function floorTarget(o: Pick<RunOutcome, "server">): number | null {
  return o.server === "passthrough" ? null : FLOOR_TARGETS[o.server];
}

/** A server core busy this much of the window was saturated: its backlog grew. */
const SATURATED_CORE = 0.9;
const saturated = (o: RunOutcome) => !o.passthrough && o.serverCoreShare >= SATURATED_CORE;

/** Issue 21's targets besides CPU: frame latency (at 100 calls), memory, losses. */
const FLOOR_P99_TARGET_MS = 5;
const FLOOR_P99_TARGET_CALLS = 100;
const FLOOR_RSS_TARGET_KB = 200;

/**
 * Issue 21: each callbridge variant against the reference forwarder ("the floor"), the servers
 * alternating within each round. Every run in order with its ratio to the forwarder's run of the
 * same round and call count, then per call count and variant the medians, the median of those
 * per-round ratios, and the targets.
 */
function floorComparison(ordered: OrderedRun[]): string[] {
  if (!ordered.some((r) => r.outcome.passthrough)) return [];
  if (!ordered.some((r) => !r.outcome.passthrough)) return [];
  const floorOf = (run: OrderedRun) =>
    ordered.find(
      (r) =>
        r.round === run.round && r.outcome.calls === run.outcome.calls && r.outcome.passthrough,
    )?.outcome ?? null;
  const ratio = (run: OrderedRun) => {
    const floor = floorOf(run);
    return floor && !run.outcome.passthrough
      ? run.outcome.serverCpuMsPerCallS / floor.serverCpuMsPerCallS
      : null;
  };
  const lines = [
    "#### Against the floor (issue 21)",
    "",
    "| round | calls | server | server CPU ms / call-s | server core | inbound p99 ms | outbound p99 ms | RSS KB / call | × forwarder (same round) |",
    "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ...ordered.map((run) => {
      const o = run.outcome;
      const x = ratio(run);
      const core = `${pct(o.serverCoreShare)}${saturated(o) ? " (saturated)" : ""}`;
      return `| ${run.round} | ${o.calls} | ${variantName(o)} | ${f(o.serverCpuMsPerCallS)} | ${core} | ${f(o.inbound.p99)} | ${o.passthrough ? "n/a" : f(o.outbound.p99)} | ${f(o.rssPerCallKb, 0)} | ${o.passthrough ? "the floor" : x === null ? "–" : `${f(x)}×`} |`;
    }),
    "",
    `| calls | server | runs | server CPU ms / call-s (median) | × forwarder (median of the rounds') | target | inbound p99 ms (median; ≤ ${FLOOR_P99_TARGET_MS} at ${FLOOR_P99_TARGET_CALLS} calls) | outbound p99 ms (median; ≤ ${FLOOR_P99_TARGET_MS} at ${FLOOR_P99_TARGET_CALLS} calls) | RSS KB / call (median; ≤ ${FLOOR_RSS_TARGET_KB}) | frames lost in + out (total; 0) |`,
    "|---:|---|---:|---:|---:|---|---:|---:|---:|---:|",
  ];
  // Per call count and variant, in the order they ran.
  const groups = new Map<string, OrderedRun[]>();
  for (const run of ordered) {
    const key = `${run.outcome.calls} ${variantName(run.outcome)}`;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  for (const group of groups.values()) {
    const list = group.map((run) => run.outcome);
    const o = list[0]!;
    const med = (pick: (r: RunOutcome) => number | null) =>
      median(list.map(pick).filter((v): v is number => v !== null));
    const cpu = med((r) => r.serverCpuMsPerCallS);
    const x = median(group.map(ratio).filter((v): v is number => v !== null));
    const target = floorTarget(o);
    // A saturated core caps CPU per call-second at 1000 / calls: the ratio is then a floor.
    const capped = list.some(saturated);
    const inbound = med((r) => r.inbound.p99);
    const outbound = med((r) => r.outbound.p99);
    const rss = med((r) => r.rssPerCallKb);
    const inboundLost = list.reduce((a, r) => a + r.inboundLost, 0);
    const outboundLost = list.reduce((a, r) => a + r.outboundLost, 0);
    // The targets are callbridge's: the forwarder's row is the reference, unmarked.
    const judged = target !== null;
    const p99 = (v: number | null) =>
      `${f(v)}${judged && o.calls === FLOOR_P99_TARGET_CALLS ? ` (${mark((v ?? Number.POSITIVE_INFINITY) <= FLOOR_P99_TARGET_MS)})` : ""}`;
    lines.push(
      `| ${o.calls} | ${variantName(o)} | ${list.length} | ${f(cpu)} | ${x === null ? "–" : `${f(x)}×`} | ${
        target === null
          ? "the floor"
          : capped
            ? `≤ ${target}×: not measurable (the server's core saturated: **missed**)`
            : `≤ ${target}×: ${x === null ? "no forwarder run" : mark(x <= target)}`
      } | ${p99(inbound)} | ${o.passthrough ? "n/a" : p99(outbound)} | ${f(rss, 0)}${judged ? ` (${mark((rss ?? Number.POSITIVE_INFINITY) <= FLOOR_RSS_TARGET_KB)})` : ""} | ${
        o.passthrough
          ? `${inboundLost} + n/a`
          : `${inboundLost} + ${outboundLost} (${mark(inboundLost + outboundLost === 0)})`
      } |`,
    );
  }
  const ignored = ordered.filter(
    (r) => r.outcome.server === "pcmu" && r.outcome.muLawAnswerCalls === 0,
  );
  if (ordered.some((r) => saturated(r.outcome))) {
    lines.push(
      "",
      `Saturated: the server's core was busy ${pct(SATURATED_CORE)} or more of the window. It then works through a backlog (the p99s show it), its CPU per call-second is capped at 1000 ms ÷ calls, and its ratio to the forwarder understates what it would need: such a row cannot meet the CPU target.`,
    );
  }
  lines.push(
    "",
    "× forwarder: each run's server CPU per call-second divided by the forwarder's in the same round at the same call count (within a round every server runs once, in the listed order, so the machine's drift is shared); the summary's ratio is the median of those per-round ratios, not a ratio of medians. Targets of issue 21: callbridge ≤ 1.7× the forwarder, pcmu (callbridge with `OPENAI_AUDIO_FORMAT=pcmu`: 8 kHz mu-law both ways to the model) ≤ 1.3×; inbound and outbound p99 ≤ 5 ms at 100 calls; ≤ 200 KB RSS per call; 0 frames lost. The fake answers the forwarder and pcmu in 8 kHz mu-law (both declare `audio/pcmu` output) and callbridge in PCM16 24 kHz; the forwarder forwards each 100 ms delta as one media message, so its outbound latency and frames do not apply.",
    "",
  );
  if (ordered.some((r) => r.outcome.backend !== "sqlite")) {
    lines.push(
      "The forwarder stores nothing: it ran once a round whatever the backend, with no database or object store started for it, and every variant's ratio is to that one run.",
      "",
    );
  }
  if (ignored.length > 0) {
    lines.push(
      `**${ignored.length} pcmu run(s) had no session asking the model for \`audio/pcmu\` output: that server ignores \`OPENAI_AUDIO_FORMAT\`, so those runs measured callbridge's default configuration.**`,
      "",
    );
  }
  return lines;
}

/**
 * PostgreSQL + object storage against the embedded default, per call count: the server's CPU
 * ratio (the issue's target is ≤ 1.15×), the database server's own CPU, and how long after the
 * calls ended every file was in the store (target: within 10 s). For postgres-s3-pair, the cost
 * of membership (issue 19): the server's (instance A's) CPU against the single instance on
 * postgres-s3 at the same call count (target ≤ 1.03×), and the second instance's CPU and feed.
 */
function backendComparison(outcomes: RunOutcome[]): string[] {
  const others = outcomes.filter((o) => o.backend !== "sqlite" && !o.passthrough);
  if (others.length === 0) return [];
  const pairs = others.some((o) => o.backend === "postgres-s3-pair");
  const lines = [
    `| calls | backend | server CPU ms / call-s | × SQLite + folder |${pairs ? " × single instance (postgres-s3) | instance B CPU ms / call-s | events on B's feed |" : ""} database server CPU ms / call-s | every file in the store after |`,
    `|---:|---|---:|---:|${pairs ? "---:|---:|---:|" : ""}---:|---:|`,
  ];
  const ratioTo = (o: RunOutcome, backend: StorageBackendName) => {
    const base = outcomes.find(
      (b) => b.calls === o.calls && b.backend === backend && b.server === o.server,
    );
    return base ? o.serverCpuMsPerCallS / base.serverCpuMsPerCallS : null;
  };
  for (const o of others) {
    const ratio = ratioTo(o, "sqlite");
    const pair = o.backend === "postgres-s3-pair";
    const single = pair ? ratioTo(o, "postgres-s3") : null;
    const membership = pairs
      ? ` ${single === null ? "n/a" : `${single.toFixed(3)}× (${mark(single <= 1.03)})`} | ${pair ? f(o.extraCpuMsPerCallS) : "n/a"} | ${o.feedFrames ?? "n/a"} |`
      : "";
    lines.push(
      `| ${o.calls}${o.server === "callbridge" ? "" : ` (${o.server})`} | ${o.backend} | ${f(o.serverCpuMsPerCallS)} | ${ratio === null ? "n/a" : `${ratio.toFixed(2)}× (${mark(ratio <= 1.15)})`} |${membership} ${f(o.databaseCpuMsPerCallS)} | ${o.uploadedAfterS === null ? "n/a" : `${f(o.uploadedAfterS, 1)} s (${mark(o.uploadedAfterS <= 10)})`} |`,
    );
  }
  if (pairs) {
    lines.push(
      "",
      "postgres-s3-pair: the same database and bucket as postgres-s3, plus a second instance B (pinned with PostgreSQL to the generator's core, no calls of its own) renewing its lease and sweeping, with one live feed of every call (`GET /api/events`) read throughout: each of the server's NOTIFYs is loaded back from the database on B. × single instance: the server's (A's) CPU per call-second against postgres-s3 at the same call count (target of issue 19: ≤ 1.03×). Instance B's CPU is per call-second of A's calls; the database server's CPU includes B's sessions. Events on B's feed: the whole run (the fewest of any run): 0 means nothing was fanned out.",
    );
  }
  return [...lines, ""];
}

/** Issue 19: with WORKERS=1 and WORKERS=2, calls held at p99 ≤ this, inbound and outbound. */
const WORKERS_P99_TARGET_MS = 20;

/**
 * WORKERS=N (issue 19), per call count and WORKERS value: frame latency against the target (p99
 * ≤ 20 ms both ways), losses, how the calls were spread over the workers, the whole server's CPU
 * (its process tree) and its ratio to WORKERS=1 at the same count, and where the host's CPU went.
 */
function workersComparison(outcomes: RunOutcome[]): string[] {
  const runs = outcomes.filter((o) => o.workers !== null && !o.passthrough);
  if (runs.length === 0) return [];
  const cores = cpus().length;
  const row = (o: RunOutcome) =>
    `${o.calls}${o.backend === "sqlite" ? "" : ` (${o.backend})`} | ${o.workers}`;
  const held = (o: RunOutcome) =>
    (o.inbound.p99 ?? Number.POSITIVE_INFINITY) <= WORKERS_P99_TARGET_MS &&
    (o.outbound.p99 ?? Number.POSITIVE_INFINITY) <= WORKERS_P99_TARGET_MS;
  const ratioToOne = (o: RunOutcome) => {
    const one = runs.find((b) => b.calls === o.calls && b.backend === o.backend && b.workers === 1);
    return one && o.workers !== 1 ? o.serverCpuMsPerCallS / one.serverCpuMsPerCallS : null;
  };
  const split = (o: RunOutcome) =>
    o.callsByWorker
      ? Object.entries(o.callsByWorker)
          .sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }))
          .map(([worker, n]) => (worker === "single" ? `${n}` : `w${worker}: ${n}`))
          .join(", ")
      : "–";
  const stall = (s: StallSummary | null) =>
    s === null ? "n/a" : s.count === 0 ? "none" : `${s.count} / ${s.maxMs} ms`;
  const lines = [
    `#### WORKERS (issue 19: calls held at p99 ≤ ${WORKERS_P99_TARGET_MS} ms, inbound and outbound)`,
    "",
    "| calls | WORKERS | inbound p50 / p99 ms | outbound p50 / p99 ms | p99 ≤ 20 ms | frames lost in / out | calls failed | live calls by worker at the window's end |",
    "|---:|---:|---:|---:|---|---:|---:|---|",
    ...runs.map(
      (o) =>
        `| ${row(o)} | ${f(o.inbound.p50)} / ${f(o.inbound.p99)} | ${f(o.outbound.p50)} / ${f(o.outbound.p99)} | ${mark(held(o))} | ${o.inboundLost} / ${o.outboundLost} | ${o.failed} | ${split(o)} |`,
    ),
    "",
    `| calls | WORKERS | server CPU ms / call-s (whole tree) | × WORKERS=1 | of which the primary | server cores | generator cores | host busy (of ${cores} cores) | others' cores | server stalls: workers (primary), count / longest |`,
    "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...runs.map((o) => {
      const ratio = ratioToOne(o);
      return `| ${row(o)} | ${f(o.serverCpuMsPerCallS)} | ${ratio === null ? "–" : `${ratio.toFixed(2)}×`} | ${o.primaryCpuMsPerCallS === null ? "n/a" : f(o.primaryCpuMsPerCallS)} | ${f(o.serverCoreShare)} | ${f(o.generatorCoreShare)} | ${pct(o.hostBusyShare)} | ${f(o.otherCores)} | ${stall(o.serverStalls)} (${stall(o.primaryStalls)}) |`;
    }),
    "",
  ];
  const clustered = runs.find((o) => (o.workers ?? 1) > 1);
  const monitored = clustered
    ? `In the WORKERS=${clustered.workers} runs the stall monitor (preloaded through the primary's execArgv, which \`node:cluster\` gives each worker) ran in ${clustered.monitored
        .map((m) => (m.worker === null ? `the primary (pid ${m.pid})` : `worker ${m.worker}`))
        .join(", ")}; the workers' stalls are added up, the primary's shown apart.`
    : "";
  const ended = runs.reduce((a, o) => a + o.serverProcessesEnded, 0);
  const processes = runs
    .map(
      (o) => `WORKERS=${o.workers}: ${o.serverProcesses.length} (${o.serverProcesses.join(", ")})`,
    )
    .filter((v, i, all) => all.indexOf(v) === i)
    .join("; ");
  const busiest = runs.reduce((a, o) => ((o.hostBusyShare ?? 0) > (a.hostBusyShare ?? 0) ? o : a));
  lines.push(
    `How: the server is started with \`WORKERS=<n>\`, the WORKERS values alternating run by run at each call count; nothing is pinned, for any value, so the server's processes and the generator (with the fake OpenAI) share all ${cores} cores as the scheduler places them. Latency is measured on the generator's clock (inbound: a Twilio frame sent → its append at the fake; outbound: a delta sent → its first Twilio frame back), so it includes any wait for a core on either side. Server CPU: utime + stime of every process in the server's tree (${processes}) from window start to end${ended > 0 ? `; **${ended} server process(es) ended during a window, so their CPU is missing**` : ""}; server, generator and others' cores are CPU time / window time. Host busy: /proc/stat over the window, all cores (everything but idle and iowait); others' cores: host busy time not used by the server, the generator, the database, a second instance or the bench's own process (other tenants of the machine). Live calls by worker: \`callbridge_active_calls{worker}\` from one /metrics scrape at the window's end (the most uneven of the runs). ${monitored}`,
    "",
    `What limits it: the generator is not free: it plays every caller and the model, on the same cores as the server (${f(busiest.generatorCoreShare)} cores at ${busiest.calls} calls, WORKERS=${busiest.workers}), and the host was at most ${pct(busiest.hostBusyShare)} busy there. Once the host is near 100% busy, p99 measures queueing for a core (the server's or the generator's) as much as the server's own work; a second worker can only help while a core is free, and costs its own process (event loop, GC, heap) and the primary's hand-off of each connection. Others' cores above 0 mean other work on the machine shared the cores during the window.`,
    "",
  );
  return lines;
}

function argValue(argv: string[], name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

if (process.argv[1]?.endsWith("load.ts")) {
  const argv = process.argv.slice(2);
  const calls = argValue(argv, "--calls");
  const seconds = argValue(argv, "--seconds");
  const warmup = argValue(argv, "--warmup");
  const runs = argValue(argv, "--runs");
  const tick = argValue(argv, "--tick-ms");
  runLoadBench({
    quick: argv.includes("--quick"),
    profile: argv.includes("--profile"),
    profileDir: argValue(argv, "--profile-dir"),
    perf: argv.includes("--perf"),
    perfDir: argValue(argv, "--perf-dir"),
    calls: calls ? calls.split(",").map(Number) : undefined,
    seconds: seconds ? Number(seconds) : undefined,
    warmupSeconds: warmup ? Number(warmup) : undefined,
    runs: runs ? Number(runs) : undefined,
    tickMs: tick ? Number(tick) : undefined,
    serverRoot: argValue(argv, "--server-root"),
    workers: argValue(argv, "--workers")?.split(",").map(Number),
    servers: argValue(argv, "--server")?.split(",").map(parseServerName),
    dataDir: argValue(argv, "--data-dir"),
    backends: argValue(argv, "--backend")?.split(",").map(parseStorageBackend),
    command: `npx tsx bench/load.ts${argv.length ? ` ${argv.join(" ")}` : ""}`,
  }).then(
    (markdown) => process.stdout.write(`${markdown}\n`),
    (error: unknown) => {
      process.stderr.write(`load bench failed: ${error instanceof Error ? error.stack : error}\n`);
      process.exit(1);
    },
  );
}
