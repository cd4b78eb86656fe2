import type { Logger } from "../../application/ports/index.ts";
import { type ActivityTracker, type OverlappingActivity, roundMs } from "./activity-tracker.ts";

/** A delay above this holds up every call's audio by more than one 20 ms frame: logged. */
export const STALL_THRESHOLD_MS = 20;
/** At most one stall line per window; the window's other stalls are folded into one line. */
export const STALL_LOG_WINDOW_MS = 10_000;
/**
 * How often the watchdog looks at the clock: fine enough to measure a 20 ms stall, and 100
 * cheap timer callbacks a second beside the thousands of frames the loop carries.
 */
export const WATCHDOG_INTERVAL_MS = 10;
/** Activities named per stall line; the longest are the likely culprits. */
const ACTIVITIES_PER_LINE = 5;

export interface EventLoopWatchdogOptions {
  logger: Logger;
  activity: ActivityTracker;
  liveCalls(): number;
  /** Every tick's delay, for the histogram. */
  onDelay?(seconds: number): void;
  /** Every stall, logged or folded, for the counter. */
  onStall?(seconds: number): void;
  thresholdMs?: number;
  logWindowMs?: number;
  intervalMs?: number;
}

interface Stall {
  ms: number;
  liveCalls: number;
  running: OverlappingActivity[];
}

/**
 * Measures the event loop's delay with a timer that notes how late it fired, and logs stalls at
 * warn with what was running. A timer rather than perf_hooks.monitorEventLoopDelay: the same
 * measurement, but each delay is seen one by one, so the histogram has exact bucket counts (the
 * HDR histogram only answers percentiles) and the stall log names the activities of that very
 * moment. No work per audio frame: only this timer and the spans' bookkeeping.
 */
export class EventLoopWatchdog {
  private readonly thresholdMs: number;
  private readonly windowMs: number;
  private readonly intervalMs: number;
  private timer: ReturnType<typeof setInterval> | null = null;
  private lastTick = 0;
  private lastLineAt = Number.NEGATIVE_INFINITY;
  /** Stalls seen since the last line, and the worst of them. */
  private pending = 0;
  private worst: Stall | null = null;

  constructor(private readonly options: EventLoopWatchdogOptions) {
    this.thresholdMs = options.thresholdMs ?? STALL_THRESHOLD_MS;
    this.windowMs = options.logWindowMs ?? STALL_LOG_WINDOW_MS;
    this.intervalMs = options.intervalMs ?? WATCHDOG_INTERVAL_MS;
  }

  start(): this {
    if (this.timer) return this;
    this.lastTick = performance.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    // Watching the loop is never a reason to keep the process alive.
    this.timer.unref();
    return this;
  }

  /** Stops the timer and logs the stalls still folded, so that none goes unreported. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.flush();
  }

  private tick(): void {
    const now = performance.now();
    const delayMs = Math.max(0, now - this.lastTick - this.intervalMs);
    const since = this.lastTick;
    this.lastTick = now;
    this.options.onDelay?.(delayMs / 1000);
    if (delayMs > this.thresholdMs) this.stalled(delayMs, since, now);
    if (this.pending > 0 && now - this.lastLineAt >= this.windowMs) this.flush(now);
  }

  private stalled(ms: number, from: number, to: number): void {
    this.options.onStall?.(ms / 1000);
    this.pending++;
    if (this.worst && this.worst.ms >= ms) return;
    // The loop was last seen free at `from`: anything that ran since may have held it.
    this.worst = {
      ms,
      liveCalls: this.options.liveCalls(),
      running: this.options.activity.overlapping(from, to, ACTIVITIES_PER_LINE),
    };
  }

  private flush(now = performance.now()): void {
    const worst = this.worst;
    if (this.pending === 0 || !worst) return;
    this.options.logger.warn(
      {
        stalls: this.pending,
        worstMs: roundMs(worst.ms),
        thresholdMs: this.thresholdMs,
        liveCalls: worst.liveCalls,
        running: worst.running,
      },
      "event loop stalled",
    );
    this.lastLineAt = now;
    this.pending = 0;
    this.worst = null;
  }
}
