/**
 * The dump's cell encoding (format/values.ts) written by SQLite itself: a page of rows comes back as ONE BLOB holding its
 * NDJSON lines, so no per-cell JavaScript value, string or allocation exists for most cells. Reading and encoding
 * 1M rows of the events bench took 4.0 s through JavaScript and 1.55 s this way (docs/BENCHMARKS.md); over HTTP the
 * client receives one value per page instead of one JSON object per cell.
 *
 * The bytes must equal what encodeRow() writes for the same values, byte for byte (the checksums and the restore's
 * verification depend on it; test/contract/db.test.ts compares both on every storage class). Per class:
 *   INTEGER  CAST AS TEXT within ±(2^53-1), else {"i":"…"}
 *   TEXT     json_quote(), which escapes exactly as JSON.stringify (checked over every BMP character). TEXT that is
 *            not UTF-8 passes through as its raw bytes: such a page is not valid UTF-8 and is re-read through
 *            JavaScript, which keeps those bytes exactly ({"t":…}).
 *   NULL     null
 *   REAL     ±0.0 (told apart by atan2), ±Infinity and integral values below 2^53 directly; every other REAL as a
 *            marker <0x01>%!.17g text<0x02> that finishPage() replaces with JavaScript's shortest form (SQLite's
 *            %!.17g round-trips; its text→REAL conversion is not exact in every version, so it is never relied on).
 *   BLOB     a marker <0x03><8 hex digits: the length><the raw bytes> that finishPage() replaces with {"b":"base64"}
 *            (SQLite has no base64; concatenation copies a BLOB's bytes as they are, and hex would double them).
 * The marker bytes cannot occur otherwise outside a BLOB's bytes (json_quote escapes every control character), and
 * finishPage() steps over those bytes by their length. Only for UTF-8 databases (probeSqlEncoding checks).
 */
import type { TableInfo } from '../format/lines.js';
import { encodeCell } from '../format/values.js';
import { q } from './url.js';

const REAL_OPEN = 0x01;
const REAL_CLOSE = 0x02;
const BLOB_OPEN = 0x03;
/** Hex digits of a BLOB's length after its marker. */
const LENGTH_DIGITS = 8;
/** `{"b":"` and `"}` around a BLOB's base64. */
const BLOB_WRAP = 8;

/** The format of a marked REAL: one printf call (a constant format string is evaluated once per statement). */
const MARKED_REAL = `char(1) || '%!.17g' || char(2)`;

/**
 * The REAL branch. The common case (finite, not integral) is decided by one test and marked for JavaScript's
 * shortest form; ±Infinity fails that test too (CAST clamps it) and is marked as SQLite's "Inf" (finishPage maps it).
 * Zeros (told apart by atan2) and small integral values are written here: JavaScript writes them {"r":"…"}.
 */
function realSql(c: string): string {
  return (
    `CASE WHEN ${c} <> CAST(${c} AS INTEGER) THEN printf(${MARKED_REAL}, ${c}) ` +
    `WHEN ${c} = 0 THEN CASE WHEN atan2(${c}, -1.0) < 0 THEN '{"r":"-0.0"}' ELSE '{"r":"0.0"}' END ` +
    `WHEN abs(${c}) < 9007199254740992.0 THEN '{"r":"' || CAST(${c} AS INTEGER) || '.0"}' ` +
    // %!.17g always round-trips; JavaScript then writes its own shortest form (finishPage).
    `ELSE printf(${MARKED_REAL}, ${c}) END`
  );
}

/** One cell of column `name` in the dump's encoding. */
export function cellSql(name: string): string {
  const c = q(name);
  return (
    `CASE typeof(${c}) ` +
    `WHEN 'integer' THEN CASE WHEN ${c} BETWEEN -9007199254740991 AND 9007199254740991 THEN CAST(${c} AS TEXT) ELSE '{"i":"' || ${c} || '"}' END ` +
    `WHEN 'text' THEN json_quote(${c}) ` +
    `WHEN 'null' THEN 'null' ` +
    `WHEN 'real' THEN ${realSql(c)} ` +
    `ELSE char(3) || printf('%08x', length(${c})) || ${c} END`
  );
}

