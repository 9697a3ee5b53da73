/**
 * A target file the restore creates is loaded into a hidden scratch file, committed as it loads, re-checksummed by
 * a worker thread that follows the commits, and renamed into place only once verified (src/restore/load-verifier.ts).
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBenchDb } from '../bench/build-db.js';
import { restore, type RestoreOptions } from '../src/restore/restore.js';
import { startLoadVerifier, startVerifierThread } from '../src/restore/load-verifier.js';
import { checksumRows } from '../src/restore/verify-target.js';
import { openLocalDb } from '../src/db/local.js';
import { encodedPages } from '../src/db/pages.js';
import { localTargetFactory } from '../src/target/local.js';
import { backupToFile, dumpLines, gunzipFile, gzip, listDir, rejection, reseal, tempDirs } from './support/dumps.js';
import { diffDumps, dumpDb } from './support/nasty-db.js';
import { lastJson, runScript } from './support/scripts.js';

const dirs = tempDirs('tb-restore-verifier-');
const ROOT = new URL('../', import.meta.url).pathname;
let src: string;
let dump: string;

function restoreInto(target: string, dumpPath: string, opts: Partial<RestoreOptions> = {}) {
  return restore({ openInput: async () => createReadStream(dumpPath), target: localTargetFactory(target), confirm: true, ...opts });
}

function query(path: string, sql: string): unknown[][] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare(sql).raw(true).safeIntegers(true).all() as unknown[][];
  } finally {
    db.close();
  }
}

/** A database with foreign keys violated on purpose (loaded with enforcement off), and the dump of it. */
async function orphanDump(parentKey: 'primary key' | 'unique index') {
  const dir = dirs.make();
  const db = new Database(join(dir, 'orphans.db'));
  db.pragma('foreign_keys = OFF');
  db.exec(`
    CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT ${parentKey === 'primary key' ? 'UNIQUE' : ''});
    ${parentKey === 'unique index' ? 'CREATE UNIQUE INDEX parent_code ON parent (code);' : ''}
    CREATE TABLE child (id INTEGER PRIMARY KEY, parent_code TEXT REFERENCES parent (code), parent_id INTEGER REFERENCES parent (id));
    INSERT INTO parent VALUES (1, 'a'), (2, 'b');
    INSERT INTO child VALUES (1, 'a', 1), (2, 'zz', 2), (3, 'b', 99), (4, 'nope', 98);
  `);
  db.close();
  const out = join(dir, 'orphans.ndjson.gz');
  await backupToFile(join(dir, 'orphans.db'), out);
  return out;
}

beforeAll(async () => {
  const work = dirs.make();
  src = join(work, 'bench-small.db');
  // ~50k rows, ~14 MB of rows: the load commits several times per table while the worker follows.
  buildBenchDb(src, 0.05);
  dump = join(work, 'bench-small.ndjson.gz');
  await backupToFile(src, dump);
});
afterAll(() => dirs.cleanup());

