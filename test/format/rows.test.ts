/**
 * The fast row reader (src/format/rows.ts) against the strict one (JSON.parse + decodeRow): the same values for every
 * line the encoder writes, and the same refusal for lines it never writes.
 */
import { describe, expect, it } from 'vitest';
import { BackupError } from '../../src/errors.js';
import { decodeLineCells, decodeRowLine, decodeRows, RowDecoder, TextArena } from '../../src/format/rows.js';
import { decodeRow, encodeRow, TextBytes, type SqlValue } from '../../src/format/values.js';
import { MIXED_VALUES, prngBytes } from '../support/nasty-db.js';

/** Values compared with their storage class: bigint and number apart, -0 apart, bytes by content. */
const show = (row: SqlValue[]) =>
  row.map((v) =>
    typeof v === 'bigint'
      ? `i:${v}`
      : typeof v === 'number'
        ? `r:${Object.is(v, -0) ? '-0' : String(v)}`
        : v instanceof TextBytes
          ? `t:${v.bytes.toString('hex')}`
          : Buffer.isBuffer(v)
            ? `b:${v.toString('hex')}`
            : v === null
              ? 'null'
              : `s:${v}`,
  );

const strict = (line: Buffer) => decodeRow(JSON.parse(line.toString('utf8')));

/** What reading a line gives: its values shown, or the code of its error (JSON.parse's SyntaxError is CORRUPT to a reader). */
function outcome(read: () => SqlValue[]): unknown {
  try {
    return show(read());
  } catch (e) {
    return e instanceof BackupError ? e.code : 'CORRUPT';
  }
}
const lineOf = (row: readonly unknown[]) => Buffer.from(encodeRow(row).slice(0, -1));

function randomRow(seed: number): SqlValue[] {
  const bytes = prngBytes(64, seed);
  const strings = [
    '',
    'plain',
    'quote " and \\ backslash',
    'ctl \u0001\u001f',
    'nl \n tab \t',
    'é ü 漢字 🎉',
    '\u2028\u2029',
    '\\"',
    '"',
    '\\',
    'a\0b',
    '{"json":[1,2]}',
  ];
  return Array.from({ length: 1 + (bytes[0]! % 9) }, (_, k) => {
    const b = bytes[k + 1]!;
    switch (b % 7) {
      case 0:
        return strings[b % strings.length]!;
      case 1:
        return BigInt(b * 1_000_003 - 9_000_000) * (b % 2 ? 1n : 2n ** 30n);
      case 2:
        return (b - 128) / 7;
      case 3:
        return null;
      case 4:
        return prngBytes(b % 17, b);
      case 5:
        return new TextBytes(Buffer.from([0x61, 0xff, b]));
      default:
        return MIXED_VALUES[b % MIXED_VALUES.length] as SqlValue;
    }
  });
}

