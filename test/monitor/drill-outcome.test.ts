/**
 * What a drill records: only a drill that ran and found the dump or the restore bad is a FAIL (exit 3, a record
 * beside the dump, "Last restore drill FAIL" on the status page). A drill that could not start (the key of an
 * encrypted dump not set, credentials the target refused, a target it cannot reach) exits as its error does and
 * records nothing: the backup is fine, the operator's setup is not.
 */
import Database from 'better-sqlite3';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backupToFile, buildTinyDb, tempDirs } from '../support/dumps.js';
import { startHranaServer } from '../support/hrana-server.js';
import { lastJson, runCli } from '../support/scripts.js';

const dirs = tempDirs('tb-drill-outcome-');
afterAll(() => dirs.cleanup());

const KEY = 'ab'.repeat(32);
const clean = { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined, BLOB_READ_WRITE_TOKEN: undefined, BACKUP_ENCRYPTION_KEY: undefined };
const drillRecords = (dir: string) => readdirSync(dir).filter((n) => n.includes('.drill-'));
const lines = (s: string) => s.split('\n').filter((l) => l.trim() !== '');
let db: string;

beforeAll(() => {
  db = join(dirs.make(), 'app.db');
  buildTinyDb(db);
});

describe('a drill that could not start records nothing', () => {
  it('an encrypted dump without BACKUP_ENCRYPTION_KEY: exit 2, one line, no record; with the key it passes', async () => {
    const d = dirs.make();
    const dump = join(d, 'enc.ndjson.gz');
    const made = await runCli(['backup', '--db', `file:${db}`, '--write', '--out', dump, '--encrypt', '--quiet'], { ...clean, BACKUP_ENCRYPTION_KEY: KEY });
    expect(made.code, made.stderr).toBe(0);

    const r = await runCli(['drill', dump, '--json'], clean);
    expect(r.code, r.stderr).toBe(2);
    expect(lastJson(r.stdout)).toEqual({ ok: false, code: 'CONFIG', message: expect.stringMatching(/the dump is encrypted: set BACKUP_ENCRYPTION_KEY/) });
    expect(lines(r.stderr).filter((l) => !l.startsWith('restore drill:'))).toHaveLength(1);
    expect(r.stdout + r.stderr).not.toMatch(/FAIL/);
    expect(drillRecords(d)).toEqual([]);

    const ok = await runCli(['drill', dump, '--json'], { ...clean, BACKUP_ENCRYPTION_KEY: KEY });
    expect(ok.code, ok.stderr).toBe(0);
    expect(drillRecords(d)).toHaveLength(1);
  });

  it('a --target that refuses the token (HTTP 401): exit 1, one line, no record', async () => {
    const d = dirs.make();
    const dump = join(d, 'plain.ndjson.gz');
    await backupToFile(db, dump);
    const server = await startHranaServer({ db: join(dirs.make(), 'scratch.db'), token: 'the-right-token-123' });
    try {
      const r = await runCli(['drill', dump, '--target', server.url, '--auth-token-env', 'DRILL_TOKEN', '--json'], {
        ...clean,
        DRILL_TOKEN: 'a-wrong-token-456',
      });
      expect(r.code, r.stderr).toBe(1);
      expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'AUTH', message: expect.stringMatching(/refused the token \(HTTP 401\)/) });
      expect(lines(r.stderr).filter((l) => !l.startsWith('restore drill:'))).toHaveLength(1);
      expect(r.stdout + r.stderr).not.toContain('a-wrong-token-456');
      expect(drillRecords(d)).toEqual([]);
    } finally {
      await server.close();
    }
  });

  it('a --target it cannot reach (a closed port): exit 1, one line naming the host, no record', async () => {
    // Recorded as the dump's FAIL before: the status page and `check` showed a sound backup failing its drill.
    const d = dirs.make();
    const dump = join(d, 'plain.ndjson.gz');
    await backupToFile(db, dump);
    const gone = await startHranaServer({ db: join(dirs.make(), 'gone.db'), token: 'the-right-token-123' });
    await gone.close();
    const r = await runCli(['drill', dump, '--target', gone.url, '--auth-token-env', 'DRILL_TOKEN', '--json'], {
      ...clean,
      DRILL_TOKEN: 'the-right-token-123',
    });
    expect(r.code, r.stderr).toBe(1);
    expect(lastJson(r.stdout)).toMatchObject({
      ok: false,
      code: 'REMOTE',
      message: expect.stringMatching(/cannot reach 127\.0\.0\.1:\d+: connection refused/),
    });
    expect(lines(r.stderr).filter((l) => !l.startsWith('restore drill:'))).toHaveLength(1);
    expect(r.stdout + r.stderr).not.toMatch(/FAIL|left in place|recorded/);
    expect(drillRecords(d)).toEqual([]);
  });

  it('a --target that cannot be a database (its folder is missing): exit 1, one line, no record', async () => {
    const d = dirs.make();
    const dump = join(d, 'plain.ndjson.gz');
    await backupToFile(db, dump);
    const r = await runCli(['drill', dump, '--target', `file:${join(d, 'missing', 'drill.db')}`, '--json'], clean);
    expect(r.code, r.stderr).toBe(1);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'NOT_FOUND', message: expect.stringMatching(/the target's directory .* does not exist/) });
    expect(r.stdout + r.stderr).not.toMatch(/FAIL/);
    expect(drillRecords(d)).toEqual([]);
  });

  it('a --target holding data of its own: exit 1, one line naming the refusal, no record (the backup is not at fault)', async () => {
    const d = dirs.make();
    const dump = join(d, 'plain.ndjson.gz');
    await backupToFile(db, dump);
    const other = join(dirs.make(), 'other.db');
    const o = new Database(other);
    o.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO notes (v) VALUES ('theirs'), ('more');");
    o.close();
    const r = await runCli(['drill', dump, '--target', `file:${other}`, '--json'], clean);
    expect(r.code, r.stderr).toBe(1);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'REFUSED' });
    expect(lines(r.stderr).filter((l) => !l.startsWith('restore drill:'))).toHaveLength(1);
    expect(r.stdout + r.stderr).not.toMatch(/FAIL/);
    expect(drillRecords(d)).toEqual([]);
  });
});

