/**
 * Databases an outside walk built that the suite's own did not cover, each end to end on real files: backup, verify,
 * restore into a new file, and the restored file compared with the source cell by cell.
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { verifyDump } from '../src/api/verify.js';
import { restore } from '../src/restore/restore.js';
import { localTargetFactory } from '../src/target/local.js';
import { remoteTargetFactory } from '../src/target/remote.js';
import { backupToFile, tempDirs } from './support/dumps.js';
import { startHranaServer } from './support/hrana-server.js';
import { diffDumps, dumpDb } from './support/nasty-db.js';
import { runCli } from './support/scripts.js';

const dirs = tempDirs('tb-schema-edges-');
afterAll(() => dirs.cleanup());

function build(path: string, sql: string, fill?: (db: Database.Database) => void): void {
  const db = new Database(path);
  db.unsafeMode(true); // not defensive: better-sqlite3 refuses writes to a table whose name a virtual table claims
  db.exec(sql);
  fill?.(db);
  db.close();
}

/** Backs `src` up, verifies the dump and restores it into a new file; returns the dump, the manifest and the file. */
async function roundTrip(dir: string, src: string) {
  const dump = join(dir, 'dump.ndjson.gz');
  const result = await backupToFile(src, dump);
  const verified = await verifyDump(dump);
  const target = join(dir, 'restored.db');
  await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(target), confirm: true });
  const manifest = JSON.parse(readFileSync(`${dump}.manifest.json`, 'utf8')) as { tables: Record<string, { rows: number }> };
  return { result, verified, manifest, target };
}

describe('tables named like properties of a JavaScript object', () => {
  it('`__proto__`, `constructor` and `toString` are counted, verified and restored like any table', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    build(
      src,
      'CREATE TABLE "__proto__" (x); CREATE TABLE "constructor" (y); CREATE TABLE "toString" (z); CREATE TABLE t (v);' +
        ' INSERT INTO "__proto__" VALUES (1), (2); INSERT INTO "constructor" VALUES (3); INSERT INTO t VALUES (4);',
    );
    const { verified, manifest, target } = await roundTrip(dir, src);
    expect(Object.keys(verified.tables).sort()).toEqual(['__proto__', 'constructor', 't', 'toString']);
    expect(Object.entries(verified.tables)).toContainEqual(['__proto__', 2]);
    expect(Object.keys(manifest.tables).sort()).toEqual(['__proto__', 'constructor', 't', 'toString']);
    expect(diffDumps(dumpDb(src), dumpDb(target))).toEqual([]);
  });
});

