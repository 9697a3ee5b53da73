/**
 * After the load, inside its transaction: recount every restored table and recompute its content checksum on the
 * target itself, with the same reader and encoder the backup used, and compare with the dump.
 */
import { createHash } from 'node:crypto';
import type { TableInfo } from '../format/lines.js';
import { encodeRow } from '../format/values.js';
import { createMemoryGovernor } from '../memory.js';
import { DEFAULT_PAGES, tablePages, type Growing } from '../source/pages.js';
import type { Source } from '../source/types.js';
import type { Target } from '../target/types.js';

export function targetAsSource(t: Target): Source {
  return {
    kind: t.kind,
    displayUrl: t.displayUrl,
    beginSnapshot: async () => {},
    endSnapshot: async () => {},
    close: async () => {},
    query: (sql, args) => t.query(sql, args),
    ...(t.pageOptions ? { pageOptions: (o) => t.pageOptions!(o) } : {}),
    exactText: t.exactText,
  };
}

export interface TableChecksum {
  rows: number;
  sha256: string;
}

export function checksumTable(t: Target, info: TableInfo, rowidName: string | null): Promise<TableChecksum> {
  return checksumRows(targetAsSource(t), info, rowidName);
}

/** A table's rows read back in key order and hashed as the backup encoded them; `growing` while still loading. */
export async function checksumRows(source: Source, info: TableInfo, rowidName: string | null, growing?: Growing): Promise<TableChecksum> {
  const cols = info.rowidColumn && rowidName ? [rowidName, ...info.dataColumns.slice(1)] : info.dataColumns;
  const keys = info.keyColumns.map((k) => (info.rowidColumn && k === info.dataColumns[0] ? cols[0]! : k));
  const hash = createHash('sha256');
  const memory = createMemoryGovernor();
  let rows = 0;
  let pages = 0;
  for await (const page of tablePages(source, { ...info, dataColumns: cols, keyColumns: keys }, DEFAULT_PAGES, growing)) {
    let text = '';
    for (const r of page) text += encodeRow(r);
    hash.update(text);
    rows += page.length;
    memory.tick(text.length);
    // A local target answers synchronously: let timers and signal handlers run now and then.
    if (++pages % 64 === 0) await new Promise((r) => setImmediate(r));
  }
  return { rows, sha256: hash.digest('hex') };
}

/** `PRAGMA foreign_key_check` over the whole database: violations per table. Throws where SQLite cannot check. */
export async function foreignKeyViolations(t: Pick<Target, 'query'>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
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
export async function checkForeignKeys(t: Pick<Target, 'query'>): Promise<ForeignKeyReport> {
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