/** Arguments per SQL function call, within SQLITE_MAX_FUNCTION_ARG (1000 since SQLite 3.48, 127 before; a server may be older). */
const MAX_ARGS = 100;

/**
 * `concat_ws(sep, …)` over any number of non-NULL parts: nested in groups when a table has more columns than one call
 * may take (a 1,200-column table stopped the backup with "too many arguments on function concat_ws").
 */
export function joinSql(sep: string, parts: readonly string[]): string {
  if (parts.length <= MAX_ARGS) return `concat_ws(${sep}, ${parts.join(', ')})`;
  const groups: string[] = [];
  for (let i = 0; i < parts.length; i += MAX_ARGS) groups.push(joinSql(sep, parts.slice(i, i + MAX_ARGS)));
  return joinSql(sep, groups);
}

/**
 * A page's row limit, bound as a parameter that SQLite does not read while it plans. A bare `LIMIT ?` is one it
 * reads (SQLite 3.53): the statement then expires whenever the parameter is bound again, and every page compiled its
 * statement anew, in the backup and in the restore's read-back alike (~0.17 ms per page for a 9-column line: 8 % of
 * the verifying thread in a restore of the wide bench shape). Through a CAST it is a value like any other: compiled
 * once per table.
 */
export const LIMIT_PARAM = 'LIMIT CAST(? AS INTEGER)';

/** One row's line, newline included (concat_ws joins in one pass: `||` copies the growing line once per piece). */
export function lineSql(columns: readonly string[]): string {
  return `concat('[', ${joinSql("','", columns.map(cellSql))}, ']', char(10))`;
}

/**
 * A table as a keyset walk reads it: `keyCollations[i]`, when given, is the collation key column i is compared and
 * ordered with (its primary key's, which may differ from its column's: db/pages.ts keyed()).
 */
export type KeyedTable = Pick<TableInfo, 'name' | 'dataColumns' | 'keyColumns'> & { keyCollations?: (string | null)[] };

/** The key expressions of `t`'s walk, each with its collation: what it is ordered by. */
export function keyOrder(t: KeyedTable): string[] {
  return t.keyColumns.map((k, i) => {
    const c = t.keyCollations?.[i];
    return c ? `${q(k)} COLLATE ${q(c)}` : q(k);
  });
}

/**
 * `key > ?` (one column) or `(k1, k2, …) > (?, ?, …)`; `castKeys[i]` binds key i as bytes compared as TEXT. A key of
 * several columns takes its collations on the placeholders, not on the columns: SQLite searches the primary key for
 * `(a, b) > (? COLLATE X, ? COLLATE Y)`, which compares the same way, but scans the table from its start for
 * `(a COLLATE X, b COLLATE Y) > (?, ?)`, on every page (a 3M-row WITHOUT ROWID table took 38 s to back up where
 * `.dump` took 4.4 s).
 */
export function keyAfter(t: KeyedTable, castKeys?: boolean[]): string {
  const ph = (i: number) => (castKeys?.[i] ? 'CAST(? AS TEXT)' : '?');
  if (t.keyColumns.length === 1) return `${keyOrder(t)[0]} > ${ph(0)}`;
  const collated = t.keyColumns.map((_, i) => {
    const c = t.keyCollations?.[i];
    return c ? `${ph(i)} COLLATE ${q(c)}` : ph(i);
  });
  return `(${t.keyColumns.map(q).join(', ')}) > (${collated.join(', ')})`;
}

