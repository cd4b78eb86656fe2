import { describe, expect, it } from "vitest";
import { RestartBackoff } from "../../src/composition/restart-backoff.ts";
import {
  resolveWorkerCount,
  WORKER_INDEX_ENV,
  workerIndexFrom,
  workerInstanceId,
  workerInstanceIds,
} from "../../src/composition/worker-identity.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";

describe("worker identity", () => {
  it("WORKERS=auto is one worker per core this process may use", () => {
    expect(resolveWorkerCount("auto", () => 6)).toBe(6);
    expect(resolveWorkerCount("auto", () => 0)).toBe(1);
    expect(resolveWorkerCount(3, () => 6)).toBe(3);
  });

  it("names each worker by the primary's id and its index alone, so a replacement has the id of the worker it replaces", () => {
    expect(workerInstanceIds("host-a1b2c3", 3)).toEqual([
      "host-a1b2c3-w1",
      "host-a1b2c3-w2",
      "host-a1b2c3-w3",
    ]);
    expect(workerInstanceId("host-a1b2c3", 2)).toBe(workerInstanceIds("host-a1b2c3", 3)[1]);
  });

  it("every worker id is an INSTANCE_ID the worker's own configuration accepts", () => {
    const primary = "p".repeat(61);
    for (const id of workerInstanceIds(primary, 9)) {
      expect(loadConfig({ INSTANCE_ID: id }).instanceId).toBe(id);
    }
    // Too long for worker 10's suffix: refused at start, naming the variable and the room left.
    expect(() => workerInstanceIds(primary, 10)).toThrow(ConfigError);
    expect(() => workerInstanceIds(primary, 10)).toThrow(
      /INSTANCE_ID must be at most 60 characters/,
    );
  });

  it("a worker knows its index only from the variable the primary sets", () => {
    expect(workerIndexFrom({ [WORKER_INDEX_ENV]: "2" })).toBe(2);
    expect(workerIndexFrom({})).toBeNull();
    for (const bad of ["0", "-1", "x", "1.5", ""]) {
      expect(workerIndexFrom({ [WORKER_INDEX_ENV]: bad })).toBeNull();
    }
  });
});

describe("RestartBackoff", () => {
  const backoff = () =>
    new RestartBackoff({
      initialDelayMs: 500,
      maxDelayMs: 4_000,
      stableAfterMs: 10_000,
      giveUpAfter: 5,
    });

  it("replaces a worker that crashed after serving a while at once", () => {
    const restarts = backoff();
    restarts.started(1, 0);
    restarts.listening(1);
    expect(restarts.exited(1, 60_000)).toEqual({
      action: "restart",
      delayMs: 0,
      failuresInARow: 0,
    });
  });

  it("waits longer each time a worker keeps crashing at start, up to the cap", () => {
    const restarts = backoff();
    restarts.started(1, 0);
    restarts.listening(1);
    restarts.exited(1, 60_000);
    // It served before, so it is never given up: the other workers still serve meanwhile.
    const delays: number[] = [];
    let now = 60_000;
    for (let i = 0; i < 7; i++) {
      restarts.started(1, now);
      now += 200;
      const decision = restarts.exited(1, now);
      expect(decision.action).toBe("restart");
      if (decision.action === "restart") delays.push(decision.delayMs);
    }
    expect(delays).toEqual([500, 1_000, 2_000, 4_000, 4_000, 4_000, 4_000]);
  });

  it("counts a crash soon after listening as a failure at start too", () => {
    const restarts = backoff();
    restarts.started(1, 0);
    restarts.listening(1);
    expect(restarts.exited(1, 3_000)).toMatchObject({ delayMs: 500, failuresInARow: 1 });
  });

  it("starts over once a replacement has served long enough", () => {
    const restarts = backoff();
    restarts.started(1, 0);
    expect(restarts.exited(1, 100)).toMatchObject({ delayMs: 500 });
    restarts.started(1, 600);
    expect(restarts.exited(1, 700)).toMatchObject({ delayMs: 1_000 });
    restarts.started(1, 2_000);
    restarts.listening(1);
    expect(restarts.exited(1, 50_000)).toMatchObject({ delayMs: 0, failuresInARow: 0 });
    restarts.started(1, 50_000);
    expect(restarts.exited(1, 50_100)).toMatchObject({ delayMs: 500, failuresInARow: 1 });
  });

  it("gives up on a worker that has never listened, after a few tries", () => {
    const restarts = backoff();
    const decisions = [];
    for (let i = 0; i < 5; i++) {
      restarts.started(2, i * 1000);
      decisions.push(restarts.exited(2, i * 1000 + 100).action);
    }
    expect(decisions).toEqual(["restart", "restart", "restart", "restart", "give-up"]);
  });

  it("keeps each worker's record apart", () => {
    const restarts = backoff();
    restarts.started(1, 0);
    restarts.started(2, 0);
    restarts.listening(2);
    expect(restarts.exited(1, 100)).toMatchObject({ failuresInARow: 1 });
    expect(restarts.exited(2, 20_000)).toMatchObject({ failuresInARow: 0, delayMs: 0 });
  });
});