describe('decodeRowLine', () => {
  it('gives what JSON.parse + decodeRow give, for every line the encoder writes', () => {
    for (let seed = 1; seed <= 5000; seed++) {
      const line = lineOf(randomRow(seed));
      expect(show(decodeRowLine(line)), line.toString()).toEqual(show(strict(line)));
    }
    for (const v of MIXED_VALUES) expect(show(decodeRowLine(lineOf([v])))).toEqual(show(strict(lineOf([v]))));
    expect(decodeRowLine(Buffer.from('[]'))).toEqual([]);
  });

  it('gives the INTEGERs of plainIntegers columns as plain numbers, in lines with escapes (read whole) or without', () => {
    const rows = Array.from({ length: 3000 }, (_, i) => randomRow(i + 1));
    const bytes = Buffer.concat(rows.map((r) => Buffer.from(encodeRow(r))));
    expect(rows.filter((r) => encodeRow(r).includes('\\')).length).toBeGreaterThan(300);
    const plain = Array.from({ length: 10 }, (_, k) => k % 2 === 0);
    const d = new RowDecoder(bytes, plain);
    for (const r of rows) {
      const got: SqlValue[] = [];
      const n = d.nextInto(got, 0);
      // The encoder writes every INTEGER within 2^53 as a bare number, and only those.
      const want = strict(lineOf(r)).map((v, k) => (plain[k] && typeof v === 'bigint' && Number.isSafeInteger(Number(v)) ? Number(v) : v));
      expect(show(got.slice(0, n)), encodeRow(r)).toEqual(show(want));
    }
    expect(d.nextInto([], 0)).toBe(-1);
  });

  it('reads lines the encoder never writes (spaces, escapes it does not use) as JSON.parse does', () => {
    const numbers = '1. -.5 .5 1.e5 1e 1e+ --1 1-2 01.5 007 1e5.0 1.5e+3 -0.0e-0 2E10 1.25e-7 +1 1.5.5 12345678901234567.5e-3'.split(' ');
    for (const text of [
      '[ 1 , "a" ]',
      '["\\u0041\\/"]',
      '[1.5E3]',
      '[{"i":"5"} ]',
      '[-0]',
      '[true]',
      ...numbers.map((n) => `[${n}]`),
      ...numbers.map((n) => `[7,${n},"x"]`),
    ]) {
      const line = Buffer.from(text);
      expect(
        outcome(() => decodeRowLine(line)),
        text,
      ).toEqual(outcome(() => strict(line)));
    }
  });

  it('reads decimal fractions of every length as the same doubles JSON.parse gives', () => {
    // Up to 15 digits they are divided out of their digits (rows.ts shortDecimal), beyond that parsed as text.
    const texts = ['0.5', '-0.5', '0.1', '4.35', '-0.0', '5.0', '0.000000000000001', '123456789012345.6', '99999999999999.9'];
    texts.push('999999999999999.9', '9007199254740993.5', '1.7976931348623157', '0.30000000000000004', '0.3333333333333333');
    for (let i = 1; i < 20_000; i++) {
      const digits = String((i * 2654435761) % 10 ** (1 + (i % 17))).padStart(1 + (i % 5), '0');
      const at = 1 + (i % digits.length);
      texts.push(`${i % 3 ? '' : '-'}${digits.slice(0, at) || '0'}.${digits.slice(at) || '7'}`);
    }
    for (const text of texts) {
      const line = Buffer.from(`[${text},1]`);
      expect(
        outcome(() => decodeRowLine(line)),
        text,
      ).toEqual(outcome(() => strict(line)));
    }
  });

  it('refuses what is not a row line, as CORRUPT', () => {
    for (const text of [
      '[1,2',
      '1,2]',
      '["unterminated]',
      '[1,,2]',
      '[{"x":"1"}]',
      '[{"i":"1.5"}]',
      '[9007199254740993]',
      '[nul]',
      '[0x10]',
      '[{"b":"@@@"}]',
    ]) {
      expect(() => decodeRowLine(Buffer.from(text)), text).toThrow(BackupError);
    }
  });

  it('decodeRows reads a buffer of lines as decodeRowLine reads each, escapes or none, wherever they fall', () => {
    const rows = Array.from({ length: 3000 }, (_, i) => randomRow(10_000 + i));
    // Runs of lines without any backslash between lines with many: the search for escapes is carried across lines.
    rows.splice(100, 0, ...Array.from({ length: 500 }, (_, i) => [BigInt(i), i / 3, 'no escape', null] as SqlValue[]));
    const buf = Buffer.concat(rows.map((r) => Buffer.concat([lineOf(r), Buffer.from('\n')])));
    const got = [...decodeRows(buf)].map(show);
    expect(got).toEqual(rows.map((r) => show(strict(lineOf(r)))));
    // Another buffer read in the middle of the first one's rows does not disturb it.
    const other = Buffer.from(`${encodeRow(['a \\ b', 1n])}${encodeRow(['c', 2n])}`);
    const it1 = decodeRows(buf);
    const first = it1.next().value!;
    const inner = [...decodeRows(other)].map(show);
    expect([show(first), ...[...it1].map(show)]).toEqual(rows.map((r) => show(strict(lineOf(r)))));
    expect(inner).toEqual([show(['a \\ b', 1n]), show(['c', 2n])]);
  });
});

