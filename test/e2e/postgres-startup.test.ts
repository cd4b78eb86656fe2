import { spawn } from "node:child_process";
import { createServer, type Server, type Socket } from "node:net";
import pg from "pg";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../bench/lib/child-server.ts";
import { ensureReachable } from "../../src/composition/database.ts";
import { createTestDatabase, describePostgres, type TestDatabase } from "../support/postgres.ts";

/**
 * Issue 18: `npm start` and `npm run db:migrate` with DATABASE_URL=postgres://… A server it
 * cannot reach fails startup with one clear line and exit code 1, never a hang; the password
 * never appears in what it prints.
 */

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** `node --import tsx src/main.ts [args]`, as npm start / npm run db:migrate run it. */
function runMain(args: string[], env: Record<string, string>, timeoutMs = 60_000): Promise<Exit> {
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", ...args], {
    cwd: REPO_ROOT,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    stdout += chunk;
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
  });
  return new Promise((resolve) => {
    const killer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, ms: performance.now() - started });
    });
  });
}

/** A port that accepts TCP connections and never says a word: a PostgreSQL that hangs. */
async function silentServer(): Promise<{ port: number; close(): Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  if (typeof address !== "object" || address === null) throw new Error("no port");
  return {
    port: address.port,
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** A port nothing listens on: connections are refused at once. */
async function closedPort(): Promise<number> {
  const { port, close } = await silentServer();
  await close();
  return port;
}

describe("a database server it cannot reach", () => {
  let silent: Awaited<ReturnType<typeof silentServer>> | null = null;
  afterEach(async () => {
    await silent?.close();
    silent = null;
  });

  it("fails npm start with one line naming the server, not the password, and exit code 1", async () => {
    const port = await closedPort();
    const run = await runMain([], {
      DATABASE_URL: `postgres://cb:hunter2secret@127.0.0.1:${port}/calls`,
    });
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split("\n")).toEqual([
      `callbridge failed to start: cannot connect to PostgreSQL at postgres://cb:***@127.0.0.1:${port}/calls: connect ECONNREFUSED 127.0.0.1:${port}`,
    ]);
    // The start-up line says where calls go, with the password masked.
    expect(run.stdout).toContain(`"database":"postgres://cb:***@127.0.0.1:${port}/calls"`);
    expect(run.stdout + run.stderr).not.toContain("hunter2secret");
  });

  it("fails npm run db:migrate the same way", async () => {
    const port = await closedPort();
    const run = await runMain(["migrate"], {
      DATABASE_URL: `postgresql://cb:hunter2secret@127.0.0.1:${port}/calls`,
    });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^callbridge failed to start: cannot connect to PostgreSQL at /);
    expect(run.stdout + run.stderr).not.toContain("hunter2secret");
  });

  it("gives up on a server that accepts the connection and never answers", async () => {
    silent = await silentServer();
    const started = performance.now();
    const url = `postgres://cb:pw@127.0.0.1:${silent.port}/calls`;
    await expect(ensureReachable(url, 300)).rejects.toThrow(
      new RegExp(
        `^cannot connect to PostgreSQL at postgres://cb:\\*\\*\\*@127\\.0\\.0\\.1:${silent.port}/calls: .*timeout`,
      ),
    );
    expect(performance.now() - started).toBeLessThan(3000);
  });

  it("refuses an unparsable URL before connecting, without echoing it", async () => {
    const run = await runMain([], { DATABASE_URL: "postgres://cb:pa#ss@db/calls" });
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(
      /^Invalid configuration: DATABASE_URL is not a valid PostgreSQL URL/,
    );
    expect(run.stderr).not.toContain("pa#ss");
  });
});

describePostgres("npm run db:migrate on PostgreSQL", () => {
  let database: TestDatabase | null = null;
  beforeAll(async () => {
    database = await createTestDatabase("cb_migrate");
  });
  afterAll(async () => {
    await database?.drop();
  });

  async function query<T extends pg.QueryResultRow>(sql: string): Promise<T[]> {
    const client = new pg.Client({ connectionString: database!.url });
    await client.connect();
    try {
      return (await client.query<T>(sql)).rows;
    } finally {
      await client.end();
    }
  }

  it("applies the PostgreSQL migrations once, and a second run changes nothing", async () => {
    const url = database!.url;
    const first = await runMain(["migrate"], { DATABASE_URL: url });
    expect(first.code, first.stderr).toBe(0);
    const masked = url.replace(/:[^:@/]*@/, ":***@");
    expect(first.stdout).toBe(`migrations applied to ${masked}\n`);
    const tables = await query<{ tablename: string }>(
      "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename",
    );
    expect(tables.map((t) => t.tablename)).toEqual(
      expect.arrayContaining(["analytics", "call_metadata", "calls", "recordings", "transcripts"]),
    );
    const applied = await query<{ id: number; hash: string }>(
      "SELECT id, hash FROM drizzle.__drizzle_migrations ORDER BY id",
    );
    expect(applied.length).toBeGreaterThan(0);

    await query(
      "INSERT INTO calls (id, stream_sid, status, started_at, created_at, updated_at) " +
        "VALUES ('kept', 'MZkept', 'active', now(), now(), now())",
    );
    const second = await runMain(["migrate"], { DATABASE_URL: url });
    expect(second.code, second.stderr).toBe(0);
    expect(
      await query<{ id: number; hash: string }>(
        "SELECT id, hash FROM drizzle.__drizzle_migrations ORDER BY id",
      ),
    ).toEqual(applied);
    expect(await query("SELECT id FROM calls")).toEqual([{ id: "kept" }]);
  });
});
