import type { Clock, IdGenerator } from "../../src/application/ports/index.ts";

/**
 * A Clock that reads Date.now(), so that under `vi.useFakeTimers()` it moves exactly as
 * `vi.advanceTimersByTime()` moves the timers: time and the timers a session sets never drift
 * apart. A fresh Date each time, so a caller that mutates one changes nothing else.
 */
export const fakeTimersClock: Clock = { now: () => new Date(Date.now()) };

/** A Clock that stands still until the test sets or advances it, independent of any timers. */
export class SettableClock implements Clock {
  private ms: number;

  constructor(start: Date | number = Date.parse("2026-01-01T10:00:00.000Z")) {
    this.ms = typeof start === "number" ? start : start.getTime();
  }

  now(): Date {
    return new Date(this.ms);
  }

  set(at: Date | number): void {
    this.ms = typeof at === "number" ? at : at.getTime();
  }

  advance(ms: number): void {
    this.ms += ms;
  }
}

export interface SequentialIds extends IdGenerator {
  /** How many ids have been handed out. */
  readonly issued: number;
}

/**
 * Ids `<prefix>-000001`, `<prefix>-000002`, ...: predictable in assertions, and zero-padded so
 * that they sort in the order they were made, as the server's UUIDv7 ids do (the calls list
 * breaks ties on id).
 */
export function sequentialIds(prefix = "id"): SequentialIds {
  let issued = 0;
  return {
    newId: () => `${prefix}-${String(++issued).padStart(6, "0")}`,
    get issued() {
      return issued;
    },
  };
}
