/**
 * What a restore target holds before anything is written: its user tables, their columns and row counts, its
 * triggers and its Prisma migrations. Internal (sqlite_*) and FTS shadow tables do not count as user tables.
 */
import { countRows, foldName, tableColumns, tableList, virtualHoldsRows } from '../db/schema.js';
import type { Db } from '../db/types.js';
import { q } from '../db/url.js';

export interface TargetTable {
  name: string;
  columns: string[];
  rows: number;
  virtual: boolean;
}

export interface TargetState {
  tables: Map<string, TargetTable>;
  triggers: { name: string; sql: string }[];
  prismaMigrations: string[] | null;
}

export const PRISMA_MIGRATIONS = '_prisma_migrations';

export const emptyState = (): TargetState => ({ tables: new Map(), triggers: [], prismaMigrations: null });

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
  const sqlOf = new Map((await t.query("SELECT name, sql FROM sqlite_schema WHERE type = 'table'")).map((r) => [String(r[0]), String(r[1] ?? '')]));
  for (const { name, type } of await tableList(t)) {
    // Views hold no rows of their own; shadow and internal tables are not user tables.
    if ((type !== 'table' && type !== 'virtual') || name.toLowerCase().startsWith('sqlite_')) continue;
    const columns = (await tableColumns(t, name)).filter((c) => c.hidden === 0).map((c) => c.name);
    // A virtual table without rows of its own is not counted (a contentless FTS4 cannot even be: count(*) fails).
    const virtual = type === 'virtual';
    const rows = virtual && !virtualHoldsRows(sqlOf.get(name) ?? '') ? 0 : await countRows(t, name);
    tables.set(name, { name, columns, rows, virtual });
  }
  const triggers = (await t.query("SELECT name, sql FROM sqlite_schema WHERE type = 'trigger'")).map((r) => ({
    name: String(r[0]),
    sql: String(r[1]),
  }));
  const prismaMigrations = tables.has(PRISMA_MIGRATIONS)
    ? (await t.query(`SELECT migration_name FROM ${q(PRISMA_MIGRATIONS)} ORDER BY migration_name`)).map((r) => String(r[0]))
    : null;
  return { tables, triggers, prismaMigrations };
}
