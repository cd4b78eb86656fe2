import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname, tmpdir } from "node:os";
import path from "node:path";
import { SPOOL_FOLDER } from "../adapters/fs/fs-recording-store.ts";
import { type Config, ConfigError } from "../config.ts";

/**
 * This process's INSTANCE_ID. Unset, it is derived from the host name and the recordings folder
 * (`<host>-<6 hex digits of the folder's absolute path's SHA-256>`): the same on every start of
 * one folder on one host, so a process restarted after a crash is the same instance and
 * recovers the calls and recordings the previous one left, and different for every folder.
 * Nothing is written into the folder for it: it holds only what the contract names.
 */
export function resolveInstanceId(config: Config): string {
  if (config.instanceId !== undefined) return config.instanceId;
  const host =
    hostname()
      .replace(/[^A-Za-z0-9_.-]/g, "-")
      .slice(0, 40) || "host";
  return `${host}-${folderHash(config.recordingStoragePath)}`;
}

/**
 * Where this instance's unfinished recordings go: its own folder inside the recordings folder
 * when it is one of several that may share it (INSTANCE_ID set, or a WORKERS worker, whose
 * primary sets it); with the default single process, the recordings folder itself, as before.
 */
export function spoolInstance(config: Config, instanceId: string): string | undefined {
  return config.instanceId === undefined ? undefined : instanceId;
}

function folderHash(folder: string): string {
  return createHash("sha256").update(path.resolve(folder)).digest("hex").slice(0, 6);
}

/**
 * Refuses to start a second live process with the same instance id on the same recordings
 * folder of this machine: the two would finish each other's recordings and fail each other's
 * calls. A file in the OS temp folder (never in the recordings folder) records the pid of the
 * process; a pid that is no longer running is a crashed predecessor, whose leftovers this
 * process is meant to recover. Returns the release for a clean shutdown.
 */
export function claimInstance(root: string, instanceId: string, spool?: string): () => void {
  if (spool !== undefined)
    mkdirSync(path.join(root, SPOOL_FOLDER, spool), { recursive: true, mode: 0o700 });
  const file = instancePidFile(root, instanceId);
  let previous = Number.NaN;
  try {
    previous = Number(readFileSync(file, "utf8").trim());
  } catch {
    // First start of this instance here (or the temp folder was cleaned).
  }
  if (
    Number.isInteger(previous) &&
    previous > 0 &&
    previous !== process.pid &&
    isRunning(previous)
  ) {
    throw new ConfigError(
      "INSTANCE_ID",
      `${instanceId} is already used by process ${previous} on this machine for ${path.resolve(root)}: give each process its own INSTANCE_ID, or run one process with WORKERS`,
    );
  }
  try {
    writeFileSync(file, `${process.pid}\n`, { mode: 0o600 });
  } catch {
    // A temp folder we cannot write: the guard is a convenience, not worth refusing to start.
  }
  return () => {
    try {
      if (Number(readFileSync(file, "utf8").trim()) === process.pid) rmSync(file, { force: true });
    } catch {
      // Gone already, or unreadable: a later claim checks the pid anyway.
    }
  };
}

/** The pid file of an instance id on one recordings folder, in the OS temp folder. */
export function instancePidFile(root: string, instanceId: string): string {
  return path.join(tmpdir(), `callbridge-${instanceId}-${folderHash(root)}.pid`);
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
