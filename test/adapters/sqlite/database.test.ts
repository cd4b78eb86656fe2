import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { databasePath, openDatabase } from "../../../src/adapters/sqlite/database.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "callbridge-open-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe("openDatabase", () => {
  it("creates the missing folders and sets the server's pragmas", () => {
    const path = join(dir, "nested", "deeper", "calls.db");
    const { sqlite } = openDatabase(`file:${path}`);
    try {
      expect(existsSync(path)).toBe(true);
      expect(sqlite.pragma("journal_mode", { simple: true })).toBe("wal");
      expect(sqlite.pragma("synchronous", { simple: true })).toBe(1);
      expect(sqlite.pragma("busy_timeout", { simple: true })).toBe(5000);
      expect(sqlite.pragma("foreign_keys", { simple: true })).toBe(1);
      expect(sqlite.pragma("wal_autocheckpoint", { simple: true })).toBe(10000);
    } finally {
      sqlite.close();
    }
  });

  it("fails with a message naming DATABASE_URL when the path cannot be a database", () => {
    const file = join(dir, "not-a-folder");
    writeFileSync(file, "x");
    expect(() => openDatabase(join(file, "calls.db"))).toThrow(/^DATABASE_URL: .*not-a-folder/);
    const garbage = join(dir, "garbage.db");
    writeFileSync(
      garbage,
      "this is not a sqlite file, only some text that is long enough".repeat(20),
    );
    expect(() => openDatabase(garbage)).toThrow(/^DATABASE_URL: /);
  });
});

describe("databasePath", () => {
  it("accepts plain paths and file: URLs", () => {
    expect(databasePath("/srv/data/calls.db")).toBe("/srv/data/calls.db");
    expect(databasePath("file:/srv/data/calls.db")).toBe("/srv/data/calls.db");
    expect(databasePath("file:///srv/data/calls.db")).toBe("/srv/data/calls.db");
    expect(databasePath("file:./data/calls.db")).toBe(join(process.cwd(), "data", "calls.db"));
    expect(databasePath(":memory:")).toBe(":memory:");
  });
});
