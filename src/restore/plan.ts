/**
 * Deciding what a restore will do, before it writes anything: which of the two fresh shapes the target has
 * (empty: create the schema; migrated: load into existing empty tables), and what it must refuse.
 */
import type { HeaderLine, TableInfo } from '../format/lines.js';
import { ftsContentOption } from '../source/schema.js';
import { PRISMA_MIGRATIONS, type TargetState } from './target-state.js';

export type TableAction = 'create+load' | 'load' | 'keep-target' | 'sequence' | 'rebuild' | 'schema-only';

export interface PlannedTable {
  info: TableInfo;
  action: TableAction;
  /** Rows the target already holds (seeded rows are checked against the dump). */
  targetRows: number;
  /** The name that reaches the hidden rowid in the target (for tables whose dump carries it). */
  rowidName: string | null;
}

export interface RestorePlan {
  path: 'empty' | 'migrated';
  tables: PlannedTable[];
  refusals: string[];
  warnings: string[];
  /** Tables whose existing rows are deleted in the load transaction (seeded rows, or --clean). */
  clear: string[];
  /** Tables whose existing rows must all be found in the dump (checked while verifying). */
  seedCheck: string[];
}

const hiddenRowidName = (columns: string[]) => {
  const taken = new Set(columns.map((c) => c.toLowerCase()));
  return ['rowid', '_rowid_', 'oid'].find((n) => !taken.has(n)) ?? null;
};

export function planRestore(
  header: HeaderLine,
  state: TargetState,
  opts: { tables?: string[]; clean?: boolean },
): RestorePlan {
  const refusals: string[] = [];
  const warnings: string[] = [];
  const userTables = [...state.tables.values()];
  const path: RestorePlan['path'] = userTables.length === 0 ? 'empty' : 'migrated';
  const dumped = new Set(header.tables.map((t) => t.name));
  for (const n of opts.tables ?? []) if (!dumped.has(n)) refusals.push(`--tables names "${n}", which the dump does not hold`);
  const chosen = (name: string) => !opts.tables || opts.tables.includes(name) || name === 'sqlite_sequence';

  const tables: PlannedTable[] = [];
  const clear: string[] = [];
  const seedCheck: string[] = [];
  for (const info of header.tables) {
    if (!chosen(info.name)) continue;
    // A virtual table without data of its own: an external-content FTS index is rebuilt from its content table;
    // anything else (contentless FTS, modules we cannot read) gets its schema only.
    const noData = info.kind === 'virtual' && info.dataColumns.length === 0;
    const sql = noData ? (header.schema.find((o) => o.type === 'table' && o.name === info.name)?.sql ?? '') : '';
    const rebuild = noData && (info.module ?? '').startsWith('fts') && ftsContentOption(sql) === 'external';
    const external: TableAction | null = noData ? (rebuild ? 'rebuild' : 'schema-only') : null;
    if (info.name === 'sqlite_sequence') {
      tables.push({ info, action: 'sequence', targetRows: 0, rowidName: null });
      continue;
    }
    if (path === 'empty') {
      tables.push({ info, action: external ?? 'create+load', targetRows: 0, rowidName: info.rowidColumn ? info.dataColumns[0]! : null });
      continue;
    }
    const existing = state.tables.get(info.name);
    if (info.name === PRISMA_MIGRATIONS) {
      tables.push({ info, action: 'keep-target', targetRows: existing?.rows ?? 0, rowidName: null });
      continue;
    }
    if (!existing) {
      refusals.push(`the target has no table "${info.name}": apply the migrations first (migrate-turso.ts) or restore into an empty database`);
      continue;
    }
    const wanted = info.rowidColumn ? info.dataColumns.slice(1) : info.dataColumns;
    for (const c of wanted) {
      if (!existing.columns.includes(c)) refusals.push(`table "${info.name}": the dumped column "${c}" has no place in the target`);
    }
    const rowidName = info.rowidColumn ? hiddenRowidName(existing.columns) : null;
    if (info.rowidColumn && !rowidName) refusals.push(`table "${info.name}": the target's columns hide its rowid`);
    if (existing.rows > 0 && !external) {
      clear.push(info.name);
      if (!opts.clean) seedCheck.push(info.name);
    }
    tables.push({ info, action: external ?? 'load', targetRows: existing.rows, rowidName });
  }

  if (path === 'migrated') {
    const dumpMigrations = header.tables.find((t) => t.name === PRISMA_MIGRATIONS);
    if (dumpMigrations && state.prismaMigrations === null) {
      warnings.push('the dump has _prisma_migrations but the target does not: the target keeps no migration history');
    }
    for (const t of state.tables.values()) {
      if (t.rows > 0 && !dumped.has(t.name) && t.name !== PRISMA_MIGRATIONS && !t.virtual) {
        refusals.push(`the target holds data: table "${t.name}" has ${t.rows} rows and is not in the dump`);
      }
    }
  }
  return { path, tables, refusals, warnings, clear, seedCheck };
}
