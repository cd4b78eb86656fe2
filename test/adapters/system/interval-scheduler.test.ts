import { describe, expect, it } from "vitest";
import { ActivityTracker } from "../../../src/adapters/system/activity-tracker.ts";
import { scheduleEvery } from "../../../src/adapters/system/interval-scheduler.ts";
import { eventually } from "../../support/test-server.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("scheduleEvery", () => {
  it("labels each run as an activity for the watchdog, in flight until the run settles", async () => {
    const activity = new ActivityTracker();
    let release: () => void = () => {};
    let started = false;
    const job = scheduleEvery(
      () => {
        started = true;
        return new Promise<void>((resolve) => {
          release = resolve;
        });
      },
      {
        intervalMs: 60_000,
        runAtStart: true,
        onError: () => {},
        activity: { spans: activity, label: "retention run" },
      },
    );
    await eventually(() => (started ? true : undefined), 10_000, "the first run");
    const now = performance.now();
    expect(activity.overlapping(now, now, 5)).toEqual([
      expect.objectContaining({ what: "retention run", inFlight: true }),
    ]);
    release();
    await job.stop();
    expect(activity.inFlight).toBe(0);
    expect(activity.overlapping(0, performance.now(), 5)).toEqual([
      expect.objectContaining({ what: "retention run", inFlight: false }),
    ]);
  });

  it("runs at start and then again and again", async () => {
    let runs = 0;
    const job = scheduleEvery(
      async () => {
        runs++;
      },
      { intervalMs: 5, runAtStart: true, onError: () => {} },
    );
    await eventually(() => (runs >= 3 ? runs : undefined), 10_000, "three runs");
    await job.stop();
  });

  it("waits a whole interval before the first run unless told to run at start", async () => {
    let runs = 0;
    const job = scheduleEvery(
      async () => {
        runs++;
      },
      { intervalMs: 60_000, onError: () => {} },
    );
    await sleep(50);
    expect(runs).toBe(0);
    await job.stop();
  });

  it("never starts a run while the previous one is still going", async () => {
    let running = 0;
    let maxConcurrent = 0;
    let runs = 0;
    let release: () => void = () => {};
    const job = scheduleEvery(
      async () => {
        running++;
        runs++;
        maxConcurrent = Math.max(maxConcurrent, running);
        if (runs === 1) await new Promise<void>((r) => (release = r));
        running--;
      },
      { intervalMs: 1, runAtStart: true, onError: () => {} },
    );
    await eventually(() => (runs === 1 ? true : undefined), 10_000, "the first run");
    // Many intervals pass while the first run is blocked.
    await sleep(50);
    expect(runs).toBe(1);
    release();
    await eventually(() => (runs >= 3 ? true : undefined), 10_000, "later runs");
    await job.stop();
    expect(maxConcurrent).toBe(1);
  });

  it("keeps going after a run fails, reporting the error", async () => {
    const errors: unknown[] = [];
    let runs = 0;
    const job = scheduleEvery(
      async () => {
        runs++;
        if (runs === 1) throw new Error("first run fails");
      },
      { intervalMs: 1, runAtStart: true, onError: (e) => errors.push(e) },
    );
    await eventually(() => (runs >= 2 ? true : undefined), 10_000, "a second run");
    await job.stop();
    expect(errors).toEqual([new Error("first run fails")]);
  });

  it("stop() waits for the run in progress and prevents any later run", async () => {
    let runs = 0;
    let finished = false;
    let release: () => void = () => {};
    const job = scheduleEvery(
      async () => {
        runs++;
        await new Promise<void>((r) => (release = r));
        finished = true;
      },
      { intervalMs: 1, runAtStart: true, onError: () => {} },
    );
    await eventually(() => (runs === 1 ? true : undefined), 10_000, "the first run");
    const stopped = job.stop();
    let stopResolved = false;
    void stopped.then(() => (stopResolved = true));
    await sleep(20);
    expect(stopResolved).toBe(false);
    release();
    await stopped;
    expect(finished).toBe(true);
    await sleep(20);
    expect(runs).toBe(1);
  });
});
