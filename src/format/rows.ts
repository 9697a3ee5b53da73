/**
 * Row lines → SQLite values, fast. The dump's row lines are JSON arrays of a few cell shapes (format/values.ts):
 * numbers, `null`, strings, and one-key objects {"i"|"r"|"b"|"t": "…"}. Parsing them with JSON.parse builds every
 * cell as a generic JS value first (and most of a restore's time went there: docs/BENCHMARKS.md); this reads each
 * cell straight from the line's bytes into the value decodeCell() would give for it.
 *
 * Exactness: a line is read this way only while it follows the encoder's own shapes; anything else (a shape the
 * encoder never writes) sends that line or cell through JSON.parse + decodeCell, which accept or refuse exactly as
 * before. So does a line holding an escape (parsedInto): JSON.parse reads such a line faster than this would.
 * Strings without escapes are their own UTF-8 bytes (JSON.stringify escapes only `"`, `\` and control characters),
 * so they decode to the same string JSON.parse gives.
 */
import { BackupError } from '../errors.js';
import { decodeCell, decodeRow, type SqlValue, TextBytes } from './values.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const LOWER_N = 0x6e;
const MINUS = 0x2d;
const NEWLINE = 0x0a;

/** Parses a line the slow, strict way (JSON.parse + decodeCell): for the shapes the fast reader leaves alone. */
function slow(line: Buffer, start: number, stop: number): SqlValue[] {
  let cells: unknown;
  try {
    cells = JSON.parse(line.toString('utf8', start, stop));
  } catch {
    throw new BackupError('CORRUPT', 'dump holds a row line that is not valid JSON');
  }
  return decodeRow(cells);
}

/** Digits of an integer read straight from the bytes: up to 15 is always below 2^53, so exact as a double. */
const EXACT_DIGITS = 15;

/**
 * A bare JSON number at [from, to): INTEGER when integral (a bigint, or a plain number when `plain`: see
 * db/schema.ts integerColumns), REAL otherwise; undefined when it is not a plain number.
 */
function number(line: Buffer, from: number, to: number, plain: boolean): SqlValue | undefined {
  if (to === from) return undefined; // an empty cell: Number('') would say 0
  const neg = line[from] === MINUS;
  const d = neg ? from + 1 : from;
  if (to > d && to - d <= EXACT_DIGITS && (line[d] !== 0x30 || to - d === 1)) {
    let v = 0;
    let k = d;
    for (; k < to; k++) {
      const c = line[k]! - 0x30;
      if (c < 0 || c > 9) break;
      v = v * 10 + c;
    }
    const n = neg && v !== 0 ? -v : v;
    if (k === to) return plain ? n : BigInt(n);
  }
  const r = shortDecimal(line, d, to);
  if (r !== undefined) return decodeCell(neg ? -r : r);
  const shape = numberShape(line, d, to);
  if (shape === NOT_JSON) return undefined;
  const text = line.toString('latin1', from, to);
  if (shape === DIGITS) {
    // Integral bare numbers are INTEGERs written plainly because they are exact as JSON numbers (≤ 2^53 - 1).
    if (to - from > 17 || !Number.isSafeInteger(Number(text))) return undefined;
    return plain ? Number(text) : BigInt(text);
  }
  return decodeCell(Number(text));
}

const NOT_JSON = -1;
const DIGITS = 0;
const FRACTION_OR_EXPONENT = 1;

/** The end of a run of digits starting at `k`, before `to`. */
function digitsEnd(line: Buffer, k: number, to: number): number {
  while (k < to && line[k]! >= 0x30 && line[k]! <= 0x39) k++;
  return k;
}

/**
 * The shape of the number at [d, to) (after its minus sign) by JSON's grammar: `0` or digits without a leading zero,
 * then an optional fraction and exponent, each with at least one digit. Number() reads texts JSON does not (`1.`,
 * `.5`, `007.5`, `1e5.`…); NOT_JSON sends them to the strict reader, which refuses them as JSON.parse does.
 */
