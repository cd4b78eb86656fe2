import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { encodeMuLaw } from "../src/domain/audio/index.ts";
import { speechLike } from "../test/support/signals.ts";
import { FRAME_BYTES, TwilioSimulator } from "../test/support/twilio-simulator.ts";
import { type ChildServer, readRssBytes, spawnServer } from "./lib/child-server.ts";
import { metric, scrapeMetrics, waitForMetrics } from "./lib/server-metrics.ts";

export interface MemoryBenchOptions {
  /** 5 calls of 1 simulated minute instead of 20 calls of 10. */
  quick?: boolean;
  calls?: number;
  /** Simulated call length. */
  seconds?: number;
}

const FRAMES_PER_SECOND = 50;
const MiB = 2 ** 20;
/** Distinct audio per second of call, looped, so the recordings are not one repeated frame. */
const SIGNAL_SECONDS = 10;

interface Point {
  label: string;
  audioSeconds: number | null;
  rss: number;
  heapUsed: number;
}

interface Recorded {
  caller: number[];
  conversation: number[];
}

const mib = (bytes: number) => (bytes / MiB).toFixed(1);
const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

async function snapshot(server: ChildServer, label: string, audioSeconds: number | null) {
  const metrics = await scrapeMetrics(server.baseUrl);
  return {
    label,
    audioSeconds,
    rss: await readRssBytes(server.pid),
    heapUsed: metric(metrics, "callbridge_nodejs_heap_size_used_bytes"),
  };
}

async function recordedDurations(server: ChildServer, streamSids: string[]): Promise<Recorded> {
  const recorded: Recorded = { caller: [], conversation: [] };
  for (const streamSid of streamSids) {
    const page = (await (
      await fetch(`${server.baseUrl}/api/calls?streamSid=${encodeURIComponent(streamSid)}`)
    ).json()) as { data: { id: string }[] };
    const id = page.data[0]?.id;
    if (id === undefined) throw new Error(`no call for stream ${streamSid}`);
    const call = (await (await fetch(`${server.baseUrl}/api/calls/${id}`)).json()) as {
      recordings: { track: string; durationSeconds: number }[];
    };
    for (const recording of call.recordings) {
      if (recording.track === "caller") recorded.caller.push(recording.durationSeconds);
      if (recording.track === "conversation") recorded.conversation.push(recording.durationSeconds);
    }
  }
  return recorded;
}

/**
 * Issue 3: "Memory per active call stays bounded and does not grow with call length. Report RSS
 * over a simulated 10-minute call." The server runs in its own process (record-only, so each
 * call writes the caller track and the stereo conversation track), and its RSS is read from
 * /proc/<pid>/status while K calls stream 10 minutes of audio each as fast as it takes them.
 *
 * Pacing: calls advance in lockstep rounds of one second of audio each, and a round waits for
 * the server's frames-in counter to count every frame sent. So the server never has more than
 * one second of a call unprocessed: a burst larger than the recording writer's three one-second
 * buffers would be dropped by design (a live call cannot wait for the disk), which would make
 * the recordings incomplete and the memory figures meaningless.
 */
