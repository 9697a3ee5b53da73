/**
 * How finishPage() uses memory, on pages SQLite marked itself (a real in-memory database): a page whose only markers
 * are REALs is finished in its own memory, and a page of BLOBs gets an output sized once. The bytes themselves are
 * compared with the JavaScript encoding on both backends in test/contract/db.test.ts.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { finishPage, isJsText, LIMIT_PARAM, pageSql } from '../../src/db/encode.js';
import { pageQuery } from '../../src/db/pages.js';
import { encodeRow } from '../../src/format/values.js';
import { prngBytes } from '../support/nasty-db.js';

const db = new Database(':memory:');
afterAll(() => db.close());

/** One page of `table` as SQLite returns it: the marked bytes, before finishPage. */
function rawPage(table: string, columns: string[]): Buffer {
  const sql = pageSql({ name: table, dataColumns: columns, keyColumns: ['id'] }, false);
  const row = db.prepare(sql).raw(true).get(100000) as unknown[];
  return row[3] as Buffer;
}

const expected = (rows: unknown[][]) => Buffer.from(rows.map((r) => encodeRow(r)).join(''));

describe('finishPage', () => {
  it("finishes a page of REALs in the page's own memory", () => {
    db.exec('CREATE TABLE r (id INTEGER PRIMARY KEY, x REAL, s TEXT)');
    const rows = Array.from({ length: 2000 }, (_, i) => [BigInt(i + 1), (i + 1) / 7, `t${i}`]);
    const insert = db.prepare('INSERT INTO r VALUES (?, ?, ?)');
    for (const r of rows) insert.run(...r);
    const raw = rawPage('r', ['id', 'x', 's']);
    const out = finishPage(raw);
    expect(out.equals(expected(rows))).toBe(true);
    expect(out.buffer).toBe(raw.buffer);
  });

  it('gives a page of BLOBs an output sized once, however much base64 adds', () => {
    db.exec('CREATE TABLE b (id INTEGER PRIMARY KEY, thumb BLOB, x REAL)');
    const rows = Array.from({ length: 300 }, (_, i) => [BigInt(i + 1), Buffer.from(prngBytes(1000 + i * 7, i)), 0.5 + i]);
    const insert = db.prepare('INSERT INTO b VALUES (?, ?, ?)');
    for (const r of rows) insert.run(...r);
    const out = finishPage(rawPage('b', ['id', 'thumb', 'x']));
    expect(out.equals(expected(rows))).toBe(true);
    // A guessed size that base64 outgrew doubled the buffer (a copy, and memory held until collected). What is left
    // over is the 256 bytes of margin and what the REALs' shorter text gave back.
    expect(out.buffer.byteLength).toBeLessThanOrEqual(out.length * 1.02 + 256);
  });

  it('grows that output by little when REALs are written longer than SQLite marked them', () => {
    db.exec('CREATE TABLE g (id INTEGER PRIMARY KEY, thumb BLOB, x REAL)');
    const rows = Array.from({ length: 300 }, (_, i) => [BigInt(i + 1), Buffer.from(prngBytes(100 + i, i)), i % 2 ? -Infinity : 2 ** 60 + i * 4096]);
    const insert = db.prepare('INSERT INTO g VALUES (?, ?, ?)');
    for (const r of rows) insert.run(...r);
    const out = finishPage(rawPage('g', ['id', 'thumb', 'x']));
    expect(out.equals(expected(rows))).toBe(true);
    expect(out.buffer.byteLength).toBeLessThanOrEqual(out.length * 1.15);
  });
});

/**
 * Doubles of every kind the text shortcut (encode.ts isJsText) must tell apart: short decimals (taken as SQLite wrote
 * them), 16 and 17 digits, exponents both sides of fixed notation, the 1e-4 and 1e15–1e17 edges, subnormals, and
 * random bit patterns. Deterministic (a linear congruential generator), about 60k values.
 */
