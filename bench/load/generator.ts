/**
 * The load generator: the fake OpenAI and N simulated Twilio calls in one process, so inbound
 * and outbound latencies are measured on one clock. bench/load.ts forks it pinned to its own
 * core (`taskset -c 0 node --import tsx bench/load/generator.ts`) and drives it over IPC.
 */
import { assistantAnswers, callerPayloads } from "./audio.ts";
import { BenchCall, type CallPlan, RunStats } from "./bench-call.ts";
import { LightFakeRealtime } from "./light-fake.ts";
import type { GeneratorMessage, GeneratorResult, RunRequest } from "./protocol.ts";
import { type Stall, stalls, summarizeStalls } from "./stalls.ts";

const CONNECT_TIMEOUT_MS = 10_000;
const MODEL_CONNECT_TIMEOUT_MS = 5000;
/** After the window closes: time for in-flight frames, then hang-up. */
const SETTLE_MS = 500;
const CLOSE_TIMEOUT_MS = 15_000;

function post(message: GeneratorMessage): void {
  process.send?.(message);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function run(request: RunRequest, fake: LightFakeRealtime): Promise<GeneratorResult> {
  const stats = new RunStats();
  // Each model connection answers in the output format its session asked for (PCM16 24 kHz, or
  // 8 kHz mu-law for audio/pcmu): the same chord and the same number of deltas either way.
  const answers = assistantAnswers(request.answerMs, request.deltaMs);
  fake.answers = answers;
  const answerMs = Math.max(
    ...[answers.pcm16, answers.pcmu].map((answer) => answer.deltas.length * answer.deltaMs),
  );
  const plan: CallPlan = {
    turnPeriodMs: request.turnPeriodMs,
    toneMs: request.toneMs,
    // Tone, the silence that ends the turn, the answer's delays, the answer, then its playback.
    turnSpanMs: request.toneMs + 500 + 250 + answerMs + 500,
    payloads: callerPayloads(),
  };
  const calls: BenchCall[] = [];
  const timer = setInterval(() => {
    const now = performance.now();
    for (const call of calls) call.tick(now);
    fake.tick(now);
  }, request.tickMs);

  const rampStart = performance.now();
  let failed = 0;
  for (let i = 0; i < request.calls; i++) {
    const call = new BenchCall(i, request.idPrefix, plan, stats);
    calls.push(call);
    const claimed = fake.expect(call, MODEL_CONNECT_TIMEOUT_MS);
    try {
      await call.connect(request.serverUrl, CONNECT_TIMEOUT_MS);
    } catch {
      failed++;
      continue;
    }
    if (!(await claimed)) {
      call.failure ??= "the bridge opened no model socket";
      failed++;
    }
  }
  const rampMs = performance.now() - rampStart;
  post({ type: "ramped", started: request.calls - failed, failed, rampMs });

  const windowStart = performance.now() + request.warmupS * 1000;
  const windowEnd = windowStart + request.steadyS * 1000;
  const endAt = windowEnd + SETTLE_MS;
  for (const call of calls) call.endAt = endAt;
  stats.windowStartedAt = windowStart;
  stats.windowEndedAt = windowEnd;
  await sleep(windowStart - performance.now());
  stats.windowOpen = true;
  post({ type: "window-start" });
  const stallList: Stall[] = [];
  const watch = stalls((stall) => stallList.push(stall));
  watch.start();
  await sleep(windowEnd - performance.now());
  watch.stop();
  stats.windowOpen = false;
  post({ type: "window-end" });
  await sleep(endAt - performance.now());

  await Promise.all(calls.map((call) => call.hangUp()));
  await Promise.all(calls.map((call) => fake.whenClosed(call, CLOSE_TIMEOUT_MS)));
  clearInterval(timer);
  return {
    calls: calls.map((call) => call.result()),
    inbound: stats.inbound.summary(),
    outbound: stats.outbound.summary(),
    sendLagP99Ms: stats.sendLag.summary().p99,
    stalls: summarizeStalls(stallList),
  };
}

async function main(): Promise<void> {
  // The parent owns this process: if it goes away, so does the generator.
  process.on("disconnect", () => process.exit(0));
  const fake = await LightFakeRealtime.listen();
  process.once("message", (message: RunRequest) => {
    if (message.type !== "run") return;
    run(message, fake).then(
      (result) => {
        post({ type: "result", result });
        void fake.close().finally(() => process.disconnect?.());
      },
      (error: unknown) =>
        post({ type: "error", message: error instanceof Error ? error.message : String(error) }),
    );
  });
  post({ type: "ready", fakeUrl: fake.url });
}

void main();
