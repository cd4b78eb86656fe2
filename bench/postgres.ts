/**
 * The PostgreSQL + object storage section of `npm run bench` (issue 18), beside the SQLite
 * figures of the storage and load sections: the driver comparison and write path, pages of
 * calls and full-text search at 1,000,000 rows, and 100 live calls alternating between the two
 * storage backends. It needs a PostgreSQL server: BENCH_POSTGRES_URL or TEST_POSTGRES_URL, a role
 * that may CREATE DATABASE (README, "Running against PostgreSQL"); without one it says so.
 */
import { runLoadBench } from "./load.ts";
import { runPostgresDriversBench } from "./postgres-drivers.ts";
import { runPostgresCallsBench, runPostgresSearchBench } from "./storage-postgres.ts";

export function postgresBenchUrl(): string | undefined {
  const url = process.env.BENCH_POSTGRES_URL ?? process.env.TEST_POSTGRES_URL;
  return url === undefined || url === "" ? undefined : url;
}

export async function runPostgresBench(options: {
  quick: boolean;
  command: string;
  log?: (line: string) => void;
}): Promise<string> {
  const serverUrl = postgresBenchUrl();
  if (serverUrl === undefined) {
    return "Not run: set BENCH_POSTGRES_URL (or TEST_POSTGRES_URL) to a PostgreSQL server and a role that may CREATE DATABASE.";
  }
  const { quick } = options;
  const parts = [
    await runPostgresDriversBench({ serverUrl, quick }),
    await runPostgresCallsBench({ serverUrl, quick }),
    await runPostgresSearchBench({ serverUrl, quick }),
    await runLoadBench({
      quick,
      calls: [quick ? 20 : 100],
      backends: ["sqlite", "postgres-s3"],
      dataDir: "/dev/shm",
      seconds: quick ? 6 : 15,
      command: `${options.command} (postgres section: --backend sqlite,postgres-s3 --calls 100 --seconds 15 --data-dir /dev/shm)`,
      ...(options.log ? { log: options.log } : {}),
    }),
  ];
  return parts.join("\n");
}
