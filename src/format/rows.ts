/**
 * Row lines → SQLite values, fast. The dump's row lines are JSON arrays of a few cell shapes (format/values.ts):
 * numbers, `null`, strings, and one-key objects {"i"|"r"|"b"|"t": "…"}. Parsing them with JSON.parse builds every
 * cell as a generic JS value first (and most of a restore's time went there: docs/BENCHMARKS.md); this reads each
 * cell straight from the line's bytes into the value decodeCell() would give for it.
 *
 * Exactness: a line is read this way only while it follows the encoder's own shapes; anything else (an escape in a
 * string, a shape the encoder never writes) sends that line or cell through JSON.parse + decodeCell, which accept or
 * refuse exactly as before. Strings without escapes are their own UTF-8 bytes (JSON.stringify escapes only `"`, `\` and
 * control characters), so they decode to the same string JSON.parse gives.
 */
import { BackupError } from '../errors.js';
import { decodeCell, decodeRow, type SqlValue } from './values.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const LOWER_N = 0x6e;
const MINUS = 0x2d;

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

/** A bare JSON number at [from, to): INTEGER when integral, REAL otherwise; null when it is not a plain number. */
function number(line: Buffer, from: number, to: number): SqlValue | undefined {
  if (to === from) return undefined; // an empty cell: Number('') would say 0
  let integral = true;
  for (let k = from; k < to; k++) {
    const c = line[k]!;
    if (c >= 0x30 && c <= 0x39) continue;
    if (c === MINUS && k === from) continue;
    integral = false;
    // The rest of a JSON number's alphabet; anything else is not ours to read.
    if (c !== 0x2e && c !== 0x65 && c !== 0x45 && c !== 0x2b && c !== MINUS) return undefined;
  }
  const text = line.toString('latin1', from, to);
  if (integral) {
    // Integral bare numbers are INTEGERs written plainly because they are exact as JSON numbers (≤ 2^53 - 1).
    if (to - from > 17 || !Number.isSafeInteger(Number(text))) return undefined;
    return BigInt(text);
  }
  return decodeCell(Number(text));
}

/** True when the quote at `q` is escaped: an odd number of backslashes before it. */
function escaped(line: Buffer, q: number): boolean {
  let n = 0;
  while (line[q - 1 - n] === BACKSLASH) n++;
  return n % 2 === 1;
}

/** A shape the fast reader does not take: the line is then read the strict way. */
const UNSUPPORTED = Symbol('unsupported');

/** Where the cell read last ends (set by cell(): one variable instead of an object per cell). */
let next = 0;

/**
 * The cell starting at `i`; sets `next` to where it ends. `backslash` is the line's first backslash at or after `i`
 * (or -1): a string before it has no escape.
 */
function cell(line: Buffer, i: number, end: number, backslash: number): SqlValue | typeof UNSUPPORTED {
  const c = line[i];
  if (c === QUOTE) {
    let close = line.indexOf(QUOTE, i + 1);
    if (backslash < 0 || backslash > close) {
      if (close < 0 || close >= end) return UNSUPPORTED;
      next = close + 1;
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
  return number(line, i, j) ?? UNSUPPORTED;
}

/** The row line at [start, stop) of `line` (without its newline; the whole buffer by default) → its values. */
export function decodeRowLine(line: Buffer, start = 0, stop = line.length): SqlValue[] {
  const end = stop - 1; // the closing bracket
  if (line[start] !== OPEN_BRACKET || line[end] !== CLOSE_BRACKET || end <= start) return slow(line, start, stop);
  const row: SqlValue[] = [];
  if (end === start + 1) return row;
  let backslash = line.indexOf(BACKSLASH, start);
  if (backslash >= stop) backslash = -1;
  for (let i = start + 1; ; ) {
    if (backslash >= 0 && backslash < i) {
      backslash = line.indexOf(BACKSLASH, i);
      if (backslash >= stop) backslash = -1;
    }
    const v = cell(line, i, end, backslash);
    if (v === UNSUPPORTED) return slow(line, start, stop);
    row.push(v);
    if (next === end) return row;
    if (line[next] !== COMMA) return slow(line, start, stop);
    i = next + 1;
  }
}
