/** migrate-turso as an operator runs it: dry run, --confirm, --status, refusals, failures and their resolution. */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { tempDirs } from './support/dumps.js';
import { lastJson, runScript } from './support/scripts.js';

const FIXTURES = new URL('../fixtures/prisma/migrations', import.meta.url).pathname;
const dirs = tempDirs('tb-migrate-');
afterAll(() => dirs.cleanup());

let dir: string;
let migrations: string;
let db: string;
const env = () => ({ TURSO_DATABASE_URL: `file:${db}`, TURSO_AUTH_TOKEN: undefined, DEBUG: undefined });
const migrate = (...args: string[]) => runScript('migrate-turso', ['--dir', migrations, ...args], env());

beforeEach(() => {
  dir = dirs.make();
  migrations = join(dir, 'migrations');
  cpSync(FIXTURES, migrations, { recursive: true });
  db = join(dir, 'app.db');
});

const rows = (sql: string, ...args: unknown[]) => {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all(...args) as Record<string, unknown>[];
  } finally {
    d.close();
  }
};

function addMigration(name: string, sql: string) {
  mkdirSync(join(migrations, name));
  writeFileSync(join(migrations, name, 'migration.sql'), sql);
}

const BROKEN = '20240301000000_broken';
/** A migration whose second statement fails: the first stays applied, the third never runs (as with Prisma). */
const BROKEN_SQL = 'CREATE TABLE "Before" (x);\nINSERT INTO "Missing" ("a") VALUES (1);\nCREATE TABLE "After" (y);\n';

