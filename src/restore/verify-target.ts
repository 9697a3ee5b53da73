/**
 * After the load, inside its transaction: recount every restored table and recompute its content checksum on the
 * target itself, with the same reader and encoder the backup used, and compare with the dump.
 */
import { createHash } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { DEFAULT_PAGES, encodedPages, type Growing, type PageOptions } from '../db/pages.js';
import type { Db } from '../db/types.js';
import type { TableInfo } from '../format/lines.js';
import { foldName, tableColumns } from '../db/schema.js';
import { q } from '../db/url.js';
import { tokenize } from '../sql-text.js';
import { createMemoryGovernor, type GovernorOptions, READBACK_COLLECT_BYTES, REMOTE_COLLECT_BYTES } from '../memory.js';

export interface TableChecksum {
  rows: number;
  sha256: string;
}

/**
 * Pages of the local read-back: 512 KiB of lines rather than the pager's 256 KiB. A page costs a statement, a
 * string_agg grown by doubling and its copies; on rows of tens of KiB (~12 to a 256 KiB page) that was a sixth of the
 * read-back's time (wide bench shape, read-back alone: 1.11–1.19 s → 0.95–1.02 s). 1 MiB saved little more and
 * peaked ~15 MB higher. Over HTTP the pager's own sizing stands (a response limit).
 */
const READBACK_PAGES: PageOptions = { ...DEFAULT_PAGES, targetBytes: 512 * 1024 };

/**
 * The local read-back's collections: scavenges (its pages die within a step), and every fourth a full one. With
 * scavenges only, what outlived two of them (a page's buffers, more of them with 512 KiB pages) waited for V8's own
 * full collections: the wide shape's 3x restore climbed through its load to 166-168 MB. With every fourth full it
 * stays at 147-149 MB, and reads back no slower (docs/BENCHMARKS.md, session 15).
 */
const READBACK_MEMORY: GovernorOptions = { everyBytes: READBACK_COLLECT_BYTES, young: true, majorEvery: 4 };

/**
 * A table's rows read back in key order and hashed as the backup encoded them (the same pager and encoding);
 * `growing` while another connection is still loading it. `largestRow`: the size of its largest row when known (the
 * dump's longest line for it), which keeps pages of large rows bounded (db/pages.ts PageOptions).
 */
export async function checksumRows(db: Db, info: TableInfo, rowidName: string | null, growing?: Growing, largestRow?: number): Promise<TableChecksum> {
  const cols = info.rowidColumn && rowidName ? [rowidName, ...info.dataColumns.slice(1)] : info.dataColumns;
  const keys = info.keyColumns.map((k) => (info.rowidColumn && k === info.dataColumns[0] ? cols[0]! : k));
  const hash = createHash('sha256');
  const local = db.kind === 'file';
  const memory = createMemoryGovernor(local ? READBACK_MEMORY : { everyBytes: REMOTE_COLLECT_BYTES });
  let rows = 0;
  let pages = 0;
  const table = { name: info.name, dataColumns: cols, keyColumns: keys };
  // Over HTTP the server's response limit bounds a page (remotePageOptions).
  for await (const page of encodedPages(db, table, { growing, pages: local ? { ...READBACK_PAGES, largestRow } : undefined })) {
    hash.update(page.bytes);
    rows += page.rows;
    memory.tick(page.bytes.length);
    // A local target answers synchronously: let timers and signal handlers run now and then.
    if (++pages % 64 === 0) await yieldToEventLoop();
  }
  return { rows, sha256: hash.digest('hex') };
}

/**
 * The views and triggers that `created` names which SQLite cannot compile on the target, each with SQLite's reason:
 * SQLite stores them without checking what they read, so a restore of some tables only (`--tables`, or a dump
 * made with it) can create a view over a table it did not load, or a trigger that writes one. Nothing runs: a
 * view is selected with LIMIT 0, and a table's triggers are compiled by EXPLAIN of an INSERT, an UPDATE of every
 * column and a DELETE that match no row. Triggers only on a local target: over HTTP, such an EXPLAIN inside the
 * load's transaction left a statement open on the stand-in sqld and made its COMMIT fail.
 */
