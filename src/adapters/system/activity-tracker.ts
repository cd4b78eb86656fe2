import type { ActivitySpan, ActivitySpans } from "../../application/ports/index.ts";

/**
 * Ended spans kept for the watchdog. Synchronous work has always ended by the time the
 * watchdog's timer gets to run, so the culprit of a stall is usually among these; only the
 * callbacks that ran between the stall and that timer can push it out.
 */
const RECENT_SPANS = 64;

/** One activity that overlapped a moment of interest, as the stall log shows it. */
export interface OverlappingActivity {
  what: string;
  /** How long it ran (so far, when still in flight). */
  ms: number;
  inFlight: boolean;
}

class Span implements ActivitySpan {
  endedAt = Number.NaN;

  constructor(
    private readonly tracker: ActivityTracker,
    public label: string,
    readonly startedAt: number,
  ) {}

  end(label?: string): void {
    if (label !== undefined) this.label = label;
    this.tracker.ended(this);
  }
}

/**
 * What is running on the event loop: spans that are open (in-flight HTTP requests, a retention
 * run) and the last few that ended, so that a stall noticed after the fact can still be blamed.
 * Costs one small object and a Set insert per span; nothing on the audio path uses it.
 */
export class ActivityTracker implements ActivitySpans {
  private readonly open = new Set<Span>();
  private readonly recent: (Span | undefined)[] = new Array(RECENT_SPANS);
  private nextRecent = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  begin(label: string): ActivitySpan {
    const span = new Span(this, label, this.now());
    this.open.add(span);
    return span;
  }

  /** Runs `work` as a span that lasts until its promise settles. */
  async track<T>(label: string, work: () => Promise<T>): Promise<T> {
    const span = this.begin(label);
    try {
      return await work();
    } finally {
      span.end();
    }
  }

  /** @internal Called by Span.end(); a second end() of the same span is ignored. */
  ended(span: Span): void {
    if (!this.open.delete(span)) return;
    span.endedAt = this.now();
    this.recent[this.nextRecent] = span;
    this.nextRecent = (this.nextRecent + 1) % RECENT_SPANS;
  }

  get inFlight(): number {
    return this.open.size;
  }

  /**
   * Activities that ran at some time in [from, to], longest first, at most `limit`. Only called
   * when a stall was seen, so it may allocate.
   */
  overlapping(from: number, to: number, limit: number): OverlappingActivity[] {
    const found: OverlappingActivity[] = [];
    for (const span of this.open) {
      if (span.startedAt <= to) {
        found.push({ what: span.label, ms: roundMs(to - span.startedAt), inFlight: true });
      }
    }
    for (const span of this.recent) {
      if (span && span.endedAt >= from && span.startedAt <= to) {
        found.push({
          what: span.label,
          ms: roundMs(span.endedAt - span.startedAt),
          inFlight: false,
        });
      }
    }
    found.sort((a, b) => b.ms - a.ms);
    return found.length > limit ? found.slice(0, limit) : found;
  }
}

export function roundMs(ms: number): number {
  return Math.round(ms * 10) / 10;
}
