import type { ActivitySpans } from "../../application/ports/index.ts";

export interface ScheduledJob {
  /** Cancels later runs and waits for a run in progress, so nothing outlives shutdown. */
  stop(): Promise<void>;
}

export interface ScheduleOptions {
  intervalMs: number;
  /** Run once right away (on the next tick) rather than after the first interval. */
  runAtStart?: boolean;
  /** A failed run is reported here; the schedule goes on. */
  onError(error: unknown): void;
  /** Each run is an activity under this label, so that a stall during it names the job. */
  activity?: { spans: ActivitySpans; label: string };
}

/**
 * Runs `job` every `intervalMs`, measured from the end of the previous run, so two runs never
 * overlap however long one takes. The timers are unref'd: a pending run never keeps the process
 * alive.
 */
export function scheduleEvery(job: () => Promise<unknown>, options: ScheduleOptions): ScheduledJob {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | null = null;
  let running: Promise<void> | null = null;

  const schedule = (delayMs: number) => {
    if (stopped) return;
    timer = setTimeout(tick, delayMs);
    timer.unref();
  };

  function tick(): void {
    timer = null;
    if (stopped) return;
    running = (async () => {
      const span = options.activity?.spans.begin(options.activity.label);
      try {
        await job();
      } catch (error) {
        options.onError(error);
      } finally {
        span?.end();
      }
    })().finally(() => {
      running = null;
      schedule(options.intervalMs);
    });
  }

  schedule(options.runAtStart ? 0 : options.intervalMs);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}
