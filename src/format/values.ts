/**
 * The typed cell encoding of dump format v1. A row is a JSON array; each cell is plain JSON where JSON is exact,
 * and a one-key object where it is not:
 *
 *   NULL                         null
 *   INTEGER, |v| <= 2^53 - 1     42                     (a JSON number with no fraction or exponent)
 *   INTEGER beyond that          {"i":"9223372036854775807"}
 *   REAL, finite, not integral   1.5 / 5e-324           (shortest round-trip text; never integral when parsed)
 *   REAL, integral / -0 / ±Inf   {"r":"1.0"} {"r":"-0.0"} {"r":"Infinity"}
 *   TEXT, valid UTF-8            "any text, \u0000 included"
 *   TEXT, not valid UTF-8        {"t":"<base64 of the raw bytes>"}
 *   BLOB                         {"b":"<base64>"}
 *
 * The decoding rule is therefore: a bare JSON number is INTEGER when it parses to an integer, REAL otherwise.
 */
import { BackupError } from '../errors.js';

/**
 * TEXT as its bytes, restored as TEXT byte for byte: TEXT that is not valid UTF-8, and the long strings a load
 * passes to SQLite as bytes (format/rows.ts TextArena).
 */
export class TextBytes {
  constructor(readonly bytes: Buffer) {}
}

/** A decoded cell: INTEGER → bigint, REAL → number, TEXT → string | TextBytes, BLOB → Buffer. */
export type SqlValue = null | bigint | number | string | Buffer | TextBytes;

/** Encodes an integral or non-finite REAL, which a bare JSON number would turn into an INTEGER. */
function encodeSpecialReal(v: number): string {
  if (Number.isNaN(v)) throw new BackupError('INTERNAL', 'a REAL cell holds NaN, which SQLite cannot store');
  if (Object.is(v, -0)) return '{"r":"-0.0"}';
  if (v === Infinity) return '{"r":"Infinity"}';
  if (v === -Infinity) return '{"r":"-Infinity"}';
  const s = String(v);
  return `{"r":"${s.includes('e') ? s : `${s}.0`}"}`;
}

/**
 * Encodes one cell read from a driver (better-sqlite3 or the Hrana client with bigint integers).
 * Hot path: one `typeof` switch, native JSON.stringify for text.
 */
export function encodeCell(v: unknown): string {
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v);
    case 'bigint': {
      const n = Number(v);
      return Number.isSafeInteger(n) ? String(n) : `{"i":"${v}"}`;
    }
    case 'number':
      return Number.isInteger(v) || !Number.isFinite(v) ? encodeSpecialReal(v) : String(v);
    case 'object':
      if (v === null) return 'null';
      if (v instanceof TextBytes) return `{"t":"${v.bytes.toString('base64')}"}`;
      if (Buffer.isBuffer(v)) return `{"b":"${v.toString('base64')}"}`;
      if (v instanceof ArrayBuffer) return `{"b":"${Buffer.from(v).toString('base64')}"}`;
      if (ArrayBuffer.isView(v)) return `{"b":"${Buffer.from(v.buffer, v.byteOffset, v.byteLength).toString('base64')}"}`;
      break;
  }
  throw new BackupError('INTERNAL', `cannot encode a cell of JS type ${typeof v}`);
}

/** Encodes a row as one NDJSON line, newline included. */
export function encodeRow(row: readonly unknown[]): string {
  let line = '[';
  for (let i = 0; i < row.length; i++) {
    if (i > 0) line += ',';
    line += encodeCell(row[i]);
  }
  return `${line}]\n`;
}

function corrupt(what: string): never {
  throw new BackupError('CORRUPT', `dump holds an invalid cell (${what})`);
}

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;
/** The REAL texts the encoder writes: a decimal or exponent literal, or ±Infinity. */
const REAL_TEXT = /^-?(?:\d+(?:\.\d+)?(?:e[+-]?\d+)?|Infinity)$/;
/**
 * Padded base64, as Buffer#toString('base64') writes it. Buffer.from skips characters that are not base64, so junk
 * shows as fewer bytes than the text's length promises (a regex would cost ~20× the decoding on big blobs).
 */
function base64(s: string, what: string): Buffer {
  const buf = Buffer.from(s, 'base64');
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  if (s.length % 4 !== 0 || buf.length !== (s.length / 4) * 3 - pad) corrupt(`${what} is not base64`);
  return buf;
}

/** Decodes one parsed JSON cell back to its SQLite value. */
export function decodeCell(c: unknown): SqlValue {
  switch (typeof c) {
    case 'number':
      if (!Number.isInteger(c)) return c;
      // Integral bare numbers are INTEGERs the encoder wrote plainly because they are exact as JSON numbers.
      if (!Number.isSafeInteger(c)) corrupt('a bare integer beyond 2^53');
      return BigInt(c);
    case 'string':
      return c;
    case 'object': {
      if (c === null) return null;
      const o = c as Record<string, unknown>;
      if (typeof o.i === 'string') {
        if (!/^-?\d+$/.test(o.i)) corrupt('integer text');
        const v = BigInt(o.i);
        if (v < INT64_MIN || v > INT64_MAX) corrupt('integer beyond 64 bits');
        return v;
      }
      if (typeof o.r === 'string') {
        if (!REAL_TEXT.test(o.r)) corrupt('real text');
        return Number(o.r);
      }
      if (typeof o.b === 'string') return base64(o.b, 'blob');
      if (typeof o.t === 'string') return new TextBytes(base64(o.t, 'text bytes'));
      return corrupt('unknown tag');
    }
  }
  return corrupt(typeof c);
}

export function decodeRow(cells: unknown): SqlValue[] {
  if (!Array.isArray(cells)) corrupt('row is not an array');
  const out = new Array<SqlValue>(cells.length);
  for (let i = 0; i < cells.length; i++) out[i] = decodeCell(cells[i]);
  return out;
}

/** The SQLite storage class of a decoded value, as `typeof()` names it. */
export function storageClass(v: SqlValue): 'null' | 'integer' | 'real' | 'text' | 'blob' {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return 'integer';
  if (typeof v === 'number') return 'real';
  if (typeof v === 'string' || v instanceof TextBytes) return 'text';
  return 'blob';
}
