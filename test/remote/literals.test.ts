/**
 * A remote load writes most values as SQL literals inside its INSERT statements (src/db/hrana/insert.ts inlineValue)
 * instead of one JSON argument each. Each literal must store exactly what binding the same value stores, under every
 * column affinity: the same rows are written both ways through the real client into the stand-in sqld, and every cell
 * is compared by storage class and bytes.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inlineValue, insertStatements } from '../../src/db/hrana/insert.js';
import { openRemoteDb } from '../../src/db/remote.js';
import { type SqlValue, TextBytes } from '../../src/format/values.js';
import { tempDirs } from '../support/dumps.js';
import { startHranaServer, type HranaServer } from '../support/hrana-server.js';

const dirs = tempDirs('tb-remote-literals-');
const servers: HranaServer[] = [];
afterAll(async () => {
  for (const s of servers.splice(0)) await s.close();
  dirs.cleanup();
});

/** Values of every kind a dump decodes to, with the edges of each literal form. */
const VALUES: SqlValue[] = [
  null,
  0n,
  1n,
  -1n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  0,
  5,
  -5,
  2 ** 53 - 1,
  -(2 ** 53 - 1),
  2 ** 53,
  2 ** 60,
  -0,
  1.5,
  0.1,
  1e21,
  5e-324,
  Infinity,
  -Infinity,
  '',
  "it's",
  "''",
  '5',
  ' 5',
  '5.0',
  '1e3',
  '0x10',
  'a\0b',
  'line\nbreak\r\ttab',
  'é中😀',
  '\\',
  "X'00'",
  Buffer.alloc(0),
  Buffer.from([0, 1, 2, 255]),
  new TextBytes(Buffer.from([0x61, 0xff, 0x62])),
];

/** Every column affinity, and a column with none. */
const COLUMNS = ['i INTEGER', 'r REAL', 't TEXT', 'n NUMERIC', 'b BLOB', 'x'];

describe('a remote load writes values as literals', () => {
  it('uses literals for plain values and binds the rest', () => {
    expect([null, 7n, 7, -7, "a'b", ''].map(inlineValue)).toEqual(['NULL', '7', '7.0', '-7.0', "'a''b'", "''"]);
    for (const v of [-(2n ** 63n), 1.5, -0, 2 ** 53, Infinity, Number.NaN, 'a\0b', Buffer.from('x'), new TextBytes(Buffer.from('x'))]) {
      expect(inlineValue(v), String(v)).toBeNull();
    }
    const [q] = [
      ...insertStatements(
        't',
        ['a', 'b', 'c'],
        [
          [1n, 'x', null],
          [2n, 1.5, Buffer.from('y')],
        ],
      ),
    ];
    expect(q!.stmt).toEqual({ sql: `INSERT INTO "t" ("a", "b", "c") VALUES (1, 'x', NULL), (2, ?, ?)`, args: [1.5, Buffer.from('y')] });
  });

  it.each(['protobuf', 'json'] as const)('stores what binding stores, cell for cell, under every affinity (%s)', async (encoding) => {
    const file = join(dirs.make(), 'literals.db');
    const s = await startHranaServer({ db: file, encodings: [encoding] });
    servers.push(s);
    const db = openRemoteDb(s.url);
    const names = COLUMNS.map((c) => c.split(' ')[0]!);
    await db.beginWrite();
    for (const t of ['inlined', 'bound']) await db.run(`CREATE TABLE ${t} (id INTEGER PRIMARY KEY, ${COLUMNS.join(', ')})`);
    const rows = VALUES.map((v, k) => [BigInt(k + 1), ...names.map(() => v)]);
    await db.insert('inlined', ['id', ...names], rows);
    // The argument path: one statement per row, every value a "?" (bindExact rewrites only the special ones).
    for (const row of rows) await db.run(`INSERT INTO bound VALUES (${row.map(() => '?').join(', ')})`, row);
    await db.commit();
    await db.close();

    const local = new Database(file, { readonly: true });
    const cells = (t: string) =>
      local
        .prepare(`SELECT ${names.map((n) => `typeof(${n}), quote(${n})`).join(', ')} FROM ${t} ORDER BY id`)
        .raw()
        .all();
    const inlined = cells('inlined');
    expect(inlined).toHaveLength(VALUES.length);
    expect(inlined).toEqual(cells('bound'));
    local.close();
  });
});
