/**
 * Keyset pagination: a table's rows in key order, one bounded page at a time, never OFFSET. The one pager of the
 * project: the backup and the restore's verification read encoded pages (`encodedPages`), the media commands raw
 * rows (`rowPages`). The next page is requested before the current one is handed on, so a remote round trip
 * overlaps the work on it.
 */
import { isUtf8 } from 'node:buffer';
import { BackupError } from '../errors.js';
import { decodeLineCells } from '../format/rows.js';
import { encodeCell, encodeRow, TextBytes } from '../format/values.js';
import { finishPage, type KeyedTable, keyAfter, keyOrder, LIMIT_PARAM, type PageAlloc, pageEndsSql, pageSql, realsOnly } from './encode.js';
import type { Db, Row } from './types.js';
import { q, sqlSum } from './url.js';

export interface PageOptions {
  /** Upper bound on rows per page. */
  maxRows: number;
  /** Target bytes per page (estimated from the rows seen so far); keeps remote responses under their limit. */
  targetBytes: number;
  /** Rows in the first page, before any size is known. */
  firstRows: number;
  /** Bytes added per cell to the size estimate (a remote server's per-value JSON overhead); 0 when absent. */
  cellOverhead?: number;
  /**
   * The stored size of the table's largest row, when known (Db.largestRow). A page is sized from the rows before it,
   * so a run of large rows after small ones (or in the first page) made one page of their whole size: 60 rows of
   * 5 MB read as one 400 MB page, a backup peaking at 1.1 GB. When a page of `limit` such rows could exceed
   * MAX_PAGE_BYTES, the walk first reads the sizes of the rows it would hold and stops before the one that would
   * take it over (fitRows).
   */
  largestRow?: number;
}

export const DEFAULT_PAGES: PageOptions = { maxRows: 2000, targetBytes: 256 * 1024, firstRows: 256 };

/**
 * What a page may hold at most when the table's largest row is known (PageOptions.largestRow), one row whatever its
 * size. Rows count at twice their stored size (and 64 bytes): BLOBs grow by a third in base64 (by two as SQLite's hex),
 * TEXT by its JSON escapes. 4 MiB: on the bench's `large` shape (1–3 MiB BLOBs), peak RSS of the backup 268 MB at
 * 16 MiB, 227 MB at 4 MiB, 220 MB at 2 MiB (and 25 % slower); of the restore 310, 238, 229 MB.
 */
export const MAX_PAGE_BYTES = 4 * 1024 * 1024;
const encodedBound = (stored: number) => 2 * stored + 64;

/** Thrown by a remote query when the server refused to send a result that large: the page is asked again smaller. */
export class PageTooLargeError extends Error {
  constructor(message = 'the response is larger than the server allows') {
    super(message);
    this.name = 'PageTooLargeError';
  }
}

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
  /**
   * The file was locked (SQLITE_BUSY: the writer is committing, or holds the file until its commit): resolves when
   * a read may be tried again; throws when it stayed locked too long.
   */
  locked?(): Promise<void>;
}

/**
 * What a keyset walk reads: a table, the columns of each row, the key that orders them, and the collations it is
 * compared with (keyColumns with their primary key's collation, see keyed(); the columns' own when absent).
 */
export type Pageable = KeyedTable;

/**
 * `t` with its key compared as its primary key index compares it. A WITHOUT ROWID table may declare the key with a
 * collation other than its column's (`a TEXT COLLATE NOCASE, PRIMARY KEY (a COLLATE BINARY, b)`): ordered and
 * compared by the column's NOCASE, 'A1' and 'a1' tie and a page boundary between them skips one (a backup of such a
 * table failed as if the snapshot were lost). Rowid keys are integers, without collation.
 */
