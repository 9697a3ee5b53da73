import { describe, expect, it } from 'vitest';
import { BackupError } from '../../src/errors.js';
import { decodeCell, decodeRow, encodeCell, encodeRow, storageClass, TextBytes, type SqlValue } from '../../src/format/values.js';
import { BAD_UTF8, BAD_UTF8_2, INT64_MAX, INT64_MIN, MIXED_VALUES, ONE_MB_STRING, TWO_MB_BLOB } from '../support/nasty-db.js';

/** The IEEE-754 bits of a double, so -0 / 0 and every last bit are told apart. */
const bits = (v: number) => Buffer.from(new Float64Array([v]).buffer).toString('hex');

/** Encodes a cell, goes through real JSON text, decodes it. */
const roundTrip = (v: unknown): SqlValue => decodeCell(JSON.parse(encodeCell(v)));

function expectExact(input: unknown, output: SqlValue) {
  if (input === null) return expect(output).toBeNull();
  if (typeof input === 'bigint') {
    expect(typeof output).toBe('bigint');
    return expect(output).toBe(input);
  }
  if (typeof input === 'number') {
    expect(typeof output).toBe('number');
    return expect(bits(output as number)).toBe(bits(input));
  }
  if (typeof input === 'string') {
    expect(typeof output).toBe('string');
    return expect(output === input).toBe(true);
  }
  if (input instanceof TextBytes) {
    expect(output).toBeInstanceOf(TextBytes);
    return expect((output as TextBytes).bytes.equals(input.bytes)).toBe(true);
  }
  expect(Buffer.isBuffer(output)).toBe(true);
  expect((output as Buffer).equals(input as Buffer)).toBe(true);
}

function corruptCode(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(BackupError);
    return (e as BackupError).code;
  }
  throw new Error('expected a CORRUPT error, nothing was thrown');
}

const REALS = [
  1.0,
  -1.0,
  0.0,
  -0.0,
  Infinity,
  -Infinity,
  5e-324,
  -5e-324,
  2.2250738585072014e-308, // smallest normal
  2.225073858507201e-308, // largest subnormal
  1.7976931348623157e308,
  -1.7976931348623157e308,
  0.1,
  0.30000000000000004,
  1 / 3,
  Math.PI,
  -2.5,
  1e21,
  1e300,
  123456789012345680000,
  2 ** 53,
  2 ** 53 + 2,
  9007199254740991.0,
  1e-7,
  -1e-7,
];

const INTEGERS = [0n, 1n, -1n, 42n, INT64_MAX, INT64_MIN, 2n ** 53n - 1n, -(2n ** 53n) + 1n, 2n ** 53n, 2n ** 53n + 1n, -(2n ** 53n) - 1n, 2n ** 62n];

