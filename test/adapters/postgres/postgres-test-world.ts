import { drizzle } from "drizzle-orm/node-postgres";
import pg from "pg";
import * as schema from "../../../drizzle/pg-schema.ts";
import {
  defaultPostgresMigrationsFolder,
  migratePostgres,
} from "../../../src/adapters/postgres/migrate.ts";
import { PostgresCallRepository } from "../../../src/adapters/postgres/postgres-call-repository.ts";
import { analyticsToRow, transcriptToRow } from "../../../src/adapters/sqlite/row-mapping.ts";
import {
  createTestDatabase,
  describePostgres,
  onServer,
  type TestDatabase,
} from "../../support/postgres.ts";
import type { RepositoryWorld, RepositoryWorldKind } from "../repository-worlds.ts";

/** The committed PostgreSQL migrations, found the way the server finds them. */
export const PG_MIGRATIONS = defaultPostgresMigrationsFolder();

export { onServer };

const TABLES = ["calls", "recordings", "transcripts", "analytics", "call_metadata"] as const;

/**
 * The PostgreSQL world: one database per suite (created and migrated once, dropped after), emptied
 * before each test, with a repository opened the way the server opens it.
 */
function postgresWorldKind(): RepositoryWorldKind {
  let database: TestDatabase | undefined;
  let own: pg.Pool | undefined;

  const current = () => {
    if (!database || !own) throw new Error("the PostgreSQL world is not set up");
    return { database, own };
  };

  return {
    name: "PostgresCallRepository (PostgreSQL)",
    describe: describePostgres,
    async setUp() {
      database = await createTestDatabase();
      await migratePostgres(database.url, PG_MIGRATIONS);
      own = new pg.Pool({ connectionString: database.url, max: 2 });
      // closeDatabase() terminates these connections too; the pool reconnects on next use.
      own.on("error", () => {});
    },
    async tearDown() {
      await own?.end();
      await database?.drop();
    },
    async open(): Promise<RepositoryWorld> {
      const { database, own } = current();
      const triggers: string[] = [];
      // call_rollup and callers are kept by triggers on calls, which TRUNCATE does not run.
      await own.query(
        `TRUNCATE ${TABLES.join(", ")}, instances, call_rollup, callers RESTART IDENTITY CASCADE`,
      );
      const open = () =>
        PostgresCallRepository.open({ url: database.url, migrationsPath: PG_MIGRATIONS });
      const repository = await open();
      const ownDb = drizzle(own, { schema });
      let refusing = false;
      return {
        repository,
        rowCount: async (table, callId) => {
          const result =
            callId === undefined
              ? await own.query(`SELECT count(*)::int AS n FROM ${table}`)
              : await own.query(`SELECT count(*)::int AS n FROM ${table} WHERE call_id = $1`, [
                  callId,
                ]);
          return (result.rows[0] as { n: number }).n;
        },
        refuseDeletes: async (table) => {
          await own.query(
            `CREATE OR REPLACE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS
             $$ BEGIN RAISE EXCEPTION 'refused'; END $$`,
          );
          await own.query(
            `CREATE TRIGGER refuse_${table} BEFORE DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION refuse()`,
          );
          triggers.push(`refuse_${table} ON ${table}`);
        },
        // Each transaction stamps the rows it inserts with its own id (xmin).
        commits: async () => {
          const result = await own.query(
            `SELECT count(DISTINCT x)::int AS n FROM
               (SELECT xmin::text AS x FROM transcripts UNION ALL SELECT xmin::text FROM analytics) rows`,
          );
          return (result.rows[0] as { n: number }).n;
        },
        insertDirectly: async (rows) => {
          for (const t of rows.transcripts) {
            await ownDb.insert(schema.transcripts).values(transcriptToRow(t));
          }
          for (const a of rows.analytics) {
            await ownDb.insert(schema.analytics).values(analyticsToRow(a));
          }
        },
        storedValues: async (table, callId) => {
          const columns = await own.query(
            `SELECT column_name FROM information_schema.columns
             WHERE table_name = $1 AND column_name NOT IN ('id', 'call_id', 'seq')
             ORDER BY ordinal_position`,
            [table],
          );
          const select = (columns.rows as Array<{ column_name: string }>)
            .map(
              (c) =>
                `pg_typeof(${c.column_name}) || ':' || quote_nullable(${c.column_name}::text) AS ${c.column_name}`,
            )
            .join(", ");
          const result = await own.query(
            `SELECT ${select} FROM ${table} WHERE call_id = $1 ORDER BY seq`,
            [callId],
          );
          return result.rows;
        },
        holdWrites: async (table) => {
          const client = await own.connect();
          await client.query("BEGIN");
          await client.query(`LOCK TABLE ${table} IN SHARE MODE`);
          return async () => {
            await client.query("COMMIT");
            client.release();
          };
        },
        explain: async (query) => {
          const client = await own.connect();
          try {
            // On a table of a few rows a sequential scan and a sort is cheapest; with it ruled
            // out, the plan shows whether an index can serve the query's order at all.
            await client.query("BEGIN");
            await client.query("SET LOCAL enable_seqscan = off");
            const plan = await client.query(`EXPLAIN ${query}`);
            await client.query("COMMIT");
            return (plan.rows as Array<{ "QUERY PLAN": string }>)
              .map((row) => row["QUERY PLAN"])
              .join("\n");
          } finally {
            client.release();
          }
        },
        closeDatabase: async () => {
          // The server refuses new connections to the database and drops the open ones.
          refusing = true;
          await onServer(`ALTER DATABASE ${database.name} WITH ALLOW_CONNECTIONS false`);
          await onServer(
            `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${database.name}'`,
          );
        },
        commitAndCloseDatabase: () => repository.close(),
        reopen: async () => {
          const reopened = await open();
          return { repository: reopened, close: () => reopened.close() };
        },
        async close() {
          if (refusing) {
            await onServer(`ALTER DATABASE ${database.name} WITH ALLOW_CONNECTIONS true`);
          }
          await repository.close().catch(() => {});
          for (const trigger of triggers) await own.query(`DROP TRIGGER ${trigger}`);
        },
      };
    },
  };
}

export const POSTGRES_WORLD = postgresWorldKind();