describe('a drill that ran and found the backup sound', () => {
  it('a backup holding an external-content FTS5 table (rebuilt, not loaded) passes, manifest check included', async () => {
    const d = dirs.make();
    const src = join(d, 'fts.db');
    const f = new Database(src);
    f.exec(`CREATE TABLE docs (id INTEGER PRIMARY KEY, body TEXT);
      CREATE VIRTUAL TABLE docs_fts USING fts5(body, content='docs', content_rowid='id');
      CREATE VIRTUAL TABLE empty_idx USING fts5(a, content='');
      INSERT INTO docs VALUES (1, 'hello world'), (2, 'more words');
      INSERT INTO docs_fts (docs_fts) VALUES ('rebuild');`);
    f.close();
    const dump = join(d, 'fts.ndjson.gz');
    const made = await runCli(['backup', '--db', `file:${src}`, '--write', '--out', dump, '--quiet'], clean);
    expect(made.code, made.stderr).toBe(0);
    const r = await runCli(['drill', dump, '--json'], clean);
    expect(r.code, r.stderr).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ ok: true, pass: true });
    expect(r.stderr).toMatch(/manifest/);
    expect(r.stderr).not.toMatch(/FAIL/);
  });
});

describe('a drill into a freshly migrated --target', () => {
  it('passes, the target keeping its own _prisma_migrations; run again into the target it left, passes again', async () => {
    const d = dirs.make();
    const src = join(d, 'app.db');
    const made = await runCli(
      ['migrate', '--db', `file:${src}`, '--dir', join(process.cwd(), 'fixtures', 'prisma', 'migrations'), '--confirm', '--quiet'],
      clean,
    );
    expect(made.code, made.stderr).toBe(0);
    const dump = join(d, 'app.ndjson.gz');
    expect((await runCli(['backup', '--db', `file:${src}`, '--write', '--out', dump, '--quiet'], clean)).code).toBe(0);
    const target = join(dirs.make(), 'mig.db');
    const mig = await runCli(
      ['migrate', '--db', `file:${target}`, '--dir', join(process.cwd(), 'fixtures', 'prisma', 'migrations'), '--confirm', '--quiet'],
      clean,
    );
    expect(mig.code, mig.stderr).toBe(0);
    for (const run of [1, 2]) {
      const r = await runCli(['drill', dump, '--target', `file:${target}`, '--json'], clean);
      expect(r.code, `run ${run}: ${r.stderr}`).toBe(0);
      expect(lastJson(r.stdout)).toMatchObject({ ok: true, pass: true });
    }
  });
});

describe('a drill that ran and found the dump bad', () => {
  it('a damaged dump: FAIL, exit 3, and the FAIL is recorded beside it', async () => {
    const d = dirs.make();
    const dump = join(d, 'damaged.ndjson.gz');
    await backupToFile(db, dump);
    // Same size (the manifest still matches), one byte changed inside the gzip data.
    const bytes = readFileSync(dump);
    bytes[200] = bytes[200]! ^ 0xff;
    writeFileSync(dump, bytes);
    const r = await runCli(['drill', dump, '--json'], clean);
    expect(r.code, r.stderr).toBe(3);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, pass: false });
    expect(r.stderr).toMatch(/FAIL {2}restore: /);
    const records = drillRecords(d);
    expect(records).toHaveLength(1);
    expect(JSON.parse(readFileSync(join(d, records[0]!), 'utf8'))).toMatchObject({ pass: false, dump: 'damaged.ndjson.gz' });
  });
});

describe('one count for one backup', () => {
  it('drill, check and verify agree on the tables and rows of a dump with AUTOINCREMENT counters', async () => {
    const d = dirs.make();
    const src = join(d, 'seq.db');
    const s = new Database(src);
    s.exec("CREATE TABLE u (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT); INSERT INTO u (v) VALUES ('a'), ('b'), ('c');");
    s.close();
    const dump = join(d, 'b', 'seq.ndjson.gz');
    expect((await runCli(['backup', '--db', `file:${src}`, '--write', '--out', dump, '--quiet'], clean)).code).toBe(0);
    const check = await runCli(['check', '--dir', join(d, 'b')], clean);
    expect(check.stdout).toMatch(/complete: 2 tables, 4 rows,/);
    const verify = lastJson((await runCli(['verify', dump, '--json'], clean)).stdout) as { tables: Record<string, number>; totalRows: number };
    expect(verify).toMatchObject({ tables: { u: 3, sqlite_sequence: 1 }, totalRows: 4 });
    const drill = await runCli(['drill', dump, '--json'], clean);
    expect(drill.code, drill.stderr).toBe(0);
    expect(drill.stderr + drill.stdout).toMatch(/PASS: 2 tables, 4 rows restored in \d+ ms/);
    expect(drill.stderr + drill.stdout).toMatch(/PASS {2}restore: dump verified, 2 tables loaded and re-verified/);
    expect((lastJson(drill.stdout) as { tables: Record<string, number> }).tables).toEqual(verify.tables);
  }, 60_000);
});