function numberShape(line: Buffer, d: number, to: number): number {
  let k = line[d] === 0x30 ? d + 1 : digitsEnd(line, d, to);
  if (k === d) return NOT_JSON;
  let shape = DIGITS;
  if (k < to && line[k] === 0x2e) {
    const from = k + 1;
    k = digitsEnd(line, from, to);
    if (k === from) return NOT_JSON;
    shape = FRACTION_OR_EXPONENT;
  }
  if (k < to && (line[k] === 0x65 || line[k] === 0x45)) {
    let from = k + 1;
    if (from < to && (line[from] === 0x2b || line[from] === MINUS)) from++;
    k = digitsEnd(line, from, to);
    if (k === from) return NOT_JSON;
    shape = FRACTION_OR_EXPONENT;
  }
  return k === to ? shape : NOT_JSON;
}

/** 10^0 … 10^15, each an exact double. */
const POW10 = Array.from({ length: EXACT_DIGITS + 1 }, (_, i) => 10 ** i);

/**
 * A decimal fraction `digits.digits` at [d, to) of at most 15 digits, as a double without making its text a string:
 * m / 10^f, where m (< 10^15) and 10^f are exact doubles and IEEE division rounds correctly, so it is the double
 * Number(text) gives (strtod's own fast path). A table of 8 REAL columns in 40 spent a tenth of its load's main
 * thread turning them into strings and parsing those. Undefined for anything else (an exponent, more digits).
 */
function shortDecimal(line: Buffer, d: number, to: number): number | undefined {
  if (to - d > EXACT_DIGITS + 1) return undefined;
  let m = 0;
  let dot = -1;
  for (let k = d; k < to; k++) {
    const c = line[k]!;
    if (c === 0x2e && dot < 0) dot = k;
    else if (c >= 0x30 && c <= 0x39) m = m * 10 + (c - 0x30);
    else return undefined;
  }
  // JSON wants digits on both sides, and no leading zero before another digit.
  if (dot <= d || dot === to - 1 || (line[d] === 0x30 && dot !== d + 1)) return undefined;
  return m / POW10[to - dot - 1]!;
}

/** True when the quote at `q` is escaped: an odd number of backslashes before it. */
function escaped(line: Buffer, q: number): boolean {
  let n = 0;
  while (line[q - 1 - n] === BACKSLASH) n++;
  return n % 2 === 1;
}

/**
 * Where a load's long strings go as bytes. A string cell becomes a JavaScript string (its bytes decoded, copied into
 * V8's heap), which SQLite's binding then encodes back to UTF-8 and copies again; a batch of rows tens of KiB wide
 * outlives the young generation, so each string was copied once more and collected by full collections. A string
 * without escapes is its own UTF-8 bytes (see the top of this file): copied here once, into memory the batch uses
 * again, it goes to SQLite as TextBytes (`CAST(? AS TEXT)`, db/local.ts insertFlat). Wide rows: ~5 % less time
 * per restore (docs/BENCHMARKS.md). The copies live until the batch is inserted: `reset` once it is.
 */
export class TextArena {
  /** Strings shorter than this stay JavaScript strings: cheap to make, and no statement of their own. */
  static readonly MIN = 512;
  private buf = Buffer.allocUnsafeSlow(2 * 1024 * 1024);
  private used = 0;

  /** A copy of line[from, to), valid until reset(). */
  copy(line: Buffer, from: number, to: number): Buffer {
    const n = to - from;
    if (this.used + n > this.buf.length) {
      // The copies made so far keep the old buffer alive until their batch is inserted.
      this.buf = Buffer.allocUnsafeSlow(Math.max(this.buf.length, 2 * n));
      this.used = 0;
    }
    line.copy(this.buf, this.used, from, to);
    const bytes = this.buf.subarray(this.used, this.used + n);
    this.used += n;
    return bytes;
  }

  /** Every copy is inserted: the memory is used again. */
  reset(): void {
    this.used = 0;
  }
}

/** The arena of the line being read, if its reader has one (set by RowDecoder, like `backslashAt`). */
let arena: TextArena | null = null;

/** A shape the fast reader does not take: the line is then read the strict way. */
const UNSUPPORTED = Symbol('unsupported');

/** Where the cell read last ends (set by cell(): one variable instead of an object per cell). */
let next = 0;

/**
 * The cell starting at `i`; sets `next` to where it ends. `backslash` is the line's first backslash at or after `i`
 * (or -1): a string before it has no escape.
 */
