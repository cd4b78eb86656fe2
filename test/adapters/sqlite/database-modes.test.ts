import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { openDatabase } from "../../../src/adapters/sqlite/database.ts";

/** The permission bits of a file or folder. */
const modeOf = (file: string) => statSync(file).mode & 0o777;

let dir: string;
let previousUmask: number;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "callbridge-modes-"));
  // The most permissive umask: whatever comes out private was asked for, not left by the umask.
  previousUmask = process.umask(0);
});

afterEach(() => {
  process.umask(previousUmask);
  rmSync(dir, { recursive: true, force: true });
});

/** Writes a row, so SQLite has made its -wal and -shm files. */
function writeSomething(url: string): void {
  const { sqlite } = openDatabase(url);
  try {
    sqlite.exec("CREATE TABLE IF NOT EXISTS t (x); INSERT INTO t VALUES (1);");
    expect(statSync(`${url}-wal`).isFile()).toBe(true);
    for (const file of [url, `${url}-wal`, `${url}-shm`]) {
      expect([file, modeOf(file)]).toEqual([file, 0o600]);
    }
  } finally {
    sqlite.close();
  }
}

describe("openDatabase file modes", () => {
  it("creates the folder 0700 and the database, its -wal and -shm 0600", () => {
    const folder = join(dir, "data");
    const path = join(folder, "calls.db");
    writeSomething(path);
    expect(modeOf(folder)).toBe(0o700);
  });

  it("tightens a database and a -wal made before files were private, not their folder", () => {
    const folder = join(dir, "shared");
    mkdirSync(folder);
    chmodSync(folder, 0o755);
    const path = join(folder, "calls.db");
    const { sqlite } = openDatabase(path);
    sqlite.exec("CREATE TABLE t (x)");
    sqlite.close();
    chmodSync(path, 0o644);
    writeFileSync(`${path}-wal`, "");
    chmodSync(`${path}-wal`, 0o644);

    writeSomething(path);
    // The folder may be shared (DATABASE_URL=/var/lib/x.db): the server did not make it.
    expect(modeOf(folder)).toBe(0o755);
  });

  it("leaves a reader's connection to the writer's files", () => {
    const path = join(dir, "calls.db");
    writeSomething(path);
    chmodSync(path, 0o640);
    const { sqlite } = openDatabase(path, { readonly: true });
    sqlite.close();
    expect(modeOf(path)).toBe(0o640);
  });
});
