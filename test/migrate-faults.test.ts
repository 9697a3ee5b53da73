/**
 * Migrations that once went wrong on a `file:` target: a trigger with a double-quoted literal fired after the replay
 * rewrote it, the stored text after ALTER TABLE … RENAME COLUMN, a transaction a migration opens and never closes
 * (locally and over HTTP), and an interrupt between migrations (in process and with a real SIGINT).
 */
import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setImmediate } from 'node:timers';
import { afterAll, describe, expect, it } from 'vitest';
import { migrate } from '../src/api/migrate.js';
import { BackupError } from '../src/errors.js';
import { fixesQuotes, isRaiseMessage } from '../src/migrate/dqs-replay.js';
import { deployMigrations, deployRefusal, inspect, openMigrationDb, readMigrationsDir } from '../src/migrate/index.js';
import { solidTokens } from '../src/migrate/schema-text.js';
import { tempDirs } from './support/dumps.js';
import { startHranaServer, type HranaServer } from './support/hrana-server.js';
import { applyWithShell, dqsShell } from './support/migration-oracle.js';

const ROOT = new URL('../', import.meta.url).pathname;
const TSX = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;

/** `turso-backup migrate --dir MIGRATIONS --db file:DB FLAG`, from the sources, in a child process. */
function migrateCli(migrations: string, db: string, flag: string) {
  return spawnSync(process.execPath, ['--import', TSX, join(ROOT, 'src', 'cli', 'bin.ts'), 'migrate', '--dir', migrations, '--db', `file:${db}`, flag], {
    encoding: 'utf8',
    env: { ...process.env, TURSO_AUTH_TOKEN: '', DEBUG: '' },
  });
}
const dirs = tempDirs('tb-migrate-faults-');
const servers: HranaServer[] = [];
afterAll(async () => {
  for (const s of servers.splice(0)) await s.close();
  dirs.cleanup();
});

/** A migrations folder holding `scripts` (name → migration.sql), and a database path beside it. */
function setUp(scripts: Record<string, string>): { migrations: string; db: string } {
  const dir = dirs.make();
  const migrations = join(dir, 'migrations');
  for (const [name, sql] of Object.entries(scripts)) {
    mkdirSync(join(migrations, name), { recursive: true });
    writeFileSync(join(migrations, name, 'migration.sql'), sql);
  }
  return { migrations, db: join(dir, 'app.db') };
}

const rows = (file: string, sql: string) => {
  const d = new Database(file, { readonly: true });
  try {
    return d.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    d.close();
  }
};

const history = (file: string) =>
  rows(file, 'SELECT migration_name AS name, finished_at IS NOT NULL AS finished, logs FROM _prisma_migrations ORDER BY started_at').map((r) => ({
    name: r.name,
    finished: r.finished === 1,
    logs: r.logs,
  }));

const deploy = (migrations: string, db: string, signal?: AbortSignal) =>
  deployMigrations({ url: `file:${db}`, dir: migrations, confirm: true, signal }).catch((e: unknown) => e);

/** sqlite_schema as stored, in rowid order. */
const schema = (file: string) => rows(file, 'SELECT type, name, sql FROM sqlite_schema ORDER BY rowid');

/** A sqlite3 shell that accepts double-quoted literals (Prisma's SQLite), or null: the recorded expectation is then the only check. */
const SHELL = dqsShell();

/** Checks a recorded expectation of sqlite_schema against SQLite itself (the shell applying the same folder), when a shell is installed. */
function expectOracle(migrations: string, expected: Record<string, unknown>[]): void {
  if (!SHELL) return;
  const oracle = join(dirs.make(), 'oracle.db');
  applyWithShell(migrations, oracle);
  expect(schema(oracle), `sqlite3 ${SHELL}`).toEqual(expected);
}

const TRIGGER = 'CREATE TRIGGER "Doc_au" AFTER UPDATE ON "Doc" BEGIN INSERT INTO "Copy" VALUES (NEW."id", "changed"); END';

