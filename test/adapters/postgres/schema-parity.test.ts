import { is, SQL } from "drizzle-orm";
import {
  getTableConfig as getPgTableConfig,
  PgTable,
  index as pgIndex,
  integer as pgInteger,
  pgTable,
  text as pgText,
  uniqueIndex as pgUniqueIndex,
} from "drizzle-orm/pg-core";
import {
  getTableConfig as getSqliteTableConfig,
  SQLiteTable,
  index as sqliteIndex,
  integer as sqliteInteger,
  sqliteTable,
  text as sqliteText,
} from "drizzle-orm/sqlite-core";
import { describe, expect, it } from "vitest";
import * as pgSchema from "../../../drizzle/pg-schema.ts";
import * as sqliteSchema from "../../../drizzle/schema.ts";

/**
 * What the PostgreSQL schema may have that the SQLite one has not:
 * - full-text search's stored, folded transcripts.search_vector (generated from the text, never
 *   written by the adapter) and the GIN index on it: SQLite's FTS5 table and its triggers
 *   live in its migrations, outside drizzle/schema.ts;
 * - analytics.seq, the explicit form of the implicit rowid SQLite orders same-millisecond
 *   snapshots by.
 */
const ONLY_IN_POSTGRES = new Set([
  "transcripts.search_vector",
  "transcripts: index transcripts_search_idx using gin (search_vector)",
  "analytics.seq",
]);

/** A column as both dialects can state it. */
interface ColumnShape {
  type: string;
  notNull: boolean;
  primaryKey: boolean;
  /** Numbered by the database (AUTOINCREMENT rowid, identity). */
  generated: boolean;
  default: string;
  enumValues: string;
}

interface TableShape {
  columns: Map<string, ColumnShape>;
  primaryKeys: string[];
  foreignKeys: string[];
  indexes: Map<string, string>;
}

/** The logical type behind each dialect's column classes. */
const LOGICAL_TYPES: Record<string, string> = {
  SQLiteText: "text",
  PgText: "text",
  SQLiteTimestamp: "time(ms)",
  PgTimestamp: "time(ms)",
  SQLiteInteger: "integer",
  PgInteger: "integer",
  PgBigInt53: "integer",
  SQLiteReal: "float",
  PgDoublePrecision: "float",
  SQLiteBoolean: "boolean",
  PgBoolean: "boolean",
  SQLiteTextJson: "json",
  PgJson: "json",
};

type TableConfig = ReturnType<typeof getSqliteTableConfig> | ReturnType<typeof getPgTableConfig>;

function shapeOf(config: TableConfig, dialect: "sqlite" | "pg"): TableShape {
  const columns = new Map<string, ColumnShape>();
  for (const column of config.columns) {
    const generated =
      dialect === "sqlite"
        ? (column as { autoIncrement?: boolean }).autoIncrement === true
        : (column as { generatedIdentity?: unknown }).generatedIdentity !== undefined;
    columns.set(column.name, {
      type: LOGICAL_TYPES[column.columnType] ?? `unknown ${column.columnType}`,
      notNull: column.notNull,
      primaryKey: column.primary,
      generated,
      default: column.hasDefault && !generated ? JSON.stringify(column.default) : "none",
      enumValues: (column.enumValues ?? []).join("|"),
    });
  }
  const foreignKeys = config.foreignKeys.map((fk) => {
    const ref = fk.reference();
    const target = ref.foreignTable as SQLiteTable | PgTable;
    const targetName =
      dialect === "sqlite"
        ? getSqliteTableConfig(target as SQLiteTable).name
        : getPgTableConfig(target as PgTable).name;
    return `(${ref.columns.map((c) => c.name).join(",")}) -> ${targetName}(${ref.foreignColumns
      .map((c) => c.name)
      .join(",")}) on delete ${fk.onDelete ?? "no action"}`;
  });
  const indexes = new Map<string, string>();
  for (const index of config.indexes) {
    const { name, columns: on, unique } = index.config;
    const parts = on.map((part) =>
      is(part, SQL) ? "(expression)" : (part as { name: string }).name,
    );
    // SQLite has B-trees only; PostgreSQL's default is one too.
    const method = (index.config as { method?: string }).method ?? "btree";
    const using = method === "btree" ? "" : `using ${method} `;
    indexes.set(name ?? "(unnamed)", `${unique ? "unique " : ""}${using}(${parts.join(",")})`);
  }
  return {
    columns,
    primaryKeys: config.primaryKeys.map((pk) => pk.columns.map((c) => c.name).join(",")),
    foreignKeys: foreignKeys.sort(),
    indexes,
  };
}

