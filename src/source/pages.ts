/**
 * Keyset pagination: a table's rows in key order, one bounded page at a time, never OFFSET. The next page is
 * requested before the current one is handed on, so a remote round trip overlaps the encoding and writing.
 */
import { isUtf8 } from 'node:buffer';
import type { TableInfo } from '../format/lines.js';
import { TextBytes } from '../format/values.js';
import { q } from './sql.js';
import type { Source } from './types.js';

export interface PageOptions {
  /** Upper bound on rows per page. */
  maxRows: number;
  /** Target bytes per page (estimated from the rows seen so far); keeps remote responses under their limit. */
  targetBytes: number;
  /** Rows in the first page, before any size is known. */
  firstRows: number;
}

export const DEFAULT_PAGES: PageOptions = { maxRows: 2000, targetBytes: 256 * 1024, firstRows: 256 };

export function pageQuery(t: TableInfo, withKey: boolean): string {
  const cols = t.dataColumns.map(q).join(', ');
  const keys = t.keyColumns.map(q);
  const order = keys.join(', ');
  const where = !withKey
    ? ''
    : keys.length === 1
      ? ` WHERE ${keys[0]} > ?`
      : ` WHERE (${order}) > (${keys.map(() => '?').join(', ')})`;
  return `SELECT ${cols} FROM ${q(t.name)}${where} ORDER BY ${order} LIMIT ?`;
}

/** Rough encoded size of a row, to size the next page; cheap (no encoding). */
function approxRowBytes(row: unknown[]): number {
  let n = 2;
  for (const v of row) {
    if (typeof v === 'string') n += v.length + 3;
    else if (v && typeof v === 'object') n += (v as { byteLength?: number }).byteLength ?? 8 * 1.34 + 10;
    else n += 8;
  }
  return n;
}

/**
 * A TEXT cell the driver decoded with U+FFFD may hide bytes that are not UTF-8: re-read such cells as bytes and
 * keep them exactly (TextBytes) unless they really were valid UTF-8.
 */
async function exactText(source: Source, t: TableInfo, page: unknown[][], keyIdx: number[]): Promise<void> {
  for (const row of page) {
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (typeof v !== 'string' || v.indexOf('\uFFFD') < 0) continue;
      const keys = t.keyColumns.map(q);
      const where = keys.map((k) => `${k} = ?`).join(' AND ');
      const [raw] = await source.query(
        `SELECT CAST(${q(t.dataColumns[i]!)} AS BLOB) FROM ${q(t.name)} WHERE ${where}`,
        keyIdx.map((k) => row[k]),
      );
      const bytes = raw?.[0];
      if (bytes && typeof bytes === 'object') {
        const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes as ArrayBuffer);
        row[i] = isUtf8(buf) ? buf.toString('utf8') : new TextBytes(buf);
      }
    }
  }
}

export async function* tablePages(
  source: Source,
  t: TableInfo,
  opts: PageOptions = DEFAULT_PAGES,
): AsyncGenerator<unknown[][]> {
  if (t.dataColumns.length === 0) return;
  const keyIdx = t.keyColumns.map((k) => t.dataColumns.indexOf(k));
  const first = pageQuery(t, false);
  const next = pageQuery(t, true);
  let limit = Math.min(opts.firstRows, opts.maxRows);
  let pending = source.query(first, [limit]);
  for (;;) {
    const page = await pending;
    if (page.length === 0) return;
    const last = page[page.length - 1]!;
    const bytes = page.reduce((n, r) => n + approxRowBytes(r), 0);
    const perRow = Math.max(1, bytes / page.length);
    const full = page.length === limit;
    limit = Math.max(1, Math.min(opts.maxRows, Math.floor(opts.targetBytes / perRow)));
    // Ask for the next page now: over HTTP its round trip overlaps the work on this one.
    if (full) pending = source.query(next, [...keyIdx.map((k) => last[k]), limit]);
    await exactText(source, t, page, keyIdx);
    yield page;
    if (!full) return;
  }
}
