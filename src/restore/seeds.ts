/**
 * Seeded rows: a freshly migrated target often holds rows its migrations inserted (roles, a config row). A
 * target row that the dump holds with the same values is seed, not data; any other target row is data and the
 * restore refuses (unless --clean). The target's rows are few, so they are held as a multiset of encoded tuples
 * and ticked off while the verify pass streams the dump.
 */
import { encodeCell } from '../format/values.js';
import type { TableInfo } from '../format/lines.js';
import { q } from '../source/sql.js';
import type { Target } from '../target/types.js';

/** More rows than this in a target table cannot be seed data: refuse without comparing. */
export const MAX_SEED_ROWS = 100_000;

export interface SeedCheck {
  /** Called with each parsed dump row of `table` (as JSON cells). */
  see(table: string, cells: unknown[]): void;
  /** Target rows never matched, per table. */
  unmatched(): Map<string, number>;
  tables: Set<string>;
}

const valueColumns = (info: TableInfo) => (info.rowidColumn ? info.dataColumns.slice(1) : info.dataColumns);

export async function loadSeedCheck(target: Target, infos: TableInfo[]): Promise<SeedCheck> {
  const pending = new Map<string, Map<string, number>>();
  for (const info of infos) {
    const cols = valueColumns(info);
    const rows = await target.query(`SELECT ${cols.map(q).join(', ')} FROM ${q(info.name)}`);
    const bag = new Map<string, number>();
    for (const r of rows) {
      const key = r.map(encodeCell).join(',');
      bag.set(key, (bag.get(key) ?? 0) + 1);
    }
    pending.set(info.name, bag);
  }
  const offsets = new Map(infos.map((i) => [i.name, i.rowidColumn ? 1 : 0]));
  return {
    tables: new Set(pending.keys()),
    see(table, cells) {
      const bag = pending.get(table);
      if (!bag || bag.size === 0) return;
      const key = cells.slice(offsets.get(table)).map((c) => JSON.stringify(c)).join(',');
      const n = bag.get(key);
      if (n === undefined) return;
      if (n <= 1) bag.delete(key);
      else bag.set(key, n - 1);
    },
    unmatched() {
      const out = new Map<string, number>();
      for (const [t, bag] of pending) {
        let n = 0;
        for (const c of bag.values()) n += c;
        if (n > 0) out.set(t, n);
      }
      return out;
    },
  };
}
