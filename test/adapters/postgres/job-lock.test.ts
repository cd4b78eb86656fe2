import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createLogger } from "../../../src/adapters/logging/pino-logger.ts";
import { AdvisoryJobLock } from "../../../src/adapters/postgres/advisory-job-lock.ts";
import { PostgresCallRepository } from "../../../src/adapters/postgres/postgres-call-repository.ts";
import { InProcessJobLock } from "../../../src/adapters/system/in-process-job-lock.ts";
import type { JobLock } from "../../../src/application/ports/index.ts";
import { RecordingRetention } from "../../../src/application/retention.ts";
import { InMemoryRecordingStore } from "../../support/in-memory-recording-store.ts";
import { createTestDatabase, describePostgres, type TestDatabase } from "../../support/postgres.ts";
import { aCall, aRecording } from "../sqlite/sqlite-test-world.ts";
import { PG_MIGRATIONS } from "./postgres-test-world.ts";

/** A run of `job` that holds its lock until released. */
function heldRun(lock: JobLock, job: string) {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let started = () => {};
  const running = new Promise<void>((resolve) => {
    started = resolve;
  });
  const run = lock.runExclusive(job, async () => {
    started();
    await released;
    return "done";
  });
  return { run, running, release };
}

describe("the job lock of one process", () => {
  it("skips a run of a job already running, and lets other jobs and later runs through", async () => {
    const lock = new InProcessJobLock();
    const first = heldRun(lock, "retention");
    await first.running;
    expect(await lock.runExclusive("retention", async () => 1)).toEqual({ ran: false });
    expect(await lock.runExclusive("sweep", async () => 2)).toEqual({ ran: true, result: 2 });
    first.release();
    expect(await first.run).toEqual({ ran: true, result: "done" });
    expect(await lock.runExclusive("retention", async () => 3)).toEqual({ ran: true, result: 3 });
  });

  it("frees the job when its run throws", async () => {
    const lock = new InProcessJobLock();
    await expect(
      lock.runExclusive("retention", () => Promise.reject(new Error("disk"))),
    ).rejects.toThrow("disk");
    expect(await lock.runExclusive("retention", async () => 1)).toEqual({ ran: true, result: 1 });
  });
});

describePostgres("the advisory job lock shared by instances on one database", () => {
  let database: TestDatabase;
  const locks: AdvisoryJobLock[] = [];
  const instance = () => {
    const lock = new AdvisoryJobLock(database.url);
    locks.push(lock);
    return lock;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    await Promise.all(locks.map((lock) => lock.close()));
    await database?.drop();
  });

  it("runs a job on one instance at a time, and other jobs meanwhile", async () => {
    const a = instance();
    const b = instance();
    const held = heldRun(a, "retention");
    await held.running;
    expect(await b.runExclusive("retention", async () => 1)).toEqual({ ran: false });
    expect(await a.runExclusive("retention", async () => 1)).toEqual({ ran: false });
    expect(await b.runExclusive("sweep", async () => 2)).toEqual({ ran: true, result: 2 });
    held.release();
    expect(await held.run).toEqual({ ran: true, result: "done" });
    expect(await b.runExclusive("retention", async () => 3)).toEqual({ ran: true, result: 3 });
  });

  it("releases the lock when a run throws", async () => {
    const a = instance();
    await expect(a.runExclusive("retention", () => Promise.reject(new Error("x")))).rejects.toThrow(
      "x",
    );
    expect(await instance().runExclusive("retention", async () => 1)).toEqual({
      ran: true,
      result: 1,
    });
  });

  it("is freed by PostgreSQL when the holder's session dies (a crashed instance)", async () => {
    const dead = new pg.Client({ connectionString: database.url });
    await dead.connect();
    await dead.query("SELECT pg_advisory_lock(hashtextextended('callbridge:retention', 0))");
    const b = instance();
    expect(await b.runExclusive("retention", async () => 1)).toEqual({ ran: false });
    await dead.end();
    // The server drops the session's locks once it has seen the disconnect.
    for (let i = 0; i < 50; i++) {
      const run = await b.runExclusive("retention", async () => 1);
      if (run.ran) return;
      await sleep(20);
    }
    throw new Error("the dead session's lock was never released");
  });
});

describePostgres("retention run by two instances on one database", () => {
  const CALLS = 30;
  let database: TestDatabase;
  const closers: Array<() => Promise<void>> = [];

  beforeAll(async () => {
    database = await createTestDatabase();
  });

  afterAll(async () => {
    for (const close of closers) await close();
    await database?.drop();
  });

  it("deletes each expired recording once, by whichever instance holds the lock", async () => {
    const open = async () => {
      const repository = await PostgresCallRepository.open({
        url: database.url,
        migrationsPath: PG_MIGRATIONS,
      });
      const lock = new AdvisoryJobLock(database.url);
      closers.push(
        () => repository.close(),
        () => lock.close(),
      );
      return { repository, lock };
    };
    const first = await open();
    const second = await open();
    for (let i = 0; i < CALLS; i++) {
      const id = `old${i}`;
      await first.repository.createCall(aCall(id, { startedAt: new Date("2026-01-01T10:00:00Z") }));
      await first.repository.createRecording(aRecording(`rec-${id}`, id));
    }
    // One store behind both (the object store they share), slow enough that the runs overlap.
    const deletes: string[] = [];
    const store = new (class extends InMemoryRecordingStore {
      override async delete(fileKey: string): Promise<void> {
        deletes.push(fileKey);
        await sleep(5);
        await super.delete(fileKey);
      }
    })();
    const retention = (instance: { repository: PostgresCallRepository; lock: JobLock }) =>
      new RecordingRetention({
        calls: instance.repository,
        recordings: store,
        clock: { now: () => new Date("2026-06-30T12:00:00Z") },
        logger: createLogger("silent"),
        retentionDays: 30,
        lock: instance.lock,
      });
    const results = await Promise.all([retention(first).run(), retention(second).run()]);

    expect(results.map((r) => r.skipped ?? false).sort()).toEqual([false, true]);
    expect(results.reduce((sum, r) => sum + r.deleted, 0)).toBe(CALLS);
    expect(deletes).toHaveLength(CALLS);
    expect(new Set(deletes).size).toBe(CALLS);
    expect(await second.repository.getRecordingsOfCallsStartedBefore(new Date(), 100)).toEqual([]);
  });
});
