/**
 * What a restore target holds before anything is written: its user tables, their columns and row counts, its
 * triggers and its Prisma migrations. Internal (sqlite_*) and FTS shadow tables do not count as user tables.
 */
import { countRows, foldName, ownedShadows, tableColumns, tableList, virtualHoldsRows } from '../db/schema.js';
import type { Db } from '../db/types.js';
import { q } from '../db/url.js';

export interface TargetTable {
  name: string;
  columns: string[];
  rows: number;
  virtual: boolean;
  withoutRowid: boolean;
  /** Declared types by folded column name. */
  types: Map<string, string>;
  /** Columns a row cannot leave out: NOT NULL without a default (an INTEGER PRIMARY KEY takes a new rowid). */
  required: string[];
}

export interface TargetState {
  tables: Map<string, TargetTable>;
  triggers: { name: string; sql: string }[];
  /** Its views' names: a target with views and no tables is not a fresh database (planRestore refuses it). */
  views: string[];
  prismaMigrations: string[] | null;
}

export const PRISMA_MIGRATIONS = '_prisma_migrations';

export const emptyState = (): TargetState => ({ tables: new Map(), triggers: [], views: [], prismaMigrations: null });

/**
 * The target's table that SQLite would resolve `name` to: `"user"` and `"User"` are one table to SQLite (a schema
 * cannot hold both), so a dump's table is loaded into the target's whatever the letter case of either.
 */
export function targetTable(state: TargetState, name: string): TargetTable | undefined {
  const exact = state.tables.get(name);
  if (exact) return exact;
  const folded = foldName(name);
  for (const t of state.tables.values()) if (foldName(t.name) === folded) return t;
  return undefined;
}

/** What the target holds now (nothing is written). */
export async function inspectTarget(t: Db): Promise<TargetState> {
  const tables = new Map<string, TargetTable>();
  const objects = await t.query('SELECT type, name, tbl_name, sql FROM sqlite_schema');
  const sqlOf = new Map(objects.filter((r) => r[0] === 'table').map((r) => [String(r[1]), String(r[3] ?? '')]));
  const list = await tableList(t);
  const shadows = await ownedShadows(list, objects);
  for (const { name, type, withoutRowid } of list) {
    // Views hold no rows of their own; shadow (ones a virtual table made) and internal tables are not user tables.
    const kind = type === 'shadow' && !shadows.has(name) ? 'table' : type;
    if ((kind !== 'table' && kind !== 'virtual') || foldName(name).startsWith('sqlite_')) continue;
    const info = (await tableColumns(t, name)).filter((c) => c.hidden === 0);
    // A virtual table without rows of its own is not counted (a contentless FTS4 cannot even be: count(*) fails).
    const virtual = type === 'virtual';
    const rows = virtual && !virtualHoldsRows(sqlOf.get(name) ?? '') ? 0 : await countRows(t, name);
    const types = new Map(info.map((c) => [foldName(c.name), c.type]));
    const required = virtual ? [] : await requiredColumns(t, name, withoutRowid);
    tables.set(name, { name, columns: info.map((c) => c.name), rows, virtual, withoutRowid, types, required });
  }
  const triggers = (await t.query("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'")).map((r) => ({
    name: String(r[0]),
    sql: String(r[1]),
  }));
  const views = objects.filter((r) => r[0] === 'view').map((r) => String(r[1]));
  const prismaMigrations = tables.has(PRISMA_MIGRATIONS)
    ? (await t.query(`SELECT migration_name FROM ${q(PRISMA_MIGRATIONS)} ORDER BY migration_name`)).map((r) => String(r[0]))
    : null;
  return { tables, triggers, views, prismaMigrations };
}

/** The columns of `table` a row cannot leave out: NOT NULL, no default, not a rowid table's INTEGER PRIMARY KEY. */
async function requiredColumns(t: Db, table: string, withoutRowid: boolean): Promise<string[]> {
  const cols = await t.query('SELECT name, type, "notnull", dflt_value, pk, hidden FROM pragma_table_xinfo(?)', [table]);
  const keys = cols.filter((c) => Number(c[4]) > 0);
  const rowidAlias = !withoutRowid && keys.length === 1 && String(keys[0]![1]).toUpperCase() === 'INTEGER' ? String(keys[0]![0]) : null;
  return cols.filter((c) => Number(c[2]) === 1 && c[3] === null && Number(c[5]) === 0 && String(c[0]) !== rowidAlias).map((c) => String(c[0]));
}