describe('decodeLineCells', () => {
  it('gives the cells decodeRowLine gives, for every line the encoder writes and any cells asked for', () => {
    for (let seed = 1; seed <= 3000; seed++) {
      const row = randomRow(seed);
      const line = lineOf(row);
      const whole = show(decodeRowLine(line));
      for (let k = 0; k < row.length; k++) expect(show(decodeLineCells(line, 0, line.length, [k])), `${line} [${k}]`).toEqual([whole[k]]);
      const idx = [row.length - 1, 0];
      expect(show(decodeLineCells(line, 0, line.length, idx))).toEqual(idx.map((k) => whole[k]));
    }
  });

  it('reads one line of a buffer: never past it, whatever follows', () => {
    const a = lineOf([5n, 'no escape here', null]);
    const b = lineOf(['x \\ " y', 7n]);
    const buf = Buffer.concat([a, Buffer.from('\n'), b, Buffer.from('\n'), a]);
    expect(show(decodeLineCells(buf, 0, a.length, [0]))).toEqual(['i:5']);
    expect(show(decodeLineCells(buf, a.length + 1, a.length + 1 + b.length, [0, 1]))).toEqual(['s:x \\ " y', 'i:7']);
    // A line the fast reader leaves alone is parsed whole, as JSON.parse reads it.
    expect(show(decodeLineCells(Buffer.from('[ 1 , "a" ]'), 0, 11, [1]))).toEqual(['s:a']);
  });

  it('refuses a line without the cell asked for, or one that is not a row line, as CORRUPT', () => {
    for (const [text, k] of [
      ['[1,2]', 2],
      ['[]', 0],
      ['[1,2', 0],
      ['["unterminated]', 0],
      ['[{"x":"1"}]', 0],
    ] as const) {
      expect(() => decodeLineCells(Buffer.from(text), 0, text.length, [k]), text).toThrow(BackupError);
    }
  });
});

describe('RowDecoder with a TextArena (a load passing long strings to SQLite as bytes)', () => {
  const long = (s: string) => s.repeat(Math.ceil((TextArena.MIN + 50) / s.length));
  const rows: SqlValue[][] = [
    [1n, long('plain prose '), 'short'],
    [2n, long('é ü 漢字 🎉 '), null],
    [3n, long('quote " and \\ backslash\n'), Buffer.from([1, 2])], // escapes: a JavaScript string, as before
    [4n, 'x'.repeat(TextArena.MIN - 2), long('z')], // just under the bound: a string
    [5n, new TextBytes(Buffer.from(long('\xff'), 'latin1')), 0.5], // not UTF-8: its {"t"} cell, as before
  ];
  const bytes = Buffer.concat(rows.map((r) => Buffer.from(encodeRow(r))));

  it('gives long strings without escapes as TextBytes of their UTF-8, copied; everything else as without it', () => {
    const arena = new TextArena();
    const d = new RowDecoder(bytes, undefined, arena);
    const got: SqlValue[][] = [];
    for (;;) {
      const row: SqlValue[] = [];
      if (d.nextInto(row, 0) < 0) break;
      got.push(row);
    }
    const plain = [...decodeRows(bytes)];
    const asText = (r: SqlValue[]) => r.map((v, k) => (v instanceof TextBytes && typeof plain[got.indexOf(r)]![k] === 'string' ? v.bytes.toString('utf8') : v));
    expect(got.map((r) => show(asText(r)))).toEqual(plain.map(show));
    const kinds = got.map((r) => r.map((v) => (v instanceof TextBytes ? 'bytes' : typeof v)));
    expect(kinds.map((k) => k[1])).toEqual(['bytes', 'bytes', 'string', 'string', 'bytes']);
    expect(kinds[3]![2]).toBe('bytes');
    // Copies: the dump's buffer is used again for the next member while the batch waits for its insert.
    const before = got.map((r) => show(r));
    bytes.fill(0x20);
    expect(got.map((r) => show(r))).toEqual(before);
  });

  it('reset() uses the memory again; more than it holds goes to a new buffer, the earlier copies intact', () => {
    const arena = new TextArena();
    const src = Buffer.from('a'.repeat(3 * 1024 * 1024));
    const first = arena.copy(src, 0, 1_500_000);
    const second = arena.copy(src, 0, 1_500_000); // past 2 MiB: a new buffer
    expect(first.buffer).not.toBe(second.buffer);
    src.fill(0x62);
    expect(first.toString('latin1')).toBe('a'.repeat(1_500_000));
    arena.reset();
    const third = arena.copy(src, 0, 10);
    expect(third.buffer).toBe(second.buffer);
    expect(third.toString()).toBe('bbbbbbbbbb');
  });
});
