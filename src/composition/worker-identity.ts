import { availableParallelism } from "node:os";
import { ConfigError } from "../config.ts";

/**
 * Set by the cluster primary in each worker's environment: the worker's index, 1 to WORKERS. A
 * process without it is not one of our workers (even under another tool's node:cluster).
 */
export const WORKER_INDEX_ENV = "CALLBRIDGE_WORKER";

/** INSTANCE_ID's longest form (config.ts): a worker's id must fit it too. */
const INSTANCE_ID_MAX_LENGTH = 64;

/** WORKERS as a number of processes: "auto" is one per core this process may use. */
export function resolveWorkerCount(
  workers: number | "auto",
  cores: () => number = availableParallelism,
): number {
  return workers === "auto" ? Math.max(1, cores()) : workers;
}

/**
 * Worker `index`'s instance id: the primary's, suffixed. It depends on the index alone, so a
 * worker restarted after a crash has the id of the one it replaces, and recovers the calls that
 * one owned (their leases name it).
 */
export function workerInstanceId(primaryId: string, index: number): string {
  return `${primaryId}-w${index}`;
}

/** The ids of workers 1..count; a ConfigError when the longest would not be a valid INSTANCE_ID. */
export function workerInstanceIds(primaryId: string, count: number): string[] {
  const ids = Array.from({ length: count }, (_, i) => workerInstanceId(primaryId, i + 1));
  const longest = ids.at(-1) ?? primaryId;
  if (longest.length > INSTANCE_ID_MAX_LENGTH) {
    const room = INSTANCE_ID_MAX_LENGTH - (longest.length - primaryId.length);
    throw new ConfigError(
      "INSTANCE_ID",
      `must be at most ${room} characters with WORKERS=${count} (worker ${count} is named ${longest.slice(0, 20)}…-w${count})`,
    );
  }
  return ids;
}

/** This process's worker index from its environment; null when the primary did not set one. */
export function workerIndexFrom(env: Record<string, string | undefined>): number | null {
  const raw = env[WORKER_INDEX_ENV];
  if (raw === undefined || !/^[1-9]\d*$/.test(raw)) return null;
  return Number(raw);
}
