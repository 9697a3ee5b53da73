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

export async function foreignKeyViolations(t: Pick<Target, 'query'>): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const r of await t.query('SELECT "table" FROM pragma_foreign_key_check')) {
    const name = String(r[0]);
    out[name] = (out[name] ?? 0) + 1;
  }
  return out;
}