async function keyed(db: Db, t: Pageable): Promise<Pageable> {
  if (t.keyCollations || t.keyColumns.length === 0) return t;
  const rows = await db.query(
    "SELECT x.name, x.coll FROM pragma_index_list(?) AS l, pragma_index_xinfo(l.name) AS x WHERE l.origin = 'pk' AND x.key = 1 ORDER BY x.seqno",
    [t.name],
  );
  const coll = new Map(rows.map((r) => [String(r[0]), String(r[1])]));
  if (coll.size === 0) return t;
  return { ...t, keyCollations: t.keyColumns.map((k) => coll.get(k) ?? null) };
}

export interface WalkOptions {
  pages?: PageOptions;
  growing?: Growing;
  /** An SQL condition ANDed to the key condition, with its arguments (media: the rows a relink rewrites). */
  filter?: { sql: string; args: unknown[] };
  /**
   * encodedPages: hand on a page whose only markers are REALs as SQLite wrote it (`unfinished`), for another
   * thread to finish (finishEncodedPage). Single-column keys only: their next page starts after SQLite's own
   * greatest key, so nothing here needs the finished bytes.
   */
  deferFinish?: boolean;
  /** encodedPages: the memory a page with BLOBs is finished into (encode.ts finishPage). */
  alloc?: PageAlloc;
}

/** SQLITE_BUSY from SQLite itself, or inside the error that opening a file wraps it in (openLocalDb). */
const isBusy = (e: unknown) => {
  const err = e as { code?: unknown; cause?: { code?: unknown } } | undefined;
  return [err?.code, err?.cause?.code].some((c) => /^SQLITE_BUSY/.test(String(c ?? '')));
};

/**
 * Whether SQLite on `db` has every function the SQL encoding uses, on a UTF-8 database. A locked file is no answer:
 * it throws (the caller waits and asks again), where a "no" would send every page through JavaScript's encoding.
 */
export async function probeSqlEncoding(db: Pick<Db, 'query'>): Promise<boolean> {
  try {
    // A BLOB's bytes pass through text unchanged only in a UTF-8 database.
    const [r] = await db.query(
      `SELECT string_agg(x, '' ORDER BY x), atan2(-0.0, -1.0) < 0, printf('%!.17g', 0.1), json_quote(char(0)), ` +
        `(SELECT encoding FROM pragma_encoding), concat_ws(',', 'a') FROM (SELECT 'a' AS x)`,
    );
    return r?.[0] === 'a' && Number(r[1]) === 1 && Number(r[2]) === 0.1 && r[3] === '"\\u0000"' && r[4] === 'UTF-8';
  } catch (e) {
    if (isBusy(e)) throw e;
    return false;
  }
}

/** `SELECT <cols> FROM t [WHERE key > ? [AND filter]] ORDER BY key LIMIT …`; `castKeys[i]` binds key i as bytes. */
export function pageQuery(t: Pageable, withKey: boolean, castKeys?: boolean[], select?: string, filter?: string): string {
  const cols = select ?? t.dataColumns.map(q).join(', ');
  const order = keyOrder(t).join(', ');
  const conds: string[] = [];
  if (withKey) conds.push(keyAfter(t, castKeys));
  if (filter) conds.push(`(${filter})`);
  const where = conds.length ? ` WHERE ${conds.join(' AND ')}` : '';
  return `SELECT ${cols} FROM ${q(t.name)}${where} ORDER BY ${order} ${LIMIT_PARAM}`;
}

/** Key values as query arguments: TextBytes travel as their bytes, with `CAST(? AS TEXT)` marked for them. */
function keyArgs(keys: unknown[]): { cast: boolean[] | undefined; args: unknown[] } {
  if (!keys.some((v) => v instanceof TextBytes)) return { cast: undefined, args: keys };
  return { cast: keys.map((v) => v instanceof TextBytes), args: keys.map((v) => (v instanceof TextBytes ? v.bytes : v)) };
}

type TextCodec = 'utf-8' | 'utf-16le' | 'utf-16be';
const codecs = new WeakMap<Db, Promise<TextCodec>>();