describe('double-quoted literals in stored objects', () => {
  it('a trigger rewritten by the replay is the one that fires, and its stored text stays as written (as the sqlite3 shell leaves it)', async () => {
    const { migrations, db } = setUp({
      '001_a': `CREATE TABLE "Doc" ("id" INTEGER PRIMARY KEY, "title" TEXT);\nCREATE TABLE "Copy" ("id" INTEGER, "tag" TEXT);\nINSERT INTO "Doc" VALUES (1, 'a');\n${TRIGGER};\nUPDATE "Doc" SET "title" = 'new' WHERE "id" = 1;\n`,
      '002_b': `UPDATE "Doc" SET "title" = 'newer' WHERE "id" = 1;\n`,
    });
    const r = await deploy(migrations, db);
    expect(r).toMatchObject({ applied: ['001_a', '002_b'] });
    expect(rows(db, 'SELECT * FROM "Copy"')).toEqual([
      { id: 1, tag: 'changed' },
      { id: 1, tag: 'changed' },
    ]);
    expect(rows(db, "SELECT sql FROM sqlite_schema WHERE type = 'trigger'")).toEqual([{ sql: TRIGGER }]);
  });

  it('after ALTER TABLE … RENAME COLUMN, views, triggers and CHECKs keep single-quoted literals, as SQLite itself rewrites them', async () => {
    const { migrations, db } = setUp({
      '001_a': [
        'CREATE TABLE "Doc" ("id" INTEGER PRIMARY KEY, "kind" TEXT);',
        'CREATE TABLE "Tag" ("k" TEXT CHECK ("k" <> "zz"));',
        'CREATE VIEW "V" AS SELECT "id", "lit" AS l FROM "Doc";',
        'INSERT INTO "Tag" SELECT l FROM "V";',
        'ALTER TABLE "Doc" RENAME TO "Doc2";',
        '',
      ].join('\n'),
      '002_b': 'ALTER TABLE "Doc2" RENAME COLUMN "kind" TO "category";\n',
    });
    // What the sqlite3 shell stores for the same script: RENAME TO leaves the literals, RENAME COLUMN quotes them all.
    const r = await deploy(migrations, db);
    expect(r).toMatchObject({ applied: ['001_a', '002_b'] });
    expect(rows(db, "SELECT name, sql FROM sqlite_schema WHERE name IN ('Tag', 'V') ORDER BY name")).toEqual([
      { name: 'Tag', sql: 'CREATE TABLE "Tag" ("k" TEXT CHECK ("k" <> \'zz\'))' },
      { name: 'V', sql: 'CREATE VIEW "V" AS SELECT "id", \'lit\' AS l FROM "Doc2"' },
    ]);
  });
});

describe('RAISE messages in double quotes', () => {
  const TABLE = 'CREATE TABLE "Doc" ("id" INTEGER PRIMARY KEY, "kind" TEXT, "n" INTEGER)';
  const GUARD = `CREATE TRIGGER "Doc_guard" BEFORE INSERT ON "Doc" WHEN NEW."kind" = "bad" BEGIN SELECT RAISE(ABORT, "no bad docs"); SELECT RAISE ( FAIL , /* why */ "kind" ) ; END`;
  /**
   * Prisma's SQLite (3.45/3.46, before RAISE took an expression in 3.47) reads the message as a name, so the
   * RENAME COLUMN or DROP COLUMN that quotes every double-quoted literal of the schema leaves it as written.
   */
  const expected = (column: string) => [
    { name: 'Doc', sql: column === 'n' ? TABLE.replace('"n"', '"num"') : TABLE.replace(', "n" INTEGER', '') },
    { name: 'Doc_guard', sql: GUARD.replace('"bad"', "'bad'") },
  ];
  const objects = (file: string) =>
    schema(file)
      .filter((r) => r.name === 'Doc' || r.name === 'Doc_guard')
      .map(({ name, sql }) => ({ name, sql }));

  it.each([
    ['RENAME COLUMN', 'ALTER TABLE "Doc" RENAME COLUMN "n" TO "num";\n', 'n'],
    ['DROP COLUMN', 'ALTER TABLE "Doc" DROP COLUMN "n";\n', 'drop'],
  ])('keep their double quotes through a later %s, as SQLite stores them', async (_what, alter, column) => {
    const { migrations, db } = setUp({ '001_a': `${TABLE};\n${GUARD};\n`, '002_b': alter });
    expect(await deploy(migrations, db)).toMatchObject({ applied: ['001_a', '002_b'], notes: [] });
    expect(objects(db)).toEqual(expected(column));
    if (SHELL) {
      const oracle = join(dirs.make(), 'oracle.db');
      applyWithShell(migrations, oracle);
      expect(objects(oracle)).toEqual(expected(column));
    }
  });

  it('the same when the trigger arrives in an earlier run and fired since', async () => {
    const { migrations, db } = setUp({ '001_a': `${TABLE};\n${GUARD};\nINSERT INTO "Doc" ("kind") VALUES ('good');\n` });
    expect(await deploy(migrations, db)).toMatchObject({ notes: [] });
    mkdirSync(join(migrations, '002_b'));
    writeFileSync(join(migrations, '002_b', 'migration.sql'), 'ALTER TABLE "Doc" RENAME COLUMN "n" TO "num";\n');
    expect(await deploy(migrations, db)).toMatchObject({ applied: ['002_b'], notes: [] });
    expect(objects(db)).toEqual(expected('n'));
  });
});