describe('typed cell encoding', () => {
  it('round-trips every hard value of the nasty database exactly', () => {
    for (const v of MIXED_VALUES) expectExact(v, roundTrip(v));
  });

  it('keeps every REAL bit, -0 and ±Infinity included, and keeps REALs REAL', () => {
    for (const v of REALS) {
      const out = roundTrip(v);
      expect(storageClass(out)).toBe('real');
      expect(bits(out as number)).toBe(bits(v));
    }
    expect(encodeCell(1.0)).toBe('{"r":"1.0"}');
    expect(encodeCell(-0)).toBe('{"r":"-0.0"}');
    expect(encodeCell(Infinity)).toBe('{"r":"Infinity"}');
    expect(encodeCell(-Infinity)).toBe('{"r":"-Infinity"}');
    expect(encodeCell(0.1)).toBe('0.1');
    expect(encodeCell(5e-324)).toBe('5e-324');
  });

  it('keeps INTEGERs INTEGER, exactly, across the whole 64-bit range', () => {
    for (const v of INTEGERS) {
      const out = roundTrip(v);
      expect(storageClass(out)).toBe('integer');
      expect(out).toBe(v);
    }
    expect(encodeCell(2n ** 53n - 1n)).toBe('9007199254740991');
    expect(encodeCell(2n ** 53n + 1n)).toBe('{"i":"9007199254740993"}');
    expect(encodeCell(INT64_MIN)).toBe('{"i":"-9223372036854775808"}');
    // INTEGER 1 and REAL 1.0 stay apart.
    expect(storageClass(roundTrip(1n))).toBe('integer');
    expect(storageClass(roundTrip(1.0))).toBe('real');
  });

  it('keeps TEXT exactly: NUL, line/paragraph separators, emoji, 1 MB, and non-UTF-8 bytes as TextBytes', () => {
    for (const s of ['', 'a\0b', '\u2028\u2029', '🎉👩‍👩‍👧', '\uFFFD', '"\\\n\r\t', ONE_MB_STRING]) expectExact(s, roundTrip(s));
    // U+2028/2029 inside a line must not break NDJSON framing.
    expect(encodeRow(['\u2028\n']).split('\n').length).toBe(2);
    for (const raw of [BAD_UTF8, BAD_UTF8_2, Buffer.alloc(0)]) {
      const out = roundTrip(new TextBytes(raw));
      expectExact(new TextBytes(raw), out);
      expect(storageClass(out)).toBe('text');
    }
  });

  it('keeps BLOBs exactly, from Buffer, ArrayBuffer and typed-array views', () => {
    for (const b of [Buffer.alloc(0), Buffer.from([0, 0, 1, 0, 0xff]), TWO_MB_BLOB]) {
      const out = roundTrip(b);
      expect(storageClass(out)).toBe('blob');
      expectExact(b, out);
    }
    const ab = new Uint8Array([1, 2, 3, 0]).buffer;
    expectExact(Buffer.from([1, 2, 3, 0]), roundTrip(ab));
    const view = new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 4);
    expectExact(Buffer.from([8, 7, 6]), roundTrip(view));
  });

  it('encodes rows as one JSON line each and decodes them back cell by cell', () => {
    const row = [...MIXED_VALUES, new TextBytes(BAD_UTF8)];
    const line = encodeRow(row);
    expect(line.endsWith('\n')).toBe(true);
    expect(line.indexOf('\n')).toBe(line.length - 1);
    const back = decodeRow(JSON.parse(line));
    expect(back.length).toBe(row.length);
    row.forEach((v, i) => void expectExact(v, back[i]!));
    expect(encodeRow([])).toBe('[]\n');
  });

  it('refuses to encode what SQLite cannot hold', () => {
    expect(() => encodeCell(NaN)).toThrow(BackupError);
    for (const v of [undefined, true, {}, [], () => 1, Symbol('x')]) expect(() => encodeCell(v)).toThrow(BackupError);
  });

  it('rejects garbage cells as CORRUPT', () => {
    const garbage: unknown[] = [
      true,
      false,
      [1],
      {},
      { x: '1' },
      { i: 1 },
      { i: '' },
      { i: '1.5' },
      { i: '12a' },
      { i: ' 1' },
      { i: '99999999999999999999' }, // beyond 64 bits
      { i: '9223372036854775808' },
      { r: 'abc' },
      { r: '' },
      { r: 'NaN' },
      { r: '0x10' },
      { r: ' 1.0' },
      { r: 1 },
      { b: 'not base64!' },
      { b: 'QQ' }, // unpadded
      { t: '@@@@' },
      { b: 'QQ!!' },
      { b: 'QU=D' },
      { b: '====' },
      { t: 'QUJD\n' },
      1e20, // an integral bare number beyond 2^53 is never written: the exact form is {"i":...}
      -1e300,
    ];
    for (const g of garbage)
      expect(
        corruptCode(() => decodeCell(g)),
        JSON.stringify(g),
      ).toBe('CORRUPT');
    for (const g of [null, {}, 'x', 1]) expect(corruptCode(() => decodeRow(g))).toBe('CORRUPT');
  });
});