export async function unusableObjects(db: Pick<Db, 'query' | 'kind'>, created: { views: string[]; triggerTables: string[] }): Promise<string[]> {
  const problems: string[] = [];
  const reason = async (sql: string) => {
    try {
      await db.query(sql);
      return null;
    } catch (e) {
      return (e as Error).message.split('\n')[0];
    }
  };
  const unusableViews = new Set<string>();
  for (const v of created.views) {
    const why = await reason(`SELECT * FROM ${q(v)} LIMIT 0`);
    if (why) problems.push(`view "${v}" cannot be used on the target: ${why}`);
    if (why) unusableViews.add(v);
  }
  // The triggers of a view that cannot be used cannot fire either: that view's warning says why, once.
  for (const t of db.kind === 'file' ? created.triggerTables.filter((n) => !unusableViews.has(n)) : []) {
    const cols = (await tableColumns(db, t)).filter((c) => c.hidden === 0).map((c) => q(c.name));
    const statements = [`INSERT INTO ${q(t)} DEFAULT VALUES`, `DELETE FROM ${q(t)} WHERE 0`];
    if (cols.length > 0) statements.push(`UPDATE ${q(t)} SET ${cols.map((c) => `${c} = ${c}`).join(', ')} WHERE 0`);
    for (const sql of statements) {
      const why = await reason(`EXPLAIN ${sql}`);
      // A view takes only the statements it has an INSTEAD OF trigger for: the others are no problem of its triggers.
      if (!why || /because it is a view/i.test(why)) continue;
      problems.push(`a trigger on "${t}" cannot fire on the target: ${why}`);
      break;
    }
  }
  return problems;
}

const hasCheck = (sql: string) => tokenize(sql).some((t) => t.kind === 'word' && sql.slice(t.start, t.end).toLowerCase() === 'check');

/**
 * A local load runs with CHECK constraints off (a source may hold rows its CHECKs refuse, and a migrated target may
 * declare CHECKs its source did not): the restored rows that break the target's CHECKs are counted here and named in
 * a warning, as foreign key violations are. Only restored tables whose SQL holds a CHECK are read (quick_check
 * scans the table); over HTTP the CHECKs were enforced during the load.
 */
export async function checkConstraintWarnings(db: Db, tables: readonly string[]): Promise<string[]> {
  if (db.kind !== 'file') return [];
  const declared = await db.query("SELECT name, sql FROM sqlite_schema WHERE type = 'table'");
  const withCheck = new Map(declared.filter((r) => hasCheck(String(r[1] ?? ''))).map((r) => [foldName(String(r[0])), String(r[0])]));
  const checked = tables.map((t) => withCheck.get(foldName(t))).filter((t): t is string => t !== undefined);
  if (checked.length === 0) return [];
  await db.run('PRAGMA ignore_check_constraints = OFF'); // quick_check skips CHECKs while they are ignored
  const warnings: string[] = [];
  for (const table of checked) {
    const lines = await db.query('SELECT * FROM pragma_quick_check(?)', [table]);
    const n = lines.filter((r) => String(r[0]).startsWith('CHECK constraint failed')).length;
    if (n === 0) continue;
    // quick_check stops at 100 problems.
    const count = n >= 100 ? '100 or more rows break' : n === 1 ? '1 row breaks' : `${n} rows break`;
    warnings.push(
      `table "${table}": ${count} its CHECK constraints on the target, loaded as the dump holds them (a restore brings rows back as they were); PRAGMA integrity_check lists them`,
    );
  }
  return warnings;
}

/** `PRAGMA foreign_key_check` over the whole database: violations per table. Throws where SQLite cannot check. */
export async function foreignKeyViolations(t: Pick<Db, 'query'>): Promise<Record<string, number>> {
  const out: Record<string, number> = Object.create(null); // table names as keys: `__proto__` too
  for (const r of await t.query('SELECT "table" FROM pragma_foreign_key_check')) {
    const name = String(r[0]);
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}

export interface ForeignKeyReport {
  violations: Record<string, number>;
  /** Tables whose foreign keys SQLite cannot check (a parent key without a unique index), with SQLite's reason. */
  unchecked: { table: string; reason: string }[];
}

export const uncheckedWarning = (u: ForeignKeyReport['unchecked'][number]) =>
  `the foreign keys of table "${u.table}" cannot be checked: ${u.reason}${/mismatch/i.test(u.reason) ? ' (its parent key has no PRIMARY KEY or UNIQUE index SQLite can use: SQLite can neither enforce nor check it)' : ''}`;

/**
 * The foreign key check after a restore. A schema may declare a foreign key SQLite cannot check (its parent columns
 * have no PRIMARY KEY or UNIQUE index of the same collation: "foreign key mismatch"); SQLite accepts such a schema
 * and the database the dump came from had it too. That must not sink a verified restore, nor hide the other
 * tables' violations: the check then runs table by table and the tables it cannot check are named.
 */
export async function checkForeignKeys(t: Pick<Db, 'query'>): Promise<ForeignKeyReport> {
  try {
    return { violations: await foreignKeyViolations(t), unchecked: [] };
  } catch {
    // one table's declaration fails the whole-database check: find which
  }
  const violations: Record<string, number> = {};
  const unchecked: ForeignKeyReport['unchecked'] = [];
  const tables = await t.query("SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name");
  for (const [name] of tables) {
    try {
      const n = (await t.query('SELECT count(*) FROM pragma_foreign_key_check(?)', [name]))[0]?.[0];
      if (Number(n) > 0) violations[String(name)] = Number(n);
    } catch (e) {
      unchecked.push({ table: String(name), reason: (e as Error).message });
    }
  }
  return { violations, unchecked };
}
