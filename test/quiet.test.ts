/**
 * `--quiet`, as every command's help says: "print no progress and no routine lines; warnings, problems and errors are
 * still printed". A cron job runs with --quiet, and its log is where an operator reads what went wrong.
 */
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { backupToFile, tempDirs } from './support/dumps.js';
import { runCli } from './support/scripts.js';

const dirs = tempDirs('tb-quiet-');
const clean = { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined, DEBUG: undefined };
let db: string;
let dump: string;

beforeAll(async () => {
  // A dangling foreign key and a row that breaks its CHECK (written with the checks off): a restore warns of both.
  db = join(dirs.make(), 'app.db');
  const d = new Database(db);
  d.pragma('foreign_keys = OFF');
  d.exec(`CREATE TABLE parent (id INTEGER PRIMARY KEY);
    CREATE TABLE child (id INTEGER PRIMARY KEY, pid INTEGER REFERENCES parent (id), x CHECK (x > 0));
    INSERT INTO child VALUES (1, 42, 1);`);
  d.pragma('ignore_check_constraints = 1');
  d.exec('INSERT INTO child VALUES (2, NULL, -5)');
  d.close();
  dump = join(dirs.make(), 'app.ndjson.gz');
  await backupToFile(db, dump);
});

describe('--quiet keeps warnings and problems', () => {
  it('restore: the warnings, and no routine line', async () => {
    const r = await runCli(['restore', dump, '--target', `file:${join(dirs.make(), 'new.db')}`, '--confirm', '--quiet'], clean);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(
      'warning: table "child": 1 row breaks its CHECK constraints on the target, loaded as the dump holds them (a restore brings rows back as they were); PRAGMA integrity_check lists them\n' +
        'warning: foreign key violations after the load: child (1)\n',
    );
  });

  it('drill: a failed drill says what failed and FAIL; a passing one says nothing', async () => {
    const r = await runCli(['drill', dump, '--quiet'], clean);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^ {2}FAIL {2}foreign_key_check: violations: child \(1\)$/m);
    expect(r.stdout).toMatch(/^ {2}note {2}table "child": 1 row breaks its CHECK constraints/m);
    expect(r.stdout).toMatch(/^FAIL: 2 tables, 2 rows restored in \d+ ms$/m);
    expect(r.stdout).not.toMatch(/PASS/);
  });

  it('backup: the warning about a partial dump left by an interrupted backup', async () => {
    const dir = dirs.make();
    writeFileSync(join(dir, '.old.ndjson.gz.partial-999999-deadbeef'), 'x');
    const r = await runCli(['backup', '--db', `file:${db}`, '--write', '--out', join(dir, 'b.ndjson.gz'), '--quiet'], clean);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^warning: .*\.old\.ndjson\.gz\.partial-999999-deadbeef .* is left from an interrupted backup: --clean-partials removes it\n$/);
  });
});
