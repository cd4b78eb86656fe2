import cluster, { type Worker } from "node:cluster";
import { relayClusterEvents } from "../adapters/events/cluster-event-relay.ts";
import { relayClusterNotifications } from "../adapters/events/cluster-notification-relay.ts";
import { CALL_EVENTS_CHANNEL } from "../adapters/events/postgres-notify-event-bus.ts";
import { type AppLogger, createLogger } from "../adapters/logging/pino-logger.ts";
import { ClusterMetrics, type WorkerChannel } from "../adapters/metrics/cluster-metrics.ts";
import type { Logger } from "../application/ports/index.ts";
import type { Config } from "../config.ts";
import { resolveInstanceId } from "./instance-id.ts";
import { RestartBackoff } from "./restart-backoff.ts";
import { ensureWritableFolder } from "./storage.ts";
import { WORKER_INDEX_ENV, workerInstanceIds } from "./worker-identity.ts";
import { forwardWorkerOutput } from "./worker-output.ts";

export interface ClusterPrimaryOptions {
  /** How many workers (WORKERS resolved), more than one. */
  workers: number;
  /** Applies the pending migrations, once, before any worker opens the database. */
  migrate(config: Config): Promise<void>;
  /** A worker's own deadline to drain its calls at shutdown, after which it exits anyway. */
  workerShutdownMs: number;
  logger?: AppLogger;
  backoff?: RestartBackoff;
}

/** What the primary allows beyond the workers' own deadline before it kills what is left. */
const SHUTDOWN_MARGIN_MS = 2_000;

/**
 * WORKERS=N: this process becomes the primary of N worker processes that share the port
 * (node:cluster hands each new connection to the next worker). The primary serves nothing
 * itself: it migrates the database once, starts the workers (each an instance of its own, with
 * a stable id), starts one again when it dies, answers the workers' /metrics with everyone's,
 * and at SIGTERM or SIGINT has every worker drain its calls, then exits.
 */
export async function runClusterPrimary(
  config: Config,
  options: ClusterPrimaryOptions,
): Promise<void> {
  // Through process.stdout, as the workers' lines are (worker-output.ts): one writer, in order.
  const logger =
    options.logger ?? createLogger(config.logLevel, process.stdout).child({ role: "primary" });
  // The workers' ids derive from the primary's, which (INSTANCE_ID unset) is kept in the
  // recordings folder: a worker is the same instance after a crash and after a full restart.
  ensureWritableFolder("RECORDING_STORAGE_PATH", config.recordingStoragePath);
  const instanceId = resolveInstanceId(config);
  const ids = workerInstanceIds(instanceId, options.workers);
  // Before any worker exists: their writers would race to apply the same migrations.
  await options.migrate(config);
  // Structured clone, not JSON: metric values may be NaN (an event-loop mean with no samples
  // yet), which JSON would turn into null and the exposition into a line Prometheus rejects.
  // Silent: each worker's output comes to the primary, which writes it whole lines at a time.
  cluster.setupPrimary({ serialization: "advanced", silent: true });
  const metrics = new ClusterMetrics();

  // ── Live feeds across workers: the event bus's relay (src/adapters/events) ────────────────
  // Each worker's call events go through the primary to the others. Its one call site.
  relayClusterEvents(cluster);
  // On PostgreSQL the workers NOTIFY each other and other machines; the primary LISTENs once for
  // all of them, so that PostgreSQL's cost per event grows with machines, not workers.
  if (config.database.kind === "postgres") {
    await relayClusterNotifications(cluster, {
      url: config.database.url,
      channel: CALL_EVENTS_CHANNEL,
      logger,
    });
  }

  const supervisor = new WorkerSupervisor({
    ids,
    logger,
    metrics,
    backoff: options.backoff ?? new RestartBackoff(),
    shutdownDeadlineMs: options.workerShutdownMs + SHUTDOWN_MARGIN_MS,
    exit: (code) => process.exit(code),
  });
  process.once("SIGTERM", () => supervisor.stop("SIGTERM"));
  process.once("SIGINT", () => supervisor.stop("SIGINT"));
  logger.info(
    { workers: options.workers, instance: instanceId, pid: process.pid },
    "starting workers",
  );
  supervisor.startAll();
}

interface SupervisorDeps {
  /** Instance id of each worker, index 1 first. */
  ids: string[];
  logger: Logger;
  metrics: ClusterMetrics;
  backoff: RestartBackoff;
  shutdownDeadlineMs: number;
  exit(code: number): void;
}

interface Slot {
  /** The running worker; null once it exited. */
  worker: Worker | null;
  restartTimer: NodeJS.Timeout | null;
}

/** Starts the workers, replaces the ones that die, and stops them all at shutdown. */
class WorkerSupervisor {
  private readonly slots = new Map<number, Slot>();
  private stopping: { exitCode: number } | null = null;
  private exiting = false;
  private readonly listened = new Set<number>();
  /** Each running worker's output, until it has all been written. */
  private readonly outputs = new Set<Promise<void>>();
  private announced = false;

