/**
 * A node:cluster worker for cluster-ipc-event-bus.test.ts: runs a ClusterIpcEventBus, publishes
 * what the test (the primary) tells it to, and reports back every event its subscriber receives
 * and every line it logs. Its own messages carry no `callbridge` tag, so the relay must ignore them.
 */

import { decodeCallEvent, encodeCallEvent } from "../../../src/adapters/events/call-event-json.ts";
import { ClusterIpcEventBus } from "../../../src/adapters/events/cluster-ipc-event-bus.ts";
import type { Logger } from "../../../src/application/ports/index.ts";

export type ToWorker =
  | { test: "publish"; events: string[] }
  | { test: "send"; message: unknown }
  | { test: "close" };

export type FromWorker =
  | { test: "ready" }
  | { test: "received"; event: string }
  | { test: "log"; level: string; msg: string | undefined }
  | { test: "published"; count: number }
  | { test: "closed" };

const report = (message: FromWorker) => process.send?.(message);

const log =
  (level: string) =>
  (_obj: object, msg?: string): void => {
    report({ test: "log", level, msg });
  };
const logger: Logger = {
  debug: log("debug"),
  info: log("info"),
  warn: log("warn"),
  error: log("error"),
  child: () => logger,
};

const bus = new ClusterIpcEventBus({ logger });
// Encoded here, in the worker: a Date that arrived as a string would be encoded as a string.
bus.subscribe({ publish: (event) => report({ test: "received", event: encodeCallEvent(event) }) });

process.on("message", (message: ToWorker) => {
  if (message.test === "publish") {
    for (const text of message.events) {
      const event = decodeCallEvent(text);
      if (event) bus.publish(event);
    }
    report({ test: "published", count: message.events.length });
  } else if (message.test === "send") {
    process.send?.(message.message);
  } else if (message.test === "close") {
    void bus.close().then(() => report({ test: "closed" }));
  }
});
report({ test: "ready" });
