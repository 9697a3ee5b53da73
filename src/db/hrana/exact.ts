/**
 * Exact values over Hrana/HTTP, in both directions.
 *
 * The traps below are those of the JSON encoding. In Protobuf (hrana/client.ts uses it when the server offers it)
 * doubles and bytes travel as themselves, but a server may offer only JSON, and TEXT that is not UTF-8 fails in
 * both: one way of reading and writing serves both encodings, and is tested on both.
 *
 * Reading: some stored values cannot travel as themselves.
 *   - A REAL ±Infinity is serialised by sqld (serde_json) as JSON `null`; the client then fails the *whole*
 *     response with HRANA_PROTO_ERROR and closes the stream — inside a snapshot that loses the snapshot.
 *   - TEXT that is not valid UTF-8 makes sqld fail the whole request (HTTP 500, `String::from_utf8`), which also
 *     drops the stream.
 * So every read query is wrapped: `WITH __hx(c0..cN) AS (<query>) SELECT <cell>…, <flags> FROM __hx`, where a cell
 * that is TEXT containing NUL or any byte ≥ 0x80 is sent as its bytes (CAST AS BLOB), a ±Infinity is sent as NULL,
 * and a per-row flag string (`''` for rows without BLOBs or infinities) says which cells to read differently: `b3,`
 * column 3 is a real BLOB (any other byte cell is TEXT sent as bytes), `p1,`/`n1,` +/-Infinity in column 1. The
 * UTF-8 scan (instr + GLOB) runs once per TEXT cell; the flags only use typeof(). TEXT bytes are decoded in JS:
 * valid UTF-8 → string, else TextBytes. (Plain
 * ASCII text without NUL, the common case, travels as JSON text; SQLite has no UTF-8 validity test, so any
 * non-ASCII text takes the byte path, which is exact for every case.)
 *
 * Writing: a JS number travels as a JSON float written `"" + n`, so -0 would arrive as +0, ±Infinity cannot travel,
 * and sqld's JSON parser reads some 17-digit floats one ULP off (serdeReadsBack). Such cells are written as SQL
 * literals (`-0.0`, `9e999`, `-9e999`) or as an exactly scaled integer-valued float (scaledReal); TEXT that is not
 * UTF-8 (TextBytes) as `CAST(? AS TEXT)` with a blob argument; integers as bigint (INTEGER), other numbers as floats.
 */
import { isUtf8 } from 'node:buffer';
import { BackupError } from '../../errors.js';
import { TextBytes } from '../../format/values.js';
import { joinSql } from '../encode.js';

// ----------------------------------------------------------------------------------------------------------------
// A small SQL tokenizer: enough to find the select list and the positional `?` placeholders.
// ----------------------------------------------------------------------------------------------------------------

interface Tok {
  kind: 'word' | 'quoted' | 'string' | 'param' | 'punct';
  text: string;
  start: number;
  end: number;
}

function tokenize(sql: string): Tok[] {
  const out: Tok[] = [];
  let i = 0;
  const n = sql.length;
  while (i < n) {
    const c = sql[i]!;
    if (/\s/.test(c)) {
      i++;
      continue;
    }
    if (c === '-' && sql[i + 1] === '-') {
      const nl = sql.indexOf('\n', i);
      i = nl < 0 ? n : nl + 1;
      continue;
    }
    if (c === '/' && sql[i + 1] === '*') {
      const e = sql.indexOf('*/', i + 2);
      i = e < 0 ? n : e + 2;
      continue;
    }
    const start = i;
    if (c === "'" || c === '"' || c === '`') {
      i++;
      while (i < n) {
        if (sql[i] === c) {
          if (sql[i + 1] === c) i += 2;
          else break;
        } else i++;
      }
      i++;
      out.push({ kind: c === "'" ? 'string' : 'quoted', text: sql.slice(start, i), start, end: i });
      continue;
    }
    if (c === '[') {
      const e = sql.indexOf(']', i);
      i = e < 0 ? n : e + 1;
      out.push({ kind: 'quoted', text: sql.slice(start, i), start, end: i });
      continue;
    }
    if (c === '?' || c === ':' || c === '@' || c === '$') {
      i++;
      while (i < n && /[A-Za-z0-9_]/.test(sql[i]!)) i++;
      out.push({ kind: 'param', text: sql.slice(start, i), start, end: i });
      continue;
    }
    if (/[A-Za-z0-9_\u0080-\uffff]/.test(c)) {
      while (i < n && /[A-Za-z0-9_$\u0080-\uffff.]/.test(sql[i]!) && !(sql[i] === '.' && !/[0-9]/.test(c))) i++;
      out.push({ kind: 'word', text: sql.slice(start, i), start, end: i });
      continue;
    }
    i++;
    out.push({ kind: 'punct', text: c, start, end: i });
  }
  return out;
}