export async function runMemoryBench(options: MemoryBenchOptions = {}): Promise<string> {
  const quick = options.quick ?? false;
  const callCount = options.calls ?? (quick ? 5 : 20);
  const seconds = options.seconds ?? (quick ? 60 : 600);
  const sampleEvery = Math.max(1, Math.round(seconds / 60));
  const checkpoints = new Set([Math.round(seconds / 10), Math.round(seconds / 2), seconds]);

  const dir = mkdtempSync(join(tmpdir(), "callbridge-memory-"));
  let server: ChildServer | null = null;
  const sims: TwilioSimulator[] = [];
  try {
    server = await spawnServer({
      databasePath: join(dir, "calls.db"),
      recordingsDir: join(dir, "recordings"),
    });
    const baseUrl = server.baseUrl;
    // Let start-up garbage settle so "idle" is the server's floor, not its boot peak.
    await sleep(1000);
    const points: Point[] = [await snapshot(server, "server idle, no call", null)];

    for (let i = 0; i < callCount; i++) {
      sims.push(
        await TwilioSimulator.connect({
          url: server.mediaStreamUrl,
          realtime: false,
          recordMessages: false,
        }),
      );
    }
    await waitForMetrics(
      baseUrl,
      (m) => metric(m, "callbridge_active_calls") === callCount,
      10_000,
      `${callCount} active calls`,
    );
    points.push(await snapshot(server, `${callCount} calls connected`, 0));

    const signal = encodeMuLaw(speechLike(SIGNAL_SECONDS * 1000, 8000));
    const secondBytes = FRAMES_PER_SECOND * FRAME_BYTES;
    const series: number[] = [];
    let peakRss = 0;
    const startedMs = performance.now();
    for (let second = 1; second <= seconds; second++) {
      const offset = ((second - 1) % SIGNAL_SECONDS) * secondBytes;
      const chunk = signal.subarray(offset, offset + secondBytes);
      await Promise.all(sims.map((sim) => sim.playMuLaw(chunk, { realtime: false })));
      const expected = callCount * FRAMES_PER_SECOND * second;
      await waitForMetrics(
        baseUrl,
        (m) => metric(m, "callbridge_frames_in_total") >= expected,
        30_000,
        `the server to take second ${second}`,
      );
      if (second % sampleEvery === 0) {
        const rss = await readRssBytes(server.pid);
        series.push(rss);
        peakRss = Math.max(peakRss, rss);
      }
      if (checkpoints.has(second)) {
        const minutes = second / 60;
        const label = Number.isInteger(minutes) ? `after ${minutes} min` : `after ${second} s`;
        points.push(await snapshot(server, `${label} of audio per call`, second));
      }
    }
    const elapsedSeconds = (performance.now() - startedMs) / 1000;

    await Promise.all(sims.map((sim) => sim.hangUp()));
    const ended = await waitForMetrics(
      baseUrl,
      (m) => metric(m, "callbridge_active_calls") === 0,
      60_000,
      "every call to end",
    );
    points.push(await snapshot(server, "all calls ended", null));
    const recorded = await recordedDurations(
      server,
      sims.map((sim) => sim.streamSid),
    );
    const overflows = metric(ended, "callbridge_errors_total", { kind: "recording_overflow" });
    const storageErrors = metric(ended, "callbridge_errors_total") - overflows;
    const droppedLogs = server.logs.filter((l) =>
      String(l.msg ?? "").includes("dropped audio"),
    ).length;

    const idle = points[0]!;
    const byAudio = (s: number) => points.find((p) => p.audioSeconds === s)!;
    const first = byAudio(Math.round(seconds / 10));
    const last = byAudio(seconds);
    const perCall = (first.rss - idle.rss) / callCount;
    const perCallEnd = (last.rss - idle.rss) / callCount;
    const growth = last.rss - first.rss;
    const complete = (list: number[]) => list.filter((d) => Math.abs(d - seconds) < 1e-6).length;
    const frames = callCount * seconds * FRAMES_PER_SECOND;

    return [
      `### Memory: server RSS over ${seconds / 60}-minute calls${quick ? " (quick)" : ""}`,
      "",
      `${callCount} simultaneous record-only calls (caller track + stereo conversation track each), ` +
        `${seconds} s of speech-like audio per call (${(seconds * FRAMES_PER_SECOND).toLocaleString("en-US")} frames a call, ` +
        `${frames.toLocaleString("en-US")} in all), sent as fast as the server takes them: ` +
        "the calls advance in lockstep rounds of 1 s of audio, each round waiting for the server's " +
        "`callbridge_frames_in_total` to count it, so no call ever has more than 1 s of audio in flight. " +
        "The server runs in its own process (`node --import tsx src/main.ts`); RSS is its `VmRSS` " +
        "from `/proc/<pid>/status`, V8 heap from its `/metrics`.",
      "",
      "| point | RSS MiB | V8 heap used MiB |",
      "|---|---:|---:|",
      ...points.map((p) => `| ${p.label} | ${mib(p.rss)} | ${mib(p.heapUsed)} |`),
      `| peak during the calls (sampled every ${sampleEvery} s of audio) | ${mib(peakRss)} | |`,
      "",
      `- RSS per active call: ${mib(perCall)} MiB after ${first.audioSeconds} s of audio ` +
        `((RSS − idle) / ${callCount}), ${mib(perCallEnd)} MiB after ${last.audioSeconds} s.`,
      `- Growth from ${first.audioSeconds} s to ${last.audioSeconds} s of audio: ${mib(growth)} MiB in all, ` +
        `${mib(growth / callCount)} MiB per call.`,
      `- RSS every ${sampleEvery * 10} s of audio, MiB: ${series
        .filter((_, i) => i % 10 === 9)
        .map(mib)
        .join(", ")}.`,
      `- Recordings complete (exactly ${seconds.toFixed(3)} s): caller ${complete(recorded.caller)}/${callCount}, ` +
        `conversation ${complete(recorded.conversation)}/${callCount}; recording overflows ${overflows}, ` +
        `other counted errors ${storageErrors}, "dropped audio" log lines ${droppedLogs}.`,
      `- Throughput: ${((callCount * seconds) / elapsedSeconds).toFixed(0)} s of call audio per wall-clock second ` +
        `(${elapsedSeconds.toFixed(1)} s for ${((callCount * seconds) / 60).toFixed(0)} call-minutes, ` +
        `${Math.round(frames / elapsedSeconds).toLocaleString("en-US")} frames/s, client in another process on the same machine).`,
      "",
    ].join("\n");
  } finally {
    for (const sim of sims) sim.terminate();
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith("memory.ts")) {
  runMemoryBench({ quick: process.argv.includes("--quick") }).then((markdown) =>
    process.stdout.write(`${markdown}\n`),
  );
}
