/**
 * Seeded rows: a freshly migrated target often holds rows its migrations inserted (roles, a config row). A
 * target row that the dump holds with the same values is seed, not data; any other target row is data and the
 * restore refuses (unless --clean). The target's rows are few, so they are held as a multiset of encoded tuples
 * and ticked off while the verify pass streams the dump.
 */
import { isUtf8 } from 'node:buffer';
import { encodeCell, TextBytes } from '../format/values.js';
import type { TableInfo } from '../format/lines.js';
import type { Db } from '../db/types.js';
import { q, sqlSum } from '../db/url.js';
import { foldName } from '../db/schema.js';

/** More rows than this in a target table cannot be seed data: refuse without comparing. */
export const MAX_SEED_ROWS = 100_000;

/**
 * Nor can a table whose values take more bytes than this: its rows are read into memory whole to be compared, and
 * under MAX_SEED_ROWS a table of wide rows could still be the size of the database (20k documents of 20 KiB: 400 MB
 * held by a dry run pointed at the wrong database). Measured with one query, before any row is read.
 */
export const MAX_SEED_BYTES = 8 * 1024 * 1024;

export interface SeedCheck {
  /** Called with each parsed dump row of `table` (as JSON cells). */
  see(table: string, cells: unknown[]): void;
  /** Target rows never matched, per table. */
  unmatched(): Map<string, number>;
  tables: Set<string>;
  /** Tables whose values take more than MAX_SEED_BYTES: data, not compared (nothing of them was read). */
  tooLarge: string[];
}

const valueColumns = (info: TableInfo) => (info.rowidColumn ? info.dataColumns.slice(1) : info.dataColumns);

/**
 * True when the target's table (its `columns`) has every column the check reads of `info`: SQLite resolves names
 * with ASCII letters folded, as the plan matches them.
 */
export function seedColumnsIn(info: TableInfo, columns: readonly string[]): boolean {
  const there = new Set(columns.map(foldName));
  return valueColumns(info).every((c) => there.has(foldName(c)));
}

/**
 * A TEXT cell read as its bytes (drivers decode TEXT that is not UTF-8 lossily, and the dump keeps such TEXT
 * exactly as {"t":...}): back to the string, or TextBytes when the bytes are not UTF-8.
 */
function exactTextCell(v: unknown): unknown {
  if (v === null || typeof v !== 'object' || v instanceof TextBytes) return v; // already a string / exact
  const buf = Buffer.isBuffer(v) ? v : Buffer.from(v as ArrayBuffer);
  return isUtf8(buf) ? buf.toString('utf8') : new TextBytes(buf);
}

export async function loadSeedCheck(target: Pick<Db, 'query'>, infos: TableInfo[]): Promise<SeedCheck> {
  const pending = new Map<string, Map<string, number>>();
  // TEXT bytes are UTF-8 only in a UTF-8 database (libSQL's only encoding; a local file may be UTF-16).
  const utf8 = infos.length > 0 && String((await target.query('SELECT encoding FROM pragma_encoding'))[0]?.[0]) === 'UTF-8';
  const tooLarge: string[] = [];
  for (const info of infos) {
    const cols = valueColumns(info);
    if (cols.length > 0 && (await storedBytes(target, info.name, cols)) > MAX_SEED_BYTES) {
      tooLarge.push(info.name);
      continue;
    }
    let rows: unknown[][];
    if (utf8) {
      // Each cell with its storage class; TEXT as its bytes, so that TEXT which is not UTF-8 compares exactly.
      const select = cols.map((c) => `typeof(${q(c)}), CASE WHEN typeof(${q(c)}) = 'text' THEN CAST(${q(c)} AS BLOB) ELSE ${q(c)} END`);
      const raw = await target.query(`SELECT ${select.join(', ')} FROM ${q(info.name)}`);
      rows = raw.map((r) => cols.map((_, i) => (r[2 * i] === 'text' ? exactTextCell(r[2 * i + 1]) : r[2 * i + 1])));
    } else {
      rows = await target.query(`SELECT ${cols.map(q).join(', ')} FROM ${q(info.name)}`);
    }
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
    tooLarge,
    see(table, cells) {
      const bag = pending.get(table);
      if (!bag || bag.size === 0) return;
      const key = cells
        .slice(offsets.get(table))
        .map((c) => JSON.stringify(c))
        .join(',');
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

/** The bytes of `cols`' values in `table` (TEXT and BLOB by their bytes, numbers by their text): one scan, one row. */
async function storedBytes(target: Pick<Db, 'query'>, table: string, cols: string[]): Promise<number> {
  const sum = sqlSum(cols.map((c) => `coalesce(length(CAST(${q(c)} AS BLOB)), 0)`));
  const [row] = await target.query(`SELECT coalesce(sum(${sum}), 0) FROM ${q(table)}`);
  return Number(row?.[0] ?? 0);
}