function cell(line: Buffer, i: number, end: number, backslash: number, plain: boolean): SqlValue | typeof UNSUPPORTED {
  const c = line[i];
  if (c === QUOTE) {
    let close = line.indexOf(QUOTE, i + 1);
    if (backslash < 0 || backslash > close) {
      if (close < 0 || close >= end) return UNSUPPORTED;
      next = close + 1;
      if (arena !== null && close - i > TextArena.MIN) return new TextBytes(arena.copy(line, i + 1, close));
      return line.toString('utf8', i + 1, close);
    }
    // Escapes: the string ends at the first quote not escaped itself; JSON.parse unescapes that one token.
    while (close >= 0 && escaped(line, close)) close = line.indexOf(QUOTE, close + 1);
    if (close < 0 || close >= end) return UNSUPPORTED;
    next = close + 1;
    return JSON.parse(line.toString('utf8', i, close + 1)) as string;
  }
  if (c === LOWER_N) {
    if (line[i + 1] !== 0x75 || line[i + 2] !== 0x6c || line[i + 3] !== 0x6c) return UNSUPPORTED;
    next = i + 4;
    return null;
  }
  if (c === OPEN_BRACE) {
    // {"x":"…"}: the tag, then a value without escapes (digits, a REAL's text, base64).
    if (line[i + 1] !== QUOTE || line[i + 3] !== QUOTE || line[i + 4] !== 0x3a || line[i + 5] !== QUOTE) return UNSUPPORTED;
    const close = line.indexOf(QUOTE, i + 6);
    if (close < 0 || line[close + 1] !== 0x7d) return UNSUPPORTED;
    next = close + 2;
    return decodeCell({ [String.fromCharCode(line[i + 2]!)]: line.toString('latin1', i + 6, close) });
  }
  let j = i;
  while (j < end && line[j] !== COMMA) j++;
  next = j;
  return number(line, i, j, plain) ?? UNSUPPORTED;
}

/** The first backslash at or after the cell being read, anywhere in the buffer (-1: none up to its end). */
let backslashAt = -1;

/** The row line at [start, stop) of `line` (without its newline; the whole buffer by default) → its values. */
export function decodeRowLine(line: Buffer, start = 0, stop = line.length): SqlValue[] {
  backslashAt = line.indexOf(BACKSLASH, start);
  const row: SqlValue[] = [];
  decodeLineInto(line, start, stop, undefined, row, 0);
  return row;
}

/**
 * Cells `idx` of the row line at [start, stop) (without its newline), as decodeRowLine would give them, reading the
 * line only up to the last one asked for: a page's first and last keys (db/pages.ts) were found by parsing their
 * whole lines, and on rows of tens of KiB that was a tenth of reading the table back.
 */
export function decodeLineCells(line: Buffer, start: number, stop: number, idx: readonly number[]): SqlValue[] {
  const l = line.subarray(start, stop); // so that no search for a backslash runs past this line
  const want = Math.max(...idx);
  backslashAt = l.indexOf(BACKSLASH);
  const cells: SqlValue[] = [];
  const n = decodeLineInto(l, 0, l.length, undefined, cells, 0, want + 1);
  if (n <= want) throw new BackupError('CORRUPT', `a row line of ${n} cells, where cell ${want + 1} was expected`);
  return idx.map((k) => cells[k]!);
}

/**
 * The row lines of a buffer (whole lines, each ending with a newline), one after the other. The search for
 * backslashes runs once over the buffer, not once per line: from each line it would scan to the buffer's end
 * whenever the lines hold no escape (rows of numbers), which made a buffer of short lines quadratic.
 * `plainIntegers[i]`: column i's INTEGERs may come back as plain numbers (see number()). `textArena`: long strings
 * without escapes come back as TextBytes copied into it (see TextArena).
 */
export class RowDecoder {
  private start = 0;
  private cursor: number; // this buffer's own, whatever other buffers are read meanwhile

  constructor(
    private readonly bytes: Buffer,
    private readonly plainIntegers?: readonly boolean[],
    private readonly textArena: TextArena | null = null,
  ) {
    this.cursor = bytes.indexOf(BACKSLASH);
  }

