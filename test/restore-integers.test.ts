/**
 * INTEGERs reach columns of INTEGER and NUMERIC affinity (and the rowid) as plain numbers when they are exact as
 * doubles (db/schema.ts integerColumns): SQLite stores the same INTEGER. Everywhere else (no declared type, BLOB,
 * TEXT, REAL, a STRICT table's ANY, virtual tables) they stay bigints. Proved here on every kind of declared type,
 * with every storage class in every column where SQLite keeps it, restored into a new file and into a target with
 * the same schema already in place: the restored cells equal the source's, storage class and bytes.
 */
import Database from 'better-sqlite3';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { affinity } from '../src/db/schema.js';
import { restore } from '../src/restore/restore.js';
import { localTargetFactory } from '../src/target/local.js';
import { backupToFile, tempDirs } from './support/dumps.js';
import { diffDumps, dumpDb, replaySchema } from './support/nasty-db.js';

const dirs = tempDirs('tb-restore-integers-');
afterAll(() => dirs.cleanup());

/** Declared types of every affinity, spelled as schemas spell them. */
const TYPES = [
  'INTEGER',
  'INT',
  'BIGINT',
  'UNSIGNED BIG INT',
  'NUMERIC',
  'DECIMAL(10,5)',
  'BOOLEAN',
  'DATETIME',
  '',
  'BLOB',
  'TEXT',
  'VARCHAR(20)',
  'REAL',
  'DOUBLE',
  'FLOATING POINT',
  'ANY',
];

/** Values of every storage class; SQLite's affinity decides what each column keeps. */
const VALUES: unknown[] = [
  0n,
  1n,
  -1n,
  42n,
  2n ** 31n,
  -(2n ** 31n) - 1n,
  2n ** 53n - 1n,
  -(2n ** 53n - 1n),
  2n ** 53n,
  2n ** 53n + 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  5.0,
  -0.0,
  0.5,
  1e20,
  -1e300,
  2 ** 53,
  123456789012345.0,
  '12',
  ' 7',
  '007',
  '1e3',
  'text',
  null,
  Buffer.from([1, 2, 3]),
  Buffer.alloc(0),
];

function buildDb(path: string): void {
  const db = new Database(path);
  db.defaultSafeIntegers(true);
  const cols = TYPES.map((t, i) => `c${i} ${t}`).join(', ');
  db.exec(`CREATE TABLE plain (${cols})`); // a hidden rowid
  db.exec(`CREATE TABLE keyed (id INTEGER PRIMARY KEY, ${cols})`);
  db.exec(`CREATE TABLE wr (k INTEGER NOT NULL PRIMARY KEY, ${cols}) WITHOUT ROWID`);
  db.exec(`CREATE TABLE st (id INTEGER PRIMARY KEY, i INTEGER, a ANY, r REAL, t TEXT, b BLOB) STRICT`);
  const ins = (t: string, n: number) => db.prepare(`INSERT INTO ${t} VALUES (${Array(n).fill('?').join(', ')})`);
  const [plain, keyed, wr] = [ins('plain', TYPES.length), ins('keyed', TYPES.length + 1), ins('wr', TYPES.length + 1)];
  db.transaction(() => {
    VALUES.forEach((_v, i) => {
      const row = TYPES.map((_, k) => VALUES[(i + k) % VALUES.length]);
      plain.run(...row);
      keyed.run(BigInt(i * 1000 - 5000), ...row);
      wr.run(BigInt(i) * 2n ** 40n, ...row);
    });
    const strict = db.prepare('INSERT INTO st (id, i, a) VALUES (?, ?, ?)');
    VALUES.forEach((v, i) => {
      const asInteger = typeof v === 'bigint' ? v : null;
      strict.run(BigInt(i + 1), asInteger, v);
    });
  })();
  db.close();
}

/**
 * A source built by `build`, backed up and restored into a new file (and, with `migrated`, into a copy of its schema):
 * every restored cell equals the source's, storage class and bytes.
 */
async function expectRoundTrip(build: (path: string) => void, opts: { migrated: boolean }): Promise<void> {
  const dir = dirs.make();
  const src = join(dir, 'src.db');
  build(src);
  const dump = join(dir, 'dump.ndjson.gz');
  await backupToFile(src, dump);
  const targets = [join(dir, 'new.db')];
  if (opts.migrated) {
    targets.push(join(dir, 'migrated.db'));
    replaySchema(src, targets[1]!);
  }
  for (const target of targets) {
    await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(target), confirm: true });
    expect(diffDumps(dumpDb(src), dumpDb(target))).toEqual([]);
  }
}

describe('INTEGERs as plain numbers where SQLite stores the same INTEGER', () => {
  it("affinity() follows SQLite's rules", () => {
    expect(TYPES.map(affinity)).toEqual([
      'INTEGER',
      'INTEGER',
      'INTEGER',
      'INTEGER',
      'NUMERIC',
      'NUMERIC',
      'NUMERIC',
      'NUMERIC',
      'BLOB',
      'BLOB',
      'TEXT',
      'TEXT',
      'REAL',
      'REAL',
      'INTEGER',
      'NUMERIC',
    ]);
    // The order of the rules decides: "CHARINT" is INTEGER, "BLOBTEXT" TEXT.
    expect([affinity('CHARINT'), affinity('BLOBTEXT'), affinity('floaty int')]).toEqual(['INTEGER', 'TEXT', 'INTEGER']);
  });

  it('every cell comes back with its storage class and bytes, into a new file and into the same schema', async () => {
    await expectRoundTrip(buildDb, { migrated: true });
  });
});

describe('long TEXT goes to SQLite as its bytes (format/rows.ts TextArena)', () => {
  /** 200 rows: whole statements of 64 and a shorter last one; long strings in every kind of column. */
  function buildTextDb(path: string, encoding = 'UTF-8'): void {
    const db = new Database(path);
    db.pragma(`encoding = '${encoding}'`);
    db.defaultSafeIntegers(true);
    db.exec('CREATE TABLE lt (id INTEGER PRIMARY KEY, a TEXT, b, c INTEGER, d NUMERIC, e BLOB)');
    const long = (s: string, n: number) => s.repeat(Math.ceil(n / s.length)).slice(0, n);
    const ins = db.prepare('INSERT INTO lt (a, b, c, d, e) VALUES (?, ?, ?, ?, ?)');
    db.transaction(() => {
      for (let i = 0; i < 200; i++) {
        const text = [long('prose of a row ', 600 + i * 37), long('é ü 漢字 🎉 ', 2000 + i), long('quote " \\ and\n', 900), 'short', null][i % 5];
        // b mixes long strings with INTEGERs, REALs and BLOBs in one statement: CAST must not touch those.
        const mixed = [long('m', 700 + i), BigInt(i), i + 0.5, Buffer.alloc(600, i), null][(i * 3) % 5];
        const digits = i % 2 ? long('9', 600) : BigInt(i); // looks like a number: INTEGER affinity decides, as at the source
        ins.run(text, mixed, digits, i % 3 ? long(' 1e5', 520) : -0.0, i % 4 ? Buffer.from(long('blob', 800)) : long('text in a BLOB column ', 800));
      }
    })();
    db.close();
  }

  it('every cell comes back with its storage class and bytes, into a new file and into the same schema', async () => {
    await expectRoundTrip((path) => buildTextDb(path), { migrated: true });
  });

  it('a UTF-16 database gets them as strings (CAST would read UTF-8 bytes as UTF-16)', async () => {
    for (const encoding of ['UTF-16le', 'UTF-16be']) await expectRoundTrip((path) => buildTextDb(path, encoding), { migrated: false });
  });
});