/** The text encoding of `db`'s file, asked once per handle. */
function textCodec(db: Db): Promise<TextCodec> {
  let codec = codecs.get(db);
  if (!codec) {
    codec = db.query('SELECT encoding FROM pragma_encoding').then(([r]) => {
      const e = String(r?.[0] ?? '').toLowerCase();
      return e === 'utf-16le' || e === 'utf-16be' ? e : 'utf-8';
    });
    codecs.set(db, codec);
  }
  return codec;
}

/**
 * Whether a TEXT cell the driver gave may not be the stored text. It reaches JavaScript through SQLite's conversion
 * to UTF-8: bytes that are not UTF-8 become U+FFFD; in a UTF-16 file a lone surrogate takes the unit after it into
 * another character (sqlite3VdbeMemTranslate), so there a surrogate pair is suspect too.
 */
const lossy = (v: unknown, codec: TextCodec = 'utf-8') =>
  typeof v === 'string' && (v.indexOf('\uFFFD') >= 0 || (codec !== 'utf-8' && /[\uD800-\uDFFF]/.test(v)));

/**
 * A TEXT cell's stored bytes (`CAST(x AS BLOB)`: in the file's encoding) as the exact value: a string when they
 * are valid text (U+FFFD and all), else, in a UTF-8 file, TextBytes. Text that is not valid UTF-16 has no exact
 * form in a dump (every restore target but a UTF-16 file would store other text): refused by name.
 */
function exactBytes(bytes: unknown, codec: TextCodec, where: () => string): string | TextBytes | null {
  if (!bytes || typeof bytes !== 'object') return null;
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes as ArrayBuffer);
  if (codec === 'utf-8') return isUtf8(buf) ? buf.toString('utf8') : new TextBytes(buf);
  try {
    return new TextDecoder(codec, { fatal: true, ignoreBOM: true }).decode(buf);
  } catch {
    throw new BackupError(
      'UNSUPPORTED',
      `${where()} holds TEXT that is not valid UTF-16 (a lone surrogate), which no dump can carry exactly; --exclude-tables leaves the table out`,
    );
  }
}

/** Rough encoded size of a row, to size the next page; cheap (no encoding). */
function approxRowBytes(row: Row): number {
  let n = 2;
  for (const v of row) {
    if (typeof v === 'string') n += v.length + 3;
    else if (v && typeof v === 'object') n += (v as { byteLength?: number }).byteLength ?? 8 * 1.34 + 10;
    else n += 8;
  }
  return n;
}

/**
 * Key cells the driver decoded lossily (TEXT keys that are not UTF-8, WITHOUT ROWID tables only) are replaced by
 * their exact bytes, re-read with the same page query: without this the next page would start from the wrong key
 * (and never get past the row), and the other cells of the row could not be looked up by key.
 */
async function exactKeys(db: Db, t: Pageable, page: Row[], keyIdx: number[], after: unknown[] | null, limit: number, filter?: WalkOptions['filter']) {
  const codec = await textCodec(db);
  if (!page.some((row) => keyIdx.some((k) => lossy(row[k], codec)))) return;
  const select = t.keyColumns.map((k) => `CAST(${q(k)} AS BLOB)`).join(', ');
  const { cast, args } = keyArgs(after ?? []);
  const raw = await db.query(pageQuery(t, after !== null, cast, select, filter?.sql), [...args, ...(filter?.args ?? []), limit]);
  page.forEach((row, i) => {
    keyIdx.forEach((k, j) => {
      if (!lossy(row[k], codec)) return;
      const exact = exactBytes(raw[i]?.[j], codec, () => `table "${t.name}", column "${t.keyColumns[j]}"`);
      if (exact === null) throw new BackupError('SNAPSHOT', `table "${t.name}": a key changed while it was read`);
      row[k] = exact;
    });
  });
}

/**
 * A TEXT cell the driver decoded with U+FFFD may hide bytes that are not UTF-8: re-read such cells as bytes and
 * keep them exactly (TextBytes) unless they really were valid UTF-8.
 */
