import pg from "pg";
import type { JobLock, JobRun } from "../../application/ports/index.ts";
import { InProcessJobLock } from "../system/in-process-job-lock.ts";

/**
 * A job lock shared by every instance on one PostgreSQL database: a session-level advisory lock
 * (pg_try_advisory_lock), keyed by the job's name, held on a connection of its own for the run.
 * PostgreSQL releases it if that connection or this process dies, so a crashed instance never
 * keeps a job from running elsewhere. The lock is tried, never waited for: a run that finds it
 * taken is skipped.
 */
export class AdvisoryJobLock implements JobLock {
  private readonly pool: pg.Pool;
  /** Two runs of one job in this process never both take a connection. */
  private readonly local = new InProcessJobLock();

  constructor(url: string) {
    this.pool = new pg.Pool({ connectionString: url, max: 2 });
    // An idle connection the server drops emits 'error' on the pool; the next run reconnects.
    this.pool.on("error", () => {});
  }

  async runExclusive<T>(job: string, work: () => Promise<T>): Promise<JobRun<T>> {
    const outcome = await this.local.runExclusive(job, async (): Promise<JobRun<T>> => {
      const client = await this.pool.connect();
      let locked = false;
      try {
        const taken = await client.query<{ locked: boolean }>(
          "SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS locked",
          [`callbridge:${job}`],
        );
        locked = taken.rows[0]?.locked === true;
        if (!locked) return { ran: false };
        return { ran: true, result: await work() };
      } finally {
        if (locked) {
          await client
            .query("SELECT pg_advisory_unlock(hashtextextended($1, 0))", [`callbridge:${job}`])
            // A failed unlock ends the session instead, which releases the lock.
            .then(
              () => client.release(),
              (error: Error) => client.release(error),
            );
        } else {
          client.release();
        }
      }
    });
    return outcome.ran ? outcome.result : { ran: false };
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