/** Every difference between the two schemas, as readable lines; empty when they match. */
function schemaDifferences(
  sqliteTables: readonly SQLiteTable[],
  pgTables: readonly PgTable[],
  allowed: ReadonlySet<string> = ONLY_IN_POSTGRES,
): string[] {
  const differences: string[] = [];
  const sqlite = new Map(
    sqliteTables.map((t) => {
      const config = getSqliteTableConfig(t);
      return [config.name, shapeOf(config, "sqlite")];
    }),
  );
  const pg = new Map(
    pgTables.map((t) => {
      const config = getPgTableConfig(t);
      return [config.name, shapeOf(config, "pg")];
    }),
  );
  const note = (line: string) => {
    if (!allowed.has(line)) differences.push(line);
  };
  for (const name of new Set([...sqlite.keys(), ...pg.keys()])) {
    const left = sqlite.get(name);
    const right = pg.get(name);
    if (!left || !right) {
      note(`table ${name} only in ${left ? "SQLite" : "PostgreSQL"}`);
      continue;
    }
    for (const column of new Set([...left.columns.keys(), ...right.columns.keys()])) {
      const a = left.columns.get(column);
      const b = right.columns.get(column);
      if (!a || !b) {
        note(b ? `${name}.${column}` : `${name}.${column} only in SQLite`);
        continue;
      }
      for (const key of Object.keys(a) as Array<keyof ColumnShape>) {
        if (a[key] !== b[key]) {
          note(`${name}.${column} ${key}: SQLite ${a[key]}, PostgreSQL ${b[key]}`);
        }
      }
    }
    if (left.primaryKeys.join(";") !== right.primaryKeys.join(";")) {
      note(`${name} primary keys: SQLite ${left.primaryKeys}, PostgreSQL ${right.primaryKeys}`);
    }
    if (left.foreignKeys.join(";") !== right.foreignKeys.join(";")) {
      note(`${name} foreign keys: SQLite ${left.foreignKeys}, PostgreSQL ${right.foreignKeys}`);
    }
    for (const index of new Set([...left.indexes.keys(), ...right.indexes.keys()])) {
      const a = left.indexes.get(index);
      const b = right.indexes.get(index);
      if (!a || !b) {
        note(b ? `${name}: index ${index} ${b}` : `${name}: index ${index} only in SQLite`);
      } else if (a !== b) note(`${name}: index ${index}: SQLite ${a}, PostgreSQL ${b}`);
    }
  }
  return differences;
}

const SQLITE_TABLES = Object.values(sqliteSchema as Record<string, unknown>).filter(
  (v): v is SQLiteTable => is(v, SQLiteTable),
);
const PG_TABLES = Object.values(pgSchema as Record<string, unknown>).filter((v): v is PgTable =>
  is(v, PgTable),
);

describe("drizzle/pg-schema.ts against drizzle/schema.ts", () => {
  it("finds every table of both files", () => {
    const names = SQLITE_TABLES.map((t) => getSqliteTableConfig(t).name).sort();
    expect(names).toEqual([
      "analytics",
      "call_metadata",
      "call_rollup",
      "calls",
      "instances",
      "recordings",
      "transcripts",
    ]);
    expect(PG_TABLES.map((t) => getPgTableConfig(t).name).sort()).toEqual(names);
  });

  it("has the same tables, columns, nullability, defaults, keys and indexes", () => {
    expect(schemaDifferences(SQLITE_TABLES, PG_TABLES)).toEqual([]);
  });

  it("allows only the listed PostgreSQL-only structures, which it does see", () => {
    expect(schemaDifferences(SQLITE_TABLES, PG_TABLES, new Set()).sort()).toEqual(
      [...ONLY_IN_POSTGRES].sort(),
    );
  });
});

