/**
 * The Db contract (src/db/types.ts), run against every backend: a local file (better-sqlite3) and a remote database
 * over HTTP (the stand-in sqld, driven by the real @libsql/hrana-client), in each of Hrana's encodings. Both must give the same answers: exact values of
 * every storage class, SQL-encoded pages byte-identical to the JavaScript encoder, one snapshot per read, rollback on
 * a failing statement and on abort, and pages a server refuses as too large asked again smaller.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openLocalDb } from '../../src/db/local.js';
import { encodedPages, finishEncodedPage, rowPages, type Pageable } from '../../src/db/pages.js';
import { openRemoteDb } from '../../src/db/remote.js';
import type { Db } from '../../src/db/types.js';
import { encodeCell, encodeRow, TextBytes, type SqlValue } from '../../src/format/values.js';
import { tempDirs } from '../support/dumps.js';
import { ENCODINGS, encodingLabel, startHranaServer, type HranaServerOptions } from '../support/hrana-server.js';
import { BAD_UTF8, BAD_UTF8_2, MIXED_VALUES, prngBytes } from '../support/nasty-db.js';

const dirs = tempDirs('tb-contract-db-');
afterAll(() => dirs.cleanup());

interface Backend {
  name: string;
  /** A Db on the SQLite file at `path` (created if missing); `close` ends everything it started. */
  open(path: string, opts?: { signal?: AbortSignal; server?: Partial<HranaServerOptions> }): Promise<{ db: Db; close(): Promise<void> }>;
}

const BACKENDS: Backend[] = [
  {
    name: 'local file',
    async open(path, opts = {}) {
      const db = openLocalDb(path, { create: true, signal: opts.signal });
      return { db, close: () => db.close() };
    },
  },
  ...ENCODINGS.map((encoding) => ({
    name: `remote (stand-in sqld over HTTP, ${encodingLabel(encoding)})`,
    async open(path: string, opts: Parameters<Backend['open']>[1] = {}) {
      const server = await startHranaServer({ db: path, token: 'contract-token', encodings: [encoding], ...opts.server });
      const db = openRemoteDb(server.url, { authToken: 'contract-token', signal: opts.signal });
      return {
        db,
        async close() {
          await db.close();
          await server.close();
        },
      };
    },
  })),
];

/** The rows of `table` in the file at `path`, read with a connection of its own (what is on disk, committed). */
function rowsIn(path: string, table: string): number {
  const check = new Database(path, { readonly: true });
  try {
    return check.prepare(`SELECT count(*) FROM "${table}"`).pluck().get() as number;
  } finally {
    check.close();
  }
}

/** A deterministic generator of awkward values of every storage class. */
function values(seed: number) {
  const bytes = prngBytes(1 << 16, seed);
  let at = 0;
  const next = () => bytes[at++ % bytes.length]!;
  const u32 = () => ((next() << 24) | (next() << 16) | (next() << 8) | next()) >>> 0;
  const f64 = () => {
    const b = Buffer.alloc(8);
    b.writeUInt32LE(u32(), 0);
    b.writeUInt32LE(u32(), 4);
    return b.readDoubleLE(0);
  };
  const text = () => {
    const pick = [0, 1, 2, 3, 4, 9, 10, 13, 31, 34, 39, 44, 92, 93, 127, 0xe9, 0x2028, 0xfffd, 0x1f389];
    let s = '';
    for (let n = next() % 12; n > 0; n--) s += String.fromCodePoint(next() % 3 === 0 ? pick[next() % pick.length]! : 32 + (next() % 90));
    return s;
  };
  return (): SqlValue => {
    switch (next() % 9) {
      case 0:
        return null;
      case 1:
        return BigInt(next() % 3 === 0 ? u32() : next()) * (next() % 2 ? 1n : -1n) * (next() % 4 === 0 ? 2n ** 31n : 1n);
      case 2: {
        const v = f64();
        return Number.isNaN(v) ? 0.5 : v;
      }
      case 3:
        return [0, -0, 1, -1, 0.1, 1e21, 1e-7, 2 ** 53, -(2 ** 53), 5e-324, Infinity, -Infinity, 123.456][next() % 13]!;
      case 4:
      case 5:
        return text();
      case 6:
        return Buffer.from(prngBytes(next() % 40, u32()).map((b) => (b % 8 === 0 ? [0, 1, 2, 3, 4, 10][b % 6]! : b)));
      case 7:
        return next() % 5 === 0 ? new TextBytes(next() % 2 ? BAD_UTF8 : BAD_UTF8_2) : text();
      default:
        return [9223372036854775807n, -9223372036854775808n, 2n ** 53n, 2n ** 53n - 1n][next() % 4]!;
    }
  };
}