const CLAUSE_END = new Set(['FROM', 'WHERE', 'GROUP', 'HAVING', 'ORDER', 'LIMIT', 'UNION', 'INTERSECT', 'EXCEPT', 'WINDOW']);

/**
 * The number of result columns of a plain `SELECT a, b, f(c) FROM …`, or null when it cannot be told from the text
 * (a `*` in the select list, `WITH`, `VALUES`, not a SELECT).
 */
export function selectColumnCount(sql: string): number | null {
  const toks = tokenize(sql);
  if (toks[0]?.kind !== 'word' || toks[0].text.toUpperCase() !== 'SELECT') return null;
  let i = 1;
  const up = (t: Tok | undefined) => (t?.kind === 'word' ? t.text.toUpperCase() : '');
  if (up(toks[i]) === 'DISTINCT' || up(toks[i]) === 'ALL') i++;
  let depth = 0;
  let count = 1;
  let prev: Tok | undefined;
  for (; i < toks.length; i++) {
    const t = toks[i]!;
    if (t.text === '(') depth++;
    else if (t.text === ')') depth--;
    else if (depth === 0) {
      if (t.kind === 'word' && CLAUSE_END.has(t.text.toUpperCase())) break;
      if (t.text === ';') break;
      if (t.text === ',') count++;
      if (t.text === '*' && (!prev || prev.text === ',' || prev.text === '.' || /^(SELECT|DISTINCT|ALL)$/i.test(prev.text))) return null;
    }
    prev = t;
  }
  return count;
}

/** Is this a statement that returns rows we should read exactly (SELECT / WITH … SELECT / VALUES)? */
export function isReadQuery(sql: string): boolean {
  return /^\s*(select|with|values)\b/i.test(sql);
}

// ----------------------------------------------------------------------------------------------------------------
// Reading
// ----------------------------------------------------------------------------------------------------------------

/** Any TEXT byte outside 0x01..0x7F (GLOB sees text up to the first NUL; instr() finds the NUL itself). */
const NON_ASCII = `('*[^'||char(1)||'-'||char(127)||']*')`;

function cellExpr(c: string): string {
  return (
    `CASE WHEN typeof(${c})='text' AND (instr(${c},char(0))>0 OR ${c} GLOB ${NON_ASCII}) THEN CAST(${c} AS BLOB) ` +
    `WHEN typeof(${c})='real' AND abs(${c})=9e999 THEN NULL ELSE ${c} END`
  );
}

/**
 * The flags say what the cells cannot: which BYTE cells really are BLOBs (every other byte cell is TEXT sent as its
 * bytes) and which NULLs are ±Infinity. Only cheap tests here: the UTF-8 scan runs once per cell, in cellExpr.
 */
function flagExpr(c: string, i: number): string {
  return (
    `CASE typeof(${c}) WHEN 'blob' THEN 'b${i},' ` +
    `WHEN 'real' THEN CASE WHEN ${c}=9e999 THEN 'p${i},' WHEN ${c}=-9e999 THEN 'n${i},' ELSE '' END ELSE '' END`
  );
}

/** The exact projection of `n` columns named c0..c(n-1): the cells, then the flags column `__f`. */
export function exactProjection(n: number, name = (i: number) => `c${i}`): string {
  const cells: string[] = [];
  const flags: string[] = [];
  for (let i = 0; i < n; i++) {
    cells.push(`${cellExpr(name(i))} AS c${i}`);
    flags.push(flagExpr(name(i), i));
  }
  // One concat per group, not a chain of `||`: a chain as long as the columns would pass SQLite's expression depth.
  return `${cells.join(', ')}, ${flags.length ? joinSql("''", flags) : "''"} AS __f`;
}

/** `sql` (a read query with `n` result columns) wrapped so that every cell arrives exactly. */
export function wrapExact(sql: string, n: number): string {
  const inner = sql.replace(/[\s;]+$/, '');
  const names = Array.from({ length: n }, (_, i) => `c${i}`).join(', ');
  return `WITH __hx(${names}) AS (\n${inner}\n) SELECT ${exactProjection(n)} FROM __hx`;
}