/**
 * A page of `t` as one row `[rows, first key, last key, lines BLOB]`, in key order. Arguments: the key values after
 * which to start (with `withKey`), then the row limit. `castKeys[i]` binds key i as bytes compared as TEXT.
 *
 * Order: the aggregate reads the subquery's rows as the subquery yields them (a co-routine in key order: it has a
 * LIMIT, so it is never flattened), which SQLite does not promise in words. The page's first and last lines are
 * therefore checked against its least and greatest key instead (pages.ts checkPageOrder), which saves the sort an
 * `ORDER BY` in the aggregate costs: a quarter of the encoding's time with one key column, 25–30 % of the reader's
 * with two (3M rows keyed by two TEXT columns, docs/BENCHMARKS.md session 34). A single-column key's ends come with
 * the page (min and max); a key of several columns has no such aggregate, and its ends are read by pageEndsSql,
 * unless `sorted` (over HTTP, where that is a second round trip per page): then the aggregate sorts.
 */
export function pageSql(t: KeyedTable, withKey: boolean, castKeys?: boolean[], sorted = false): string {
  const keys = keyOrder(t);
  const where = withKey ? ` WHERE ${keyAfter(t, castKeys)}` : '';
  const aliases = keys.map((_, i) => `__k${i}`);
  const inner = `SELECT ${keys.map((k, i) => `${k} AS ${aliases[i]}`).join(', ')}, ${lineSql(t.dataColumns)} AS __l FROM ${q(t.name)}${where} ORDER BY ${keys.join(', ')} ${LIMIT_PARAM}`;
  if (keys.length === 1) return `SELECT count(*), min(__k0), max(__k0), CAST(string_agg(__l, '') AS BLOB) FROM (${inner})`;
  const order = sorted ? ` ORDER BY ${aliases.join(', ')}` : '';
  return `SELECT count(*), NULL, NULL, CAST(string_agg(__l, ''${order}) AS BLOB) FROM (${inner})`;
}

/**
 * The least and greatest key of the page pageSql(t, withKey, castKeys) read, when it held `n` rows: two rows of the
 * key columns, by the key's own `ORDER BY` (the first row after the start, and the n-th, reached by OFFSET: SQLite
 * steps over the rows in the key's index without reading their other columns). Arguments: the start's key values,
 * the same again, then n - 1.
 */
export function pageEndsSql(t: KeyedTable, withKey: boolean, castKeys?: boolean[]): string {
  const keys = keyOrder(t);
  const where = withKey ? ` WHERE ${keyAfter(t, castKeys)}` : '';
  const select = `SELECT ${t.keyColumns.map(q).join(', ')} FROM ${q(t.name)}${where} ORDER BY ${keys.join(', ')}`;
  return `SELECT * FROM (${select} LIMIT 1) UNION ALL SELECT * FROM (${select} LIMIT 1 OFFSET CAST(? AS INTEGER))`;
}

/** A REAL from SQLite's %!.17g text (which writes ±Infinity as "Inf" / "-Inf"). */
const realOf = (text: string) => (text === 'Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text));

/**
 * Where finishPage writes a page it rewrites: `size` bytes of memory the page may keep. New memory by default; the
 * backup's reader thread hands out buffers the main thread gave back (backup/read-worker.ts).
 */
export type PageAlloc = (size: number) => Buffer;

const newMemory: PageAlloc = (size) => Buffer.allocUnsafe(size);

/** A growing output buffer for finishPage (markers change the length; BLOBs grow by a third in base64). */
class Output {
  buf: Buffer;
  length = 0;
  constructor(size: number, alloc: PageAlloc) {
    this.buf = alloc(size);
  }
  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    // An eighth more: the output is sized from its BLOBs, and only a REAL written longer than marked gets here.
    const bigger = Buffer.allocUnsafe(Math.max(this.buf.length + (this.buf.length >>> 3), this.length + n));
    this.buf.copy(bigger, 0, 0, this.length);
    this.buf = bigger;
  }
  bytes(src: Buffer, start: number, end: number): void {
    this.ensure(end - start);
    this.length += src.copy(this.buf, this.length, start, end);
  }
  latin1(text: string): void {
    this.ensure(text.length);
    this.length += this.buf.write(text, this.length, 'latin1');
  }
  /** A BLOB's cell, its base64 written a piece at a time (BASE64_PIECE). */
  base64(src: Buffer, start: number, end: number): void {
    this.latin1('{"b":"');
    for (let at = start; at < end; at += BASE64_PIECE) this.latin1(src.toString('base64', at, Math.min(end, at + BASE64_PIECE)));
    this.latin1('"}');
  }
}

