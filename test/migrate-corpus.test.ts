/**
 * migrate-turso on real-world migration shapes (fixtures/migrations/<shape>/), against what a SQLite that accepts
 * double-quoted string literals — the SQLite in Prisma's schema engine — leaves: the sqlite3 shell's result,
 * recorded in fixtures/migrations/<shape>.expected.json by test/support/migration-oracle.ts.
 *
 * The shapes were written for these tests; each reproduces what public Prisma + SQLite applications' own
 * prisma/migrations folders contain (read with git, not copied):
 * - dqs-hand-edited: hand-edited migrations with double-quoted string literals in INSERT … SELECT, DEFAULT, CHECK,
 *   WHERE (a partial index), CASE, a trigger body and a view, and an ALTER TABLE … ADD COLUMN … CHECK; then a
 *   RedefineTables whose RENAME re-reads all of them. From the failure reported in issue 13 (a `groups`
 *   migration's `SELECT "key", "global"`), wireapp/kalium PR #4472 (double-quoted literals across old migrations,
 *   `DEFAULT ""`), dbcodeio/public#502 (a view with `"I-" || id`) and tursodatabase/libsql#2075.
 * - redefine-history: kentcdodds/kentcdodds.com (prisma/migrations until 2026: old and new RedefineTables, a
 *   block comment with quotes, a multi-line INSERT … SELECT with CASE/TRIM/char(10), `PRAGMA
 *   foreign_key_check("User")`, `DROP INDEX IF EXISTS`, ADD COLUMN … DEFAULT, a migration named with `-`),
 *   wrathofrathma/express-ts-rest (`PRAGMA foreign_key_check;` RedefineTables), kadoshmt/upload-ai-api
 *   (`coalesce("template", 'template')`), and a seeded child row that only survives with foreign keys off.
 * - triggers-fts: trigger bodies holding `;`, CASE … END, WHEN, RAISE, a trigger that updates its own table
 *   (recursive_triggers off), comments holding `;` and quotes; an FTS5 external-content table with its sync
 *   triggers as sqlite.org/fts5.html documents them (the pattern catdevnull/preciazo uses; Prisma users add it
 *   with `migrate dev --create-only`), and a seed that goes through them.
 * - seeded-m2m: epicweb-dev/epic-stack (a "Manual Seeding" block: `INSERT INTO Permission VALUES(…)` with
 *   unquoted names and integer dates, implicit many-to-many `_PermissionToRole`/`_RoleToUser`, BLOB and BIGINT
 *   columns, commented-out JS with quotes and emoji), remix-run/indie-stack, and ajnart/homarr (foreign keys
 *   to tables created later in the same migration).
 * - line-endings: a migration.sql with CRLF line endings (a Windows checkout; the reason for Prisma's checksum
 *   rule), a string literal spanning a CRLF, one without a trailing newline, an empty one, one of comments only.
 * - wal-nocase: `PRAGMA journal_mode=WAL;` in a migration (prisma/prisma#3303, where users are told to do
 *   this), a COLLATE NOCASE unique index and an expression index, a composite TEXT key, WITHOUT ROWID,
 *   an `_AToB` table without a primary key (hidden rowids), and a hand-set sqlite_sequence.
 * - writable-schema: fmaclen/canutin-desktop and prisma/orm#9204 (Prisma 2/3 generated
 *   `Pragma writable_schema=1; CREATE UNIQUE INDEX "sqlite_autoindex_…"` inside RedefineTables).
 */
import Database from 'better-sqlite3';
import { copyFileSync, cpSync, createReadStream, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deployMigrations, readMigrationsDir, scriptChecksum } from '../src/migrate/index.js';
import { restore } from '../src/restore/restore.js';
import { localTargetFactory } from '../src/target/local.js';
import { backupToFile, tempDirs } from './support/dumps.js';
import { CORPUS, corpusShapes, expectedImage, readImage } from './support/migration-corpus.js';
import { lastJson, runScript } from './support/scripts.js';

const dirs = tempDirs('tb-migrate-corpus-');
afterAll(() => dirs.cleanup());

const migrate = (db: string, dir: string) =>
  runScript('migrate-turso', ['--dir', dir, '--confirm', '--json'], { TURSO_DATABASE_URL: `file:${db}`, TURSO_AUTH_TOKEN: undefined, DEBUG: undefined });

function rows<T>(path: string, sql: string, ...args: unknown[]): T[] {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare(sql)
      .safeIntegers(true)
      .all(...args) as T[];
  } finally {
    db.close();
  }
}

const withoutOracle = (shape: string) => {
  const { oracle, ...image } = expectedImage(shape);
  expect(oracle).toMatch(/^sqlite3 3\./);
  return image;
};