describe("the schema comparison", () => {
  // A small table in both dialects, and PostgreSQL variants of it with one change each.
  const sqliteParent = sqliteTable("parents", { id: sqliteText("id").primaryKey() });
  const sqliteWidgets = sqliteTable(
    "widgets",
    {
      id: sqliteText("id").primaryKey(),
      parentId: sqliteText("parent_id")
        .notNull()
        .references(() => sqliteParent.id, { onDelete: "cascade" }),
      name: sqliteText("name").notNull(),
      size: sqliteInteger("size").notNull().default(0),
    },
    (t) => [sqliteIndex("widgets_name_idx").on(t.name)],
  );
  const pgParent = pgTable("parents", { id: pgText("id").primaryKey() });
  type Change =
    | "none"
    | "nullable"
    | "default"
    | "extra column"
    | "index columns"
    | "unique index"
    | "no index"
    | "on delete";
  const pgWidgets = (change: Change) =>
    pgTable(
      "widgets",
      {
        id: pgText("id").primaryKey(),
        parentId: pgText("parent_id")
          .notNull()
          .references(() => pgParent.id, {
            onDelete: change === "on delete" ? "restrict" : "cascade",
          }),
        name: change === "nullable" ? pgText("name") : pgText("name").notNull(),
        size: pgInteger("size")
          .notNull()
          .default(change === "default" ? 1 : 0),
      },
      (t) =>
        change === "no index"
          ? []
          : change === "index columns"
            ? [pgIndex("widgets_name_idx").on(t.name, t.id)]
            : change === "unique index"
              ? [pgUniqueIndex("widgets_name_idx").on(t.name)]
              : [pgIndex("widgets_name_idx").on(t.name)],
    );
  const pgWidgetsWithColour = pgTable(
    "widgets",
    {
      id: pgText("id").primaryKey(),
      parentId: pgText("parent_id")
        .notNull()
        .references(() => pgParent.id, { onDelete: "cascade" }),
      name: pgText("name").notNull(),
      size: pgInteger("size").notNull().default(0),
      colour: pgText("colour"),
    },
    (t) => [pgIndex("widgets_name_idx").on(t.name)],
  );
  const compare = (change: Change) =>
    schemaDifferences(
      [sqliteParent, sqliteWidgets],
      [pgParent, change === "extra column" ? pgWidgetsWithColour : pgWidgets(change)],
      new Set(),
    );

  it("finds no difference between twins", () => {
    expect(compare("none")).toEqual([]);
  });

  it("reports a column that differs in nullability, default or existence", () => {
    expect(compare("nullable")).toEqual(["widgets.name notNull: SQLite true, PostgreSQL false"]);
    expect(compare("default")).toEqual(["widgets.size default: SQLite 0, PostgreSQL 1"]);
    expect(compare("extra column")).toEqual(["widgets.colour"]);
  });

  it("reports an index on other columns or missing, and a foreign key's onDelete", () => {
    expect(compare("index columns")).toEqual([
      "widgets: index widgets_name_idx: SQLite (name), PostgreSQL (name,id)",
    ]);
    expect(compare("unique index")).toEqual([
      "widgets: index widgets_name_idx: SQLite (name), PostgreSQL unique (name)",
    ]);
    expect(compare("no index")).toEqual(["widgets: index widgets_name_idx only in SQLite"]);
    expect(compare("on delete")).toEqual([
      "widgets foreign keys: SQLite (parent_id) -> parents(id) on delete cascade, PostgreSQL (parent_id) -> parents(id) on delete restrict",
    ]);
  });
});
