/**
 * Deciding what a restore will do, before it writes anything: which of the two fresh shapes the target has
 * (empty: create the schema; migrated: load into existing empty tables), and what it must refuse.
 */
import { BackupError } from '../errors.js';
import { affinity, appCollations, caseHint, foldName, ftsContentTable, hiddenRowidName } from '../db/schema.js';
import { plural } from '../units.js';
import type { HeaderLine, TableInfo } from '../format/lines.js';
import type { RestoreInput } from './inputs/types.js';
import { MAX_SEED_ROWS } from './seeds.js';
import { PRISMA_MIGRATIONS, targetTable, type TargetState, type TargetTable } from './target-state.js';

export type TableAction = 'create+load' | 'load' | 'keep-target' | 'sequence' | 'rebuild' | 'schema-only';

export interface PlannedTable {
  info: TableInfo;
  action: TableAction;
  /** Rows the target already holds (seeded rows are checked against the dump). */
  targetRows: number;
  /** The name that reaches the hidden rowid in the target (for tables whose dump carries it). */
  rowidName: string | null;
  /** Columns the target declares with another affinity than the dump (affinityChanges): the column's words, and the plan's warning. */
  affinity?: { column: string; warning: string }[];
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
  /** The target's tables that hold rows and that the restore leaves as they are (not in the input, or not chosen). */
  kept: { table: string; rows: number; why: string }[];
}

/** What the input is called in messages: a dump, or a (legacy JSON) backup. */
const nounOf = (kind: RestoreInput['kind']) => (kind === 'dump' ? 'dump' : 'backup');

export const loads = (t: PlannedTable) => t.action === 'create+load' || t.action === 'load';

/**
 * A virtual table without data of its own: an external-content FTS index is rebuilt from its content table (one
 * the dump or the target has), anything else is schema only. SQLite lets the content table be missing until the
 * index is read; then there is nothing to rebuild from, and the index is created empty, with a warning.
 */
function externalAction(info: TableInfo, header: HeaderLine, state: TargetState, warnings: string[]): TableAction | null {
  if (info.kind !== 'virtual' || info.dataColumns.length > 0) return null;
  const sql = header.schema.find((o) => o.type === 'table' && o.name === info.name)?.sql ?? '';
  const content = (info.module ?? '').startsWith('fts') ? ftsContentTable(sql) : null;
  if (!content) return 'schema-only';
  // SQLite looks the content table up with ASCII letters folded, and only those.
  const known = (name: string) => foldName(name) === foldName(content);
  if (header.schema.some((o) => (o.type === 'table' || o.type === 'view') && known(o.name)) || [...state.tables.keys()].some(known)) return 'rebuild';
  warnings.push(`${info.name}: its content table "${content}" does not exist, so its full-text index is created empty (nothing to rebuild it from)`);
  return 'schema-only';
}

/**
 * With --tables, the external-content FTS indexes of the chosen tables come with them: such an index holds no rows
 * of its own (it is rebuilt from its content table), and the table's sync triggers, which the restore creates, write
 * to it: without it every insert into the table would fail on the target.
 */
function indexesOf(header: HeaderLine, tables: readonly string[]): Set<string> {
  const chosen = new Set(tables.map(foldName));
  const out = new Set<string>();
  for (const info of header.tables) {
    if (info.kind !== 'virtual' || info.dataColumns.length > 0 || !(info.module ?? '').startsWith('fts')) continue;
    const content = ftsContentTable(header.schema.find((o) => o.type === 'table' && o.name === info.name)?.sql ?? '');
    if (content && chosen.has(foldName(content))) out.add(info.name);
  }
  return out;
}

