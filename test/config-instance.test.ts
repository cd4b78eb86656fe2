import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { claimSpool, resolveInstanceId } from "../src/composition/instance-id.ts";
import { ConfigError, loadConfig } from "../src/config.ts";

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
    for (const bad of ["a/b", "x".repeat(65), "a b"]) {
      expect(() => configFor({ INSTANCE_ID: bad })).toThrow(/INSTANCE_ID/);
    }
  });

  it("unset, is made once from the host name and a random part, and kept in the folder", () => {
    const first = resolveInstanceId(configFor());
    expect(first).toMatch(/^[A-Za-z0-9_.-]+-[0-9a-f]{6}$/);
    expect(readFileSync(join(dir, ".instance-id"), "utf8").trim()).toBe(first);
    // A restart (after a crash) is the same instance: it recovers what the first left.
    expect(resolveInstanceId(configFor())).toBe(first);
  });

  it("a kept id that was tampered with stops the start with a clear error", () => {
    writeFileSync(join(dir, ".instance-id"), "../../etc\n");
    expect(() => resolveInstanceId(configFor())).toThrow(ConfigError);
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

describe("claimSpool", () => {
  it("lets a restarted instance take its spool back, and refuses a second live process", async () => {
    claimSpool(dir, "a");
    // Same process again (a restart in tests): fine.
    claimSpool(dir, "a");
    const sleeper = spawn(process.execPath, ["-e", "setTimeout(() => {}, 30000)"]);
    try {
      const pidFile = join(dir, ".spool", "a", ".owner-pid");
      writeFileSync(pidFile, `${sleeper.pid}\n`);
      expect(() => claimSpool(dir, "a")).toThrow(/already used by process/);
    } finally {
      sleeper.kill("SIGKILL");
      await new Promise((resolve) => sleeper.once("exit", resolve));
    }
    // The other process is gone (it crashed): its spool is ours to recover.
    const release = claimSpool(dir, "a");
    const pidFile = join(dir, ".spool", "a", ".owner-pid");
    expect(readFileSync(pidFile, "utf8").trim()).toBe(String(process.pid));
    // A clean shutdown hands the id back.
    release();
    expect(existsSync(pidFile)).toBe(false);
  });
});