describe('tables whose names only look like a virtual table’s shadow tables', () => {
  // pragma_table_list calls every `<fts>_content` a shadow table; an external-content or contentless FTS5 (and an
  // external-content FTS4) never makes that table, nor an FTS5 with columnsize=0 its `_docsize`: one of that name is
  // the application's.
  const SCHEMA = `
    CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);
    CREATE TABLE docs_fts_content (id INTEGER PRIMARY KEY, note TEXT);
    CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id');
    CREATE TABLE bare_content (k TEXT PRIMARY KEY, v) WITHOUT ROWID;
    CREATE VIRTUAL TABLE bare USING fts5(a, content='');
    CREATE TABLE sized_docsize (n);
    CREATE VIRTUAL TABLE sized USING fts5(body, content='docs', content_rowid='id', columnsize=0);
    CREATE TABLE old_content (x);
    CREATE VIRTUAL TABLE old USING fts4(body, content='docs');
    CREATE VIRTUAL TABLE plain USING fts5(a);
    INSERT INTO docs VALUES (1, 'hello world');
    INSERT INTO docs_fts_content VALUES (1, 'IMPORTANT'), (2, 'more');
    INSERT INTO bare_content VALUES ('a', 1), ('b', x'00ff');
    INSERT INTO sized_docsize VALUES (7);
    INSERT INTO old_content VALUES (-0.0);
    INSERT INTO plain VALUES ('indexed words');
    INSERT INTO docs_fts (docs_fts) VALUES ('rebuild');
  `;

  it('are backed up and restored with their rows; the shadow tables a virtual table made are still left out', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    build(src, SCHEMA);
    const { result, target } = await roundTrip(dir, src);
    const names = Object.keys(result.tables);
    for (const t of ['docs_fts_content', 'bare_content', 'sized_docsize', 'old_content']) expect(names).toContain(t);
    // plain's own _content and _docsize, docs_fts's _data, bare's _docsize are the virtual tables'.
    for (const t of ['plain_content', 'plain_docsize', 'docs_fts_data', 'old_segments', 'bare_docsize']) expect(names).not.toContain(t);
    expect(diffDumps(dumpDb(src), dumpDb(target))).toEqual([]);
    const db = new Database(target, { readonly: true });
    expect(db.prepare('SELECT note FROM docs_fts_content WHERE id = 1').pluck().get()).toBe('IMPORTANT');
    expect(db.prepare("SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'hello'").pluck().all()).toEqual([1]);
    db.close();
  });

  it('created after the virtual table that claims their name, are restored into a new file (SQLite reserves the name then)', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    build(
      src,
      `CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);
       CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id');
       CREATE TABLE docs_fts_content (id INTEGER PRIMARY KEY, note TEXT);
       CREATE INDEX docs_fts_content_note ON docs_fts_content (note);
       CREATE VIRTUAL TABLE sized USING fts5(body, content='docs', content_rowid='id', columnsize=0);
       CREATE TABLE sized_docsize (n);
       INSERT INTO docs VALUES (1, 'hello world');
       INSERT INTO docs_fts_content VALUES (1, 'IMPORTANT');
       INSERT INTO sized_docsize VALUES (7);
       INSERT INTO docs_fts (docs_fts) VALUES ('rebuild');`,
    );
    const { result, target } = await roundTrip(dir, src);
    expect(result.tables).toMatchObject({ docs_fts_content: 1, sized_docsize: 1 });
    expect(diffDumps(dumpDb(src), dumpDb(target))).toEqual([]);
    const db = new Database(target, { readonly: true });
    expect(db.prepare('SELECT note FROM docs_fts_content').pluck().all()).toEqual(['IMPORTANT']);
    expect(db.prepare("SELECT rowid FROM docs_fts WHERE docs_fts MATCH 'hello'").pluck().all()).toEqual([1]);
    expect(db.prepare('PRAGMA integrity_check').pluck().all()).toEqual(['ok']);
    db.close();
  });

  /** A dump of SCHEMA, and a target of the same schema whose docs_fts_content holds other rows than the dump's. */
  async function dumpAndHeldTarget(): Promise<{ dump: string; target: string }> {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    build(src, SCHEMA);
    const dump = join(dir, 'dump.ndjson.gz');
    await backupToFile(src, dump);
    const target = join(dir, 'target.db');
    build(target, SCHEMA.replace(/INSERT INTO (?!docs_fts_content)[^;]+;/g, '').replace(/'IMPORTANT'/, "'theirs'"));
    return { dump, target };
  }

  it('holding rows on a target, are data the restore refuses to overwrite, named', async () => {
    const { dump, target } = await dumpAndHeldTarget();
    const before = readFileSync(target);
    const refused = await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(target), confirm: true }).catch((e) => e);
    expect(refused).toMatchObject({ code: 'REFUSED' });
    expect(String(refused.message)).toContain('docs_fts_content');
    expect(readFileSync(target).equals(before)).toBe(true);
  });

  it('holding rows on a target, are replaced with --clean: the target then holds the dump’s rows', async () => {
    const { dump, target } = await dumpAndHeldTarget();
    const r = await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(target), confirm: true, clean: true });
    expect(r.verified).toBe(true);
    const db = new Database(target, { readonly: true });
    expect(db.prepare('SELECT id, note FROM docs_fts_content ORDER BY id').raw().all()).toEqual([
      [1, 'IMPORTANT'],
      [2, 'more'],
    ]);
    db.close();
  });
});

