/**
 * A restore reads the target's whole schema (`pragma_table_list`, `sqlite_schema`) a bounded number of times, not
 * once per table: such a read costs time in proportion to the tables, so once per table made a restore quadratic in
 * them (6000 one-row tables took 203 s), and over HTTP each read is a round trip. Counted on the real backends
 * (a LocalDb, and a RemoteDb against the stand-in sqld) by a spy that passes every query through: a restore of
 * more tables makes no more such reads. What it caches must still see the tables the restore itself creates, and
 * the application's tables SQLite takes for a virtual table's shadow tables by their name.
 */
import Database from 'better-sqlite3';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { openLocalDb } from '../src/db/local.js';
import { restore } from '../src/restore/restore.js';
import { localTargetFactory } from '../src/target/local.js';
import { remoteTargetFactory } from '../src/target/remote.js';
import type { TargetFactory } from '../src/target/types.js';
import { backupToFile, tempDirs } from './support/dumps.js';
import { startHranaServer } from './support/hrana-server.js';
import { diffDumps, dumpDb, replaySchema } from './support/nasty-db.js';

const dirs = tempDirs('tb-schema-reads-');
afterAll(() => dirs.cleanup());

/** A query that reads every table of the schema. */
const WHOLE_SCHEMA = /pragma_table_list|sqlite_schema|sqlite_master/i;

/**
 * An application's table named like a shadow table of the external-content FTS5 beside it (which makes no `_content`
 * table of its own): defensive mode refuses writes to it unless the target knows it is the application's.
 */
const SHADOW_NAMED = `CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);
  CREATE TABLE docs_fts_content (id INTEGER PRIMARY KEY, note TEXT);
  CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id');
  INSERT INTO docs VALUES (1, 'hello world');
  INSERT INTO docs_fts_content VALUES (1, 'IMPORTANT'), (2, 'more');
  INSERT INTO docs_fts (docs_fts) VALUES ('rebuild');`;

/** `n` one-row tables (and the shadow-named pair when `shadowNamed`), their SQL through `sql`. */
function build(path: string, n: number, shadowNamed: boolean, sql = (s: string) => s): void {
  const db = new Database(path);
  db.unsafeMode(true); // better-sqlite3's defensive mode refuses the INSERT into docs_fts_content
  db.transaction(() => {
    for (let i = 0; i < n; i++) db.exec(sql(`CREATE TABLE t${i} (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t${i} (v) VALUES ('${i}');`));
    if (shadowNamed) db.exec(sql(SHADOW_NAMED));
  })();
  db.close();
}

/** A source of build()'s tables, and its dump. */
async function manyTables(n: number, shadowNamed: boolean): Promise<{ src: string; dump: string }> {
  const dir = dirs.make();
  const src = join(dir, 'src.db');
  build(src, n, shadowNamed);
  const dump = join(dir, 'dump.ndjson.gz');
  await backupToFile(src, dump);
  return { src, dump };
}

/** `factory` whose target's queries are counted (passed through unchanged); `reads()`: the whole-schema ones. */
function counting(factory: TargetFactory): { factory: TargetFactory; reads: () => number } {
  const sqls: string[] = [];
  return {
    factory: {
      ...factory,
      open: async (o) => {
        const target = await factory.open(o);
        const query = target.db.query.bind(target.db);
        vi.spyOn(target.db, 'query').mockImplementation((sql, args) => {
          sqls.push(sql);
          return query(sql, args);
        });
        return target;
      },
    },
    reads: () => sqls.filter((s) => WHOLE_SCHEMA.test(s)).length,
  };
}

/** Restores `dump` through `factory` and returns how many whole-schema reads the target saw. */
async function schemaReads(dump: string, factory: TargetFactory): Promise<number> {
  const counted = counting(factory);
  const r = await restore({ openInput: async () => createReadStream(dump), target: counted.factory, confirm: true });
  expect(r.verified).toBe(true);
  return counted.reads();
}