describe('VACUUM renumbers sqlite_schema', () => {
  /** A RedefineTables leaves a gap in sqlite_schema's rowids; VACUUM closes it, so every later object moves down. */
  const SCRIPTS = {
    '001_init': 'CREATE TABLE "Post" ("id" INTEGER NOT NULL PRIMARY KEY, "status" TEXT NOT NULL);\nCREATE TABLE "Tag" ("id" INTEGER NOT NULL PRIMARY KEY);\n',
    '002_redefine': [
      'PRAGMA foreign_keys=OFF;',
      'CREATE TABLE "new_Tag" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT);',
      'INSERT INTO "new_Tag" ("id") SELECT "id" FROM "Tag";',
      'DROP TABLE "Tag";',
      'ALTER TABLE "new_Tag" RENAME TO "Tag";',
      'PRAGMA foreign_keys=ON;',
      '',
    ].join('\n'),
    '003_index':
      'CREATE INDEX "Post_published_idx" ON "Post"("id") WHERE "status" = "published";\nCREATE VIEW "Drafts" AS SELECT "id", "draft" AS "kind" FROM "Post" WHERE "status" = "draft";\n',
    '004_vacuum': 'VACUUM;\n',
  };
  const EXPECTED = [
    { type: 'table', name: '_prisma_migrations', sql: expect.stringMatching(/^CREATE TABLE "_prisma_migrations"/) },
    { type: 'index', name: 'sqlite_autoindex__prisma_migrations_1', sql: null },
    { type: 'table', name: 'Post', sql: 'CREATE TABLE "Post" ("id" INTEGER NOT NULL PRIMARY KEY, "status" TEXT NOT NULL)' },
    { type: 'table', name: 'Tag', sql: 'CREATE TABLE "Tag" ("id" INTEGER NOT NULL PRIMARY KEY, "name" TEXT)' },
    { type: 'index', name: 'Post_published_idx', sql: 'CREATE INDEX "Post_published_idx" ON "Post"("id") WHERE "status" = "published"' },
    { type: 'view', name: 'Drafts', sql: 'CREATE VIEW "Drafts" AS SELECT "id", "draft" AS "kind" FROM "Post" WHERE "status" = "draft"' },
  ];

  it('the objects written with double-quoted literals before it keep them, as SQLite stores them, with no note', async () => {
    const { migrations, db } = setUp(SCRIPTS);
    const r = await deploy(migrations, db);
    expect(r).toMatchObject({ applied: Object.keys(SCRIPTS), notes: [] });
    expect(schema(db)).toEqual(EXPECTED);
    expectOracle(migrations, EXPECTED);
  });

  it('the same when VACUUM comes in a later run, which re-reads the text the first run stored', async () => {
    const { migrations, db } = setUp(SCRIPTS);
    rmSync(join(migrations, '004_vacuum'), { recursive: true });
    expect(await deploy(migrations, db)).toMatchObject({ notes: [] });
    mkdirSync(join(migrations, '004_vacuum'));
    writeFileSync(join(migrations, '004_vacuum', 'migration.sql'), SCRIPTS['004_vacuum']);
    expect(await deploy(migrations, db)).toMatchObject({ applied: ['004_vacuum'], notes: [] });
    expect(schema(db)).toEqual(EXPECTED);
  });
});

it("a dropped object's rowid taken by a new object of the same name: the new text is kept as written", async () => {
  const { migrations, db } = setUp({
    '001_a': 'CREATE TABLE "K" ("v" TEXT CHECK ("v" IN ("a")));\nINSERT INTO "K" VALUES ("a");\n',
    '002_b': `DROP TABLE "K";\nCREATE TABLE "K" ("v" TEXT CHECK ("v" IN ('a')));\n`,
  });
  const expected = { type: 'table', name: 'K', sql: `CREATE TABLE "K" ("v" TEXT CHECK ("v" IN ('a')))` };
  expect(await deploy(migrations, db)).toMatchObject({ applied: ['001_a', '002_b'], notes: [] });
  expect(schema(db).at(-1)).toEqual(expected);
  if (SHELL) {
    const oracle = join(dirs.make(), 'oracle.db');
    applyWithShell(migrations, oracle);
    expect(schema(oracle).at(-1)).toEqual(expected);
  }
});