describe('a unique index named like SQLite’s own (old Prisma: `PRAGMA writable_schema=1; CREATE UNIQUE INDEX "sqlite_autoindex_T_2"`)', () => {
  const SCHEMA = `CREATE TABLE "Embedding" ("id" TEXT NOT NULL PRIMARY KEY, "tweetId" TEXT NOT NULL);
    PRAGMA writable_schema=1;
    CREATE UNIQUE INDEX "sqlite_autoindex_Embedding_2" ON "Embedding"("tweetId");
    PRAGMA writable_schema=0;
    INSERT INTO "Embedding" VALUES ('a', 't1'), ('b', 't2');`;

  it('is in the dump and comes back into a new file, still refusing a duplicate', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    build(src, SCHEMA);
    const { target } = await roundTrip(dir, src);
    const db = new Database(target);
    const sql = db.prepare("SELECT sql FROM sqlite_schema WHERE name = 'sqlite_autoindex_Embedding_2'").pluck().get();
    expect(sql).toBe('CREATE UNIQUE INDEX "sqlite_autoindex_Embedding_2" ON "Embedding"("tweetId")');
    expect(() => db.prepare("INSERT INTO \"Embedding\" VALUES ('c', 't1')").run()).toThrow(/UNIQUE constraint failed/);
    expect(db.prepare('PRAGMA integrity_check').pluck().all()).toEqual(['ok']);
    db.close();
    expect(diffDumps(dumpDb(src), dumpDb(target))).toEqual([]);
  });

  it('over HTTP, where the server cannot create it, fails the restore by name and leaves the target as it was', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    build(src, SCHEMA);
    const dump = join(dir, 'dump.ndjson.gz');
    await backupToFile(src, dump);
    const served = join(dir, 'served.db');
    new Database(served).close();
    const server = await startHranaServer({ db: served });
    try {
      const run = restore({ openInput: async () => createReadStream(dump), target: remoteTargetFactory(server.url, undefined), confirm: true });
      const refused = await run.catch((e) => e);
      // sqld refuses writable_schema (query_analysis.rs): the pipelined CREATE fails, named, and the load rolls back.
      expect(refused).toMatchObject({ code: 'REMOTE' });
      expect(String(refused.message)).toMatch(/sqlite_autoindex_Embedding_2.*reserved for internal use.*rolled back/);
    } finally {
      await server.close();
    }
    const db = new Database(served, { readonly: true });
    expect(db.prepare('SELECT count(*) FROM sqlite_schema').pluck().get()).toBe(0);
    db.close();
  });
});

describe('tables of 1,000 columns and more', () => {
  it('with rows large enough to be sized before they are paged, back up and restore (a sum of every column is not one deep expression)', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    const cols = Array.from({ length: 1999 }, (_, i) => `c${i}`);
    build(src, `CREATE TABLE wide (id INTEGER PRIMARY KEY, ${cols.join(', ')}); CREATE TABLE w1001 (${cols.slice(0, 1001).join(', ')});`, (db) => {
      db.prepare(`INSERT INTO wide VALUES (${Array(2000).fill('?').join(', ')})`).run(...Array.from({ length: 2000 }, (_, i) => i));
      db.prepare('INSERT INTO wide (id, c5) VALUES (5000, ?)').run('x'.repeat(3_000_000));
      db.prepare('INSERT INTO w1001 (c0) VALUES (?)').run('v'.repeat(20_000));
    });
    const { result, target } = await roundTrip(dir, src);
    expect(result.tables).toMatchObject({ wide: 2, w1001: 1 });
    // Too many columns for the suite's cell-by-cell comparison (3 per column): every row, each value's type and bytes.
    const rows = (path: string, table: string) => {
      const db = new Database(path, { readonly: true });
      const all = db.prepare(`SELECT * FROM ${table} ORDER BY rowid`).raw(true).safeIntegers(true).all();
      const types = db
        .prepare(
          `SELECT ${cols
            .slice(0, 1000)
            .map((c) => `typeof(${c})`)
            .join(', ')} FROM ${table} ORDER BY rowid`,
        )
        .raw(true)
        .all();
      db.close();
      return { all, types };
    };
    for (const t of ['wide', 'w1001']) expect(rows(target, t)).toEqual(rows(src, t));
  });
});

