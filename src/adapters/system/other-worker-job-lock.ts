import type { JobLock, JobRun } from "../../application/ports/index.ts";

/**
 * The job lock of a cluster worker that is not the one designated for singleton jobs, on SQLite
 * (one machine, no advisory locks): worker 1 runs retention and the expired-lease sweep, the
 * others never do, so the work is done once per machine. A crashed worker 1 is restarted by the
 * primary and runs them again.
 */
export class OtherWorkerJobLock implements JobLock {
  async runExclusive<T>(): Promise<JobRun<T>> {
    return { ran: false };
  }

  async close(): Promise<void> {}
}

/** The worker (by index) that runs a machine's singleton jobs on SQLite. */
export const SINGLETON_JOBS_WORKER = 1;