  constructor(private readonly deps: SupervisorDeps) {}

  startAll(): void {
    for (let index = 1; index <= this.deps.ids.length; index++) this.fork(index);
  }

  /**
   * Forwards `signal` to every worker, which ends its calls (recordings finalized, statuses
   * stored) and exits; the primary exits once they all have, or kills the rest at the deadline.
   */
  stop(signal: NodeJS.Signals, exitCode = 0): void {
    if (this.stopping !== null) return;
    this.stopping = { exitCode };
    const { logger } = this.deps;
    logger.info({ signal }, "shutting down: every worker drains its calls");
    for (const slot of this.slots.values()) {
      if (slot.restartTimer !== null) clearTimeout(slot.restartTimer);
      slot.restartTimer = null;
      slot.worker?.process.kill(signal);
    }
    const deadline = setTimeout(() => {
      const left = this.running();
      logger.error(
        { workers: left.map(([index, worker]) => ({ worker: index, pid: worker.process.pid })) },
        "workers did not finish draining in time; killing them",
      );
      for (const [, worker] of left) worker.process.kill("SIGKILL");
      this.deps.exit(1);
    }, this.deps.shutdownDeadlineMs);
    deadline.unref();
    this.exitIfAllStopped();
  }

  private running(): [number, Worker][] {
    const running: [number, Worker][] = [];
    for (const [index, slot] of this.slots) if (slot.worker) running.push([index, slot.worker]);
    return running;
  }

  private fork(index: number): void {
    const { ids, logger, metrics, backoff } = this.deps;
    const instance = ids[index - 1]!;
    const worker = cluster.fork({ [WORKER_INDEX_ENV]: String(index), INSTANCE_ID: instance });
    const output = forwardWorkerOutput(worker);
    this.outputs.add(output);
    void output.then(() => this.outputs.delete(output));
    const pid = worker.process.pid;
    const channel: WorkerChannel = {
      index,
      // A worker that is exiting fails the send; its request is simply not answered.
      send: (message) => {
        if (worker.isConnected()) worker.send(message, undefined, () => {});
      },
    };
    this.slots.set(index, { worker, restartTimer: null });
    backoff.started(index, performance.now());
    logger.info({ worker: index, pid, instance }, "worker started");
    worker.on("message", (message: unknown) => metrics.handle(channel, message));
    // Sends are guarded above; this is the channel failing under a worker that is going away.
    worker.on("error", (error: Error) => {
      logger.warn({ worker: index, pid, err: error.message }, "worker channel error");
    });
    worker.on("listening", (address: { port: number }) => {
      backoff.listening(index);
      metrics.workerReady(channel);
      this.listened.add(index);
      // Once; a worker started again later is logged by itself.
      if (!this.announced && this.listened.size === ids.length && this.stopping === null) {
        this.announced = true;
        logger.info({ workers: ids.length, port: address.port }, "all workers listening");
      }
    });
    worker.on("exit", (code: number | null, signal: NodeJS.Signals | null) =>
      this.exited(index, worker, channel, code, signal),
    );
  }

  private exited(
    index: number,
    worker: Worker,
    channel: WorkerChannel,
    code: number | null,
    signal: NodeJS.Signals | null,
  ): void {
    const { logger, metrics, backoff } = this.deps;
    const pid = worker.process.pid;
    metrics.workerExited(channel);
    const slot = this.slots.get(index);
    if (slot?.worker === worker) slot.worker = null;
    if (this.stopping !== null) {
      if (code !== 0) this.stopping.exitCode = 1;
      logger.info({ worker: index, pid, code, signal }, "worker stopped");
      this.exitIfAllStopped();
      return;
    }
    const decision = backoff.exited(index, performance.now());
    if (decision.action === "give-up") {
      logger.error(
        { worker: index, pid, code, signal, failuresInARow: decision.failuresInARow },
        "worker keeps failing before it ever listened; stopping the server",
      );
      this.stop("SIGTERM", 1);
      return;
    }
    logger.error(
      { worker: index, pid, code, signal, restartInMs: decision.delayMs },
      "worker exited unexpectedly; starting it again",
    );
    const restart = () => {
      if (slot) slot.restartTimer = null;
      if (this.stopping !== null) return;
      metrics.workerRestarted(index);
      this.fork(index);
    };
    if (slot) slot.restartTimer = setTimeout(restart, decision.delayMs);
  }

  private exitIfAllStopped(): void {
    if (this.stopping === null || this.exiting || this.running().length > 0) return;
    this.exiting = true;
    const { exitCode } = this.stopping;
    void Promise.all(this.outputs).then(() => {
      this.deps.logger.info({ exitCode }, "shutdown complete");
      this.deps.exit(exitCode);
    });
  }
}