it('only RENAME COLUMN and DROP COLUMN make SQLite quote the literals of the schema again', () => {
  expect(
    ['ALTER TABLE t RENAME COLUMN a TO b', 'alter table main."t" rename a to b;', 'ALTER TABLE t DROP COLUMN a', 'ALTER TABLE t DROP a'].map(fixesQuotes),
  ).toEqual([true, true, true, true]);
  expect(['ALTER TABLE t RENAME TO u', 'ALTER TABLE "t" ADD COLUMN a', 'DROP TABLE t', '/* ALTER TABLE t DROP a */ SELECT 1'].map(fixesQuotes)).toEqual([
    false,
    false,
    false,
    false,
  ]);
});

it('a RAISE message is told apart from the literals RENAME COLUMN quotes', () => {
  const messages = (sql: string) => {
    const { texts } = solidTokens(sql);
    return texts.filter((t, i) => t.startsWith('"') && isRaiseMessage(texts, i));
  };
  expect(messages('SELECT RAISE(ABORT, "a"), raise ( rollback , /* c */ "b" -- d\n ), RAISE(FAIL, "c")')).toEqual(['"a"', '"b"', '"c"']);
  expect(messages('SELECT RAISE(ABORT, "a" || "b"), RAISE(IGNORE), f(ABORT, "x"), "y", RAISE(ABORT, NEW."z")')).toEqual([]);
});

describe('a transaction a migration opens', () => {
  const OPEN = {
    '001_ok': 'BEGIN;\nCREATE TABLE a (x);\nCOMMIT;\n',
    '002_tx_open': 'BEGIN TRANSACTION;\nCREATE TABLE b (x);\n',
    '003_after': 'CREATE TABLE c (x);\n',
  };

  function expectOpenRefused(r: unknown, file: string): void {
    expect(r).toBeInstanceOf(BackupError);
    expect((r as BackupError).code).toBe('SCHEMA');
    expect((r as Error).message).toMatch(/^migration 002_tx_open left a transaction open \(BEGIN without COMMIT\): [^\n]*$/);
    expect(rows(file, "SELECT name FROM sqlite_schema WHERE name IN ('a', 'b', 'c')")).toEqual([{ name: 'a' }]);
    expect(history(file)).toEqual([
      { name: '001_ok', finished: true, logs: null },
      {
        name: '002_tx_open',
        finished: false,
        logs: expect.stringMatching(/Migration name: 002_tx_open\n[\s\S]*left a transaction open \(BEGIN without COMMIT\)/),
      },
    ]);
  }

  it('left open: nothing of it is kept, it is recorded as failed with logs, and the run stops', async () => {
    const { migrations, db } = setUp(OPEN);
    expectOpenRefused(await deploy(migrations, db), db);
  });

  it('left open over HTTP: the same', async () => {
    const { migrations, db } = setUp(OPEN);
    const server = await startHranaServer({ db });
    servers.push(server);
    const r = await deployMigrations({ url: server.url, dir: migrations, confirm: true }).catch((e: unknown) => e);
    expectOpenRefused(r, db);
  });

  it('a statement failing inside it: the transaction is rolled back and the failure logs are kept', async () => {
    const { migrations, db } = setUp({ '001_tx_fail': 'CREATE TABLE z (x);\nBEGIN;\nCREATE TABLE a (x);\nINSERT INTO nosuch VALUES (1);\nCOMMIT;\n' });
    const r = await deploy(migrations, db);
    expect((r as Error).message).toBe(
      'migration 001_tx_fail failed at line 4 of migration.sql: no such table: nosuch; the transaction it had opened (BEGIN) was rolled back; to go on: fix migration.sql (and undo what ran of it), then --mark-rolled-back 001_tx_fail --confirm and run again; --status shows where it stands',
    );
    expect(rows(db, "SELECT name FROM sqlite_schema WHERE name IN ('a', 'z')")).toEqual([{ name: 'z' }]);
    expect(history(db)).toEqual([{ name: '001_tx_fail', finished: false, logs: expect.stringMatching(/Database error:\nno such table: nosuch\n/) }]);
  });
});