  /** The next line's values written to out[offset…]; returns how many, or -1 when every line was read. */
  nextInto(out: SqlValue[], offset: number): number {
    const { bytes, start } = this;
    if (start >= bytes.length) return -1;
    const nl = bytes.indexOf(NEWLINE, start);
    const stop = nl < 0 ? bytes.length : nl;
    if (this.cursor >= 0 && this.cursor < start) this.cursor = bytes.indexOf(BACKSLASH, start);
    backslashAt = this.cursor;
    arena = this.textArena;
    let n: number;
    try {
      n = decodeLineInto(bytes, start, stop, this.plainIntegers, out, offset);
    } finally {
      arena = null;
    }
    this.cursor = backslashAt;
    this.start = stop + 1;
    return n;
  }
}

/** Every row line of `bytes` → its values, one array per row (see RowDecoder). */
export function* decodeRows(bytes: Buffer, plainIntegers?: readonly boolean[]): Generator<SqlValue[]> {
  const d = new RowDecoder(bytes, plainIntegers);
  for (;;) {
    const row: SqlValue[] = [];
    if (d.nextInto(row, 0) < 0) return;
    yield row;
  }
}

/**
 * One line's values into out[offset…] (`backslashAt` already the first backslash at or after `start`); the count.
 * `limit`: the fast reader stops after that many cells (the line is then not read to its end).
 */
function decodeLineInto(
  line: Buffer,
  start: number,
  stop: number,
  plainIntegers: readonly boolean[] | undefined,
  out: SqlValue[],
  offset: number,
  limit = Number.POSITIVE_INFINITY,
): number {
  const end = stop - 1; // the closing bracket
  if (line[start] !== OPEN_BRACKET || line[end] !== CLOSE_BRACKET || end <= start) return slowInto(line, start, stop, out, offset);
  if (backslashAt >= 0 && backslashAt < stop && limit === Number.POSITIVE_INFINITY) return parsedInto(line, start, stop, plainIntegers, out, offset);
  if (end === start + 1) return 0;
  for (let i = start + 1, k = 0; ; k++) {
    if (backslashAt >= 0 && backslashAt < i) backslashAt = line.indexOf(BACKSLASH, i);
    const v = cell(line, i, end, backslashAt >= stop ? -1 : backslashAt, plainIntegers?.[k] === true);
    if (v === UNSUPPORTED) return slowInto(line, start, stop, out, offset);
    out[offset + k] = v;
    if (next === end || k + 1 === limit) return k + 1;
    if (line[next] !== COMMA) return slowInto(line, start, stop, out, offset);
    i = next + 1;
  }
}

/**
 * A line with an escape: JSON.parse reads it whole. Finding where an escaped string ends, quote by quote, then
 * parsing that token took 2.4× as long on lines of JSON documents (a quote escaped every ~15 bytes) and 1.3× on the
 * events shape's (docs/BENCHMARKS.md, session 29). Each cell then as decodeCell() takes it (the strict reading),
 * but an INTEGER of a `plainIntegers` column stays a plain number, as number() gives it.
 */
function parsedInto(line: Buffer, start: number, stop: number, plainIntegers: readonly boolean[] | undefined, out: SqlValue[], offset: number): number {
  let cells: unknown;
  try {
    cells = JSON.parse(line.toString('utf8', start, stop));
  } catch {
    throw new BackupError('CORRUPT', 'dump holds a row line that is not valid JSON');
  }
  if (!Array.isArray(cells)) return slowInto(line, start, stop, out, offset);
  for (let k = 0; k < cells.length; k++) {
    const c: unknown = cells[k];
    out[offset + k] = plainIntegers?.[k] === true && Number.isSafeInteger(c) ? (c as number) : decodeCell(c);
  }
  return cells.length;
}

function slowInto(line: Buffer, start: number, stop: number, out: SqlValue[], offset: number): number {
  const row = slow(line, start, stop);
  for (let k = 0; k < row.length; k++) out[offset + k] = row[k]!;
  return row.length;
}

/** `rows` rows of `width` values each, flat in `values`, as one array per row. */
export function rowsOf(values: readonly SqlValue[], rows: number, width: number): SqlValue[][] {
  return Array.from({ length: rows }, (_, r) => values.slice(r * width, (r + 1) * width));
}