/** The tables the contract reads: every kind of key SQLite orders by. */
const TABLES: { sql: string; t: Pageable; key: (i: number, v: () => SqlValue) => SqlValue[] }[] = [
  { sql: 'CREATE TABLE r (a, b, c)', t: { name: 'r', dataColumns: ['rowid', 'a', 'b', 'c'], keyColumns: ['rowid'] }, key: (i) => [BigInt(i * 3 + 1)] },
  {
    sql: 'CREATE TABLE p (id INTEGER PRIMARY KEY, a, b)',
    t: { name: 'p', dataColumns: ['id', 'a', 'b'], keyColumns: ['id'] },
    key: (i) => [BigInt(i * 7 - 500)],
  },
  {
    sql: 'CREATE TABLE w (k TEXT PRIMARY KEY, a, b) WITHOUT ROWID',
    t: { name: 'w', dataColumns: ['k', 'a', 'b'], keyColumns: ['k'] },
    key: (i) => [`key ${String(i).padStart(4, '0')} é\u2028"`],
  },
  {
    sql: 'CREATE TABLE c (x INTEGER, y TEXT, a, PRIMARY KEY (x, y)) WITHOUT ROWID',
    t: { name: 'c', dataColumns: ['x', 'y', 'a'], keyColumns: ['x', 'y'] },
    key: (i) => [BigInt(i % 7), `y${i}`],
  },
  { sql: 'CREATE TABLE f (k REAL PRIMARY KEY, a) WITHOUT ROWID', t: { name: 'f', dataColumns: ['k', 'a'], keyColumns: ['k'] }, key: (i) => [i / 7 - 40] },
  {
    sql: 'CREATE TABLE b (k BLOB PRIMARY KEY, a) WITHOUT ROWID',
    t: { name: 'b', dataColumns: ['k', 'a'], keyColumns: ['k'] },
    key: (i) => [Buffer.from([i >> 8, i & 255, 1])],
  },
];

const ROWS = 400;