describe('a file: URL’s query', () => {
  it('is never shown: `migrate --status` names the file without its parameters', async () => {
    const dir = dirs.make();
    const run = await runCli(
      ['migrate', '--status', '--dir', join(process.cwd(), 'fixtures', 'prisma', 'migrations'), '--db', `file:${join(dir, 'x.db')}?authToken=SECRET-123`],
      {},
    );
    expect(run.code).toBe(1); // migrations pending
    expect(run.stdout + run.stderr).toContain(join(dir, 'x.db'));
    expect(run.stdout + run.stderr).not.toContain('SECRET-123');
  });
});

describe('an interrupt while the target is verified', () => {
  it('rolls the restore back: nothing is published, exit 130 (the read-back of large rows held the signal back)', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    build(src, 'CREATE TABLE b (id INTEGER PRIMARY KEY, t TEXT, x BLOB);', (db) => {
      db.prepare('INSERT INTO b VALUES (1, ?, ?)').run('a\u0000é'.repeat(4_000_000), Buffer.alloc(3_000_000, 7));
      db.prepare('INSERT INTO b VALUES (2, ?, NULL)').run('y'.repeat(2_000_000));
    });
    const dump = join(dir, 'dump.ndjson.gz');
    await backupToFile(src, dump);
    const target = join(dir, 'restored.db');
    const { entryPoint, NODE_FLAGS } = await import('../scripts/lib/launch.mjs');
    const child = spawn(process.execPath, [...NODE_FLAGS, await entryPoint(), 'restore', dump, '--target', `file:${target}`, '--confirm', '--quiet'], {
      cwd: dir,
      env: { ...process.env, TURSO_BACKUP_TRACE: '1', TURSO_BACKUP_ALIAS: undefined },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => {
      stderr += d;
      // Every row is in; the target's read-back of the large rows comes next.
      if (stderr.includes('restore: loaded') && !stderr.includes('SIGINT')) child.kill('SIGINT');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).toContain('SIGINT received');
    expect(stderr).not.toContain('restore: published');
    expect(code).toBe(130);
    expect(existsSync(target)).toBe(false);
    expect(readdirSync(dir).sort()).toEqual(['dump.ndjson.gz', 'dump.ndjson.gz.manifest.json', 'src.db']);
  }, 60_000);
});

describe('old double-quoted string literals in a table', () => {
  it('are read in the table’s own scope: a word that is a column of another table is still a string there', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    // Stored as a DQS SQLite (Prisma-era files) kept it: "active" and "done" are strings in t, which has no such
    // columns; `done` is a column of task. Created with single quotes, then the stored text put back.
    const legacy =
      'CREATE TABLE t (id INTEGER PRIMARY KEY, task INT REFERENCES "task"("id"), status TEXT DEFAULT "active" CHECK (status IN ("active", "done")))';
    build(
      src,
      "CREATE TABLE task (id INTEGER PRIMARY KEY, done INT); CREATE TABLE t (id INTEGER PRIMARY KEY, task INT REFERENCES task(id), status TEXT DEFAULT 'active' CHECK (status IN ('active', 'done')));" +
        " INSERT INTO task VALUES (1, 0); INSERT INTO t (id, task) VALUES (1, 1); INSERT INTO t VALUES (2, 1, 'done');",
      (db) => {
        db.pragma('writable_schema = ON');
        db.prepare("UPDATE sqlite_schema SET sql = ? WHERE name = 't'").run(legacy);
        db.pragma('writable_schema = OFF');
      },
    );
    const { target } = await roundTrip(dir, src);
    expect(diffDumps(dumpDb(src), dumpDb(target))).toEqual([]);
    const db = new Database(target);
    db.exec('INSERT INTO t (id, task) VALUES (3, 1)');
    expect(db.prepare('SELECT status FROM t WHERE id = 3').pluck().get()).toBe('active');
    expect(() => db.exec("INSERT INTO t VALUES (4, 1, 'other')")).toThrow(/CHECK constraint failed/);
    db.close();
  });
});

