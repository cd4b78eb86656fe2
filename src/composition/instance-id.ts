import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import path from "node:path";
import { SPOOL_FOLDER } from "../adapters/fs/fs-recording-store.ts";
import { type Config, ConfigError } from "../config.ts";

const ID_FILE = ".instance-id";
const INSTANCE_ID = /^[A-Za-z0-9_.-]{1,64}$/;
const OWNER_FILE = ".owner-pid";

/**
 * This process's INSTANCE_ID. Unset, it is the id kept in the recordings folder: the host name
 * and a random part, made at first start. Kept so that a process restarted after a crash is the
 * same instance, and finishes the recordings and calls the previous one left.
 */
export function resolveInstanceId(config: Config): string {
  if (config.instanceId !== undefined) return config.instanceId;
  const file = path.join(config.recordingStoragePath, ID_FILE);
  const kept = readKept(file);
  if (kept !== null) return kept;
  const host =
    hostname()
      .replace(/[^A-Za-z0-9_.-]/g, "-")
      .slice(0, 40) || "host";
  const made = `${host}-${randomBytes(3).toString("hex")}`;
  try {
    writeFileSync(file, `${made}\n`, { flag: "wx", mode: 0o600 });
    return made;
  } catch {
    // Another process made it first: its id is the folder's.
    const raced = readKept(file);
    if (raced !== null) return raced;
    throw new ConfigError("INSTANCE_ID", `is unset and ${file} could not be written`);
  }
}

function readKept(file: string): string | null {
  let text: string;
  try {
    text = readFileSync(file, "utf8").trim();
  } catch {
    return null;
  }
  if (!INSTANCE_ID.test(text)) {
    throw new ConfigError("INSTANCE_ID", `is unset and ${file} does not hold a valid id`);
  }
  return text;
}

/**
 * Refuses to start a second live process with the same instance id on this machine: the two
 * would finish each other's recordings and fail each other's calls. The spool folder records
 * the pid of its process; a pid that is no longer running is a crashed predecessor, whose
 * leftovers this process is meant to recover.
 */
export function claimSpool(root: string, instanceId: string): () => void {
  const folder = path.join(root, SPOOL_FOLDER, instanceId);
  mkdirSync(folder, { recursive: true, mode: 0o700 });
  const file = path.join(folder, OWNER_FILE);
  let previous = Number.NaN;
  try {
    previous = Number(readFileSync(file, "utf8").trim());
  } catch {
    // First start of this instance id here.
  }
  if (
    Number.isInteger(previous) &&
    previous > 0 &&
    previous !== process.pid &&
    isRunning(previous)
  ) {
    throw new ConfigError(
      "INSTANCE_ID",
      `${instanceId} is already used by process ${previous} on this machine: give each process its own INSTANCE_ID, or run one process with WORKERS`,
    );
  }
  writeFileSync(file, `${process.pid}\n`, { mode: 0o600 });
  // A clean shutdown hands the id back, so another process may take it over at once.
  return () => {
    try {
      if (Number(readFileSync(file, "utf8").trim()) === process.pid) rmSync(file, { force: true });
    } catch {
      // Gone already, or unreadable: a later claim checks the pid anyway.
    }
  };
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
