import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ListObjectsV2Command, S3Client } from "@aws-sdk/client-s3";
import S3rver from "s3rver";
import { onPostgres } from "../lib/postgres-admin.ts";
import { cpuMs } from "./proc.ts";
import { startSecondInstance } from "./second-instance.ts";

/**
 * Where the server under load stores calls: `sqlite` is the embedded default (a file and a
 * folder); `postgres-s3` is PostgreSQL (a fresh database on the server that BENCH_POSTGRES_URL
 * or TEST_POSTGRES_URL names) and a local S3-protocol store (s3rver, in this process);
 * `postgres-s3-pair` is `postgres-s3` with a second instance on the same database and bucket,
 * following every call on a live feed (second-instance.ts): the cost of membership (issue 19).
 */
export type StorageBackendName = "sqlite" | "postgres-s3" | "postgres-s3-pair";

const BACKEND_NAMES: readonly StorageBackendName[] = ["sqlite", "postgres-s3", "postgres-s3-pair"];

export interface StorageBackend {
  readonly name: StorageBackendName;
  /** Variables the server is started with (on top of the bench's own). */
  readonly env: Record<string, string>;
  /** CPU ms used so far by the database server's processes (0 for SQLite: it is in-process). */
  databaseCpuMs(): number;
  /** Objects in the store (recordings and sidecar files), or null without object storage. */
  storedObjects(): Promise<number | null>;
  /**
   * CPU ms used so far by the other instance on the same database (postgres-s3-pair's B), NaN
   * once it has exited; 0 without one.
   */
  extraCpuMs(): number;
  /** Events the other instance's live feed of every call received so far; null without one. */
  feedFrames(): number | null;
  /** The other instance's warnings and errors, and whether it or its feed ended early. */
  extraProblems(): string[];
  close(): Promise<void>;
}

export function parseStorageBackend(value: string | undefined): StorageBackendName {
  if (value === undefined) return "sqlite";
  const name = BACKEND_NAMES.find((n) => n === value);
  if (name) return name;
  throw new Error(`--backend must be one of ${BACKEND_NAMES.join(", ")}, not ${value}`);
}

const BUCKET = "callbridge-bench";

export async function startStorageBackend(
  name: StorageBackendName,
  dataDir: string,
  databaseCpu: string | null,
): Promise<StorageBackend> {
  if (name === "sqlite") {
    return {
      name,
      env: {},
      databaseCpuMs: () => 0,
      storedObjects: async () => null,
      extraCpuMs: () => 0,
      feedFrames: () => null,
      extraProblems: () => [],
      close: async () => {},
    };
  }
  const backend = await startPostgresS3(name, dataDir, databaseCpu);
  if (name !== "postgres-s3-pair") return backend;
  // Instance B shares the generator's core with PostgreSQL: like the database, it stands for
  // another machine, and A's core (the server's CPU, which the comparison measures) stays A's.
  const second = await startSecondInstance({ env: backend.env, dataDir, cpu: databaseCpu }).catch(
    async (error: unknown) => {
      await backend.close();
      throw error;
    },
  );
  return {
    ...backend,
    extraCpuMs: () => second.cpuMs(),
    feedFrames: () => second.feedFrames(),
    extraProblems: () => second.problems(),
    async close() {
      await second.close().catch(() => {});
      await backend.close();
    },
  };
}

async function startPostgresS3(
  name: StorageBackendName,
  dataDir: string,
  databaseCpu: string | null,
): Promise<StorageBackend> {
  const adminUrl = process.env.BENCH_POSTGRES_URL ?? process.env.TEST_POSTGRES_URL;
  if (!adminUrl) {
    throw new Error(
      `--backend ${name} needs BENCH_POSTGRES_URL (or TEST_POSTGRES_URL): a role that may CREATE DATABASE`,
    );
  }
  const database = `cb_load_${randomBytes(4).toString("hex")}`;
  await onPostgres(adminUrl, `CREATE DATABASE ${database}`);
  const url = new URL(adminUrl);
  url.pathname = `/${database}`;
  // The database server shares the generator's core, as a separate machine would not use the
  // server's: the server's own CPU is what the comparison with SQLite measures.
  if (databaseCpu !== null) pinPostgres(databaseCpu);

  const directory = join(dataDir, "s3");
  mkdirSync(directory, { recursive: true });
  const s3 = new S3rver({
    port: 0,
    address: "127.0.0.1",
    silent: true,
    directory,
    configureBuckets: [{ name: BUCKET, configs: [] }],
  });
  const { port } = await s3.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const client = new S3Client({
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  return {
    name,
    env: {
      DATABASE_URL: url.toString(),
      RECORDING_STORAGE_URL: `s3://${BUCKET}/calls`,
      AWS_ENDPOINT_URL_S3: endpoint,
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: "S3RVER",
      AWS_SECRET_ACCESS_KEY: "S3RVER",
      S3_FORCE_PATH_STYLE: "true",
    },
    databaseCpuMs: () => postgresPids().reduce((sum, pid) => sum + safeCpuMs(pid), 0),
    async storedObjects() {
      let count = 0;
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: BUCKET, ContinuationToken: token }),
        );
        count += page.KeyCount ?? 0;
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return count;
    },
    extraCpuMs: () => 0,
    feedFrames: () => null,
    extraProblems: () => [],
    async close() {
      client.destroy();
      await s3.close();
      await onPostgres(adminUrl, `DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    },
  };
}

/** Every process of the local PostgreSQL server (the postmaster and its backends). */
function postgresPids(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (readFileSync(`/proc/${entry}/comm`, "utf8").trim() === "postgres")
        pids.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return pids;
}

function safeCpuMs(pid: number): number {
  try {
    return cpuMs(pid);
  } catch {
    return 0;
  }
}

/** Backends fork from the postmaster and inherit its affinity; existing ones are set too. */
function pinPostgres(cpu: string): void {
  for (const pid of postgresPids()) {
    try {
      execFileSync("taskset", ["-a", "-p", "-c", cpu, String(pid)], { stdio: "ignore" });
    } catch {
      // Not ours to pin, or gone: the figures say where PostgreSQL ran.
    }
  }
}
