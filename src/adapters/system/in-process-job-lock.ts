import type { JobLock, JobRun } from "../../application/ports/index.ts";

/**
 * The job lock of one process (the embedded SQLite default): a job runs once at a time here,
 * and nowhere else shares the data.
 */
export class InProcessJobLock implements JobLock {
  private readonly running = new Set<string>();

  async runExclusive<T>(job: string, work: () => Promise<T>): Promise<JobRun<T>> {
    if (this.running.has(job)) return { ran: false };
    this.running.add(job);
    try {
      return { ran: true, result: await work() };
    } finally {
      this.running.delete(job);
    }
  }

  async close(): Promise<void> {}
}