describe('whole-schema reads of a restore do not grow with its tables', () => {
  it('into a new file: the tables it creates are loaded, an application’s shadow-named table too', async () => {
    const reads: number[] = [];
    for (const n of [3, 30]) {
      const { src, dump } = await manyTables(n, true);
      const target = join(dirs.make(), 'restored.db');
      reads.push(await schemaReads(dump, localTargetFactory(target)));
      expect(diffDumps(dumpDb(src), dumpDb(target))).toEqual([]);
    }
    expect(reads[1]).toBe(reads[0]);
  });

  it('into a file the migrations made (the schema already there), its shadow-named table spelt in other letter case', async () => {
    const reads: number[] = [];
    for (const n of [3, 30]) {
      const { dump } = await manyTables(n, true);
      const target = join(dirs.make(), 'migrated.db');
      // SQLite resolves names with ASCII letters folded: the dump's docs_fts_content is this table, and so is its shadow name.
      build(target, n, true, (sql) => sql.replace(/INSERT INTO[^;]*;/g, '').replace('TABLE docs_fts_content', 'TABLE "Docs_FTS_Content"'));
      reads.push(await schemaReads(dump, localTargetFactory(target)));
      const db = new Database(target, { readonly: true });
      expect(db.prepare('SELECT id, note FROM docs_fts_content ORDER BY id').raw().all()).toEqual([
        [1, 'IMPORTANT'],
        [2, 'more'],
      ]);
      expect(
        db
          .prepare(`SELECT v FROM t${n - 1}`)
          .pluck()
          .get(),
      ).toBe(String(n - 1));
      db.close();
    }
    expect(reads[1]).toBe(reads[0]);
  });

  it('over HTTP, into an empty database and into one with the schema already there', async () => {
    for (const migrated of [false, true]) {
      const reads: number[] = [];
      for (const n of [3, 30]) {
        const { src, dump } = await manyTables(n, false);
        const served = join(dirs.make(), 'served.db');
        if (migrated) replaySchema(src, served);
        else new Database(served).close();
        const server = await startHranaServer({ db: served });
        try {
          reads.push(await schemaReads(dump, remoteTargetFactory(server.url, undefined)));
        } finally {
          await server.close();
        }
        expect(diffDumps(dumpDb(src), dumpDb(served))).toEqual([]);
      }
      expect(reads[1]).toBe(reads[0]);
    }
  });
});

describe('a schema with double-quoted string literals (restore/ddl.ts)', () => {
  /**
   * `n` tables, each CREATE of which the target refuses until its literal is rewritten, and views over them; the
   * stored text is what an old SQLite wrote. `w`, rewritten too, names a column only the view `v0` has: its columns
   * are learnt after the first whole read, by its name.
   */
  function buildDqs(path: string, n: number): void {
    const db = new Database(path);
    const legacy: [string, string][] = [];
    db.transaction(() => {
      for (let i = 0; i < n; i++) {
        db.exec(`CREATE TABLE d${i} (id INTEGER PRIMARY KEY, s TEXT DEFAULT 'on' CHECK (s <> 'off')); INSERT INTO d${i} (id) VALUES (${i});`);
        legacy.push([`d${i}`, `CREATE TABLE d${i} (id INTEGER PRIMARY KEY, s TEXT DEFAULT 'on' CHECK (s <> "off"))`]);
      }
      db.exec(`CREATE VIEW v0 AS SELECT id AS x FROM d0 WHERE s = 'on'; CREATE VIEW w AS SELECT x FROM v0 WHERE 'on' = 'on';`);
      legacy.push(['v0', `CREATE VIEW v0 AS SELECT id AS x FROM d0 WHERE s = "on"`], ['w', `CREATE VIEW w AS SELECT "x" FROM v0 WHERE "on" = 'on'`]);
    })();
    db.unsafeMode(true);
    db.pragma('writable_schema = ON');
    for (const [name, sql] of legacy) db.prepare('UPDATE sqlite_schema SET sql = ? WHERE name = ?').run(sql, name);
    db.pragma('writable_schema = OFF');
    db.close();
  }

  it('is read whole once, not once per table; the schema comes back as the source stored it', async () => {
    const reads: number[] = [];
    for (const n of [3, 30]) {
      const dir = dirs.make();
      const src = join(dir, 'src.db');
      buildDqs(src, n);
      const dump = join(dir, 'dump.ndjson.gz');
      await backupToFile(src, dump);
      const target = join(dir, 'restored.db');
      reads.push(await schemaReads(dump, localTargetFactory(target)));
      const schema = (path: string) => {
        const db = new Database(path, { readonly: true });
        try {
          return db.prepare('SELECT type, name, sql FROM sqlite_schema ORDER BY name').raw().all();
        } finally {
          db.close();
        }
      };
      expect(schema(target)).toEqual(schema(src));
      expect(diffDumps(dumpDb(src), dumpDb(target))).toEqual([]);
    }
    expect(reads[1]).toBe(reads[0]);
  });
});

describe('the shadow-name check of a local target', () => {
  it('sees a table created after its first insert, in the same transaction', async () => {
    const path = join(dirs.make(), 'db.db');
    const db = openLocalDb(path, { create: true });
    try {
      await db.exec('CREATE TABLE a (x)');
      await db.beginWrite();
      await db.insert('a', ['x'], [[1n]]);
      // After the first insert checked the schema: the same names as SHADOW_NAMED's, created now.
      await db.exec(
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT); CREATE TABLE docs_fts_content (id INTEGER PRIMARY KEY, note TEXT); CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id');",
      );
      await db.insert('docs_fts_content', ['id', 'note'], [[1n, 'IMPORTANT']]);
      await db.insertFlat!('docs_fts_content', ['id', 'note'], [2n, 'more'], 1);
      await db.commit();
      expect(await db.query('SELECT id, note FROM docs_fts_content ORDER BY id')).toEqual([
        [1n, 'IMPORTANT'],
        [2n, 'more'],
      ]);
      // A shadow table the virtual table made is still refused (defensive mode stays on for it).
      await db.beginWrite();
      await expect(db.insert('docs_fts_data', ['id', 'block'], [[99n, null]])).rejects.toThrow(/may not be modified/);
      await db.rollback();
    } finally {
      await db.close();
    }
  });
});