describe('a large seed migration', () => {
  /**
   * 20,000 INSERTs in one transaction (some over two lines, some after a comment, CRLF in the second half) with one
   * failing deep in the file: the line in the message is counted by the test while it writes the file. Cutting such
   * a file used to recount lines from the start for every statement (30 s on 2 MB): this test then ran past its
   * timeout. (The transaction keeps the test quick: 20,000 INSERTs in autocommit are 20,000 commits.)
   */
  it('names the right line of a failing statement deep in the file', async () => {
    const parts = ['CREATE TABLE "Postcode" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL);\nBEGIN;\n'];
    let line = 3;
    let failingLine = 0;
    for (let i = 0; i < 20_000; i++) {
      const nl = i < 10_000 ? '\n' : '\r\n';
      if (i % 100 === 0) {
        parts.push(`-- block ${i};${nl}/* ${nl} */ `);
        line += 2;
      }
      if (i === 17_345) failingLine = line;
      const table = i === 17_345 ? 'Missing' : 'Postcode';
      const twoLines = i % 7 === 0;
      parts.push(`INSERT INTO "${table}" ("id", "name")${twoLines ? nl : ' '}VALUES (${i}, 'place ${i}; with a name');${nl}`);
      line += twoLines ? 2 : 1;
    }
    const { migrations, db } = setUp({ '001_seed': parts.join('') });
    const r = await deploy(migrations, db);
    expect((r as Error).message).toMatch(new RegExp(`^migration 001_seed failed at line ${failingLine} of migration.sql: no such table: Missing;`));
    expect(rows(db, 'SELECT count(*) AS n FROM "Postcode"')).toEqual([{ n: 0 }]);
  }, 20_000);
});

it('a database another connection is writing to: one line saying so, after the busy timeout, nothing applied', async () => {
  const { migrations, db } = setUp({ '001_a': 'CREATE TABLE a (x);\n', '002_b': 'CREATE TABLE b (x);\n' });
  expect(await deploy(migrations, db)).toMatchObject({ applied: ['001_a', '002_b'] });
  mkdirSync(join(migrations, '003_c'));
  writeFileSync(join(migrations, '003_c', 'migration.sql'), 'CREATE TABLE c (x);\n');
  const writer = new Database(db);
  writer.exec('BEGIN IMMEDIATE; CREATE TABLE other (y);');
  try {
    const r = migrateCli(migrations, db, '--confirm');
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual([
      `turso-backup migrate: error: file:${db} is locked by another connection that is writing to it (waited 10 s): nothing was applied; run again when that connection is done`,
    ]);
  } finally {
    writer.exec('ROLLBACK');
    writer.close();
  }
  expect(history(db).map((h) => h.name)).toEqual(['001_a', '002_b']);
}, 40_000);

/** A migration slow enough (about a second) to be interrupted while it runs. */
const SLOW_SQL = 'CREATE TABLE big (x);\nWITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < 1500000) INSERT INTO big SELECT i FROM r;\n';

describe('an interrupt between migrations', () => {
  /** A first migration slow enough (about a second) to be interrupted while it runs. */
  const SLOW = {
    '001_slow': SLOW_SQL,
    '002_after': 'CREATE TABLE after (x);\n',
  };

  it('an abort while the first migration runs stops the run after it (a file: run is synchronous)', async () => {
    const { migrations, db } = setUp({ '001_a': 'CREATE TABLE a (x);\n', '002_b': 'CREATE TABLE b (x);\n' });
    const ac = new AbortController();
    // Runs at the first turn the event loop gets, which a synchronous run only gives between migrations.
    setImmediate(() => ac.abort());
    const r = await deploy(migrations, db, ac.signal);
    expect(r).toBeInstanceOf(BackupError);
    expect((r as BackupError).code).toBe('INTERRUPTED');
    expect((r as Error).message).toBe('interrupted after applying 001_a; the rest are still pending');
    expect(history(db)).toEqual([{ name: '001_a', finished: true, logs: null }]);
  });

  it('an abort during the last migration stops nothing: the run completes, no INTERRUPTED', async () => {
    const { migrations, db } = setUp({ '001_a': 'CREATE TABLE a (x);\n', '002_b': 'CREATE TABLE b (x);\n' });
    const ac = new AbortController();
    // The callback of the last migration is the latest an abort can come and still be seen by the run.
    const r = await migrate({ url: `file:${db}`, dir: migrations, confirm: true, signal: ac.signal, onApplied: (n) => n === '002_b' && ac.abort() });
    expect(r).toMatchObject({ applied: ['001_a', '002_b'], pending: [] });
    expect(history(db).map((h) => h.finished)).toEqual([true, true]);
    // Aborted before it starts: the same error, in the same words, from the one place that throws it.
    const { migrations: other, db: otherDb } = setUp({ '001_a': 'CREATE TABLE a (x);\n' });
    const e = await migrate({ url: `file:${otherDb}`, dir: other, confirm: true, signal: AbortSignal.abort() }).catch((x: unknown) => x);
    expect(e).toMatchObject({ code: 'INTERRUPTED', message: 'interrupted before any migration was applied; the rest are still pending' });
    expect(existsSync(otherDb)).toBe(false);
  });

  it('SIGINT during the first migration of the CLI: it finishes, the next never starts, exit 130', async () => {
    const { migrations, db } = setUp(SLOW);
    const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'scripts', 'migrate-turso.ts'), '--dir', migrations, '--confirm'], {
      cwd: dirs.make(),
      env: { ...process.env, TURSO_DATABASE_URL: `file:${db}`, TURSO_AUTH_TOKEN: '', DEBUG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.resume();
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    // The file appears when the confirmed run opens it; from there to the end of 001_slow nothing yields.
    while (!existsSync(db)) await new Promise((resolve) => setTimeout(resolve, 5));
    child.kill('SIGINT');
    expect(await exited).toBe(130);
    expect(stderr).toMatch(/interrupted after applying 001_slow; the rest are still pending/);
    expect(history(db)).toEqual([{ name: '001_slow', finished: true, logs: null }]);
    expect(rows(db, "SELECT name FROM sqlite_schema WHERE name = 'after'")).toEqual([]);
  }, 60_000);
});

