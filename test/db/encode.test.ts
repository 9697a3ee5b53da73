/**
 * How finishPage() uses memory, on pages SQLite marked itself (a real in-memory database): a page whose only markers
 * are REALs is finished in its own memory, and a page of BLOBs gets an output sized once. The bytes themselves are
 * compared with the JavaScript encoding on both backends in test/contract/db.test.ts.
 */
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { finishPage, LIMIT_PARAM, pageSql } from '../../src/db/encode.js';
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
});
