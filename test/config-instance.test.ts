import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  claimInstance,
  instancePidFile,
  resolveInstanceId,
  spoolInstance,
} from "../src/composition/instance-id.ts";
import { loadConfig } from "../src/config.ts";

let dir = "";
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cb-instance-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const configFor = (env: Record<string, string> = {}) =>
  loadConfig({ RECORDING_STORAGE_PATH: dir, ...env });

describe("INSTANCE_ID (issue 19)", () => {
  it("is taken as given, and refused when it could not name a folder", () => {
    expect(resolveInstanceId(configFor({ INSTANCE_ID: "eu-1.node_2" }))).toBe("eu-1.node_2");
    for (const bad of ["a/b", "x".repeat(65), "a b", ".", ".."]) {
      expect(() => configFor({ INSTANCE_ID: bad })).toThrow(/INSTANCE_ID/);
    }
  });

  it("unset, is derived from the host name and the folder: the same at every start, nothing written", () => {
    const first = resolveInstanceId(configFor());
    expect(first).toMatch(/^[A-Za-z0-9_.-]+-[0-9a-f]{6}$/);
    // A restart (after a crash) is the same instance: it recovers what the first left.
    expect(resolveInstanceId(configFor())).toBe(first);
    expect(readdirSync(dir)).toEqual([]);
    const other = mkdtempSync(join(tmpdir(), "cb-instance-"));
    try {
      expect(resolveInstanceId(loadConfig({ RECORDING_STORAGE_PATH: other }))).not.toBe(first);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it("keeps unfinished recordings in a spool folder of their own only when INSTANCE_ID is set", () => {
    expect(spoolInstance(configFor(), resolveInstanceId(configFor()))).toBeUndefined();
    expect(spoolInstance(configFor({ INSTANCE_ID: "a" }), "a")).toBe("a");
  });

  it("INSTANCE_LEASE_SECONDS and WORKERS are checked", () => {
    expect(configFor().instanceLeaseMs).toBe(15_000);
    expect(configFor({ INSTANCE_LEASE_SECONDS: "3" }).instanceLeaseMs).toBe(3000);
    expect(() => configFor({ INSTANCE_LEASE_SECONDS: "1" })).toThrow(/INSTANCE_LEASE_SECONDS/);
    expect(configFor().workers).toBe(1);
    expect(configFor({ WORKERS: "auto" }).workers).toBe("auto");
    expect(configFor({ WORKERS: "4" }).workers).toBe(4);
    for (const bad of ["0", "-1", "two", "257"]) {
      expect(() => configFor({ WORKERS: bad })).toThrow(/WORKERS/);
    }
  });
});

describe("claimInstance", () => {
  it("lets a restarted instance take its id back, and refuses a second live process", async () => {
    const release = claimInstance(dir, "a");
    // Same process again (a restart in tests): fine.
    claimInstance(dir, "a");
    release();
    const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"]);
    try {
      // Another live process holds the id for this folder.
      writeFileSync(instancePidFile(dir, "a"), `${sleeper.pid}\n`);
      expect(() => claimInstance(dir, "a")).toThrow(/already used by process/);
      // Another folder, or another id, is not its.
      expect(() => claimInstance(dir, "b")()).not.toThrow();
    } finally {
      sleeper.kill("SIGKILL");
      await new Promise((resolve) => sleeper.once("exit", resolve));
    }
    // The other process is gone (it crashed): the id is ours again, and released cleanly.
    claimInstance(dir, "a")();
    expect(existsSync(instancePidFile(dir, "a"))).toBe(false);
    // Nothing of it is in the recordings folder.
    expect(readdirSync(dir)).toEqual([]);
  });

  it("makes the instance's spool folder when it has one", () => {
    claimInstance(dir, "a", "a")();
    expect(readdirSync(join(dir, ".spool"))).toEqual(["a"]);
  });
});