async function exactText(db: Db, t: Pageable, page: Row[], keyIdx: number[]): Promise<void> {
  const codec = await textCodec(db);
  for (const row of page) {
    for (let i = 0; i < row.length; i++) {
      const v = row[i];
      if (!lossy(v, codec) || keyIdx.includes(i)) continue; // keys were made exact by exactKeys
      const { cast, args } = keyArgs(keyIdx.map((k) => row[k]));
      const where = keyOrder(t)
        .map((k, j) => `${k} = ${cast?.[j] ? 'CAST(? AS TEXT)' : '?'}`)
        .join(' AND ');
      const [raw] = await db.query(`SELECT CAST(${q(t.dataColumns[i]!)} AS BLOB) FROM ${q(t.name)} WHERE ${where}`, args);
      const exact = exactBytes(raw?.[0], codec, () => `table "${t.name}", column "${t.dataColumns[i]}"`);
      if (exact !== null) row[i] = exact;
    }
  }
}

/** One fetched page and what is needed to continue after it. */
interface Fetched<P> {
  page: P;
  rows: number;
  /** Estimated bytes of the page, for sizing the next one. */
  bytes: number;
  limit: number;
  after: unknown[] | null;
  /** What the writer had committed before this read (a short page means the end only if the table was complete). */
  writer: { complete: boolean; gen: number };
}

/** How a walk reads one page (and its row count and size), and the key to continue after it. */
interface PageReader<P> {
  fetch(after: unknown[] | null, limit: number): Promise<{ page: P; rows: number; bytes: number }>;
  lastKey(page: P): unknown[];
}

/**
 * How many of the (at most `limit`) rows after `after` fit in MAX_PAGE_BYTES (at least one), from their stored sizes:
 * SQLite reads a value's size from the row's header, without the value (octet_length), so this costs a fraction of
 * reading the page. Only tables whose largest row could take a page over the bound pay for it (walk).
 */
async function fitRows(db: Db, t: Pageable, after: unknown[] | null, limit: number, filter?: WalkOptions['filter']): Promise<number> {
  const key = after ? keyArgs(after) : null;
  const size = sqlSum(t.dataColumns.map((c) => `ifnull(octet_length(${q(c)}), 0)`));
  const sizes = await db.query(pageQuery(t, key !== null, key?.cast, size, filter?.sql), [...(key?.args ?? []), ...(filter?.args ?? []), limit]);
  let bytes = 0;
  let n = 0;
  for (const [stored] of sizes) {
    bytes += encodedBound(Number(stored));
    if (n > 0 && bytes > MAX_PAGE_BYTES) break;
    n++;
  }
  return Math.max(1, n);
}

/**
 * `f`, tried again each time the file is locked, when the caller follows a writer that says when to retry
 * (Growing.locked). Every read of a followed file goes through here: opening it (checksum-worker.ts), and the schema
 * reads before a table's first page, meet the writer's commits as its pages do.
 */
export async function unlocked<T>(growing: Pick<Growing, 'locked'> | undefined, f: () => Promise<T>): Promise<T> {
  for (;;) {
    try {
      return await f();
    } catch (e) {
      if (!growing?.locked || !isBusy(e)) throw e;
      await growing.locked();
    }
  }
}

/**
 * The keyset walk shared by both page kinds: page sizing by rows and estimated bytes, splitting a page the server
 * refuses as too large, prefetching the next page, and following a growing table.
 */
