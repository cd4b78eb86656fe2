export interface Clock {
  now(): Date;
}

export interface IdGenerator {
  newId(): string;
}

/** The structured logger the application writes to (pino satisfies it). */
export interface Logger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  child(bindings: Record<string, unknown>): Logger;
}

/** One piece of labelled work, from begin() until end(). */
export interface ActivitySpan {
  /** `label` replaces the one given at begin (an HTTP route is certain only once it answered). */
  end(label?: string): void;
}

/**
 * Names work done on the event loop, so that the stall watchdog can say what was running when
 * the audio of every call was held up. Never used per audio frame.
 */
export interface ActivitySpans {
  begin(label: string): ActivitySpan;
}

/**
 * Jobs that must run on one instance at a time however many share the data (retention; later
 * the sweep of expired call leases): a run asked for while another instance runs the same job
 * is skipped, not queued, since that other run does the work.
 */
export interface JobLock {
  /** Runs `work` if no other holder runs `job` now: `{ ran: false }` when one does. */
  runExclusive<T>(job: string, work: () => Promise<T>): Promise<JobRun<T>>;
  close(): Promise<void>;
}

export type JobRun<T> = { ran: true; result: T } | { ran: false };