/** One dumped table into a migrated target: by column name, into its existing table. */
function planMigrated(info: TableInfo, header: HeaderLine, state: TargetState, kind: RestoreInput['kind'], clean: boolean, plan: RestorePlan): void {
  const existing = targetTable(state, info.name);
  if (info.name === PRISMA_MIGRATIONS) {
    plan.tables.push({ info, action: 'keep-target', targetRows: existing?.rows ?? 0, rowidName: null });
    return;
  }
  if (!existing) {
    plan.refusals.push(
      kind === 'dump'
        ? `the target has no table "${info.name}": apply the migrations first (turso-backup migrate, or scripts/migrate-turso.ts in a checkout) or restore into an empty database`
        : `the target has no table "${info.name}"`,
    );
    return;
  }
  const wanted = info.rowidColumn ? info.dataColumns.slice(1) : info.dataColumns;
  const column = kind === 'dump' ? 'the dumped column' : "the backup's column";
  const targetColumns = new Set(existing.columns.map(foldName));
  for (const c of wanted) if (!targetColumns.has(foldName(c))) plan.refusals.push(`table "${info.name}": ${column} "${c}" has no place in the target`);
  const given = new Set(info.dataColumns.map(foldName));
  for (const c of existing.required)
    if (!given.has(foldName(c)))
      plan.refusals.push(`table "${info.name}": the target's column "${c}" is NOT NULL without a default, and the ${nounOf(kind)} has no values for it`);
  const rowidName = info.rowidColumn && !existing.withoutRowid ? hiddenRowidName(existing.columns) : null;
  if (info.rowidColumn && existing.withoutRowid)
    plan.refusals.push(`table "${info.name}": the ${nounOf(kind)} keeps its rowids, but the target's table is WITHOUT ROWID`);
  else if (info.rowidColumn && !rowidName) plan.refusals.push(`table "${info.name}": the target's columns hide its rowid`);
  const affinity = affinityChanges(info, existing);
  plan.warnings.push(...affinity.map((a) => a.warning));
  const external = externalAction(info, header, state, plan.warnings);
  if (existing.rows > 0 && !external) {
    plan.clear.push(info.name);
    if (!clean) plan.seedCheck.push(info.name);
    if (!clean && existing.rows > MAX_SEED_ROWS) plan.refusals.push(heldDataRefusal(info.name, existing.rows));
  }
  plan.tables.push({ info, action: external ?? 'load', targetRows: existing.rows, rowidName, affinity });
}

/**
 * The columns whose type affinity differs between the dump and the target: SQLite converts a value as it stores it
 * (TEXT '007' into an INTEGER column becomes 7), so such a restore may fail its verification. Said before it runs.
 */
export function affinityChanges(info: TableInfo, existing: TargetTable): { column: string; warning: string }[] {
  const out: { column: string; warning: string }[] = [];
  for (const c of info.columns) {
    const there = existing.types.get(foldName(c.name));
    if (there === undefined || c.hidden !== 0 || affinity(there) === affinity(c.type)) continue;
    const column = `column "${c.name}" has ${affinity(c.type)} affinity in the dump and ${affinity(there)} on the target: SQLite may change values as they load, and the verification then refuses the restore`;
    out.push({ column, warning: `table "${info.name}": ${column}` });
  }
  return out;
}

/** What the restore of `header` (read from an input of `kind`) into a target in `state` will do, or refuse. */
export function planRestore(header: HeaderLine, state: TargetState, opts: { tables?: string[]; clean?: boolean; kind?: RestoreInput['kind'] }): RestorePlan {
  const kind = opts.kind ?? 'dump';
  const noun = nounOf(kind);
  const plan: RestorePlan = {
    path: state.tables.size === 0 ? 'empty' : 'migrated',
    tables: [],
    refusals: [],
    warnings: [],
    clear: [],
    seedCheck: [],
    kept: [],
  };
  if (kind === 'legacy-json' && plan.path === 'empty') {
    plan.refusals.push(
      'a legacy JSON backup carries no schema: apply the migrations to the target first (turso-backup migrate, or scripts/migrate-turso.ts in a checkout)',
    );
    return plan;
  }
  const viewsOnly = plan.path === 'empty' ? viewsWithoutTables(state) : null;
  if (viewsOnly) {
    plan.refusals.push(viewsOnly);
    return plan;
  }
  const dumped = new Set(header.tables.map((t) => t.name));
  // A misspelt name is the invocation's fault, as in a backup (db/schema.ts): USAGE, exit 2.
  for (const n of opts.tables ?? [])
    if (!dumped.has(n)) throw new BackupError('USAGE', `--tables names "${n}", which the ${noun} does not hold${caseHint(n, dumped)}`);
  // The counters come along when they can matter: a whole restore, or one of chosen tables that uses AUTOINCREMENT.
  const counted = (name: string) => /\bautoincrement\b/i.test(header.schema.find((o) => o.type === 'table' && o.name === name)?.sql ?? '');
  const sequence = !opts.tables || opts.tables.some(counted);
  // Into a migrated target, only an index it has (one it lacks is no reason to refuse the tables chosen).
  const indexes = new Set([...(opts.tables ? indexesOf(header, opts.tables) : [])].filter((n) => plan.path === 'empty' || targetTable(state, n) !== undefined));
  const chosen = (name: string) => !opts.tables || opts.tables.includes(name) || indexes.has(name) || (name === 'sqlite_sequence' && sequence);
  for (const info of header.tables) {
    if (!chosen(info.name)) continue;
    if (info.name === 'sqlite_sequence') plan.tables.push({ info, action: 'sequence', targetRows: 0, rowidName: null });
    else if (plan.path === 'empty') {
      plan.tables.push({
        info,
        action: externalAction(info, header, state, plan.warnings) ?? 'create+load',
        targetRows: 0,
        rowidName: info.rowidColumn ? info.dataColumns[0]! : null,
      });
    } else planMigrated(info, header, state, kind, opts.clean ?? false, plan);
  }
  if (plan.path === 'empty') refuseAppCollations(header, plan);
  if (plan.path === 'migrated') {
    if (header.tables.some((t) => t.name === PRISMA_MIGRATIONS) && state.prismaMigrations === null) {
      plan.warnings.push('the dump has _prisma_migrations but the target does not: the target keeps no migration history');
    }
    // --clean replaces the dumped tables' contents and leaves the target's other tables as they are.
    const inDump = new Set([...dumped].map(foldName));
    keptTables(plan, state, inDump, noun);
    // One refusal naming them all: a target that is some other application's database has many such tables.
    const held = [...state.tables.values()]
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
      .filter((t) => !opts.clean && t.rows > 0 && !inDump.has(foldName(t.name)) && t.name !== PRISMA_MIGRATIONS && !t.virtual);
    if (held.length === 1) {
      const t = held[0]!;
      plan.refusals.push(
        `the target holds data: table "${t.name}" has ${plural(t.rows, 'row')} and is not in the ${noun} (--clean restores the dumped tables and keeps it)`,
      );
    } else if (held.length > 1) {
      const named = held.slice(0, 5).map((t) => `"${t.name}" (${plural(t.rows, 'row')})`);
      const more = held.length > 5 ? ` and ${plural(held.length - 5, 'more table')}` : '';
      plan.refusals.push(
        `the target holds data: ${plural(held.length, 'table')} not in the ${noun} hold rows, ${named.join(', ')}${more}: is it the right database? (--clean restores the dumped tables and keeps them)`,
      );
    }
  }
  return plan;
}