/**
 * BLOBs longer than this are written to base64 in pieces of this many bytes (a multiple of 3, so that the pieces'
 * base64 joined is the whole BLOB's). In one piece, a BLOB of 3 MiB was a 4 MiB string outside the heap, and its
 * cell (the string inside `{"b":"…"}`) another 4 MiB copy, on top of the page's own buffers.
 */
const BASE64_PIECE = 3 * 16 * 1024;

/** The marked REAL whose marker opens at `open` and closes at `close`, as the dump writes it. */
const realText = (raw: Buffer, open: number, close: number) => encodeCell(realOf(raw.toString('latin1', open + 1, close)));

/** Significant digits below which two decimals never name the same double (DBL_DIG; normal numbers only). */
const DBL_DIG = 15;

/**
 * Whether SQLite's text of a marked REAL, bytes [start, end), is already the dump's: then it is copied as it is,
 * without parsing it and writing it again (two thirds of the restore's read-back on a table of 8 REAL columns in
 * 40). It is when it reads `-?(0|[1-9][0-9]*)\.[0-9]*[1-9]` with at most 15 significant digits. That text round-trips
 * (finishPage relies on it either way), fixed notation means |x| >= 1e-4 (normal, where DBL_DIG holds), and two
 * decimals of at most 15 significant digits never round to one double: JavaScript's shortest round-trip form of
 * x has those digits, and for 1e-7 <= |x| < 1e21 it writes them in this same notation. Anything else (exponents,
 * Inf, 16 or 17 digits, a text that looks integral) goes through realText.
 */
export function isJsText(raw: Buffer, start: number, end: number): boolean {
  let i = raw[start] === 0x2d ? start + 1 : start;
  if (raw[i] === 0x30) {
    if (raw[++i] !== 0x2e) return false;
  } else if (!(raw[i]! > 0x30 && raw[i]! <= 0x39)) return false;
  let dot = -1;
  let digits = 0;
  for (; i < end; i++) {
    const c = raw[i]!;
    if (c === 0x2e) {
      if (dot >= 0) return false;
      dot = i;
    } else if (c < 0x30 || c > 0x39) return false;
    else if (digits > 0 || c !== 0x30) digits++;
  }
  return dot >= 0 && dot < end - 1 && raw[end - 1] !== 0x30 && digits <= DBL_DIG;
}

/** How far a page is finished: `done` bytes at its front are final; from `from` on it is as SQLite wrote it. */
interface Progress {
  done: number;
  from: number;
  /** The next REAL and BLOB markers at or after `from`, -1 when there is none. */
  r: number;
  b: number;
}

/**
 * Whether a page as SQLite wrote it can be finished anywhere, without the database: it holds REAL markers and no
 * BLOB (a BLOB's raw bytes may be any bytes, so only the finished page can be checked for UTF-8), and it is valid
 * UTF-8 (else it is read again through JavaScript). The backup's reader thread hands such pages on unfinished.
 */
export function realsOnly(raw: Buffer): boolean {
  return raw.indexOf(BLOB_OPEN) < 0 && raw.indexOf(REAL_OPEN) >= 0;
}

/**
 * A page from SQLite → the dump's exact bytes: every marked cell replaced by the encoding JavaScript writes.
 * A page without markers is returned as it is. The page's own memory may be reused: the caller gives it up. A page
 * with BLOBs is written into memory from `alloc`.
 */
export function finishPage(raw: Buffer, alloc: PageAlloc = newMemory): Buffer {
  const r = raw.indexOf(REAL_OPEN);
  const b = raw.indexOf(BLOB_OPEN);
  if (r < 0 && b < 0) return raw;
  if (b >= 0) return rewrite(raw, { done: 0, from: 0, r, b }, blobGrowth(raw, b), alloc);
  const at = compactReals(raw, r);
  return at.r < 0 ? raw.subarray(0, at.done) : rewrite(raw, at, 0, newMemory);
}

