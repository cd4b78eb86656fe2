import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, afterEach, beforeAll, expect, it } from "vitest";
import {
  type CallEventRef,
  repositoryEventLoader,
} from "../../../src/adapters/events/call-event-loader.ts";
import type { EventBusErrorKind } from "../../../src/adapters/events/event-bus-error-kind.ts";
import {
  PostgresNotifyEventBus,
  type PostgresNotifyEventBusOptions,
} from "../../../src/adapters/events/postgres-notify-event-bus.ts";
import { createLogger } from "../../../src/adapters/logging/pino-logger.ts";
import { migratePostgres } from "../../../src/adapters/postgres/migrate.ts";
import { PostgresCallRepository } from "../../../src/adapters/postgres/postgres-call-repository.ts";
import type { CallEvent } from "../../../src/application/ports/index.ts";
import { LogCapture } from "../../support/log-capture.ts";
import {
  createTestDatabase,
  describePostgres,
  onServer,
  type TestDatabase,
} from "../../support/postgres.ts";
import { PG_MIGRATIONS } from "../postgres/postgres-test-world.ts";
import { aCall, anAnalytics, aRecording, aTranscript } from "../sqlite/sqlite-test-world.ts";

/** Polls `check` until it returns something other than undefined. */
async function eventually<T>(check: () => T | undefined, label: string, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${label}`);
    await sleep(10);
  }
}

const idOf = (event: CallEvent): string => {
  switch (event.type) {
    case "call.started":
    case "call.ended":
      return event.call.id;
    case "transcript.created":
      return event.transcript.id;
    case "analytics.created":
      return event.analytics.id;
    case "recording.created":
      return event.recording.id;
  }
};
const callIdOf = (event: CallEvent): string =>
  event.type === "call.started" || event.type === "call.ended"
    ? event.call.id
    : event.type === "transcript.created"
      ? event.transcript.callId
      : event.type === "analytics.created"
        ? event.analytics.callId
        : event.recording.callId;
const names = (events: CallEvent[]) => events.map((event) => `${event.type} ${idOf(event)}`);

interface Instance {
  repository: PostgresCallRepository;
  bus: PostgresNotifyEventBus;
  received: CallEvent[];
  loads: CallEventRef[];
  errors: EventBusErrorKind[];
  logs: LogCapture;
}

describePostgres("the PostgreSQL NOTIFY event bus between instances on one database", () => {
  let database: TestDatabase;
  let opened: Instance[] = [];

  /** An instance as a server runs it: its own repository and bus on the shared database. */
  const instance = async (options: Partial<PostgresNotifyEventBusOptions> = {}) => {
    const repository = await PostgresCallRepository.open({
      url: database.url,
      migrationsPath: PG_MIGRATIONS,
    });
    const load = repositoryEventLoader(repository);
    const logs = new LogCapture();
    const state: Omit<Instance, "bus"> = {
      repository,
      received: [],
      loads: [],
      errors: [],
      logs,
    };
    const bus = await PostgresNotifyEventBus.open({
      url: database.url,
      load: (ref) => {
        state.loads.push(ref);
        return load(ref);
      },
      logger: createLogger("debug", logs),
      onError: (kind) => state.errors.push(kind),
      reconnectDelaysMs: [50, 100],
      ...options,
    });
    bus.subscribe({ publish: (event) => state.received.push(event) });
    const created: Instance = { ...state, bus };
    opened.push(created);
    return created;
  };

  beforeAll(async () => {
    database = await createTestDatabase();
    await migratePostgres(database.url, PG_MIGRATIONS);
  });

  afterEach(async () => {
    for (const { bus, repository } of opened) {
      await bus.close();
      await repository.close();
    }
    opened = [];
  });

  afterAll(async () => {
    await database?.drop();
  });

  it("delivers an event published on A to B's subscribers with its row read back, in order per call, and to A's once", async () => {
    const a = await instance();
    const b = await instance();
    const published: CallEvent[] = [];
    const publish = (event: CallEvent) => {
      published.push(event);
      a.bus.publish(event);
    };
    for (const id of ["o1", "o2"]) {
      publish({ type: "call.started", call: await a.repository.createCall(aCall(id)) });
    }
    for (let i = 0; i < 12; i++) {
      const callId = i % 2 === 0 ? "o1" : "o2";
      const transcript = await a.repository.createTranscript(
        aTranscript(`o-t${i}`, callId, `turn ${i}`, {
          offsetMs: i * 1000,
          createdAt: new Date(Date.UTC(2026, 0, 1, 10, 1, i)),
        }),
      );
      publish({ type: "transcript.created", transcript });
      if (i % 4 === 3) {
        const analytics = await a.repository.createAnalytics(anAnalytics(`o-a${i}`, callId));
        publish({ type: "analytics.created", analytics });
      }
    }
    const recording = await a.repository.createRecording(
      aRecording("o-r1", "o1", { fileKey: "MZo1_1.wav" }),
    );
    publish({ type: "recording.created", recording });
    const ended = await a.repository.updateCall(
      aCall("o1", {
        status: "completed",
        endedAt: new Date("2026-01-01T10:05:00.000Z"),
        durationSeconds: 300,
        updatedAt: new Date("2026-01-01T10:05:00.000Z"),
      }),
    );
    publish({ type: "call.ended", call: ended });

    await eventually(
      () => (b.received.length >= published.length ? true : undefined),
      "B to receive every event",
    );
    for (const callId of ["o1", "o2"]) {
      const ofCall = (events: CallEvent[]) => events.filter((event) => callIdOf(event) === callId);
      expect(names(ofCall(b.received))).toEqual(names(ofCall(published)));
    }
    // Rows as stored; call.started carries the call as it is when read (o1 may have ended by then).
    const rows = (events: CallEvent[]) => events.filter((event) => event.type !== "call.started");
    expect(rows(b.received).sort(byName)).toEqual(rows(published).sort(byName));
    // A delivered its own events when they were published, and ignored their notifications.
    await sleep(200);
    expect(a.received).toEqual(published);
    expect(a.loads).toEqual([]);
    expect(b.received).toHaveLength(published.length);
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it("waits for a transcript whose row is committed only after its notification, and holds the call's later events behind it", async () => {
    const a = await instance();
    const b = await instance();
    const call = await a.repository.createCall(aCall("late1"));
    a.bus.publish({ type: "call.started", call });
    const transcript = aTranscript("late-t1", "late1", "said before it was stored");
    a.bus.publish({ type: "transcript.created", transcript });
    const analytics = await a.repository.createAnalytics(anAnalytics("late-a1", "late1"));
    a.bus.publish({ type: "analytics.created", analytics });
    // B has the analytics' notification (its row already there) while the transcript's is missing.
    await eventually(() => (b.loads.length >= 3 ? true : undefined), "B to try the transcript");
    expect(names(b.received)).toEqual(["call.started late1"]);
    await sleep(150);
    await a.repository.createTranscript(transcript);
    await eventually(() => (b.received.length >= 3 ? true : undefined), "B to get all three");
    expect(names(b.received)).toEqual([
      "call.started late1",
      "transcript.created late-t1",
      "analytics.created late-a1",
    ]);
    expect(b.received[1]).toEqual({ type: "transcript.created", transcript });
    expect(b.loads.filter((ref) => ref.id === "late-t1").length).toBeGreaterThan(1);
    expect(b.errors).toEqual([]);
  });

  it("drops an event whose row never appears after the bound, with a warning, and goes on with the call", async () => {
    const a = await instance();
    const b = await instance({ loadRetryDelaysMs: [20, 40, 80] });
    const call = await a.repository.createCall(aCall("ghost1"));
    const started = Date.now();
    a.bus.publish({
      type: "transcript.created",
      transcript: aTranscript("ghost-t1", "ghost1", "never stored"),
    });
    a.bus.publish({ type: "call.ended", call });
    await eventually(() => (b.received.length >= 1 ? true : undefined), "the call's next event");
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(names(b.received)).toEqual(["call.ended ghost1"]);
    expect(b.loads.filter((ref) => ref.id === "ghost-t1")).toHaveLength(4);
    expect(b.errors).toEqual(["event_bus_load"]);
    const [warning] = b.logs.withMessage(
      "another instance's call event was dropped: live feeds here miss it",
    );
    expect(warning).toMatchObject({
      level: "warn",
      type: "transcript.created",
      callId: "ghost1",
      id: "ghost-t1",
      reads: 4,
    });
  });

  it("reads nothing for calls no live feed here follows", async () => {
    const a = await instance();
    const b = await instance({ wanted: (callId) => callId === "followed" });
    const quiet = await a.repository.createCall(aCall("unfollowed"));
    const followed = await a.repository.createCall(aCall("followed"));
    a.bus.publish({ type: "call.started", call: quiet });
    a.bus.publish({ type: "call.ended", call: quiet });
    // Sent after the others on one connection: once it is here, they were seen and skipped.
    a.bus.publish({ type: "call.started", call: followed });
    await eventually(() => (b.received.length >= 1 ? true : undefined), "the followed call");
    expect(names(b.received)).toEqual(["call.started followed"]);
    expect(b.loads.map((ref) => ref.callId)).toEqual(["followed"]);
  });

  it("sends the notifications still queued when it closes (the calls' last events at shutdown)", async () => {
    const a = await instance();
    const b = await instance();
    const call = await a.repository.createCall(aCall("shut1"));
    a.bus.publish({ type: "call.started", call });
    a.bus.publish({ type: "call.ended", call });
    await a.bus.close();
    await eventually(() => (b.received.length >= 2 ? true : undefined), "both events");
    expect(names(b.received)).toEqual(["call.started shut1", "call.ended shut1"]);
  });

  it("reconnects its LISTEN connection after the server ends it, and receives again", async () => {
    const a = await instance();
    const b = await instance();
    await onServer(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
       WHERE datname = '${database.name}' AND application_name LIKE 'callbridge events %'`,
    );
    const reconnected =
      "receiving other instances' call events again (events of the outage were missed)";
    for (const side of [a, b]) {
      await eventually(
        () => (side.logs.withMessage(reconnected).length > 0 ? true : undefined),
        "the LISTEN connection to come back",
      );
      expect(
        side.logs.withMessage(
          "lost the connection that receives other instances' call events; reconnecting",
        ),
      ).toHaveLength(1);
      expect(side.errors).toEqual(["event_bus_listen"]);
      expect(side.bus.listening).toBe(true);
    }
    const call = await a.repository.createCall(aCall("again1"));
    a.bus.publish({ type: "call.started", call });
    await eventually(
      () => (b.received.length >= 1 ? true : undefined),
      "an event after the reconnect",
    );
    expect(b.received).toEqual([{ type: "call.started", call }]);
  });

  it("never throws nor waits when its notifications cannot be sent: counted, logged once, and it sends again later", async () => {
    const a = await instance();
    const b = await instance();
    const call = await a.repository.createCall(aCall("down1"));
    await onServer(`ALTER DATABASE ${database.name} WITH ALLOW_CONNECTIONS false`);
    try {
      await onServer(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
         WHERE datname = '${database.name}' AND application_name = 'callbridge events notify'`,
      );
      // The pool has seen its connection go: the next batch needs a new one, which is refused.
      await sleep(100);
      const before = performance.now();
      for (let i = 0; i < 3; i++) a.bus.publish({ type: "call.started", call });
      expect(performance.now() - before).toBeLessThan(20);
      expect(a.received).toHaveLength(3);
      await eventually(
        () => (a.errors.length >= 3 ? true : undefined),
        "the failed notifications to be counted",
      );
      expect(a.errors).toEqual(["event_bus_send", "event_bus_send", "event_bus_send"]);
      const warnings = a.logs.withMessage(
        "call events could not be sent to other instances: their live feeds miss them",
      );
      expect(warnings).toHaveLength(1);
    } finally {
      await onServer(`ALTER DATABASE ${database.name} WITH ALLOW_CONNECTIONS true`);
    }
    a.bus.publish({ type: "call.ended", call });
    await eventually(
      () => (b.received.length >= 1 ? true : undefined),
      "the event after the outage",
    );
    expect(names(b.received)).toEqual(["call.ended down1"]);
  });

  it("refuses to open when the database cannot be reached", async () => {
    const url = new URL(database.url);
    url.port = "1";
    await expect(
      PostgresNotifyEventBus.open({
        url: url.toString(),
        load: async () => null,
        logger: createLogger("silent"),
      }),
    ).rejects.toThrow();
  });
});

function byName(x: CallEvent, y: CallEvent): number {
  const [p, q] = [`${x.type} ${idOf(x)}`, `${y.type} ${idOf(y)}`];
  return p < q ? -1 : p > q ? 1 : 0;
}
