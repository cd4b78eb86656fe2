import pg from "pg";
import { expect, it } from "vitest";
import { createTestDatabase, describePostgres } from "../support/postgres.ts";

describePostgres("test databases on PostgreSQL", () => {
  it("creates an empty database of its own and drops it with its open connections", async () => {
    const database = await createTestDatabase();
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const { rows } = await client.query<{ db: string; tables: string }>(
      "SELECT current_database() AS db, (SELECT count(*) FROM pg_tables WHERE schemaname = 'public') AS tables",
    );
    expect(rows[0]).toEqual({ db: database.name, tables: "0" });
    client.on("error", () => {}); // the forced drop terminates this connection
    await database.drop();
    const again = new pg.Client({ connectionString: database.url });
    await expect(again.connect()).rejects.toThrow(/does not exist/);
  });
});