describe('restore into a new file, verified while it loads', () => {
  it('is exact, leaves only the target (no scratch, -wal or -shm) and a rollback-journal database', async () => {
    const dir = dirs.make();
    const target = join(dir, 'restored.db');
    const seen: string[] = [];
    const r = await restoreInto(target, dump, {
      // While loading, the target's name is still free: rows go to a hidden scratch file beside it.
      onProgress: () => void seen.push(listDir(dir).join(',')),
    });
    expect(r.verified).toBe(true);
    expect(r.tables).toEqual({ User: 5000, Event: 42500, MediaAsset: 2500 });
    expect(seen.length).toBeGreaterThan(10);
    expect(seen.every((files) => !files.split(',').includes('restored.db') && /^\.restored\.db\.restore-[0-9a-f]+/.test(files))).toBe(true);
    expect(listDir(dir)).toEqual(['restored.db']);
    expect(query(target, 'PRAGMA journal_mode')).toEqual([['delete']]);
    expect(diffDumps(dumpDb(src), dumpDb(target))).toEqual([]);
    expect(query(target, 'PRAGMA integrity_check')).toEqual([['ok']]);
  });

  for (const parentKey of ['primary key', 'unique index'] as const) {
    it(`reports foreign key violations (parent key by ${parentKey}) like a check after the load`, async () => {
      const target = join(dirs.make(), 'orphans-restored.db');
      const r = await restoreInto(target, await orphanDump(parentKey));
      // Row 2 misses its parent code, row 3 its parent id, row 4 both: one violation per foreign key.
      expect(r.foreignKeyViolations).toEqual({ child: 4 });
      expect(query(target, 'SELECT "table", rowid FROM pragma_foreign_key_check ORDER BY rowid')).toEqual([
        ['child', 2n],
        ['child', 3n],
        ['child', 4n],
        ['child', 4n],
      ]);
    });
  }

  it('refuses rows that do not come back in key order (a forged dump), and creates nothing', async () => {
    // Every checksum and count is recomputed, so only the read-back on the target can see it.
    const lines = dumpLines(gunzipFile(dump));
    const start = lines.findIndex(
      (l) => l.startsWith('{') && (JSON.parse(l) as { type: string; name?: string }).type === 'table' && JSON.parse(l).name === 'Event',
    );
    [lines[start + 1000], lines[start + 20000]] = [lines[start + 20000]!, lines[start + 1000]!];
    const forged = join(dirs.make(), 'forged.gz');
    writeFileSync(forged, gzip(reseal(lines)));
    const dir = dirs.make();
    const e = await rejection(restoreInto(join(dir, 'never.db'), forged));
    expect((e as { code?: string }).code, e.message).toBe('CORRUPT');
    expect(e.message).toMatch(/table "Event" does not match the dump after loading/);
    expect(listDir(dir)).toEqual([]);
  });

  it('never replaces a file that appeared at the target path while it loaded', async () => {
    const dir = dirs.make();
    const target = join(dir, 'raced.db');
    let planted = false;
    const e = await rejection(
      restoreInto(target, dump, {
        onProgress: () => {
          if (planted) return;
          writeFileSync(target, 'someone else');
          planted = true;
        },
      }),
    );
    expect((e as { code?: string }).code, e.message).toBe('REFUSED');
    expect(e.message).toMatch(/appeared while the restore ran/);
    expect(readFileSync(target, 'utf8')).toBe('someone else');
    expect(listDir(dir)).toEqual(['raced.db']);
  });

  it('SIGTERM mid-load (the operator command): exit 143, no target and no scratch file', async () => {
    const dir = dirs.make();
    const target = join(dir, 'interrupted.db');
    const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts', 'restore-turso.ts'), dump, '--confirm'], {
      cwd: ROOT,
      env: { ...process.env, TURSO_DATABASE_URL: `file:${target}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
    const started = Date.now();
    while (!listDir(dir).some((f) => f.includes('.restore-')) && Date.now() - started < 30_000) await new Promise((r) => setTimeout(r, 10));
    child.kill('SIGTERM');
    expect(await exited).toBe(143);
    expect(stderr).toMatch(/interrupted|SIGTERM/);
    expect(existsSync(target)).toBe(false);
    expect(listDir(dir)).toEqual([]);
  });

  it('a verifying thread that cannot do its work says so instead of vouching (the restore then verifies after the load)', async () => {
    const missing = join(dirs.make(), 'not-there.db');
    const v = await startLoadVerifier({ path: missing, checkpoint: async () => {}, follow: async () => {}, rowsLoaded: async () => {} }, [
      { info: { name: 't', dataColumns: ['rowid'], keyColumns: ['rowid'] } as never, rowidName: 'rowid' },
    ]);
    const r = await v.results();
    expect(r).toEqual({ failure: expect.stringMatching(/not-there\.db does not exist/) });
  });

  it('a verifying thread locked out of the file with no commit in between gives up, and says so', async () => {
    const path = join(dirs.make(), 'held.db');
    const db = new Database(path);
    db.exec('CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO a VALUES (1, 2)');
    // Another connection holds the file's exclusive lock (as a writer spilling its pages into the file would), and
    // no commit comes: the thread neither sleeps in SQLite's busy handler (10 s) nor waits forever.
    db.exec('BEGIN EXCLUSIVE');
    const scratch = { path, checkpoint: async () => {}, follow: async () => {}, rowsLoaded: async () => {} };
    const info = { name: 'a', dataColumns: ['id', 'v'], keyColumns: ['id'], rowidColumn: true } as never;
    const started = Date.now();
    const v = await startLoadVerifier(scratch, [{ info, rowidName: 'rowid' }], 300);
    const r = await v.results();
    db.exec('COMMIT');
    db.close();
    expect(r).toEqual({ failure: expect.stringMatching(/stayed locked for 0\.3 s/) });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("a table's first reads (its key's collation, the encoding probe) wait for the writer's lock like its pages do", async () => {
    // The verifier failed ("database is locked") in about one restore of three, or fell back to encoding every page
    // in JavaScript, when a commit happened to lock it out just as it turned to a table.
    const path = join(dirs.make(), 'turn.db');
    const writer = new Database(path);
    writer.exec("CREATE TABLE t (k TEXT COLLATE NOCASE PRIMARY KEY, v) WITHOUT ROWID; INSERT INTO t VALUES ('a', 1), ('B', 2.5)");
    const reader = openLocalDb(path, { readonly: true, busyTimeoutMs: 0 });
    writer.exec('BEGIN EXCLUSIVE'); // as a commit holds it, from before the table's first read
    let waits = 0;
    const growing = {
      state: () => ({ complete: true, gen: 0 }),
      changed: async () => {},
      locked: async () => {
        if (++waits === 3) writer.exec('COMMIT'); // the commit ends after a few tries
      },
    };
    const pages = [];
    for await (const page of encodedPages(reader, { name: 't', dataColumns: ['k', 'v'], keyColumns: ['k'] }, { growing })) pages.push(page);
    expect(waits).toBe(3);
    expect(await reader.encodesInSql()).toBe(true); // the probe that met the lock was asked again, not answered "no"
    expect(Buffer.concat(pages.map((p) => p.bytes)).toString()).toBe('["a",1]\n["B",2.5]\n');
    await reader.close();
    writer.close();
  });

  it('names a scratch file that a killed restore left beside the target', async () => {
    const dir = dirs.make();
    writeFileSync(join(dir, '.again.db.restore-0badf00d'), '');
    const r = await restoreInto(join(dir, 'again.db'), await orphanDump('primary key'), { confirm: false });
    expect(r.warnings).toContain(`${join(dir, '.again.db.restore-0badf00d')} is left from an interrupted restore: remove it (and its -wal/-shm files)`);
  });

  it('the verifier follows the commits of a scratch file table by table (rollback journal, locks contended), and loaded() completes whatever it still waits for', async () => {
    const path = join(dirs.make(), 'follow.db');
    const target = await localTargetFactory(path).open({ create: true });
    await target.beginLoad({ journalMode: 'wal' });
    const db = (target.db as unknown as { handle: Database.Database }).handle;
    expect(db.pragma('journal_mode', { simple: true })).toBe('memory');
    db.exec('CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE b (k TEXT PRIMARY KEY, v) WITHOUT ROWID');
    const info = (name: string, cols: string[], keys: string[], rowidColumn: boolean) => ({ name, dataColumns: cols, keyColumns: keys, rowidColumn }) as never;
    const v = await startLoadVerifier(target.scratch!, [
      { info: info('a', ['id', 'v'], ['id'], true), rowidName: 'rowid' },
      { info: info('b', ['k', 'v'], ['k'], false), rowidName: null },
    ]);
    // Many small commits while the thread reads: each one locks it out for a moment (and it may lock out the writer).
    const insA = db.prepare('INSERT INTO a VALUES (?, ?)');
    for (let i = 1; i <= 30_000; i++) {
      insA.run(i, `row ${i} ${'x'.repeat(i % 300)}`);
      if (i % 250 === 0) await v.committed();
    }
    await v.committed('a');
    db.prepare('INSERT INTO b VALUES (?, ?)').run('x', 1);
    // b is never declared complete: loaded() must end it, or results() would wait forever.
    await v.loaded();
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal'); // what is built after the rows: no lock-out
    db.exec('CREATE INDEX a_v ON a (v)');
    const r = await v.results();
    await target.commit();
    await target.close();
    if ('failure' in r) throw new Error(r.failure);
    expect(r.tables.get('a')!.rows).toBe(30_000);
    expect(r.tables.get('b')!.rows).toBe(1);
    expect(r.foreignKeys).toEqual({});
    // The same checksums as a read of the finished file, published in the journal mode asked for.
    const source = openLocalDb(path, { readonly: true });
    expect(r.tables.get('a')).toEqual(await checksumRows(source, info('a', ['id', 'v'], ['id'], true), 'rowid'));
    expect(r.tables.get('b')).toEqual(await checksumRows(source, info('b', ['k', 'v'], ['k'], false), null));
    expect(source.handle.pragma('journal_mode', { simple: true })).toBe('wal');
    await source.close();
  });

  it("the verifier's foreign key check waits for loaded(): it never holds the file while the load's last commit needs it", async () => {
    const thread = startVerifierThread();
    const path = join(dirs.make(), 'fk-wait.db');
    const target = await localTargetFactory(path).open({ create: true });
    await target.beginLoad({});
    const db = (target.db as unknown as { handle: Database.Database }).handle;
    db.exec('CREATE TABLE p (id INTEGER PRIMARY KEY); CREATE TABLE c (id INTEGER PRIMARY KEY, p INTEGER REFERENCES p (id))');
    const info = (name: string) => ({ name, dataColumns: ['id', ...(name === 'c' ? ['p'] : [])], keyColumns: ['id'], rowidColumn: true }) as never;
    const seen: string[] = [];
    thread.worker.on('message', (m: object) => seen.push(Object.keys(m).includes('foreignKeys') ? 'foreignKeys' : 'table'));
    const v = await startLoadVerifier(
      target.scratch!,
      [
        { info: info('p'), rowidName: 'rowid' },
        { info: info('c'), rowidName: 'rowid' },
      ],
      undefined,
      thread,
    );
    db.exec('INSERT INTO p VALUES (1), (2); INSERT INTO c VALUES (1, 1), (2, 9)');
    await v.committed('p');
    await v.committed('c');
    // Every table is complete: once both are checksummed (however long a busy machine takes), the check must still
    // wait, since with the load's rollback journal it would lock the writer out.
    for (const until = Date.now() + 20_000; seen.length < 2 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 20));
    await new Promise((r) => setTimeout(r, 500));
    expect(seen).toEqual(['table', 'table']);
    expect(db.pragma('journal_mode', { simple: true })).toBe('memory');
    await v.loaded();
    const r = await v.results();
    await target.commit();
    await target.close();
    if ('failure' in r) throw new Error(r.failure);
    expect(seen).toEqual(['table', 'table', 'foreignKeys']);
    expect(r.foreignKeys).toEqual({ c: 1 });
  });

  it('a verifying thread started ahead of the load waits for its work, then vouches for the rows committed after it started', async () => {
    const thread = startVerifierThread(); // as restore() starts it, beside pass 1
    await new Promise((r) => setTimeout(r, 300)); // its modules are loaded; nothing to read yet
    const path = join(dirs.make(), 'ahead.db');
    const target = await localTargetFactory(path).open({ create: true });
    await target.beginLoad({});
    const db = (target.db as unknown as { handle: Database.Database }).handle;
    db.exec('CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT, r REAL, b BLOB)');
    const info = { name: 'a', dataColumns: ['id', 'v', 'r', 'b'], keyColumns: ['id'], rowidColumn: true } as never;
    const v = await startLoadVerifier(target.scratch!, [{ info, rowidName: 'rowid' }], undefined, thread);
    const ins = db.prepare('INSERT INTO a VALUES (?, ?, ?, ?)');
    for (let i = 1; i <= 5000; i++) {
      ins.run(i, `row ${i} ${'é'.repeat(i % 700)}`, i / 7, Buffer.alloc(i % 50, i));
      if (i % 500 === 0) await v.committed();
    }
    await v.committed('a');
    await v.loaded();
    const r = await v.results();
    await target.commit();
    await target.close();
    if ('failure' in r) throw new Error(r.failure);
    const source = openLocalDb(path, { readonly: true });
    expect(r.tables.get('a')).toEqual({ rows: 5000, sha256: (await checksumRows(source, info, 'rowid')).sha256 });
    await source.close();
  });

  it('a dump with nothing to load, into a new file: the thread started beside pass 1 is ended, and the command exits', { timeout: 60_000 }, async () => {
    const dir = dirs.make();
    const empty = join(dir, 'empty.db');
    const db = new Database(empty);
    db.exec('CREATE VIEW v AS SELECT 1 AS one'); // a schema, and no table
    db.close();
    const out = join(dir, 'empty.ndjson.gz');
    await backupToFile(empty, out);
    const target = join(dir, 'restored.db');
    // A thread left waiting for its work would keep the process alive: the run would never end.
    const r = await runScript('restore-turso', [out, '--confirm', '--json'], { TURSO_DATABASE_URL: `file:${target}` });
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ verified: true });
    expect(query(target, "SELECT name FROM sqlite_schema WHERE type = 'view'")).toEqual([['v']]);
  });

  it('a thread started ahead that is gone before its work comes vouches for nothing: the restore verifies after the load', async () => {
    const thread = startVerifierThread();
    await thread.worker.terminate(); // as restore() ends it when no load follows
    const path = join(dirs.make(), 'gone.db');
    const target = await localTargetFactory(path).open({ create: true });
    await target.beginLoad({});
    (target.db as unknown as { handle: Database.Database }).handle.exec('CREATE TABLE a (id INTEGER PRIMARY KEY)');
    const info = { name: 'a', dataColumns: ['id'], keyColumns: ['id'], rowidColumn: true } as never;
    const v = await startLoadVerifier(target.scratch!, [{ info, rowidName: 'rowid' }], undefined, thread);
    await v.loaded();
    expect(await v.results()).toEqual({ failure: 'it stopped before it finished' });
    await target.rollback();
    await target.close();
  });

  it('a foreign key SQLite cannot check (no usable parent index) is named, and the other tables are still checked', async () => {
    const dir = dirs.make();
    const db = new Database(join(dir, 'mismatch.db'));
    db.pragma('foreign_keys = OFF');
    db.exec(`
      CREATE TABLE org (id INTEGER PRIMARY KEY, slug TEXT NOT NULL);
      CREATE UNIQUE INDEX org_slug ON org (slug COLLATE NOCASE); -- not the column's collation: no parent key
      CREATE TABLE member (org_slug TEXT REFERENCES org (slug), email TEXT);
      CREATE TABLE post (id INTEGER PRIMARY KEY, org_id INTEGER REFERENCES org (id));
      INSERT INTO org VALUES (1, 'a');
      INSERT INTO member VALUES ('a', 'x@y'), ('nope', 'z@y');
      INSERT INTO post VALUES (1, 1), (2, 42);
    `);
    db.close();
    const out = join(dir, 'mismatch.ndjson.gz');
    await backupToFile(join(dir, 'mismatch.db'), out);
    const existing = join(dirs.make(), 'existing-empty.db');
    new Database(existing).close(); // an existing (empty) file: the one-transaction path
    for (const target of [join(dirs.make(), 'fresh.db'), existing]) {
      const r = await restoreInto(target, out);
      expect(r.verified).toBe(true);
      expect(r.foreignKeyViolations).toEqual({ post: 1 });
      expect(r.foreignKeysUnchecked).toEqual(['member']);
      expect(r.warnings).toContainEqual(
        expect.stringMatching(
          /^the foreign keys of table "member" cannot be checked: foreign key mismatch - "member" referencing "org" \(its parent key has no PRIMARY KEY or UNIQUE index/,
        ),
      );
      expect(query(target, 'SELECT count(*) FROM member')).toEqual([[2n]]);
    }
  });
});