it('SIGINT during the last migration of the CLI: every migration is applied, so it ends as done, exit 0', async () => {
  const { migrations, db } = setUp({ '001_a': 'CREATE TABLE a (x);\n', '002_slow': SLOW_SQL });
  const child = spawn(process.execPath, ['--import', TSX, join(ROOT, 'scripts', 'migrate-turso.ts'), '--dir', migrations, '--confirm'], {
    cwd: dirs.make(),
    env: { ...process.env, TURSO_DATABASE_URL: `file:${db}`, TURSO_AUTH_TOKEN: '', DEBUG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.resume();
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  const started = () => existsSync(db) && rows(db, "SELECT 1 FROM sqlite_schema WHERE name = 'big'").length > 0;
  while (!started()) await new Promise((resolve) => setTimeout(resolve, 5));
  child.kill('SIGINT');
  expect(await exited).toBe(0);
  expect(stdout).toMatch(/applied: 002_slow\ndone: 2 migrations applied\n/);
  expect(history(db)).toEqual([
    { name: '001_a', finished: true, logs: null },
    { name: '002_slow', finished: true, logs: null },
  ]);
}, 60_000);

it('deployRefusal gives, for a status report, the refusal a confirmed run would give', async () => {
  const { migrations, db } = setUp({ '001_a': 'CREATE TABLE a (x);\n' });
  await deploy(migrations, db);
  const refusal = async () => {
    const dir = readMigrationsDir(migrations);
    const conn = (await openMigrationDb(`file:${db}`, undefined, { create: false, readonly: true }))!;
    try {
      const seen = await inspect(conn, dir);
      return deployRefusal(dir, seen.status, seen.userTables);
    } finally {
      await conn.close();
    }
  };
  mkdirSync(join(migrations, '002_empty'));
  expect(await refusal()).toBe(`migration 002_empty has no readable migration.sql in ${migrations}: restore the file or remove the directory`);
  const r = await deploy(migrations, db);
  expect(await refusal()).toBe((r as Error).message);
  // An applied migration edited afterwards is no refusal (prisma migrate deploy does not compare checksums).
  rmSync(join(migrations, '002_empty'), { recursive: true });
  writeFileSync(join(migrations, '001_a', 'migration.sql'), 'CREATE TABLE a (y);\n');
  expect(await refusal()).toBeNull();
  expect(await deploy(migrations, db)).toMatchObject({ applied: [], edited: ['001_a'] });
});

it('--status says what a confirmed run would refuse, instead of sending the operator into it', async () => {
  const { migrations, db } = setUp({ '001_a': 'CREATE TABLE a (x);\n' });
  await deploy(migrations, db);
  mkdirSync(join(migrations, '002_empty'));
  const r = migrateCli(migrations, db, '--status');
  expect(r.status).toBe(1);
  expect(r.stdout).toContain(`a run with --confirm would refuse: migration 002_empty has no readable migration.sql in ${migrations}`);
  expect(r.stdout).not.toContain('to apply: run again with --confirm');
}, 60_000);
