/**
 * Keyset pagination: a table's rows in key order, one bounded page at a time, never OFFSET. The next page is
 * requested before the current one is handed on, so a remote round trip overlaps the encoding and writing.
 */
import { isUtf8 } from 'node:buffer';
import { BackupError } from '../errors.js';
import type { TableInfo } from '../format/lines.js';
import { TextBytes } from '../format/values.js';
import { q } from './sql.js';
import { PageTooLargeError, type Source } from './types.js';

export interface PageOptions {
  /** Upper bound on rows per page. */
  maxRows: number;
  /** Target bytes per page (estimated from the rows seen so far); keeps remote responses under their limit. */
  targetBytes: number;
  /** Rows in the first page, before any size is known. */
  firstRows: number;
  /** Bytes added per cell to the size estimate (a remote server's per-value JSON overhead); 0 when absent. */
  cellOverhead?: number;
}

export const DEFAULT_PAGES: PageOptions = { maxRows: 2000, targetBytes: 256 * 1024, firstRows: 256 };

/**
 * A table another connection is still loading, in key order, committing as it goes (a restore's scratch file,
 * verified while it loads). A short page is then not the end: the reader waits for the next commit and reads on
 * after the last key, until the writer has declared the table complete before a read that comes back short.
 */
export interface Growing {
  /** `complete`: every row is committed; `gen` counts the writer's commits so far. */
  state(): { complete: boolean; gen: number };
  /** Resolves once the writer has committed again after commit number `gen` (or declared the table complete). */
  changed(gen: number): Promise<void>;
}

/**
 * `castKeys[i]` marks a key bound as bytes that must compare as TEXT (a key that is not UTF-8: `CAST(? AS TEXT)`);
 * `select` replaces the select list (the key-bytes re-read).
 */
export function pageQuery(t: TableInfo, withKey: boolean, castKeys?: boolean[], select?: string): string {
  const cols = select ?? t.dataColumns.map(q).join(', ');
  const keys = t.keyColumns.map(q);
  const order = keys.join(', ');
  const ph = (i: number) => (castKeys?.[i] ? 'CAST(? AS TEXT)' : '?');
  const where = !withKey
    ? ''
    : keys.length === 1
      ? ` WHERE ${keys[0]} > ${ph(0)}`
      : ` WHERE (${order}) > (${keys.map((_, i) => ph(i)).join(', ')})`;
  return `SELECT ${cols} FROM ${q(t.name)}${where} ORDER BY ${order} LIMIT ?`;
}

/** Key values as query arguments: TextBytes travel as their bytes, with `CAST(? AS TEXT)` marked for them. */
function keyArgs(keys: unknown[]): { cast: boolean[] | undefined; args: unknown[] } {
  if (!keys.some((v) => v instanceof TextBytes)) return { cast: undefined, args: keys };
  return { cast: keys.map((v) => v instanceof TextBytes), args: keys.map((v) => (v instanceof TextBytes ? v.bytes : v)) };
}

const lossy = (v: unknown) => typeof v === 'string' && v.indexOf('\uFFFD') >= 0;

function exactBytes(bytes: unknown): string | TextBytes | null {
  if (!bytes || typeof bytes !== 'object') return null;
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes as ArrayBuffer);
  return isUtf8(buf) ? buf.toString('utf8') : new TextBytes(buf);
}

/**
 * Key cells the driver decoded lossily (TEXT keys that are not UTF-8, WITHOUT ROWID tables only) are replaced by
 * their exact bytes, re-read with the same page query: without this the next page would start from the wrong key
 * (and never get past the row), and the other cells of the row could not be looked up by key.
 */
