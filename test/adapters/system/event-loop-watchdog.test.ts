import { Hono } from "hono";
import { afterEach, describe, expect, it } from "vitest";
import { requestLogging } from "../../../src/adapters/http/request-logging.ts";
import { createLogger } from "../../../src/adapters/logging/pino-logger.ts";
import { ActivityTracker } from "../../../src/adapters/system/activity-tracker.ts";
import {
  EventLoopWatchdog,
  STALL_THRESHOLD_MS,
} from "../../../src/adapters/system/event-loop-watchdog.ts";
import { LogCapture, type LogLine } from "../../support/log-capture.ts";
import { eventually } from "../../support/test-server.ts";

/** Holds the event loop, as a synchronous SQL statement or a big JSON.stringify would. */
function busyWait(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spinning on purpose
  }
}

interface Running {
  what: string;
  ms: number;
  inFlight: boolean;
}

let watchdog: EventLoopWatchdog | null = null;
afterEach(() => {
  watchdog?.stop();
  watchdog = null;
});

function setUp() {
  const log = new LogCapture();
  const logger = createLogger("info", log);
  const activity = new ActivityTracker();
  const stalls: number[] = [];
  let delays = 0;
  const dog = new EventLoopWatchdog({
    logger,
    activity,
    liveCalls: () => 3,
    onDelay: () => delays++,
    onStall: (seconds) => stalls.push(seconds),
  });
  watchdog = dog;
  const app = new Hono();
  app.use("*", requestLogging({ logger, activity }));
  app.get("/api/slow/:id", (c) => {
    busyWait(60);
    return c.json({ id: c.req.param("id") });
  });
  const stallLines = () => log.lines.filter((l: LogLine) => l.msg === "event loop stalled");
  return { log, activity, stalls, delays: () => delays, dog, app, stallLines };
}

describe("event-loop watchdog", () => {
  it("logs one warn line naming the in-flight request that held the loop, folds the next stall and counts it", async () => {
    const { activity, stalls, delays, dog, app, stallLines } = setUp();
    expect(STALL_THRESHOLD_MS).toBe(20);

    // Started in the same turn as the request, so no stall can come before the one we cause.
    dog.start();
    // The handler runs synchronously inside request(): the loop is held for 60 ms right here.
    const res = await app.request("/api/slow/42");
    expect(res.status).toBe(200);

    const [first] = await eventually(
      () => (stallLines().length > 0 ? stallLines() : undefined),
      5000,
      "the stall we caused to be logged",
    );
    expect(stallLines()).toHaveLength(1);
    expect(first!.level).toBe("warn");
    expect(first!.stalls).toBe(1);
    expect(first!.liveCalls).toBe(3);
    expect(first!.thresholdMs).toBe(20);
    const running = first!.running as Running[];
    // The route pattern, never the raw path, and the request no longer in flight once seen.
    expect(running.map((r) => r.what)).toContain("GET /api/slow/:id");
    expect(running.find((r) => r.what === "GET /api/slow/:id")!.inFlight).toBe(false);
    expect(JSON.stringify(running)).not.toContain("/42");
    expect(stalls.length).toBeGreaterThanOrEqual(1);
    expect(delays()).toBeGreaterThanOrEqual(1);

    // A second stall, well inside the 10 s window, by known timer work still running.
    const countedBefore = stalls.length;
    const retention = activity.begin("retention run");
    busyWait(60);
    await eventually(
      () => (stalls.length > countedBefore ? true : undefined),
      5000,
      "the second stall to be counted",
    );
    expect(stallLines()).toHaveLength(1);

    // Stopping reports what was folded: every stall after the first line, the worst named.
    dog.stop();
    retention.end();
    const lines = stallLines();
    expect(lines).toHaveLength(2);
    const folded = lines[1]!;
    expect(folded.level).toBe("warn");
    expect(folded.stalls).toBe(stalls.length - 1);
    const foldedRunning = folded.running as Running[];
    expect(foldedRunning).toContainEqual(
      expect.objectContaining({ what: "retention run", inFlight: true }),
    );
  });

  it("stays quiet when nothing holds the loop past the threshold", async () => {
    const { dog, stallLines, delays, activity } = setUp();
    dog.start();
    const span = activity.begin("GET /healthz");
    busyWait(2);
    span.end();
    await eventually(() => (delays() >= 5 ? true : undefined), 5000, "a few ticks");
    dog.stop();
    // A loaded machine can stall this process on its own; only our 2 ms must not be reported.
    for (const line of stallLines()) {
      expect((line.worstMs as number) > STALL_THRESHOLD_MS).toBe(true);
    }
  });
});

describe("activity tracker", () => {
  it("names in-flight spans and spans that ended inside the window, longest first", () => {
    let now = 0;
    const tracker = new ActivityTracker(() => now);
    const before = tracker.begin("before");
    now = 5;
    before.end();
    now = 10;
    const short = tracker.begin("short");
    now = 12;
    short.end();
    const long = tracker.begin("GET /api/*");
    now = 40;
    long.end("GET /api/search");
    const open = tracker.begin("retention run");
    now = 50;
    // "before" ended before the window opened.
    expect(tracker.overlapping(8, 50, 5)).toEqual([
      { what: "GET /api/search", ms: 28, inFlight: false },
      { what: "retention run", ms: 10, inFlight: true },
      { what: "short", ms: 2, inFlight: false },
    ]);
    expect(tracker.overlapping(8, 50, 1)).toHaveLength(1);
    open.end();
    open.end();
    expect(tracker.inFlight).toBe(0);
  });
});