/**
 * How many bytes longer a page's BLOBs are in base64 than as marked bytes, so that its output is sized once (a page
 * of thumbnails outgrew a guessed size, and every doubling was a copy and memory held until collected).
 */
function blobGrowth(raw: Buffer, b: number): number {
  let grow = 0;
  while (b >= 0) {
    const start = b + 1 + LENGTH_DIGITS;
    const n = Number.parseInt(raw.toString('latin1', b + 1, start), 16);
    grow += BLOB_WRAP + 4 * Math.ceil(n / 3) - (start - b) - n;
    // The next marker is after this BLOB's bytes, which may hold any byte.
    b = raw.indexOf(BLOB_OPEN, start + n);
  }
  return grow;
}

/**
 * A page whose only markers are REALs, finished in its own memory. JavaScript's form of a REAL is almost never longer
 * than its marked %!.17g text (17 digits and two marker bytes), so every byte only moves towards the front: no new
 * buffer, and one move per cell instead of copying the page piece by piece (the events bench's 1M REALs took 0.8 s of
 * the reader thread, 0.55 s this way). A cell whose text is longer than its marker (±Infinity; integral values of
 * 2^53 and more) stops it there, and rewrite() finishes the rest into a new buffer.
 */
function compactReals(raw: Buffer, first: number): Progress {
  let done = first;
  let from = first;
  let r = first;
  while (r >= 0) {
    const close = raw.indexOf(REAL_CLOSE, r + 1);
    if (isJsText(raw, r + 1, close)) {
      // Only its two marker bytes go.
      if (done !== from) raw.copyWithin(done, from, r);
      done += r - from;
      raw.copyWithin(done, r + 1, close);
      done += close - r - 1;
      from = close + 1;
      r = raw.indexOf(REAL_OPEN, from);
      continue;
    }
    const text = realText(raw, r, close);
    if (done + (r - from) + text.length > close + 1) break;
    if (done !== from) raw.copyWithin(done, from, r);
    done += r - from;
    done += raw.write(text, done, 'latin1');
    from = close + 1;
    r = raw.indexOf(REAL_OPEN, from);
  }
  if (r < 0 && done !== from) raw.copyWithin(done, from);
  if (r < 0) done += raw.length - from;
  return { done, from, r, b: -1 };
}

/**
 * Finishes a page into a new buffer, after the `done` bytes already final at its front. `grow` is what its BLOBs add;
 * a REAL rarely grows (±Infinity, integral values of 2^53 and more), and then the buffer does.
 */
function rewrite(raw: Buffer, at: Progress, grow: number, alloc: PageAlloc): Buffer {
  let { from, r, b } = at;
  const out = new Output(raw.length + grow + 256, alloc);
  out.bytes(raw, 0, at.done);
  while (r >= 0 || b >= 0) {
    if (b < 0 || (r >= 0 && r < b)) {
      // A REAL marker before the next BLOB cannot be inside one.
      const close = raw.indexOf(REAL_CLOSE, r + 1);
      out.bytes(raw, from, r);
      if (isJsText(raw, r + 1, close)) out.bytes(raw, r + 1, close);
      else out.latin1(realText(raw, r, close));
      from = close + 1;
    } else {
      const start = b + 1 + LENGTH_DIGITS;
      const end = start + Number.parseInt(raw.toString('latin1', b + 1, start), 16);
      out.bytes(raw, from, b);
      if (end - start <= BASE64_PIECE) out.latin1(`{"b":"${raw.toString('base64', start, end)}"}`);
      else out.base64(raw, start, end);
      from = end;
    }
    // Search again only for what was used up or stepped over: a search that found nothing stays at -1, and
    // searching both each time would scan the rest of the page once per marker.
    if (r >= 0 && r < from) r = raw.indexOf(REAL_OPEN, from);
    if (b >= 0 && b < from) b = raw.indexOf(BLOB_OPEN, from);
  }
  out.bytes(raw, from, raw.length);
  return out.buf.subarray(0, out.length);
}