async function exactKeys(source: Source, t: TableInfo, page: unknown[][], keyIdx: number[], after: unknown[] | null, limit: number) {
  if (!page.some((row) => keyIdx.some((k) => lossy(row[k])))) return;
  const select = t.keyColumns.map((k) => `CAST(${q(k)} AS BLOB)`).join(', ');
  const { cast, args } = keyArgs(after ?? []);
  const raw = await source.query(pageQuery(t, after !== null, cast, select), [...args, limit]);
  page.forEach((row, i) => {
    keyIdx.forEach((k, j) => {
      if (!lossy(row[k])) return;
      const exact = exactBytes(raw[i]?.[j]);
      if (exact === null) throw new BackupError('SNAPSHOT', `table "${t.name}": a key changed while it was read`);
      row[k] = exact;
    });
  });
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
      if (!lossy(v) || keyIdx.includes(i)) continue; // keys were made exact by exactKeys
      const { cast, args } = keyArgs(keyIdx.map((k) => row[k]));
      const where = t.keyColumns.map((k, j) => `${q(k)} = ${cast?.[j] ? 'CAST(? AS TEXT)' : '?'}`).join(' AND ');
      const [raw] = await source.query(`SELECT CAST(${q(t.dataColumns[i]!)} AS BLOB) FROM ${q(t.name)} WHERE ${where}`, args);
      const exact = exactBytes(raw?.[0]);
      if (exact !== null) row[i] = exact;
    }
  }
}

export async function* tablePages(
  source: Source,
  t: TableInfo,
  opts: PageOptions = DEFAULT_PAGES,
  growing?: Growing,
): AsyncGenerator<unknown[][]> {
  if (t.dataColumns.length === 0) return;
  if (source.pageOptions) opts = source.pageOptions(opts);
  const keyIdx = t.keyColumns.map((k) => t.dataColumns.indexOf(k));
  const first = pageQuery(t, false);
  const next = pageQuery(t, true);
  const overhead = (opts.cellOverhead ?? 0) * t.dataColumns.length;
  // A page the server refuses as too large (remote only) is asked again with half the rows, down to one row.
  let targetBytes = opts.targetBytes;
  type Fetched = { page: unknown[][]; limit: number; after: unknown[] | null; writer: { complete: boolean; gen: number } };
  const fetchPage = async (after: unknown[] | null, limit: number): Promise<Fetched> => {
    // What the writer had committed before this read: a short page means the end only if the table was complete.
    const writer = growing?.state() ?? { complete: true, gen: 0 };
    const key = after ? keyArgs(after) : null;
    const sql = !key ? first : key.cast ? pageQuery(t, true, key.cast) : next;
    for (let split = false; ; split = true) {
      try {
        const page = await source.query(sql, key ? [...key.args, limit] : [limit]);
        // The server's limit is lower than our estimate thought: size later pages like the one that passed.
        if (split && page.length > 1) targetBytes = Math.min(targetBytes, page.reduce((n, r) => n + approxRowBytes(r), 0) + overhead * page.length);
        return { page, limit, after, writer };
      } catch (e) {
        if (!(e instanceof PageTooLargeError)) throw e;
        if (limit <= 1) {
          throw new BackupError('UNSUPPORTED', `table "${t.name}": one row is larger than the server's response limit; it cannot be read over HTTP`);
        }
        limit = Math.max(1, Math.floor(limit / 2));
      }
    }
  };
  let limit = Math.min(opts.firstRows, opts.maxRows);
  let pending = fetchPage(null, limit);
  for (;;) {
    const got = await pending;
    const page = got.page;
    if (page.length === 0) {
      if (got.writer.complete) return;
      await growing!.changed(got.writer.gen);
      pending = fetchPage(got.after, limit);
      continue;
    }
    const last = page[page.length - 1]!;
    const bytes = page.reduce((n, r) => n + approxRowBytes(r), 0);
    const perRow = Math.max(1, bytes / page.length + overhead);
    const full = page.length === got.limit;
    limit = Math.max(1, Math.min(opts.maxRows, Math.floor(targetBytes / perRow)));
    // The next page starts after the last key: it must be exact (rare: only non-UTF-8 TEXT keys need this).
    if (full && !source.exactText) await exactKeys(source, t, page, keyIdx, got.after, got.limit);
    // Ask for the next page now: over HTTP its round trip overlaps the work on this one.
    if (full) {
      pending = fetchPage(keyIdx.map((k) => last[k]), limit);
      // Handled when awaited; until then (a slow consumer, an abandoned generator) a failure must not go unhandled.
      pending.catch(() => {});
    }
    if (!source.exactText) {
      if (!full) await exactKeys(source, t, page, keyIdx, got.after, got.limit);
      await exactText(source, t, page, keyIdx);
    }
    const after = keyIdx.map((k) => last[k]);
    yield page;
    if (full) continue;
    if (got.writer.complete) return;
    await growing!.changed(got.writer.gen);
    pending = fetchPage(after, limit);
  }
}
