/**
 * What a restore target holds before anything is written: its user tables, their columns and row counts, its
 * triggers and its Prisma migrations. Internal (sqlite_*) and FTS shadow tables do not count as user tables.
 */
import { q } from '../source/sql.js';
import type { Target } from '../target/types.js';

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

export async function inspectTarget(t: Target): Promise<TargetState> {
  const list = await t.query("SELECT name, type FROM pragma_table_list WHERE schema = 'main'");
  const tables = new Map<string, TargetTable>();
  for (const [name, type] of list as [string, string][]) {
    // Views hold no rows of their own; shadow and internal tables are not user tables.
    if ((type !== 'table' && type !== 'virtual') || name.toLowerCase().startsWith('sqlite_')) continue;
    const cols = await t.query('SELECT name, hidden FROM pragma_table_xinfo(?)', [name]);
    const [[count]] = (await t.query(`SELECT count(*) FROM ${q(name)}`)) as [[bigint]];
    tables.set(name, {
      name,
      columns: cols.filter((c) => Number(c[1]) === 0).map((c) => String(c[0])),
      rows: Number(count),
      virtual: type === 'virtual',
    });
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