it('the corpus needs the replay: better-sqlite3 on its own refuses the hand-edited migration', () => {
  const db = new Database(':memory:');
  const script = readMigrationsDir(join(CORPUS, 'dqs-hand-edited')).migrations[0]!.script!;
  expect(() => db.exec(script)).toThrow(/no such column: "internal" - should this be a string literal/);
  db.close();
});

describe.each(corpusShapes())('%s', (shape) => {
  const dir = join(CORPUS, shape);
  let migrated: string;

  beforeAll(async () => {
    migrated = join(dirs.make(), 'migrated.db');
    const r = await migrate(migrated, dir);
    expect(r.stderr).not.toMatch(/error|note:/);
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout).applied).toEqual(readMigrationsDir(dir).migrations.map((m) => m.name));
  });

  it("leaves the schema text and rows Prisma's SQLite leaves", () => {
    expect(readImage(migrated, { maskNow: true })).toEqual(withoutOracle(shape));
  });

  it('records every migration as Prisma does, and a second run applies nothing', async () => {
    const files = readMigrationsDir(dir).migrations;
    const recorded = rows<Record<string, unknown>>(migrated, 'SELECT * FROM "_prisma_migrations" ORDER BY started_at, rowid');
    expect(recorded.map((r) => r.migration_name)).toEqual(files.map((m) => m.name));
    recorded.forEach((r, i) => {
      const raw = readFileSync(join(dir, files[i]!.name, 'migration.sql'));
      expect(r.checksum).toBe(scriptChecksum(raw.toString('utf8')));
      expect(r).toMatchObject({ applied_steps_count: 1n, logs: null, rolled_back_at: null });
      expect(typeof r.started_at).toBe('bigint');
      expect(r.finished_at as bigint).toBeGreaterThanOrEqual(r.started_at as bigint);
      expect(r.id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    });
    const again = await migrate(migrated, dir);
    expect(again.code).toBe(0);
    expect(lastJson(again.stdout)).toMatchObject({ applied: [], pending: [] });
  });

  it('gives the same result when the history arrives in two runs (the second run re-reads what the first stored)', async () => {
    const names = readMigrationsDir(dir).migrations.map((m) => m.name);
    for (let k = 1; k < names.length; k++) {
      const work = dirs.make();
      const part = join(work, 'part');
      mkdirSync(part);
      for (const n of names.slice(0, k)) cpSync(join(dir, n), join(part, n), { recursive: true });
      const db = join(work, 'two-runs.db');
      await deployMigrations({ url: `file:${db}`, dir: part, confirm: true });
      const second = await deployMigrations({ url: `file:${db}`, dir, confirm: true });
      expect(second.applied).toEqual(names.slice(k));
      expect(readImage(db, { maskNow: true }), `split after ${names[k - 1]}`).toEqual(withoutOracle(shape));
    }
  });

  it('is a target a restore fills exactly: a dump whose rows use every column', async () => {
    const work = dirs.make();
    const source = join(work, 'source.db');
    const target = join(work, 'target.db');
    copyFileSync(migrated, source);
    copyFileSync(migrated, target);
    const db = new Database(source);
    db.exec(readFileSync(join(CORPUS, `${shape}.rows.sql`), 'utf8'));
    db.close();
    const image = readImage(source, { maskNow: false });
    for (const table of Object.keys(image.tables)) {
      const q = (n: string) => `"${n.replaceAll('"', '""')}"`;
      for (const { name } of rows<{ name: string }>(source, 'SELECT name FROM pragma_table_info(?)', table)) {
        const [row] = rows<{ n: bigint }>(source, `SELECT count(*) AS n FROM ${q(table)} WHERE ${q(name)} IS NOT NULL`);
        expect(row!.n, `${table}.${name} holds a value`).toBeGreaterThan(0n);
      }
    }
    const dump = join(work, 'dump.ndjson.gz');
    await backupToFile(source, dump);
    const r = await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(target), confirm: true });
    expect(r.verified).toBe(true);
    const restored = readImage(target, { maskNow: false });
    expect(restored.tables).toEqual(image.tables);
    expect(restored.sequence).toEqual(image.sequence);
    // The restore re-creates triggers after the load (so they stay silent), which moves them in sqlite_schema: same text, new rowids.
    const byName = (schema: (string | null)[][]) => [...schema].sort((a, b) => `${a[0]} ${a[1]}`.localeCompare(`${b[0]} ${b[1]}`));
    expect(byName(restored.schema)).toEqual(byName(readImage(migrated, { maskNow: false }).schema));
  });
});