/**
 * A target with views and no tables is not a fresh database (its views name tables it does not have), nor one the
 * migrations made: whose it is, and whether the dump's schema belongs beside those views, only the operator knows.
 */
function viewsWithoutTables(state: TargetState): string | null {
  const n = state.views.length;
  if (n === 0) return null;
  const names = `${state.views
    .slice(0, 3)
    .map((v) => `"${v}"`)
    .join(', ')}${n > 3 ? ', …' : ''}`;
  return `the target holds ${plural(n, 'view')} (${names}) and no tables: drop them, or restore into a new database or one the migrations made`;
}

/** A table or index to create whose collation only its application has: SQLite refuses to create it (a dump made elsewhere). */
function refuseAppCollations(header: HeaderLine, plan: RestorePlan): void {
  const restored = new Set(plan.tables.map((t) => t.info.name));
  for (const o of header.schema) {
    if ((o.type !== 'table' && o.type !== 'index') || !restored.has(o.tbl_name)) continue;
    const [name] = appCollations(o.sql);
    if (name !== undefined)
      plan.refusals.push(
        `${o.type} "${o.name}" uses the collation "${name}", which its application defines when it opens the database: SQLite cannot create it here`,
      );
  }
}

/** The target's tables with rows that no planned table loads: the plan names them, so a dry run shows all it leaves. */
function keptTables(plan: RestorePlan, state: TargetState, inDump: Set<string>, noun: string): void {
  const planned = new Set(plan.tables.map((t) => foldName(t.info.name)));
  for (const t of state.tables.values()) {
    if (t.rows === 0 || t.virtual || planned.has(foldName(t.name))) continue;
    const why = t.name === PRISMA_MIGRATIONS ? 'its migration history' : inDump.has(foldName(t.name)) ? 'not chosen by --tables' : `not in the ${noun}`;
    plan.kept.push({ table: t.name, rows: t.rows, why });
  }
}

/** The refusal for a target table too large to be seed rows (seeds.ts MAX_SEED_ROWS, MAX_SEED_BYTES): data. */
export function heldDataRefusal(table: string, rows: number): string {
  return `the target holds data: table "${table}" has ${plural(rows, 'row')}`;
}

/** The refusal for target rows the input does not hold (seeds.ts found them). */
export function unmatchedRefusal(table: string, n: number, kind: RestoreInput['kind']): string {
  // The legacy wording ("1 rows … replace them") is what operators of the old backups have seen; kept as it was.
  if (kind !== 'dump') return `the target holds data: table "${table}" has ${n} rows that the backup does not (use --clean to replace them)`;
  // A seed stamped with the time its migration ran (a config row's updatedAt) never equals the dump's: say so.
  return `the target holds data: table "${table}" has ${plural(n, 'row')} that the dump does not hold with the same values (a row a migration seeded with the time it ran never does): --clean replaces the dumped tables' contents`;
}