function doubles(): number[] {
  let seed = 0x2545f491n;
  const next = () => {
    seed = (seed * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return seed;
  };
  const view = new DataView(new ArrayBuffer(8));
  const out: number[] = [0.1, 0.2 + 0.1, 1 / 3, 2 / 3, 4.35, 1e-4, 1.0001e-4, 9.999e-5, 0.000123, 1e-7, 123456789012345.6, 12345678901234.56];
  out.push(99999999999999.9, 999999999999999.9, 2 ** 53 - 0.5, 1e15 + 0.5, 1e16 + 2, 5e-324, 2.2250738585072014e-308, 1.7976931348623157e308);
  for (let i = 0; i < 20000; i++) {
    view.setBigUint64(0, next());
    const bits = view.getFloat64(0);
    if (Number.isFinite(bits)) out.push(bits);
    const k = Number(next() % 10n ** BigInt(1 + (i % 16)));
    out.push(k / 10 ** (1 + (i % 17)), -k / 10 ** (i % 5), (Number(next() % 1000000n) + 0.5) * 10 ** ((i % 40) - 20));
  }
  return out.filter((x) => !Number.isInteger(x));
}

describe('REAL text', () => {
  it('is what JavaScript writes for every double, taken as SQLite wrote it only where the two agree', () => {
    db.exec('CREATE TABLE d (id INTEGER PRIMARY KEY, x REAL, y REAL)');
    db.exec('CREATE TABLE db (id INTEGER PRIMARY KEY, x REAL, b BLOB)');
    const xs = doubles();
    const rows = xs.map((x, i) => [BigInt(i + 1), x, -xs[(i * 7919) % xs.length]!]);
    const withBlobs = xs.map((x, i) => [BigInt(i + 1), x, Buffer.from([i & 255])]);
    const insert = db.prepare('INSERT INTO d VALUES (?, ?, ?)');
    const insertB = db.prepare('INSERT INTO db VALUES (?, ?, ?)');
    db.transaction(() => {
      for (const r of rows) insert.run(...r);
      for (const r of withBlobs) insertB.run(...r);
    })();
    // In place (compactReals) and into a new buffer (rewrite, for pages with BLOBs).
    expect(finishPage(rawPage('d', ['id', 'x', 'y'])).toString('latin1')).toBe(expected(rows).toString('latin1'));
    expect(finishPage(rawPage('db', ['id', 'x', 'b'])).toString('latin1')).toBe(expected(withBlobs).toString('latin1'));
  });

  it('is taken as it is only in the canonical fixed notation of at most 15 significant digits', () => {
    // Texts SQLite does not write today are refused too (a trailing or leading zero, no integer part).
    const marked = (t: string) => isJsText(Buffer.from(`\x01${t}\x02`, 'latin1'), 1, t.length + 1);
    for (const t of ['0.5', '-0.5', '4.35', '0.000123', '-12345678901234.5', '0.100000000000001']) expect(marked(t), t).toBe(true);
    for (const t of [
      '1234.50',
      '00.5',
      '.5',
      '-.5',
      '1.0',
      '1.',
      '1e-05',
      '1.0e+21',
      'Inf',
      '-Inf',
      '123456789012345.6',
      '0.3333333333333333',
      '1.2.3',
      '-',
      '',
    ])
      expect(marked(t), t).toBe(false);
  });
});

describe('page statements', () => {
  it('take their row limit through a CAST, which SQLite does not plan with (a bare `LIMIT ?` compiled the statement again for every page)', () => {
    db.exec('CREATE TABLE p (id INTEGER PRIMARY KEY, v TEXT)');
    const insert = db.prepare('INSERT INTO p VALUES (?, ?)');
    for (let i = 1; i <= 20; i++) insert.run(i, `v${i}`);
    const t = { name: 'p', dataColumns: ['id', 'v'], keyColumns: ['id'] };
    const statements = [pageSql(t, false), pageSql(t, true), pageQuery(t, false), pageQuery(t, true)];
    for (const sql of statements) {
      expect(sql).toContain(`ORDER BY "id" ${LIMIT_PARAM}`);
      expect(sql).not.toMatch(/LIMIT \?/);
    }
    // The same statement, bound again and again, pages as its limits say.
    const encoded = db.prepare(statements[1]!).raw(true);
    const plain = db.prepare(statements[3]!).raw(true);
    for (const [after, limit] of [
      [0, 3],
      [3, 5],
      [17, 10],
    ] as const) {
      const ids = Array.from({ length: Math.min(limit, 20 - after) }, (_, i) => after + 1 + i);
      expect(encoded.get(after, limit)).toEqual([ids.length, ids[0], ids.at(-1), expected(ids.map((id) => [BigInt(id), `v${id}`]))]);
      expect(plain.all(after, limit)).toEqual(ids.map((id) => [id, `v${id}`]));
    }
  });

  it('search the primary key of a key of several columns from where the page starts, with collations given or not', () => {
    // With the collations on the columns SQLite scanned the table from its start on every page: a 3M-row table took
    // 38 s to back up instead of ~3. The sweep-4 shape too (a NOCASE column, its key declared BINARY).
    db.exec(`CREATE TABLE w (a TEXT COLLATE NOCASE, b TEXT, c INTEGER, v, PRIMARY KEY (a COLLATE BINARY, b, c)) WITHOUT ROWID`);
    db.exec(`CREATE TABLE w2 (a TEXT, b TEXT, c INTEGER, v, PRIMARY KEY (a, b, c)) WITHOUT ROWID`);
    for (const [name, keyCollations] of [
      ['w', ['BINARY', 'BINARY', 'BINARY']],
      ['w', ['BINARY', null, 'BINARY']],
      ['w2', undefined],
    ] as const) {
      const t = { name, dataColumns: ['a', 'b', 'c', 'v'], keyColumns: ['a', 'b', 'c'], keyCollations: keyCollations && [...keyCollations] };
      for (const [sql, args] of [
        [pageSql(t, true), ['x', 'y', 1, 10]],
        [pageSql(t, true, [true, true, false]), [Buffer.from('x'), Buffer.from('y'), 1, 10]],
        [pageQuery(t, true), ['x', 'y', 1, 10]],
      ] as const) {
        const plan = (db.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(...args) as { detail: string }[]).map((r) => r.detail);
        // A bound of its own on a leading part of the key at least ("(a>?)" with a cast key after it).
        expect(
          plan.filter((d) => d.startsWith(`SEARCH ${name} USING PRIMARY KEY (`)),
          sql,
        ).toHaveLength(1);
        expect(
          plan.filter((d) => d.startsWith(`SCAN ${name}`)),
          sql,
        ).toEqual([]);
      }
    }
  });
});