async function* walk<P>(db: Db, t: Pageable, reader: PageReader<P>, opts: WalkOptions): AsyncGenerator<P> {
  if (t.dataColumns.length === 0) return;
  const o = db.pageOptions(opts.pages ?? DEFAULT_PAGES);
  // A page of `limit` of the table's largest rows could be too large: measure the rows first.
  const mayOverflow = (limit: number) => o.largestRow !== undefined && limit * encodedBound(o.largestRow) > MAX_PAGE_BYTES;
  const overhead = (o.cellOverhead ?? 0) * t.dataColumns.length;
  let targetBytes = o.targetBytes;
  const fetchPage = async (after: unknown[] | null, limit: number): Promise<Fetched<P>> => {
    const writer = opts.growing?.state() ?? { complete: true, gen: 0 };
    if (mayOverflow(limit)) limit = await unlocked(opts.growing, () => fitRows(db, t, after, limit, opts.filter));
    for (let split = false; ; ) {
      try {
        const got = await unlocked(opts.growing, () => reader.fetch(after, limit));
        // The server's limit is lower than our estimate thought: size later pages like the one that passed.
        if (split && got.rows > 1) targetBytes = Math.min(targetBytes, got.bytes + overhead * got.rows);
        return { ...got, limit, after, writer };
      } catch (e) {
        if (!(e instanceof PageTooLargeError)) throw e;
        split = true;
        if (limit <= 1)
          throw new BackupError('UNSUPPORTED', `table "${t.name}": one row is larger than the server's response limit; it cannot be read over HTTP`);
        limit = Math.max(1, Math.floor(limit / 2));
      }
    }
  };
  let limit = Math.min(o.firstRows, o.maxRows);
  let pending = fetchPage(null, limit);
  for (;;) {
    const got = await pending;
    const after = got.rows > 0 ? reader.lastKey(got.page) : got.after;
    const full = got.rows > 0 && got.rows === got.limit;
    if (got.rows > 0) limit = Math.max(1, Math.min(o.maxRows, Math.floor(targetBytes / Math.max(1, got.bytes / got.rows + overhead))));
    if (full) {
      // Ask for the next page now: over HTTP its round trip overlaps the work on this one.
      pending = fetchPage(after, limit);
      // Handled when awaited; until then (a slow consumer, an abandoned generator) a failure must not go unhandled.
      pending.catch(() => {});
    }
    if (got.rows > 0) yield got.page;
    if (full) continue;
    if (got.writer.complete) return;
    await opts.growing!.changed(got.writer.gen);
    pending = fetchPage(after, limit);
  }
}

/**
 * A table's rows in key order, exact (TEXT that is not UTF-8 as TextBytes), in bounded pages. Used for media rows
 * and as the way an encoded page is read when SQLite cannot encode it.
 */
export async function* rowPages(db: Db, table: Pageable, opts: WalkOptions = {}): AsyncGenerator<Row[]> {
  const t = await unlocked(opts.growing, () => keyed(db, table));
  const keyIdx = t.keyColumns.map((k) => t.dataColumns.indexOf(k));
  const reader: PageReader<Row[]> = {
    async fetch(after, limit) {
      const key = after ? keyArgs(after) : null;
      const sql = pageQuery(t, key !== null, key?.cast, undefined, opts.filter?.sql);
      const page = await db.query(sql, [...(key?.args ?? []), ...(opts.filter?.args ?? []), limit]);
      if (!db.exactText && page.length > 0) {
        await exactKeys(db, t, page, keyIdx, after, limit, opts.filter);
        await exactText(db, t, page, keyIdx);
      }
      return { page, rows: page.length, bytes: page.reduce((n, r) => n + approxRowBytes(r), 0) };
    },
    lastKey: (page) => keyIdx.map((k) => page[page.length - 1]![k]),
  };
  yield* walk(db, t, reader, opts);
}

/** An encoded page: the dump's exact row lines (newlines included) and how many rows they hold. */
export interface EncodedPage {
  bytes: Buffer;
  rows: number;
  /**
   * Set when `bytes` are still as SQLite wrote them (WalkOptions.deferFinish): the page's least and greatest key,
   * which its finished first and last lines must hold (checkPageOrder). finishEncodedPage() gives the dump's bytes.
   */
  unfinished?: { keyIdx: number; least: unknown; greatest: unknown };
}

/**
 * An unfinished page (WalkOptions.deferFinish) → its exact bytes, its key order checked, in any thread: pure, no
 * database. A finished page is returned as it is.
 */