const toBuffer = (v: unknown): Buffer =>
  Buffer.isBuffer(v)
    ? v
    : v instanceof ArrayBuffer
      ? Buffer.from(v)
      : Buffer.from((v as Uint8Array).buffer, (v as Uint8Array).byteOffset, (v as Uint8Array).byteLength);

const isBytes = (v: unknown) => v instanceof ArrayBuffer || v instanceof Uint8Array;

/** Rows of an exact query (n cells + flags, array-like) → plain arrays of exact values. */
export function decodeExactRows(rows: ArrayLike<unknown>[], n: number): unknown[][] {
  const out = new Array<unknown[]>(rows.length);
  for (let r = 0; r < rows.length; r++) {
    const row = rows[r]!;
    const vals = new Array<unknown>(n);
    let bytes = false;
    for (let i = 0; i < n; i++) {
      const v = row[i];
      vals[i] = v;
      if (isBytes(v)) bytes = true;
    }
    const flags = row[n];
    let blobs: number[] | null = null;
    if (typeof flags === 'string' && flags.length > 0) {
      for (const f of flags.split(',')) {
        if (!f) continue;
        const i = Number(f.slice(1));
        if (f[0] === 'b') {
          blobs ??= [];
          blobs.push(i);
        } else if (f[0] === 'p') vals[i] = Infinity;
        else if (f[0] === 'n') vals[i] = -Infinity;
      }
    }
    if (bytes) {
      // Byte cells not flagged as BLOB are TEXT that travelled as its bytes.
      for (let i = 0; i < n; i++) {
        if (!isBytes(vals[i]) || blobs?.includes(i)) continue;
        const b = toBuffer(vals[i]);
        vals[i] = isUtf8(b) ? b.toString('utf8') : new TextBytes(b);
      }
    }
    out[r] = vals;
  }
  return out;
}

/** Rows as plain arrays (no flags column). */
export function plainRows(rows: ArrayLike<unknown>[]): unknown[][] {
  return rows.map((row) => Array.prototype.slice.call(row) as unknown[]);
}

// ----------------------------------------------------------------------------------------------------------------
// Writing
// ----------------------------------------------------------------------------------------------------------------

/** serde_json's f64 table (de.rs POW10): the correctly rounded literals 1e0 … 1e308. */
const POW10 = Array.from({ length: 309 }, (_, i) => Number(`1e${i}`));
const SHORTEST = /^(\d+)(?:\.(\d+))?(?:e([+-]\d+))?$/;

/**
 * Whether sqld reads the JSON float `"" + v` back as `v`. Its serde_json is built without `float_roundtrip`
 * (libsql-server/Cargo.toml), so it computes `significand as f64` times or divided by one power of ten (de.rs
 * `f64_from_parts`): exact when the significand and the power are exact, else up to one ULP off — 15 % of the
 * events shape's REALs and ~10 % of random doubles (serde-rs/json#707). This redoes that arithmetic (JavaScript's
 * doubles are the same IEEE doubles); what it cannot redo cheaply (a 20-digit significand) counts as inexact.
 */
export function serdeReadsBack(v: number): boolean {
  const a = Math.abs(v);
  if (Number.isInteger(a) && a <= 9007199254740992) return true; // an integer: `u64 as f64`
  const m = SHORTEST.exec(String(a));
  if (!m) return false;
  const [, int, frac = '', exp] = m;
  // More than 19 significant digits could pass u64::MAX, where serde starts dropping digits.
  if ((int! + frac).replace(/^0+/, '').length > 19) return false;
  if (frac === '' && exp === undefined) return true; // an integer below 1e21, all of its digits: `u64 as f64`
  // Number() of ≤ 19 digits rounds as `u64 as f64` does (to nearest, ties to even).
  let f = Number(int! + frac);
  let e = Number(exp ?? 0) - frac.length;
  for (;;) {
    const pow = POW10[Math.abs(e)];
    if (pow !== undefined) {
      f = e >= 0 ? f * pow : f / pow;
      break;
    }
    if (f === 0) break;
    f /= 1e308;
    e += 308;
  }
  return f === a;
}

const bits = new DataView(new ArrayBuffer(8));
/** 2^0 … 2^62 as INTEGER literals. */
const POW2 = Array.from({ length: 63 }, (_, k) => String(2n ** BigInt(k)));

