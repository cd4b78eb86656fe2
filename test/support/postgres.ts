import { randomBytes } from "node:crypto";
import pg from "pg";
import { describe } from "vitest";

/**
 * The PostgreSQL server the PostgreSQL suites run against: a role that may create databases,
 * connected to any database of it (`.ci/run` starts one and exports this). Unset on a laptop:
 * the suites are skipped with one line saying how to run them, and CI fails on any skip.
 */
export const TEST_POSTGRES_URL = process.env.TEST_POSTGRES_URL ?? "";

export const postgresAvailable = (): boolean => TEST_POSTGRES_URL !== "";

let toldHowToEnable = false;

/**
 * `describe` for a suite that needs PostgreSQL. Its name always contains "PostgreSQL": that is
 * how `.ci/run` recognises a skipped PostgreSQL suite.
 */
export function describePostgres(name: string, body: () => void): void {
  const title = name.includes("PostgreSQL") ? name : `${name} (PostgreSQL)`;
  if (postgresAvailable()) {
    describe(title, body);
    return;
  }
  if (!toldHowToEnable) {
    toldHowToEnable = true;
    console.log(
      "PostgreSQL suites skipped: set TEST_POSTGRES_URL=postgres://user:password@127.0.0.1:5432/postgres " +
        "(a role that may CREATE DATABASE) to run them; README, 'Testing against PostgreSQL'.",
    );
  }
  describe.skip(title, body);
}

export interface TestDatabase {
  /** A URL of a new, empty database of its own. */
  url: string;
  name: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

/** A fresh database on the test server, so that test files never see each other's rows. */
export async function createTestDatabase(prefix = "cb_test"): Promise<TestDatabase> {
  if (!postgresAvailable()) throw new Error("TEST_POSTGRES_URL is not set");
  const name = `${prefix}_${process.pid}_${randomBytes(4).toString("hex")}`;
  await onServer(`CREATE DATABASE ${name}`);
  const url = new URL(TEST_POSTGRES_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    drop: () => onServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** Runs a statement on the server's maintenance database (the test database may be refusing). */
export async function onServer(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: TEST_POSTGRES_URL });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
