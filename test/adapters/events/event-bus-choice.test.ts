import { afterEach, describe, expect, it } from "vitest";
import { ClusterIpcEventBus } from "../../../src/adapters/events/cluster-ipc-event-bus.ts";
import { InProcessEventBus } from "../../../src/adapters/events/in-process-event-bus.ts";
import { PostgresNotifyEventBus } from "../../../src/adapters/events/postgres-notify-event-bus.ts";
import { createLogger } from "../../../src/adapters/logging/pino-logger.ts";
import { PrometheusMetrics } from "../../../src/adapters/metrics/prometheus-metrics.ts";
import type { CallEventBus } from "../../../src/application/ports/index.ts";
import { createEventBus } from "../../../src/composition/event-bus.ts";
import { loadConfig } from "../../../src/config.ts";
import { InMemoryCallRepository } from "../../support/in-memory-call-repository.ts";
import { createTestDatabase, describePostgres, type TestDatabase } from "../../support/postgres.ts";

const deps = (clusterWorker: boolean) => ({
  calls: new InMemoryCallRepository(),
  logger: createLogger("silent"),
  metrics: new PrometheusMetrics(),
  wanted: () => true,
  clusterWorker,
});

const opened: CallEventBus[] = [];
afterEach(async () => {
  for (const bus of opened.splice(0)) await bus.close();
});

describe("the event bus a server runs", () => {
  const sqlite = loadConfig({ DATABASE_URL: "/tmp/callbridge-bus-choice.db" });

  it("is the in-process bus of a single process on SQLite", async () => {
    const bus = await createEventBus(sqlite, deps(false));
    opened.push(bus);
    expect(bus).toBeInstanceOf(InProcessEventBus);
  });

  it("is the cluster IPC bus in a node:cluster worker on SQLite", async () => {
    const bus = await createEventBus(sqlite, deps(true));
    opened.push(bus);
    expect(bus).toBeInstanceOf(ClusterIpcEventBus);
  });
});

describePostgres("the event bus a server runs on PostgreSQL", () => {
  let database: TestDatabase;
  afterEach(async () => {
    for (const bus of opened.splice(0)) await bus.close();
    await database?.drop();
  });

  it("is the NOTIFY bus, in a cluster worker too (the workers are instances on the database)", async () => {
    database = await createTestDatabase();
    const config = loadConfig({ DATABASE_URL: database.url });
    for (const clusterWorker of [false, true]) {
      const bus = await createEventBus(config, deps(clusterWorker));
      opened.push(bus);
      expect(bus).toBeInstanceOf(PostgresNotifyEventBus);
    }
  });
});