describe('rows the source holds that its CHECK constraints refuse', () => {
  // Written under PRAGMA ignore_check_constraints (or before a CHECK was edited into the schema): SQLite keeps them.
  function buildUnchecked(path: string) {
    build(path, 'CREATE TABLE p (id INTEGER PRIMARY KEY, qty INT CHECK (qty > 0), tag TEXT CHECK (length(tag) < 4));', (db) => {
      db.pragma('ignore_check_constraints = ON');
      db.exec("INSERT INTO p VALUES (1, 5, 'ok'), (2, -3, 'ok'), (3, 1, 'too long')");
    });
  }

  it('come back as they are (a backup that cannot be restored is no backup); the restored table enforces its CHECKs', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    buildUnchecked(src);
    const dump = join(dir, 'dump.ndjson.gz');
    await backupToFile(src, dump);
    const target = join(dir, 'restored.db');
    const r = await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(target), confirm: true });
    expect(r.warnings).toContainEqual(expect.stringMatching(/^table "p": 2 rows break its CHECK constraints .*as the dump holds them/));
    expect(diffDumps(dumpDb(src), dumpDb(target))).toEqual([]);
    const db = new Database(target);
    expect(() => db.exec('INSERT INTO p VALUES (4, 0, NULL)')).toThrow(/CHECK constraint failed/);
    db.close();
  });

  it('into a migrated target whose own CHECKs the rows break: loaded as the dump holds them, and the warning names the table', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    build(src, "CREATE TABLE p (id INTEGER PRIMARY KEY, qty INT, tag TEXT); INSERT INTO p VALUES (1, 5, 'ok'), (2, -3, 'ok');");
    const dump = join(dir, 'dump.ndjson.gz');
    await backupToFile(src, dump);
    const target = join(dir, 'migrated.db');
    build(target, 'CREATE TABLE p (id INTEGER PRIMARY KEY, qty INT CHECK (qty > 0), tag TEXT);');
    const r = await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(target), confirm: true });
    expect(r.verified).toBe(true);
    expect(r.warnings).toContainEqual(expect.stringMatching(/^table "p": 1 row breaks its CHECK constraints/));
    const clean = join(dir, 'clean.db');
    build(clean, 'CREATE TABLE p (id INTEGER PRIMARY KEY, qty INT CHECK (qty > -10), tag TEXT);');
    const ok = await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(clean), confirm: true });
    expect(ok.warnings.filter((w) => /CHECK/.test(w))).toEqual([]);
  });

  it('over HTTP, where sqld refuses the pragma, fail the load with the constraint named, and the target is as it was', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    buildUnchecked(src);
    const dump = join(dir, 'dump.ndjson.gz');
    await backupToFile(src, dump);
    const served = join(dir, 'served.db');
    new Database(served).close();
    const server = await startHranaServer({ db: served });
    const before = dumpDb(served);
    try {
      const run = restore({ openInput: async () => createReadStream(dump), target: remoteTargetFactory(server.url, undefined), confirm: true });
      await expect(run).rejects.toMatchObject({ code: 'CONSTRAINT', message: expect.stringMatching(/table "p": .*CHECK constraint failed.*rolled back/) });
    } finally {
      await server.close();
    }
    expect(diffDumps(before, dumpDb(served))).toEqual([]);
  });
});

describe('a target holding views and no tables', () => {
  it('is neither fresh nor migrated: refused, named, the file as it was (its user_version kept)', async () => {
    const dir = dirs.make();
    const src = join(dir, 'src.db');
    build(src, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t VALUES (1, 'a'); PRAGMA user_version = 3;");
    const dump = join(dir, 'dump.ndjson.gz');
    await backupToFile(src, dump);
    const target = join(dir, 'target.db');
    build(target, 'CREATE VIEW report AS SELECT 1 AS one; PRAGMA user_version = 42;');
    const before = readFileSync(target);
    const refused = await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(target), confirm: true }).catch((e) => e);
    expect(refused).toMatchObject({ code: 'REFUSED' });
    expect(String(refused.message)).toMatch(/1 view \("report"\) and no tables/);
    expect(readFileSync(target).equals(before)).toBe(true);
  });
});
