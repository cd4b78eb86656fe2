import { describe, expect, it } from "vitest";
import { ConfigError, describeDatabase, loadConfig, maskUrlPassword } from "../src/config.ts";

describe("DATABASE_URL chooses the database", () => {
  it("is SQLite at ./data/calls.db when unset, with a pool size that does not matter", () => {
    const config = loadConfig({});
    expect(config.database).toEqual({ kind: "sqlite", path: "./data/calls.db" });
    expect(config.databasePath).toBe("./data/calls.db");
  });

  it.each([
    ["file:/tmp/x.db", "/tmp/x.db"],
    ["/var/lib/callbridge/calls.db", "/var/lib/callbridge/calls.db"],
    [":memory:", ":memory:"],
    ["mysql://nope", "mysql://nope"],
  ])("keeps %s on SQLite at %s", (value, path) => {
    const config = loadConfig({ DATABASE_URL: value });
    expect(config.database).toEqual({ kind: "sqlite", path });
    expect(config.databasePath).toBe(path);
  });

  it.each([
    "postgres://cb:secret@db.internal:5432/calls",
    "postgresql://cb:secret@db.internal/calls?sslmode=require",
    "POSTGRES://cb@10.0.0.5/calls",
    "postgres:///calls?host=/var/run/postgresql",
  ])("selects PostgreSQL for %s, pool of 10 by default", (url) => {
    const config = loadConfig({ DATABASE_URL: url });
    expect(config.database).toEqual({ kind: "postgres", url, poolSize: 10 });
  });

  it("reads DATABASE_POOL_SIZE", () => {
    const config = loadConfig({
      DATABASE_URL: "postgres://cb@db/calls",
      DATABASE_POOL_SIZE: "25",
    });
    expect(config.database).toEqual({
      kind: "postgres",
      url: "postgres://cb@db/calls",
      poolSize: 25,
    });
  });

  it.each(["0", "-1", "abc", "1001"])("rejects DATABASE_POOL_SIZE=%s", (value) => {
    expect(() => loadConfig({ DATABASE_POOL_SIZE: value })).toThrow(
      /^Invalid configuration: DATABASE_POOL_SIZE /,
    );
  });

  it.each([
    ["postgres://cb:p@ss@w#rd@db/calls", /not a valid PostgreSQL URL.*percent-encode/],
    ["postgres://cb:secret@db:port/calls", /not a valid PostgreSQL URL/],
    ["postgres:calls", /not a valid PostgreSQL URL/],
    ["postgresql://cb:secret@db:5432", /must name a database/],
    ["postgres://cb:secret@db/", /must name a database/],
  ])("explains what is wrong with %s, never echoing it", (url, reason) => {
    let error: unknown;
    try {
      loadConfig({ DATABASE_URL: url });
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as ConfigError).message;
    expect(message).toMatch(/^Invalid configuration: DATABASE_URL /);
    expect(message).toMatch(reason);
    expect(message).not.toContain("secret");
    expect(message).not.toContain("p@ss");
  });
});

describe("the database in log lines", () => {
  it("masks a PostgreSQL URL's password, and only that", () => {
    const config = loadConfig({ DATABASE_URL: "postgres://cb:s3cr%40t@db.internal:5432/calls" });
    expect(describeDatabase(config.database)).toBe("postgres://cb:***@db.internal:5432/calls");
    expect(config.databasePath).toBe("postgres://cb:***@db.internal:5432/calls");
    expect(JSON.stringify(config)).toContain("s3cr%40t"); // the URL itself is intact
  });

  it("masks a password given as a query parameter", () => {
    expect(maskUrlPassword("postgres://db/calls?user=cb&password=hunter2")).toBe(
      "postgres://db/calls?user=cb&password=***",
    );
  });

  it("leaves a URL without a password as it is", () => {
    expect(maskUrlPassword("postgres://cb@db/calls")).toBe("postgres://cb@db/calls");
  });

  it("shows a SQLite path as it is", () => {
    expect(describeDatabase({ kind: "sqlite", path: "/data/calls.db" })).toBe("/data/calls.db");
  });
});
