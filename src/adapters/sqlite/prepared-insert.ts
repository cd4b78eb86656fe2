import type Database from "better-sqlite3";
import { type Column, getTableColumns, getTableName, type InferInsertModel } from "drizzle-orm";
import type { SQLiteTable } from "drizzle-orm/sqlite-core";

const quote = (identifier: string) => `"${identifier.replaceAll('"', '""')}"`;

/**
 * An INSERT of one row into a Drizzle table, as a better-sqlite3 statement prepared once.
 * The columns come from the schema (all of them but `omit`), and each value is encoded by its
 * column's own Drizzle mapping (timestamps to milliseconds, booleans to 0/1, JSON to text), so
 * a row is stored exactly as `db.insert(table).values(row)` stores it, without Drizzle building
 * the query again for every row. Every column inserted must be given a value (null included):
 * unlike Drizzle, a missing value is stored as NULL, not as the column's default.
 */
export function prepareInsert<T extends SQLiteTable>(
  sqlite: Database.Database,
  table: T,
  omit: readonly (keyof T["_"]["columns"] & string)[] = [],
): (row: InferInsertModel<T>) => void {
  const columns = Object.entries(getTableColumns(table) as Record<string, Column>).filter(
    ([key]) => !(omit as readonly string[]).includes(key),
  );
  const statement = sqlite.prepare(
    `INSERT INTO ${quote(getTableName(table))} (${columns.map(([, c]) => quote(c.name)).join(", ")})
     VALUES (${columns.map(() => "?").join(", ")})`,
  );
  return (row) => {
    const values = row as Record<string, unknown>;
    statement.run(
      columns.map(([key, column]) => {
        const value = values[key];
        // Drizzle does not encode null either.
        return value === null || value === undefined ? null : column.mapToDriverValue(value);
      }),
    );
  };
}
