export interface RestartBackoffOptions {
  /** Wait before a worker that failed quickly is started again; doubles with each failure in a row. */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** A worker that ran this long (and listened) before it exited was healthy: no wait. */
  stableAfterMs?: number;
  /** A worker that has never listened and failed this many times in a row is not retried. */
  giveUpAfter?: number;
}

export type RestartDecision =
  | { action: "restart"; delayMs: number; failuresInARow: number }
  | { action: "give-up"; failuresInARow: number };

interface Slot {
  startedAtMs: number;
  listening: boolean;
  everListened: boolean;
  failuresInARow: number;
}

/**
 * When to start a worker again after it exited. A worker that crashed after running a while is
 * replaced at once: its calls are lost already, and the sooner a new one (with the same id)
 * recovers them the better. One that keeps failing at start (a bad database path, a port taken,
 * a module that does not load) would otherwise spin the machine: it waits 0.5 s, 1 s, 2 s…
 * up to 30 s. One that has never listened at all is given up after a few tries, so that a
 * configuration the workers cannot start with stops the server with an error instead of
 * looping forever; a worker that served before keeps being retried, as the others still serve.
 */
export class RestartBackoff {
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly stableAfterMs: number;
  private readonly giveUpAfter: number;
  private readonly slots = new Map<number, Slot>();

  constructor(options: RestartBackoffOptions = {}) {
    this.initialDelayMs = options.initialDelayMs ?? 500;
    this.maxDelayMs = options.maxDelayMs ?? 30_000;
    this.stableAfterMs = options.stableAfterMs ?? 10_000;
    this.giveUpAfter = options.giveUpAfter ?? 5;
  }

  started(index: number, nowMs: number): void {
    const slot = this.slots.get(index);
    this.slots.set(index, {
      startedAtMs: nowMs,
      listening: false,
      everListened: slot?.everListened ?? false,
      failuresInARow: slot?.failuresInARow ?? 0,
    });
  }

  listening(index: number): void {
    const slot = this.slots.get(index);
    if (slot === undefined) return;
    slot.listening = true;
    slot.everListened = true;
  }

  exited(index: number, nowMs: number): RestartDecision {
    const slot = this.slots.get(index) ?? {
      startedAtMs: nowMs,
      listening: false,
      everListened: false,
      failuresInARow: 0,
    };
    this.slots.set(index, slot);
    const healthy = slot.listening && nowMs - slot.startedAtMs >= this.stableAfterMs;
    if (healthy) {
      slot.failuresInARow = 0;
      return { action: "restart", delayMs: 0, failuresInARow: 0 };
    }
    slot.failuresInARow++;
    const failuresInARow = slot.failuresInARow;
    if (!slot.everListened && failuresInARow >= this.giveUpAfter) {
      return { action: "give-up", failuresInARow };
    }
    const delayMs = Math.min(this.initialDelayMs * 2 ** (failuresInARow - 1), this.maxDelayMs);
    return { action: "restart", delayMs, failuresInARow };
  }
}
