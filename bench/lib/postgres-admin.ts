import pg from "pg";

/**
 * Runs one statement on its own connection to `url` (CREATE or DROP DATABASE, which cannot run
 * inside a pool's transaction or on the database being dropped).
 */
export async function onPostgres(url: string, statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