describe('migrate-turso', () => {
  it('dry run lists the pending migrations and creates nothing', async () => {
    const r = await migrate('--json');
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ mode: 'dry-run', applied: [], pending: ['20240101000000_init', '20240215093000_post_published'] });
    expect(existsSync(db)).toBe(false);
  });

  it('--confirm applies them in order and records each as Prisma does; a second run skips them', async () => {
    const r = await migrate('--confirm', '--json');
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout).applied).toEqual(['20240101000000_init', '20240215093000_post_published']);
    const recorded = rows('SELECT * FROM _prisma_migrations ORDER BY migration_name');
    expect(recorded.map((m) => m.migration_name)).toEqual(['20240101000000_init', '20240215093000_post_published']);
    for (const m of recorded) {
      const file = readFileSync(join(migrations, String(m.migration_name), 'migration.sql'));
      expect(m.checksum).toBe(createHash('sha256').update(file).digest('hex'));
      expect(m.finished_at).not.toBeNull();
      expect(m.rolled_back_at).toBeNull();
      expect(m.logs).toBeNull();
      expect(m.applied_steps_count).toBe(1);
    }
    // The RedefineTables migration ran whole: the new column, the trigger, the seeded roles.
    expect(rows("SELECT name FROM pragma_table_info('Post') WHERE name = 'published'")).toHaveLength(1);
    expect(rows("SELECT name FROM sqlite_schema WHERE type = 'trigger'")).toEqual([{ name: 'Post_audit_insert' }]);
    expect(rows('SELECT id FROM "Role" ORDER BY id').map((r) => r.id)).toEqual(['admin', 'owner', 'user']);

    const again = await migrate('--confirm', '--json');
    expect(again.code).toBe(0);
    expect(lastJson(again.stdout)).toMatchObject({ applied: [], pending: [] });
    expect(rows('SELECT count(*) AS n FROM _prisma_migrations')[0]!.n).toBe(2);
  });

  it('an applied migration edited afterwards: a warning naming it, never run again, the rest applied (as prisma migrate deploy)', async () => {
    expect((await migrate('--confirm')).code).toBe(0);
    const file = join(migrations, '20240101000000_init', 'migration.sql');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\n-- edited\n`);
    addMigration('20240320000000_next', 'CREATE TABLE "Next" (id INTEGER PRIMARY KEY);\n');
    const r = await migrate('--confirm', '--json');
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ applied: ['20240320000000_next'], edited: ['20240101000000_init'] });
    const warnings = r.stderr.split('\n').filter((l) => l.startsWith('warning:'));
    expect(warnings).toEqual([
      'warning: migration 20240101000000_init: its migration.sql changed after it was applied (it no longer matches the recorded checksum); it is not run again (prisma migrate deploy does not re-run applied migrations either): to change the database, add a new migration',
    ]);
    expect(rows('SELECT count(*) AS n FROM _prisma_migrations WHERE migration_name = ?', '20240101000000_init')[0]!.n).toBe(1);
    const status = await migrate('--status');
    expect(status.code).toBe(0);
    expect(status.stdout.split('\n').filter((l) => l.startsWith('warning:'))).toEqual(warnings);
    expect(status.stdout).toMatch(/database is up to date/);
  });

  it('--confirm creates a file database in a folder that does not exist yet, as the schema engine does', async () => {
    const nested = join(dir, 'data', 'sqlite', 'app.db');
    const r = await runScript('migrate-turso', ['--dir', migrations, '--db', `file:${nested}`, '--confirm'], env());
    expect(r.code).toBe(0);
    db = nested;
    expect(rows('SELECT count(*) AS n FROM _prisma_migrations WHERE finished_at IS NOT NULL')).toEqual([{ n: 2 }]);
    // A restore fills it next: it is made 0600, as a restore's new file is (the rows it will hold are the dump's).
    expect(statSync(nested).mode & 0o777).toBe(0o600);
  });

  it('--confirm prints the state before the run, then each migration as it is applied, then done', async () => {
    const r = await migrate('--confirm');
    expect(r.code).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual([
      `0 applied, 2 pending in ${migrations}`,
      '  applied: 20240101000000_init',
      '  applied: 20240215093000_post_published',
      'done: 2 migrations applied',
    ]);
  });

  it("accepts an applied migration checked out with other line endings (Prisma's checksum rule)", async () => {
    expect((await migrate('--confirm')).code).toBe(0);
    for (const name of ['20240101000000_init', '20240215093000_post_published']) {
      const file = join(migrations, name, 'migration.sql');
      writeFileSync(file, readFileSync(file, 'utf8').replaceAll('\n', '\r\n'));
    }
    addMigration('20240320000000_next', 'CREATE TABLE "Next" (id INTEGER PRIMARY KEY);\r\n');
    const r = await migrate('--confirm', '--json');
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout).applied).toEqual(['20240320000000_next']);
    const status = await migrate('--status', '--json');
    expect(status.code).toBe(0);
    expect(lastJson(status.stdout)).toMatchObject({ changed: [], pending: [], upToDate: true });
  });

  it('a failing migration stops where it failed, is recorded as Prisma records it, and blocks the next run', async () => {
    addMigration(BROKEN, BROKEN_SQL);
    const r = await migrate('--confirm');
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `migrate-turso: error: migration ${BROKEN} failed at line 2 of migration.sql: no such table: Missing; to go on: fix migration.sql (and undo what ran of it), then --mark-rolled-back ${BROKEN} --confirm and run again; --status shows where it stands`,
    ]);
    expect(rows("SELECT name FROM sqlite_schema WHERE name IN ('Before', 'After')")).toEqual([{ name: 'Before' }]);
    const [row] = rows('SELECT * FROM _prisma_migrations WHERE migration_name = ?', BROKEN);
    expect(row).toMatchObject({ finished_at: null, rolled_back_at: null, applied_steps_count: 0 });
    expect(row!.logs).toBe(
      'A migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve\n\n' +
        `Migration name: ${BROKEN}\n\nDatabase error code: 1\n\nDatabase error:\nno such table: Missing\n\n`,
    );
    const next = await migrate('--confirm');
    expect(next.code).toBe(1);
    expect(next.stderr).toMatch(new RegExp(`migration ${BROKEN} failed \\(started .*: no such table: Missing\\); .*--mark-rolled-back ${BROKEN}`));
  });

  it('--status reports it; fixing the file, --mark-rolled-back and a re-run apply it (the runbook path)', async () => {
    addMigration(BROKEN, BROKEN_SQL);
    expect((await migrate('--confirm')).code).toBe(1);
    const status = await migrate('--status', '--json');
    expect(status.code).toBe(1);
    expect(lastJson(status.stdout)).toMatchObject({
      mode: 'status',
      applied: ['20240101000000_init', '20240215093000_post_published'],
      pending: [],
      failed: [{ name: BROKEN, error: 'no such table: Missing' }],
      upToDate: false,
    });
    expect(status.stderr).toMatch(new RegExp(`failed \\(1\\):\\n  ${BROKEN}`));

    // The fix: the statements before the failure ran; the corrected file must be re-runnable on top of them.
    writeFileSync(join(migrations, BROKEN, 'migration.sql'), 'CREATE TABLE IF NOT EXISTS "Before" (x);\nCREATE TABLE "After" (y);\n');
    const dry = await migrate('--mark-rolled-back', BROKEN, '--json');
    expect(dry.code).toBe(0);
    expect(lastJson(dry.stdout)).toMatchObject({ mode: 'dry-run', failedRows: 1 });
    // Said as what would happen, not as done.
    expect(dry.stderr + dry.stdout).toContain(`dry run: ${BROKEN} would be marked rolled back (1 failed row); nothing written`);
    expect(rows('SELECT rolled_back_at FROM _prisma_migrations WHERE migration_name = ?', BROKEN)[0]!.rolled_back_at).toBeNull();
    expect((await migrate('--mark-rolled-back', BROKEN, '--confirm')).code).toBe(0);
    const rerun = await migrate('--confirm', '--json');
    expect(rerun.code).toBe(0);
    expect(lastJson(rerun.stdout).applied).toEqual([BROKEN]);
    const history = rows(
      'SELECT finished_at IS NOT NULL AS done, rolled_back_at IS NOT NULL AS back FROM _prisma_migrations WHERE migration_name = ? ORDER BY started_at',
      BROKEN,
    );
    expect(history).toEqual([
      { done: 0, back: 1 },
      { done: 1, back: 0 },
    ]);
    const after = await migrate('--status', '--json');
    expect(after.code).toBe(0);
    expect(lastJson(after.stdout)).toMatchObject({ failed: [], changed: [], upToDate: true });
    // A succeeded migration cannot be marked rolled back (Prisma: P3012).
    const refused = await migrate('--mark-rolled-back', '20240101000000_init', '--confirm');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/20240101000000_init cannot be marked rolled back: it is not in a failed state/);
  });

  it('a failed migration marked rolled back and then deleted from the folder draws no warning', async () => {
    addMigration(BROKEN, BROKEN_SQL);
    expect((await migrate('--confirm')).code).toBe(1);
    expect((await migrate('--mark-rolled-back', BROKEN, '--confirm')).code).toBe(0);
    rmSync(join(migrations, BROKEN), { recursive: true });
    const r = await migrate('--confirm', '--json');
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ applied: [], notInDirectory: [] });
    expect(r.stderr).not.toMatch(/warning/);
    const s = await migrate('--status', '--json');
    expect(s.code).toBe(0);
    expect(lastJson(s.stdout)).toMatchObject({ notInDirectory: [], upToDate: true });
    expect(s.stderr).not.toMatch(/recorded but not in/);
  });

  it('--mark-applied records a migration finished by hand, as `prisma migrate resolve --applied` does', async () => {
    addMigration(BROKEN, BROKEN_SQL);
    expect((await migrate('--confirm')).code).toBe(1);
    const r = await migrate('--mark-applied', BROKEN, '--confirm');
    expect(r.code).toBe(0);
    const history = rows('SELECT * FROM _prisma_migrations WHERE migration_name = ? ORDER BY started_at', BROKEN);
    expect(history).toHaveLength(2);
    expect(history[0]!.rolled_back_at).not.toBeNull();
    expect(history[1]).toMatchObject({ logs: '', applied_steps_count: 0, rolled_back_at: null });
    expect(history[1]!.finished_at).toBe(history[1]!.started_at);
    expect((await migrate('--confirm', '--json')).code).toBe(0);
    const again = await migrate('--mark-applied', BROKEN, '--confirm');
    expect(again.code).toBe(1);
    expect(again.stderr).toMatch(/already recorded as applied/);
  });

  it('--status is read-only: it never creates a file target, and reports changed and unknown migrations', async () => {
    const fresh = await migrate('--status', '--json');
    expect(fresh.code).toBe(1);
    expect(lastJson(fresh.stdout)).toMatchObject({ hasMigrationsTable: false, pending: ['20240101000000_init', '20240215093000_post_published'] });
    expect(existsSync(db)).toBe(false);

    expect((await migrate('--confirm')).code).toBe(0);
    const file = join(migrations, '20240215093000_post_published', 'migration.sql');
    writeFileSync(file, `${readFileSync(file, 'utf8')}-- edited\n`);
    rmSync(join(migrations, '20240101000000_init'), { recursive: true });
    const before = readFileSync(db);
    const s = await migrate('--status', '--json');
    // Edited and unknown migrations are reported, but as in `prisma migrate status` they do not fail it.
    expect(s.code).toBe(0);
    expect(lastJson(s.stdout)).toMatchObject({ changed: ['20240215093000_post_published'], notInDirectory: ['20240101000000_init'], pending: [] });
    expect(s.stderr).toMatch(/warning: migration 20240215093000_post_published: its migration.sql changed after it was applied/);
    expect(readFileSync(db).equals(before)).toBe(true);
  });

  it('refuses what prisma migrate deploy refuses: another provider, a database it does not manage', async () => {
    writeFileSync(join(migrations, 'migration_lock.toml'), 'provider = "postgresql"\n');
    const other = await migrate('--confirm');
    expect(other.code).toBe(1);
    expect(other.stderr).toMatch(
      /migration_lock\.toml says provider "postgresql", not "sqlite": these migrations were generated for another database .*; generate a SQLite migration history \(provider = "sqlite" in the datasource of schema\.prisma, then prisma migrate dev\) and give its folder$/m,
    );
    expect(existsSync(db)).toBe(false);
    // Resolving and reporting refuse it too (mark_migration_applied.rs and migrate status check the provider first).
    new Database(db).close();
    const marked = await migrate('--mark-applied', '20240101000000_init', '--confirm');
    expect(marked.code).toBe(1);
    expect(marked.stderr).toMatch(/says provider "postgresql", not "sqlite"/);
    const status = await migrate('--status', '--json');
    expect(status.code).toBe(1);
    expect(status.stderr).toMatch(/a run with --confirm would refuse: .*provider "postgresql"/);
    expect(status.stderr).not.toMatch(/up to date/);
    expect(lastJson(status.stdout).upToDate).toBe(false);
    expect(rows("SELECT name FROM sqlite_schema WHERE name = '_prisma_migrations'")).toEqual([]);
    rmSync(db);

    // Saved by a Windows editor: a byte order mark before the provider line, which Prisma then does not read (its
    // lock file check takes the first line starting with "provider"), so deploy refuses it; the message says why.
    writeFileSync(join(migrations, 'migration_lock.toml'), '\uFEFFprovider = "sqlite"\r\n');
    const bom = await migrate('--confirm');
    expect(bom.code).toBe(1);
    expect(bom.stderr).toMatch(
      /migration_lock\.toml starts with a byte order mark \(as a Windows editor saves UTF-8\), so its provider line is not read: prisma migrate deploy refuses these migrations the same way \(P3019\); save the file as UTF-8 without a BOM$/m,
    );
    expect(existsSync(db)).toBe(false);

    writeFileSync(join(migrations, 'migration_lock.toml'), 'provider = "sqlite"\n');
    const d = new Database(db);
    d.exec('CREATE TABLE legacy (id INTEGER PRIMARY KEY)');
    d.close();
    const unmanaged = await migrate('--confirm');
    expect(unmanaged.code).toBe(1);
    expect(unmanaged.stderr).toMatch(/the database has tables \(legacy\) but no _prisma_migrations: .*P3005/);
    expect(rows("SELECT name FROM sqlite_schema WHERE name = '_prisma_migrations'")).toEqual([]);
    // Nothing pending (an empty folder) does not make such a database up to date: Prisma's status says it is not managed, exit 1.
    const empty = join(dir, 'empty-migrations');
    mkdirSync(empty);
    const unmanagedStatus = await runScript('migrate-turso', ['--dir', empty, '--status'], env());
    expect(unmanagedStatus.code).toBe(1);
    expect(unmanagedStatus.stdout).toMatch(/would refuse: the database has tables \(legacy\)/);
    expect(unmanagedStatus.stdout).not.toMatch(/up to date/);
  });

  it('a database holding only tables SQLite made itself (sqlite_sequence, sqlite_stat1) is not empty for Prisma (P3005)', async () => {
    const d = new Database(db);
    d.exec('CREATE TABLE gone (id INTEGER PRIMARY KEY AUTOINCREMENT); INSERT INTO gone DEFAULT VALUES; DROP TABLE gone;');
    d.close();
    expect(rows("SELECT name FROM sqlite_schema WHERE type = 'table'")).toEqual([{ name: 'sqlite_sequence' }]);
    const r = await migrate('--confirm');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/the database has tables \(sqlite_sequence\) but no _prisma_migrations: .*P3005/);
  });

  it('a migration.sql holding a NUL byte runs up to it, as SQLite and Prisma read it, and says what it left out', async () => {
    addMigration('20240301000000_nul', 'CREATE TABLE "A" (x);\n-- \u0000 a NUL\nCREATE TABLE "B" (y);\n');
    const r = await migrate('--confirm');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/note: migration 20240301000000_nul: migration.sql holds a NUL byte at line 2; what follows it was not run/);
    expect(rows("SELECT name FROM sqlite_schema WHERE name IN ('A', 'B')")).toEqual([{ name: 'A' }]);
    expect(rows("SELECT applied_steps_count, finished_at IS NOT NULL AS done FROM _prisma_migrations WHERE migration_name = '20240301000000_nul'")).toEqual([
      { applied_steps_count: 1, done: 1 },
    ]);
  });

  it('refuses a pending migration directory without migration.sql before applying anything', async () => {
    mkdirSync(join(migrations, '20240301000000_no_script'));
    const r = await migrate('--confirm');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/migration 20240301000000_no_script has no readable migration\.sql/);
    expect(existsSync(db) && rows("SELECT name FROM sqlite_schema WHERE name = 'Role'").length).toBeFalsy();
  });

  it('--dir one level off is refused with the right folder (exit 2); an empty folder says no migration was found', async () => {
    const prisma = join(dir, 'prisma');
    mkdirSync(prisma);
    cpSync(migrations, join(prisma, 'migrations'), { recursive: true });
    writeFileSync(join(prisma, 'schema.prisma'), 'datasource db { provider = "sqlite" }\n');
    const high = await runScript('migrate-turso', ['--dir', prisma, '--confirm'], env());
    expect(high.code).toBe(2);
    expect(high.stderr).toContain(
      `migrate-turso: error: ${prisma} is not the folder of migrations: ${join(prisma, 'migrations')} holds the migrations; run with --dir ${join(prisma, 'migrations')}`,
    );
    expect(high.stderr).not.toMatch(/remove the directory/);
    expect(existsSync(db)).toBe(false);
    // Only a lock file tells it (a history with no migration yet).
    rmSync(migrations, { recursive: true });
    mkdirSync(join(dir, 'other', 'migrations'), { recursive: true });
    writeFileSync(join(dir, 'other', 'migrations', 'migration_lock.toml'), 'provider = "sqlite"\n');
    expect((await runScript('migrate-turso', ['--dir', join(dir, 'other')], env())).stderr).toContain(`run with --dir ${join(dir, 'other', 'migrations')}`);

    const one = join(prisma, 'migrations', '20240101000000_init');
    const low = await runScript('migrate-turso', ['--dir', one, '--confirm'], env());
    expect(low.code).toBe(2);
    expect(low.stderr).toContain(
      `${one} is a single migration (it holds migration.sql), not the folder of migrations: give the folder that holds it, --dir ${join(prisma, 'migrations')}`,
    );
    expect(existsSync(db)).toBe(false);

    // A loose migration.sql beside the migration folders is not a migration: Prisma lists folders only.
    writeFileSync(join(prisma, 'migrations', 'migration.sql'), 'DROP TABLE "User";\n');
    const loose = await runScript('migrate-turso', ['--dir', join(prisma, 'migrations'), '--confirm'], env());
    expect(loose.code).toBe(0);
    expect(rows('SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL ORDER BY migration_name').map((r) => r.migration_name)).toEqual([
      '20240101000000_init',
      '20240215093000_post_published',
    ]);
    rmSync(db);

    const empty = join(dir, 'empty');
    mkdirSync(empty);
    const none = await runScript('migrate-turso', ['--dir', empty, '--confirm'], env());
    expect(none.code).toBe(0);
    expect(none.stdout).toContain(`no migration found in ${empty}`);
    // As prisma migrate deploy: the history table is created all the same.
    expect(rows("SELECT name FROM sqlite_schema WHERE name = '_prisma_migrations'")).toHaveLength(1);
  });

  it('--status with no migration and no _prisma_migrations is not up to date: not managed by Prisma Migrate, exit 1 (as prisma migrate status)', async () => {
    const empty = join(dir, 'empty-migrations');
    mkdirSync(empty);
    const status = (...args: string[]) => runScript('migrate-turso', ['--dir', empty, '--status', ...args], env());
    for (const made of [false, true]) {
      if (made) new Database(db).close();
      const r = await status('--json');
      expect(r.code, made ? 'empty file' : 'no file').toBe(1);
      // With --json the report goes to stderr, the JSON to stdout.
      expect(r.stderr).toMatch(/not managed by Prisma Migrate/);
      expect(r.stderr).not.toMatch(/up to date/);
      expect(lastJson(r.stdout)).toMatchObject({ upToDate: false, hasMigrationsTable: false });
    }
    // Once a confirmed run has created the history table, the same empty folder is up to date.
    expect((await runScript('migrate-turso', ['--dir', empty, '--confirm'], env())).code).toBe(0);
    const after = await status();
    expect(after.code).toBe(0);
    expect(after.stdout).toMatch(/database is up to date/);
  });

  it('a read-only look at a WAL database (dry run, --status, --mark-applied without --confirm) leaves no file beside it', async () => {
    expect((await migrate('--confirm')).code).toBe(0);
    addMigration('20240301000000_next', 'CREATE TABLE "Next" (id INTEGER PRIMARY KEY);\n');
    const d = new Database(db);
    d.pragma('journal_mode = WAL');
    d.close();
    const before = readFileSync(db);
    const beside = () => ['-wal', '-shm', '-journal'].filter((s) => existsSync(`${db}${s}`));
    expect(beside()).toEqual([]);
    for (const args of [[], ['--status'], ['--mark-applied', '20240301000000_next']]) {
      const r = await migrate(...args);
      expect(r.code, args.join(' ')).toBe(args[0] === '--status' ? 1 : 0);
      expect(beside(), args.join(' ')).toEqual([]);
      expect(readFileSync(db).equals(before), args.join(' ')).toBe(true);
    }
  });

  it('a look at a WAL database another connection holds open leaves its -wal and -shm alone', async () => {
    expect((await migrate('--confirm')).code).toBe(0);
    const other = new Database(db);
    try {
      other.pragma('journal_mode = WAL');
      other.exec('CREATE TABLE "Held" (x); INSERT INTO "Held" VALUES (1)');
      expect((await migrate('--status')).code).toBe(0);
      expect([existsSync(`${db}-wal`), existsSync(`${db}-shm`)]).toEqual([true, true]);
      other.exec('INSERT INTO "Held" VALUES (2)');
      expect(other.prepare('SELECT count(*) AS n FROM "Held"').get()).toEqual({ n: 2 });
    } finally {
      other.close();
    }
  });

  it('usage errors exit 2; a missing directory is a clear error', async () => {
    for (const args of [['--status', '--confirm'], ['--mark-applied', 'a', '--mark-rolled-back', 'b'], ['--status', '--mark-applied', 'a'], ['--bogus']]) {
      const r = await migrate(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(/^migrate-turso: error: .*usage: migrate-turso/);
    }
    const r = await runScript('migrate-turso', ['--dir', join(dir, 'nope')], env());
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/migrations directory .* does not exist/);
    const file = join(dir, 'loose.sql');
    writeFileSync(file, 'CREATE TABLE x (a);\n');
    const f = await runScript('migrate-turso', ['--dir', file], env());
    expect(f.code).toBe(2);
    expect(f.stderr).toBe(
      `migrate-turso: error: --dir ${file} is a file, not the folder of migrations (usage: migrate-turso [flags]; --help lists the flags)\n`,
    );
  });
});