/** Every table of TABLES filled with awkward values through `db` itself (its write path). */
async function fill(db: Db): Promise<Map<string, SqlValue[][]>> {
  const v = values(11);
  const written = new Map<string, SqlValue[][]>();
  await db.beginWrite({ foreignKeys: false });
  for (const { sql, t, key } of TABLES) {
    await db.write(sql);
    const rows: SqlValue[][] = [];
    for (let i = 0; i < ROWS; i++) {
      const k = key(i, v);
      rows.push([...k, ...t.dataColumns.slice(k.length).map(() => v())]);
    }
    await db.insert(t.name, t.dataColumns, rows);
    written.set(t.name, rows);
  }
  await db.commit();
  return written;
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const encodeAll = (rows: unknown[][]) => rows.map((r) => encodeRow(r)).join('');

/** `db` with what its query() returns rewritten by `rewrite`: a database that names other values than it holds. */
function rewritingQueries(db: Db, rewrite: (sql: string, rows: unknown[][]) => unknown[][]): Db {
  return new Proxy(db, {
    get(target, key) {
      const v = Reflect.get(target, key, target);
      if (key !== 'query') return typeof v === 'function' ? v.bind(target) : v;
      return async (sql: string, args?: unknown[]) => rewrite(sql, await target.query(sql, args));
    },
  });
}

describe.each(BACKENDS)('Db contract: $name', (backend) => {
  it('every storage class comes back exactly, and SQL-encoded pages equal the JavaScript encoding byte for byte', async () => {
    const path = join(dirs.make(), 'values.db');
    const { db, close } = await backend.open(path);
    try {
      const written = await fill(db);
      expect(await db.encodesInSql()).toBe(true); // else the comparison below would compare JavaScript with itself
      for (const { t } of TABLES) {
        const want = [...written.get(t.name)!].sort((a, b) => (encodeCell(a[0]) < encodeCell(b[0]) ? -1 : 1));
        const rows = (await collect(rowPages(db, t))).flat();
        // Same rows, exactly (storage class, REAL bits, TEXT that is not UTF-8 as its bytes), whatever the order.
        expect(new Set(rows.map((r) => encodeRow(r)))).toEqual(new Set(want.map((r) => encodeRow(r))));
        for (const pages of [
          { maxRows: 7, targetBytes: 512, firstRows: 3 },
          { maxRows: 5000, targetBytes: 1 << 20, firstRows: 100 },
        ]) {
          const encoded = await collect(encodedPages(db, t, { pages }));
          expect(Buffer.concat(encoded.map((p) => p.bytes)).toString('latin1'), `${t.name} ${pages.maxRows}`).toBe(
            Buffer.from(encodeAll(rows)).toString('latin1'),
          );
          expect(encoded.reduce((n, p) => n + p.rows, 0)).toBe(ROWS);
          // Pages handed on unfinished (the backup's reader thread) and finished elsewhere: the same bytes.
          const deferred = await collect(encodedPages(db, t, { pages, deferFinish: true }));
          expect(Buffer.concat(deferred.map((p) => finishEncodedPage(t.name, p))).toString('latin1'), `${t.name} deferred`).toBe(
            Buffer.from(encodeAll(rows)).toString('latin1'),
          );
        }
      }
      // The values the format singles out, each read back as it was written.
      await db.beginWrite();
      await db.write('CREATE TABLE m (id INTEGER PRIMARY KEY, v)');
      await db.insert(
        'm',
        ['id', 'v'],
        MIXED_VALUES.map((v, i) => [BigInt(i + 1), v as SqlValue]),
      );
      await db.commit();
      const back = (await collect(rowPages(db, { name: 'm', dataColumns: ['id', 'v'], keyColumns: ['id'] }))).flat();
      expect(back.map((r) => encodeCell(r[1]))).toEqual(MIXED_VALUES.map((v) => encodeCell(v)));
    } finally {
      await close();
    }
  });

  it('clear() empties a table inside the write transaction; a rollback brings its rows back', async () => {
    const { db, close } = await backend.open(join(dirs.make(), 'clear.db'));
    const name = 'c "q"';
    const count = async (t: string) => Number((await db.query(`SELECT count(*) FROM "${t.replaceAll('"', '""')}"`))[0]![0]);
    try {
      await db.beginWrite();
      await db.write('CREATE TABLE "c ""q""" (id INTEGER PRIMARY KEY, v)');
      await db.write('CREATE TABLE other (v)');
      await db.insert(
        name,
        ['id', 'v'],
        [
          [1n, 'a'],
          [2n, 'b'],
        ],
      );
      await db.insert('other', ['v'], [['kept']]);
      await db.commit();
      await db.beginWrite();
      await db.clear(name);
      await db.rollback();
      expect(await count(name)).toBe(2);
      await db.beginWrite();
      await db.clear(name);
      await db.commit();
      expect([await count(name), await count('other')]).toEqual([0, 1]);
    } finally {
      await close();
    }
  });

  it('BLOBs longer than a base64 piece are written in pieces, exactly, at every length around the pieces', async () => {
    // encode.ts writes a BLOB over 48 KiB to base64 48 KiB at a time: the pieces' joins must not show.
    const { db, close } = await backend.open(join(dirs.make(), 'blobs.db'));
    try {
      const piece = 3 * 16 * 1024;
      const lengths = [0, 1, piece - 1, piece, piece + 1, piece + 2, 2 * piece - 1, 2 * piece, 2 * piece + 1, 3 * piece + 2, 200_001];
      const rows: SqlValue[][] = lengths.map((n, i) => [
        BigInt(i + 1),
        Buffer.from(Array.from({ length: n }, (_, j) => (j * 31 + i * 7 + (j >> 8)) & 255)),
        i % 2 ? 1 / (i + 3) : `t${i}`,
      ]);
      await db.beginWrite();
      await db.write('CREATE TABLE bl (id INTEGER PRIMARY KEY, b BLOB, x)');
      await db.insert('bl', ['id', 'b', 'x'], rows);
      await db.commit();
      const t: Pageable = { name: 'bl', dataColumns: ['id', 'b', 'x'], keyColumns: ['id'] };
      for (const maxRows of [1, 4, 20]) {
        const encoded = await collect(encodedPages(db, t, { pages: { maxRows, targetBytes: 8 << 20, firstRows: maxRows } }));
        expect(Buffer.concat(encoded.map((p) => p.bytes)).equals(Buffer.from(encodeAll(rows))), `pages of ${maxRows}`).toBe(true);
      }
    } finally {
      await close();
    }
  });

  it('pages whose only markers are REALs are finished in place, and a REAL whose text outgrows its marker is not cut', async () => {
    // Without BLOBs a page is finished in its own memory (encode.ts compactReals); ±Infinity and integral REALs of
    // 2^53 and more are written longer than SQLite marked them, at the first row, in the middle and on the last row.
    const { db, close } = await backend.open(join(dirs.make(), 'reals.db'));
    try {
      const longer = [Infinity, 2 ** 60, -Infinity, 1e20, -(2 ** 53), 1.7976931348623157e308];
      const plain = [1 / 7, -1.2345678901234567e-6, 5e-324, 1e21, 1e-7, 0.1, -123.456, 2.5e-5, 9.5e15];
      const rows: SqlValue[][] = [];
      for (let i = 0; i < 300; i++) {
        const x = i % 37 === 0 || i === 299 ? longer[((i / 37) % longer.length) | 0]! : plain[i % plain.length]! * (i + 1);
        rows.push([BigInt(i + 1), x, plain[(i * 5) % plain.length]!, i % 3 ? `row ${i} "q" é` : null]);
      }
      await db.beginWrite();
      await db.write('CREATE TABLE n (id INTEGER PRIMARY KEY, x REAL, y REAL, s TEXT)');
      await db.insert('n', ['id', 'x', 'y', 's'], rows);
      await db.commit();
      const t: Pageable = { name: 'n', dataColumns: ['id', 'x', 'y', 's'], keyColumns: ['id'] };
      for (const maxRows of [1, 7, 37, 500]) {
        const encoded = await collect(encodedPages(db, t, { pages: { maxRows, targetBytes: 8 << 20, firstRows: maxRows } }));
        expect(Buffer.concat(encoded.map((p) => p.bytes)).toString('latin1'), `pages of ${maxRows}`).toBe(Buffer.from(encodeAll(rows)).toString('latin1'));
        // Deferred (the backup's reader thread hands such pages on as SQLite wrote them): every page is, here.
        const deferred = await collect(encodedPages(db, t, { pages: { maxRows, targetBytes: 8 << 20, firstRows: maxRows }, deferFinish: true }));
        expect(deferred.every((p) => p.unfinished !== undefined)).toBe(true);
        expect(Buffer.concat(deferred.map((p) => finishEncodedPage('n', p))).toString('latin1'), `deferred pages of ${maxRows}`).toBe(
          Buffer.from(encodeAll(rows)).toString('latin1'),
        );
      }
      // The key order is still checked where the page is finished: a page whose ends are not its least and greatest
      // key is refused there.
      const [page] = await collect(encodedPages(db, t, { pages: { maxRows: 10, targetBytes: 8 << 20, firstRows: 10 }, deferFinish: true }));
      expect(() => finishEncodedPage('n', { ...page!, unfinished: { ...page!.unfinished!, least: 2n } })).toThrow(/out of key order/);
      expect(() => finishEncodedPage('n', { ...page!, unfinished: { ...page!.unfinished!, greatest: 11n } })).toThrow(/out of key order/);
      // A page finished where it is read is checked the same way: here the database names another least key than
      // the page's first line holds.
      const skewed = rewritingQueries(db, (sql, rows) => (sql.includes('string_agg') ? rows.map((r) => [r[0], 2n, r[2], r[3]]) : rows));
      await expect(collect(encodedPages(skewed, t, { pages: { maxRows: 10, targetBytes: 8 << 20, firstRows: 10 } }))).rejects.toThrow(/out of key order/);
    } finally {
      await close();
    }
  });

  it("a WITHOUT ROWID key declared with another collation than its column's is walked in the key's order, every row once", async () => {
    // PRIMARY KEY (a COLLATE BINARY, b) over a NOCASE column: 'A0001' and 'a0001' are two keys that NOCASE ties,
    // and a page boundary between them skipped one (sweep 4: the backup failed as if the snapshot were lost).
    const { db, close } = await backend.open(join(dirs.make(), 'coll.db'));
    try {
      await db.beginWrite();
      await db.write('CREATE TABLE t (a TEXT COLLATE NOCASE, b INTEGER, v, PRIMARY KEY (a COLLATE BINARY, b)) WITHOUT ROWID');
      await db.write('CREATE TABLE u (k TEXT COLLATE NOCASE, PRIMARY KEY (k COLLATE BINARY)) WITHOUT ROWID');
      const rows: SqlValue[][] = [];
      for (let i = 0; i < 150; i++) for (const a of [`a${i}`, `A${i}`]) rows.push([a, 0n, 0.5]);
      await db.insert('t', ['a', 'b', 'v'], rows);
      await db.insert(
        'u',
        ['k'],
        rows.map((r) => [r[0]!]),
      );
      await db.commit();
      const want = (cols: number) => rows.map((r) => encodeRow(r.slice(0, cols))).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      for (const maxRows of [1, 7, 64]) {
        const pages = { maxRows, targetBytes: 8 << 20, firstRows: maxRows };
        const t: Pageable = { name: 't', dataColumns: ['a', 'b', 'v'], keyColumns: ['a', 'b'] };
        const u: Pageable = { name: 'u', dataColumns: ['k'], keyColumns: ['k'] };
        expect(
          (await collect(rowPages(db, t, { pages }))).flat().map((r) => encodeRow(r)),
          `rows of t by ${maxRows}`,
        ).toEqual(want(3));
        expect(Buffer.concat((await collect(encodedPages(db, t, { pages }))).map((p) => p.bytes)).toString(), `t by ${maxRows}`).toBe(want(3).join(''));
        expect(Buffer.concat((await collect(encodedPages(db, u, { pages }))).map((p) => p.bytes)).toString(), `u by ${maxRows}`).toBe(want(1).join(''));
      }
    } finally {
      await close();
    }
  });

  it('a page of a key of several columns is checked against its least and greatest key, not assumed in order', async () => {
    // Locally the aggregate no longer sorts such a page (encode.ts pageSql); its ends are read again by the key's own
    // ORDER BY (pageEndsSql) and must be its first and last lines. Over HTTP the aggregate sorts (no second query).
    const { db, close } = await backend.open(join(dirs.make(), 'ends.db'));
    try {
      await db.beginWrite();
      await db.write('CREATE TABLE k (tenant TEXT, key TEXT, v INTEGER, PRIMARY KEY (tenant, key)) WITHOUT ROWID');
      const rows: SqlValue[][] = [];
      for (let i = 0; i < 120; i++) rows.push([`t${i % 3}`, `k${String(i).padStart(3, '0')} "q"`, BigInt(i)]);
      await db.insert('k', ['tenant', 'key', 'v'], rows);
      await db.commit();
      const t: Pageable = { name: 'k', dataColumns: ['tenant', 'key', 'v'], keyColumns: ['tenant', 'key'] };
      const want = rows.map((r) => encodeRow(r)).sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)));
      for (const maxRows of [1, 9, 40, 200]) {
        const pages = { maxRows, targetBytes: 8 << 20, firstRows: maxRows };
        expect(Buffer.concat((await collect(encodedPages(db, t, { pages }))).map((p) => p.bytes)).toString(), `pages of ${maxRows}`).toBe(want.join(''));
      }
      // Key parts of every class a key may hold, ends included: BLOBs, REALs (-0.0 and 0.0 are one key), INTEGERs
      // beyond 2^53, TEXT.
      await db.beginWrite();
      await db.write('CREATE TABLE m (a, b, v, PRIMARY KEY (a, b)) WITHOUT ROWID');
      const mixed: SqlValue[][] = [];
      const parts: SqlValue[] = [Buffer.from([0]), Buffer.from([0xff, 1]), -0, 1.5, 2n ** 60n, -(2n ** 62n), 'a', 'é', 7n];
      for (let i = 0; i < parts.length; i++) for (let j = 0; j < parts.length; j++) mixed.push([parts[i]!, parts[j]!, BigInt(i * 10 + j)]);
      await db.insert('m', ['a', 'b', 'v'], mixed);
      await db.commit();
      const m: Pageable = { name: 'm', dataColumns: ['a', 'b', 'v'], keyColumns: ['a', 'b'] };
      const all = Buffer.concat(
        (await collect(encodedPages(db, m, { pages: { maxRows: 200, targetBytes: 8 << 20, firstRows: 200 } }))).map((p) => p.bytes),
      ).toString();
      expect(all.split('\n').length - 1).toBe(mixed.length);
      for (const maxRows of [1, 2, 5, 13]) {
        const pages = { maxRows, targetBytes: 8 << 20, firstRows: maxRows };
        expect(Buffer.concat((await collect(encodedPages(db, m, { pages }))).map((p) => p.bytes)).toString(), `mixed keys by ${maxRows}`).toBe(all);
      }
      // The database names another greatest key than the page's last line holds: refused where it is read.
      let endsRead = 0;
      const skewed = rewritingQueries(db, (sql, rows) => {
        if (!sql.includes('UNION ALL')) return rows;
        endsRead++;
        return [rows[0]!, ['t9', 'k999', ...rows[1]!.slice(2)]];
      });
      const read = collect(encodedPages(skewed, t, { pages: { maxRows: 10, targetBytes: 8 << 20, firstRows: 10 } }));
      if (db.kind === 'file') {
        await expect(read).rejects.toThrow(/out of key order/);
        expect(endsRead).toBe(1);
      } else {
        expect(Buffer.concat((await read).map((p) => p.bytes)).toString()).toBe(want.join(''));
        expect(endsRead).toBe(0);
      }
    } finally {
      await close();
    }
  });

  it('a read snapshot sees none of the commits made while it is open', async () => {
    const path = join(dirs.make(), 'snap.db');
    const setup = new Database(path);
    setup.pragma('journal_mode = WAL');
    setup.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('a'), ('b')");
    setup.close();
    const { db, close } = await backend.open(path);
    const writer = new Database(path);
    try {
      await db.beginRead();
      expect((await db.query('SELECT count(*) FROM t'))[0]![0]).toBe(2n);
      writer.exec("INSERT INTO t (v) VALUES ('c'); DELETE FROM t WHERE v = 'a'; UPDATE t SET v = 'B' WHERE v = 'b'");
      const inside = (await collect(encodedPages(db, { name: 't', dataColumns: ['id', 'v'], keyColumns: ['id'] }))).map((p) => p.bytes.toString()).join('');
      expect(inside).toBe('[1,"a"]\n[2,"b"]\n');
      await db.endRead();
      expect((await db.query('SELECT group_concat(v) FROM t'))[0]![0]).toBe('B,c');
    } finally {
      writer.close();
      await close();
    }
  });

  it("a table of 1,200 columns: inserts, exact reads and SQL-encoded pages stay within SQLite's limits", async () => {
    // More columns than one function call takes (concat_ws), than one chain of `||` may nest, and than a 64-row
    // INSERT may bind: each stopped a backup or a restore of such a table before.
    const { db, close } = await backend.open(join(dirs.make(), 'wide.db'));
    try {
      const cols = Array.from({ length: 1200 }, (_, i) => `c${i}`);
      const all = ['id', ...cols];
      const cell = (r: number, i: number): SqlValue =>
        i % 4 === 0 ? BigInt(r * i) : i % 4 === 1 ? `v${i}` : i % 4 === 2 ? r + 0.25 : i % 8 === 3 ? null : Buffer.from([r, i & 255]);
      const rows: SqlValue[][] = Array.from({ length: 70 }, (_, r) => [BigInt(r + 1), ...cols.map((_, i) => cell(r, i))]);
      await db.beginWrite();
      await db.write(`CREATE TABLE w (id INTEGER PRIMARY KEY, ${cols.join(', ')})`);
      if (db.insertFlat) {
        await db.insertFlat('w', all, rows.slice(0, db.insertRows).flat(), db.insertRows);
        await db.insert('w', all, rows.slice(db.insertRows));
      } else await db.insert('w', all, rows);
      await db.commit();
      const t: Pageable = { name: 'w', dataColumns: all, keyColumns: ['id'] };
      expect((await collect(rowPages(db, t))).flat().map((r) => encodeRow(r))).toEqual(rows.map((r) => encodeRow(r)));
      const encoded = await collect(encodedPages(db, t, { pages: { maxRows: 25, targetBytes: 8 << 20, firstRows: 25 } }));
      expect(Buffer.concat(encoded.map((p) => p.bytes)).toString('latin1')).toBe(Buffer.from(encodeAll(rows)).toString('latin1'));
    } finally {
      await close();
    }
  });

  it('a write transaction rolls back whole when a statement fails', async () => {
    const path = join(dirs.make(), 'rollback.db');
    const { db, close } = await backend.open(path);
    try {
      await db.run('CREATE TABLE t (id INTEGER PRIMARY KEY, v NOT NULL)');
      await db.run("INSERT INTO t VALUES (1, 'kept')");
      await db.beginWrite({ foreignKeys: false });
      await db.insert(
        't',
        ['id', 'v'],
        [
          [2n, 'new'],
          [3n, 'new'],
        ],
      );
      // A failing statement may surface at once or at the next call (pipelined over HTTP): either way, it surfaces.
      const failed = await (async () => {
        await db.insert('t', ['id', 'v'], [[4n, null]]);
        await db.commit();
      })().catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(Error);
      await db.rollback();
      expect(await db.query('SELECT id, v FROM t')).toEqual([[1n, 'kept']]);
    } finally {
      await close();
    }
  });

  it('a statement that makes SQLite roll the whole transaction back leaves nothing, not even what was sent after it', async () => {
    const path = join(dirs.make(), 'conflict-rollback.db');
    const { db, close } = await backend.open(path);
    try {
      await db.run('CREATE TABLE t (id INTEGER PRIMARY KEY ON CONFLICT ROLLBACK, v)');
      await db.beginWrite({ foreignKeys: false });
      const failed = await (async () => {
        await db.insert('t', ['id', 'v'], [[1n, 'first']]);
        // SQLite ends the transaction here; over HTTP the rows after it are already on their way, several
        // requests' worth, and must not run outside the transaction.
        await db.insert('t', ['id', 'v'], [[1n, 'conflict']]);
        for (let i = 0; i < 2_000; i++) await db.insert('t', ['id', 'v'], [[BigInt(10 + i), 'x'.repeat(4096)]]);
        await db.commit();
      })().catch((e: unknown) => e);
      expect(failed).toBeInstanceOf(Error);
      await db.rollback();
    } finally {
      await close();
    }
    expect(rowsIn(path, 't')).toBe(0);
  });

  it('an abort ends the work with INTERRUPTED; the transaction rolls back', async () => {
    const path = join(dirs.make(), 'abort.db');
    const ac = new AbortController();
    const { db, close } = await backend.open(path, { signal: ac.signal });
    try {
      await db.run('CREATE TABLE t (id INTEGER PRIMARY KEY, v)');
      await db.beginWrite({ foreignKeys: false });
      await db.insert('t', ['id', 'v'], [[1n, 'x']]);
      ac.abort();
      await expect(db.insert('t', ['id', 'v'], [[2n, 'y']])).rejects.toMatchObject({ code: 'INTERRUPTED' });
      await expect(db.commit()).rejects.toMatchObject({ code: 'INTERRUPTED' });
      await db.rollback();
    } finally {
      await close();
    }
    expect(rowsIn(path, 't')).toBe(0);
  });

  it('pages come back whole when a server refuses large responses (asked again smaller)', async () => {
    const path = join(dirs.make(), 'big.db');
    const setup = new Database(path);
    setup.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)');
    const ins = setup.prepare('INSERT INTO t (v) VALUES (?)');
    for (let i = 0; i < 40; i++) ins.run(`${i} ${'x'.repeat(40_000)}`);
    setup.close();
    // sqld's response limit, scaled down: a page of ~8 rows is over it.
    const { db, close } = await backend.open(path, { server: { maxResponseBytes: 300_000 } });
    try {
      await db.beginRead();
      const pages = await collect(
        encodedPages(db, { name: 't', dataColumns: ['id', 'v'], keyColumns: ['id'] }, { pages: { maxRows: 40, targetBytes: 8 << 20, firstRows: 40 } }),
      );
      expect(pages.reduce((n, p) => n + p.rows, 0)).toBe(40);
      expect(
        Buffer.concat(pages.map((p) => p.bytes))
          .toString()
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l)[0]),
      ).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
      await db.endRead();
    } finally {
      await close();
    }
  });
});
