/**
 * The pieces of exact reading and writing over HTTP, checked directly: select-list counting, placeholder rewriting
 * for values the client cannot send as themselves, and the remote source/target on values that break the protocol
 * when sent plainly (±Infinity, non-UTF-8 TEXT, NUL, -0.0) — plus the keep-alive at the source level.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { TextBytes } from '../../src/format/values.js';
import { remoteTuning, resetRemoteTuning } from '../../src/db/hrana/config.js';
import { bindExact, selectColumnCount } from '../../src/db/hrana/exact.js';
import { openRemoteDb } from '../../src/db/remote.js';
import { tempDirs } from '../support/dumps.js';
import { startHranaServer, type HranaServer, type HranaServerOptions } from '../support/hrana-server.js';

const dirs = tempDirs('tb-remote-exact-');
const servers: HranaServer[] = [];
let db: string;
const BAD = Buffer.from([0x61, 0xff, 0xfe, 0x62]);

beforeAll(() => {
  db = join(dirs.make(), 'exact.db');
  const d = new Database(db);
  d.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v)');
  const ins = d.prepare('INSERT INTO t (id, v) VALUES (?, ?)');
  [Infinity, -Infinity, -0.0, 1.0, 'a\0b', 'héllo', Buffer.from([0, 0xff]), 9223372036854775807n, null].forEach((v, i) => void ins.run(BigInt(i + 1), v));
  d.prepare('INSERT INTO t (id, v) VALUES (100, CAST(? AS TEXT))').run(BAD);
  d.close();
});
afterEach(() => resetRemoteTuning());
afterAll(async () => {
  for (const s of servers.splice(0)) await s.close();
  dirs.cleanup();
});

async function serve(path: string, opts: Partial<HranaServerOptions> = {}) {
  const s = await startHranaServer({ db: path, ...opts });
  servers.push(s);
  return s;
}

describe('SQL helpers', () => {
  it('counts the result columns of plain SELECTs and gives up on *', () => {
    expect(selectColumnCount('SELECT "a", b, f(c, d) AS "x,y", \'p,q\' FROM t WHERE a > ? ORDER BY a LIMIT ?')).toBe(4);
    expect(selectColumnCount('SELECT count(*) FROM t')).toBe(1);
    expect(selectColumnCount('SELECT DISTINCT a, b FROM t')).toBe(2);
    expect(selectColumnCount('SELECT 1')).toBe(1);
    expect(selectColumnCount('SELECT a * b, c FROM t')).toBe(2);
    expect(selectColumnCount('SELECT * FROM pragma_page_size')).toBeNull();
    expect(selectColumnCount('SELECT t.* FROM t')).toBeNull();
    expect(selectColumnCount('WITH x AS (SELECT 1) SELECT * FROM x')).toBeNull();
  });

  it('rewrites placeholders of values the client cannot send', () => {
    expect(bindExact('SELECT ? , ?', [1n, 'x'])).toEqual({ sql: 'SELECT ? , ?', args: [1n, 'x'] });
    const b = bindExact("SELECT '?', ?, ?, ?, ?", [Infinity, -0, new TextBytes(BAD), 2.5]);
    expect(b.sql).toBe("SELECT '?', 9e999, -0.0, CAST(? AS TEXT), ?");
    expect(b.args).toEqual([BAD, 2.5]);
  });
});

describe('remote source and target values', () => {
  it('reads ±Infinity, -0.0, NUL and non-UTF-8 TEXT exactly (they break a plain SELECT over HTTP)', async () => {
    const s = await serve(db);
    const src = openRemoteDb(s.url);
    await src.beginRead();
    const rows = await src.query('SELECT id, v FROM t ORDER BY id');
    await src.endRead();
    await src.close();
    const v = rows.map((r) => r[1]);
    expect(v[0]).toBe(Infinity);
    expect(v[1]).toBe(-Infinity);
    expect(Object.is(v[2], -0)).toBe(true);
    expect(v[3]).toBe(1);
    expect(v[4]).toBe('a\0b');
    expect(v[5]).toBe('héllo');
    expect(Buffer.from(v[6] as ArrayBuffer)).toEqual(Buffer.from([0, 0xff]));
    expect(v[7]).toBe(9223372036854775807n);
    expect(v[8]).toBeNull();
    expect(v[9]).toBeInstanceOf(TextBytes);
    expect((v[9] as TextBytes).bytes).toEqual(BAD);
  });

  it('writes them back exactly, inside one transaction with foreign keys off', async () => {
    const path = join(dirs.make(), 'written.db');
    const s = await serve(path);
    const t = openRemoteDb(s.url);
    await t.beginWrite({ foreignKeys: false });
    expect((await t.query('SELECT * FROM pragma_foreign_keys'))[0]![0]).toBe(0n);
    await t.run('CREATE TABLE t (id INTEGER PRIMARY KEY, v)');
    await t.insert(
      't',
      ['id', 'v'],
      [
        [1n, Infinity],
        [2n, -Infinity],
        [3n, -0],
        [4n, 1],
        [5n, 'a\0b'],
        [6n, new TextBytes(BAD)],
        [7n, Buffer.from([0, 0xff])],
        [8n, -9223372036854775808n],
      ],
    );
    const back = await t.query('SELECT typeof(v), v FROM t ORDER BY id');
    await t.commit();
    await t.close();
    expect(back.map((r) => r[0])).toEqual(['real', 'real', 'real', 'real', 'text', 'text', 'blob', 'integer']);
    const d = new Database(path, { readonly: true });
    const hex = d.prepare('SELECT hex(v) FROM t ORDER BY id').pluck().all();
    d.close();
    expect(hex[4]).toBe('610062');
    expect(hex[5]).toBe(BAD.toString('hex').toUpperCase());
    expect(Object.is(back[2]![1], -0)).toBe(true);
    expect(back[0]![1]).toBe(Infinity);
    expect(back[7]![1]).toBe(-9223372036854775808n);
  });

  it('keeps an idle snapshot alive with pings, and reports its loss without them', async () => {
    const s = await serve(db, { streamIdleMs: 300 });
    remoteTuning.keepAliveMs = 80;
    const src = openRemoteDb(s.url);
    await src.beginRead();
    await new Promise((r) => setTimeout(r, 1000));
    expect((await src.query('SELECT count(*) FROM t'))[0]![0]).toBe(10n);
    await src.close();
    expect(src.stats.pings).toBeGreaterThan(3);

    remoteTuning.keepAliveMs = 0;
    const lost = openRemoteDb(s.url);
    await lost.beginRead();
    await new Promise((r) => setTimeout(r, 600));
    await expect(lost.query('SELECT count(*) FROM t')).rejects.toMatchObject({ code: 'SNAPSHOT' });
    // Once lost, always lost: no silent continuation on a new stream.
    await expect(lost.query('SELECT 1')).rejects.toMatchObject({ code: 'SNAPSHOT' });
    await lost.close();
  });
});