export function finishEncodedPage(table: string, page: EncodedPage): Buffer {
  if (!page.unfinished) return page.bytes;
  const { keyIdx, least, greatest } = page.unfinished;
  const bytes = finishPage(page.bytes);
  checkPageOrder(table, bytes, [keyIdx], [least], [greatest]);
  return bytes;
}

/** The key cells of the line starting at `start` (up to `end`, its newline excluded), decoded exactly. */
function lineKey(bytes: Buffer, start: number, end: number, keyIdx: number[]): unknown[] {
  return decodeLineCells(bytes, start, end, keyIdx);
}

/** Two key values are the same when they encode the same (a BLOB key arrives as a new Buffer each time). */
const sameKey = (a: unknown, b: unknown) => encodeCell(a) === encodeCell(b);

/**
 * A page must run from its least to its greatest key (encode.ts pageSql: the aggregate's order is checked, not
 * assumed): `least` and `greatest` are the key's values, one per key column, as SQLite ordered them; here only the
 * page's ends are matched against them. Returns the last line's key.
 */
function checkPageOrder(table: string, bytes: Buffer, keyIdx: number[], least: unknown[], greatest: unknown[]): unknown[] {
  const firstEnd = bytes.indexOf(0x0a);
  const lastStart = bytes.lastIndexOf(0x0a, bytes.length - 2) + 1;
  const first = lineKey(bytes, 0, firstEnd, keyIdx);
  const last = lineKey(bytes, lastStart, bytes.length - 1, keyIdx);
  const same = (a: unknown[], b: unknown[]) => a.length === b.length && a.every((v, i) => sameKey(v, b[i]));
  if (!same(first, least) || !same(last, greatest)) {
    throw new BackupError('INTERNAL', `table "${table}": SQLite returned a page out of key order; nothing was written`);
  }
  return last;
}

/** The least and greatest key of a page of `rows` rows of a key of several columns (encode.ts pageEndsSql). */
async function pageEnds(db: Db, t: Pageable, key: ReturnType<typeof keyArgs> | null, rows: number): Promise<[unknown[], unknown[]]> {
  const args = key?.args ?? [];
  const ends = await db.query(pageEndsSql(t, key !== null, key?.cast), [...args, ...args, rows - 1]);
  if (ends.length !== 2) throw new BackupError('INTERNAL', `table "${t.name}": the page's ends could not be read again; nothing was written`);
  return [ends[0]!, ends[1]!];
}

/**
 * A table's rows in key order as the dump's encoded lines, in bounded pages. SQLite writes the encoding where it can
 * (db/encode.ts); a page that is not valid UTF-8 (TEXT that is not UTF-8) is read again through JavaScript, which keeps
 * such bytes exactly.
 */
export async function* encodedPages(db: Db, table: Pageable, opts: WalkOptions = {}): AsyncGenerator<EncodedPage> {
  try {
    for await (const page of readEncodedPages(db, table, opts)) {
      refuseLongRows(table.name, page.bytes);
      yield page;
    }
  } catch (e) {
    if (isTooBig(e)) throw tooBigError(table.name, null);
    throw e;
  }
}

/**
 * The longest row line a reader can decode: V8's longest string (a line, or a cell of it, is read as one). A BLOB
 * over ~400 MB, or TEXT of control characters (six bytes each in JSON) a sixth of that, makes a longer line.
 */
export const MAX_ROW_LINE = 0x1fffffe8;

const isTooBig = (e: unknown) =>
  (e as { code?: unknown })?.code === 'SQLITE_TOOBIG' || (e instanceof RangeError && /string length|string longer/i.test(e.message));

function tooBigError(table: string, bytes: number | null, limit = MAX_ROW_LINE): BackupError {
  const size = bytes === null ? 'longer than' : `${bytes} bytes, over`;
  return new BackupError(
    'UNSUPPORTED',
    `table "${table}": a row's line in the dump would be ${size} the ${limit} bytes a reader can decode as one string (a BLOB over ~400 MB, or huge TEXT of control characters): no restore could read it; --exclude-tables "${table}" backs up the rest`,
  );
}