/**
 * A REAL that serde would misread, as an integer-valued float argument (below 2^53: serde reads it exactly) scaled
 * by powers of two written as INTEGER literals: `(? / 2^k)` or `(? * 2^k)`, k ≤ 62 per step. Each step is exact in
 * IEEE arithmetic (only the exponent changes; every intermediate lies between the argument and the result), so
 * SQLite computes the very double. Returns the fragment and the argument.
 */
export function scaledReal(v: number): [string, number] {
  bits.setFloat64(0, v);
  const hi = bits.getUint32(0);
  const biased = (hi >>> 20) & 0x7ff;
  let mantissa = (hi & 0xfffff) * 2 ** 32 + bits.getUint32(4);
  let e = biased === 0 ? -1074 : biased - 1075;
  if (biased !== 0) mantissa += 2 ** 52;
  while (mantissa !== 0 && mantissa % 2 === 0) {
    mantissa /= 2;
    e++;
  }
  let frag = '(?';
  for (let k = Math.abs(e); k > 0; k -= 62) frag += `${e < 0 ? ' / ' : ' * '}${POW2[Math.min(k, 62)]}`;
  return [`${frag})`, hi >>> 31 ? -mantissa : mantissa];
}

/** A number that travels as a plain float argument: finite, not -0, and read back exactly by sqld. */
export const plainFloat = (v: number) => Number.isFinite(v) && !Object.is(v, -0) && serdeReadsBack(v);

/**
 * How one value is written: a SQL fragment (normally `?`) and its argument (none for literals). `TextBytes` →
 * `CAST(? AS TEXT)`; -0 / ±Infinity → literals; a REAL sqld would misread → scaledReal; bigint stays bigint
 * (INTEGER); Buffer/ArrayBuffer → BLOB.
 */
export function bindValue(v: unknown, exactFloats = false): [string, unknown] | [string] {
  if (typeof v === 'number') {
    // Protobuf carries a finite double, -0.0 included, as its bits; the client refuses the infinities.
    if (exactFloats && Number.isFinite(v)) return ['?', v];
    if (v === Infinity) return ['9e999'];
    if (v === -Infinity) return ['-9e999'];
    if (Number.isNaN(v)) return ['NULL'];
    if (Object.is(v, -0)) return ['-0.0'];
    if (!serdeReadsBack(v)) return scaledReal(v);
    return ['?', v];
  }
  if (v instanceof TextBytes) return ['CAST(? AS TEXT)', v.bytes];
  if (v instanceof ArrayBuffer) return ['?', new Uint8Array(v)];
  if (typeof v === 'boolean') return ['?', v ? 1n : 0n];
  return ['?', v];
}

const isSpecial = (v: unknown) => v instanceof TextBytes || v instanceof ArrayBuffer || typeof v === 'boolean' || (typeof v === 'number' && !plainFloat(v));

/**
 * Binds `args` to the positional `?` placeholders of `sql`, rewriting a placeholder when its value must travel as a
 * literal or a CAST (see bindValue). SQL without such values is returned unchanged.
 */
export function bindExact(sql: string, args: readonly unknown[]): { sql: string; args: unknown[] } {
  if (!args.some(isSpecial)) return { sql, args: args as unknown[] };
  const params = tokenize(sql).filter((t) => t.kind === 'param');
  if (params.length !== args.length || params.some((p) => p.text !== '?')) {
    throw new BackupError('INTERNAL', 'a special value (non-UTF-8 text, -0.0 or ±Infinity) must be bound to a plain "?" placeholder');
  }
  let out = '';
  let pos = 0;
  const outArgs: unknown[] = [];
  params.forEach((p, k) => {
    const [frag, ...arg] = bindValue(args[k]);
    out += sql.slice(pos, p.start) + frag;
    pos = p.end;
    if (arg.length) outArgs.push(arg[0]);
  });
  return { sql: out + sql.slice(pos), args: outArgs };
}

/** Rough size of a value in the client's JSON request encoding (for byte-bounded batches). */
export function jsonValueBytes(v: unknown): number {
  if (v === null || v === undefined) return 16;
  switch (typeof v) {
    case 'bigint':
      return 40;
    case 'number':
      return 42;
    case 'string':
      return 30 + v.length * 1.2;
  }
  if (v instanceof TextBytes) return 50 + v.bytes.length * 1.34;
  if (v instanceof ArrayBuffer || ArrayBuffer.isView(v)) return 32 + (v as ArrayBuffer).byteLength * 1.34;
  return 40;
}