/**
 * A backup must not write a dump that no verify or restore can read: a page holding a row line over `limit`
 * bytes is refused (only pages longer than the limit are scanned; pages hold ≤ 4 MiB but for a single row).
 */
export function refuseLongRows(table: string, bytes: Buffer, limit = MAX_ROW_LINE): void {
  if (bytes.length <= limit) return;
  for (let start = 0; start < bytes.length; ) {
    let end = bytes.indexOf(0x0a, start);
    if (end < 0) end = bytes.length;
    if (end - start > limit) throw tooBigError(table, end - start, limit);
    start = end + 1;
  }
}

async function* readEncodedPages(db: Db, table: Pageable, opts: WalkOptions): AsyncGenerator<EncodedPage> {
  const t = await unlocked(opts.growing, () => keyed(db, table));
  if (!(await unlocked(opts.growing, () => db.encodesInSql())) || opts.filter) {
    for await (const page of rowPages(db, t, opts)) yield { bytes: Buffer.from(encodeRows(page)), rows: page.length };
    return;
  }
  const keyIdx = t.keyColumns.map((k) => t.dataColumns.indexOf(k));
  // Over HTTP the ends of a page of several key columns would cost a second round trip: SQLite sorts there instead.
  const sorted = keyIdx.length > 1 && db.kind !== 'file';
  const lastKeys = new WeakMap<Buffer, unknown[]>();
  const reader: PageReader<EncodedPage> = {
    async fetch(after, limit) {
      const key = after ? keyArgs(after) : null;
      const [r] = await db.query(pageSql(t, key !== null, key?.cast, sorted), [...(key?.args ?? []), limit]);
      const rows = Number(r?.[0] ?? 0);
      if (rows === 0) return { page: { bytes: Buffer.alloc(0), rows: 0 }, rows: 0, bytes: 0 };
      const raw = Buffer.isBuffer(r![3]) ? r![3] : Buffer.from(r![3] as ArrayBuffer);
      if (opts.deferFinish && keyIdx.length === 1 && realsOnly(raw) && isUtf8(raw)) {
        // Finished by whoever takes the page (the REALs' shortest form was a sixth of the backup reader's time).
        lastKeys.set(raw, [r![2]]);
        return { page: { bytes: raw, rows, unfinished: { keyIdx: keyIdx[0]!, least: r![1], greatest: r![2] } }, rows, bytes: raw.length };
      }
      let bytes = finishPage(raw, opts.alloc);
      if (!isUtf8(bytes)) bytes = await reencode(db, t, after, rows);
      else if (keyIdx.length === 1) lastKeys.set(bytes, checkPageOrder(t.name, bytes, keyIdx, [r![1]], [r![2]]));
      else if (!sorted) lastKeys.set(bytes, checkPageOrder(t.name, bytes, keyIdx, ...(await pageEnds(db, t, key, rows))));
      return { page: { bytes, rows }, rows, bytes: bytes.length };
    },
    lastKey: (page) => lastKeys.get(page.bytes) ?? lineKey(page.bytes, page.bytes.lastIndexOf(0x0a, page.bytes.length - 2) + 1, page.bytes.length - 1, keyIdx),
  };
  yield* walk(db, t, reader, opts);
}

function encodeRows(page: Row[]): string {
  let text = '';
  for (const r of page) text += encodeRow(r);
  return text;
}

/** The same page read through JavaScript: exact for TEXT that is not UTF-8. */
async function reencode(db: Db, t: Pageable, after: unknown[] | null, rows: number): Promise<Buffer> {
  const keyIdx = t.keyColumns.map((k) => t.dataColumns.indexOf(k));
  const key = after ? keyArgs(after) : null;
  const page = await db.query(pageQuery(t, key !== null, key?.cast), [...(key?.args ?? []), rows]);
  await exactKeys(db, t, page, keyIdx, after, rows);
  await exactText(db, t, page, keyIdx);
  return Buffer.from(encodeRows(page));
}
