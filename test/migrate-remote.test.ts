/**
 * migrate-turso over HTTP, against the sqld stand-in (test/support/hrana-server.ts, driven by the real Hrana
 * client). sqld's libSQL has no double-quoted string literals: a migration that relies on them is refused by the
 * server, and the refusal must read like a migration error (which migration, which line, what to change), stop
 * the run where it happened, and be recorded as Prisma records a failed migration.
 */
import Database from 'better-sqlite3';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { deployMigrations, readMigrationsDir } from '../src/migrate/index.js';
import { tempDirs } from './support/dumps.js';
import { startHranaServer, type HranaServer } from './support/hrana-server.js';
import { CORPUS, expectedImage, readImage } from './support/migration-corpus.js';
import { lastJson, runScript } from './support/scripts.js';

const dirs = tempDirs('tb-migrate-remote-');
const servers: HranaServer[] = [];
afterAll(async () => {
  for (const s of servers.splice(0)) await s.close();
  dirs.cleanup();
});

async function serve(): Promise<{ server: HranaServer; file: string }> {
  const file = join(dirs.make(), 'remote.db');
  const server = await startHranaServer({ db: file });
  servers.push(server);
  return { server, file };
}

const rows = (file: string, sql: string, ...args: unknown[]) => {
  const d = new Database(file, { readonly: true });
  try {
    return d.prepare(sql).all(...args) as Record<string, unknown>[];
  } finally {
    d.close();
  }
};

describe('migrate-turso over HTTP', () => {
  it.each(['redefine-history', 'triggers-fts', 'seeded-m2m', 'line-endings', 'wal-nocase'])(
    '%s: the same schema text and rows as on a file (one stream: PRAGMA foreign_keys=OFF holds through a RedefineTables)',
    async (shape) => {
      const { server, file } = await serve();
      const r = await deployMigrations({ url: server.url, dir: join(CORPUS, shape), confirm: true });
      expect(r.applied).toEqual(readMigrationsDir(join(CORPUS, shape)).migrations.map((m) => m.name));
      const { oracle: _oracle, journalMode: _journal, ...expected } = expectedImage(shape);
      const { journalMode, ...got } = readImage(file, { maskNow: true });
      expect(got).toEqual(expected);
      // The server keeps its own journal mode; a migration's PRAGMA journal_mode is left out, and said so.
      expect(journalMode).toBe('wal');
      expect(r.notes).toEqual(shape === 'wal-nocase' ? ['PRAGMA journal_mode in a migration was left out: the server chooses its journal mode'] : []);
    },
  );

  it('the hand-edited corpus shape is refused at its first double-quoted literal, with what to change', async () => {
    const { server, file } = await serve();
    const r = await runScript('migrate-turso', ['--dir', join(CORPUS, 'dqs-hand-edited'), '--confirm'], {
      TURSO_DATABASE_URL: server.url,
      TURSO_AUTH_TOKEN: undefined,
    });
    expect(r.code).toBe(1);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/^migrate-turso: error: migration 20230301090000_init failed at line 2 of migration\.sql: .*no such column: "?internal/);
    expect(lines[0]).toMatch(
      /this server does not accept double-quoted string literals: if "internal" is a value, write it 'internal', in single quotes, in migration\.sql\); to go on: .* --mark-rolled-back 20230301090000_init --confirm and run again; --status shows where it stands$/,
    );
    expect(rows(file, "SELECT name FROM sqlite_schema WHERE name NOT LIKE '%prisma_migrations%'")).toEqual([]);
  });

  it('a refused statement: earlier statements stay, later ones never run, the failure is recorded as Prisma does; fix, resolve, re-run', async () => {
    const { server, file } = await serve();
    const migrations = join(dirs.make(), 'migrations');
    mkdirSync(join(migrations, '20240101000000_settings'), { recursive: true });
    const script = join(migrations, '20240101000000_settings', 'migration.sql');
    writeFileSync(
      script,
      'CREATE TABLE "Setting" ("key" TEXT NOT NULL PRIMARY KEY, "scope" TEXT NOT NULL);\nINSERT INTO "Setting" VALUES (\'theme\', \'user\');\n\n-- every existing setting is global\nUPDATE "Setting" SET "scope" = "global";\nCREATE TABLE "After" (x);\n',
    );
    const env = { TURSO_DATABASE_URL: server.url, TURSO_AUTH_TOKEN: undefined, DEBUG: undefined };
    const run = (...args: string[]) => runScript('migrate-turso', ['--dir', migrations, ...args], env);

    const r = await run('--confirm');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(
      /migration 20240101000000_settings failed at line 5 of migration\.sql: .*no such column: "?global.*write it 'global', in single quotes/,
    );
    expect(rows(file, 'SELECT * FROM "Setting"')).toEqual([{ key: 'theme', scope: 'user' }]);
    expect(rows(file, "SELECT name FROM sqlite_schema WHERE name = 'After'")).toEqual([]);
    const [failed] = rows(file, 'SELECT * FROM _prisma_migrations');
    expect(failed).toMatchObject({ migration_name: '20240101000000_settings', finished_at: null, rolled_back_at: null, applied_steps_count: 0 });
    expect(String(failed!.logs)).toMatch(
      /^A migration failed to apply\. New migrations cannot be applied before the error is recovered from\..*\n\nMigration name: 20240101000000_settings\n\nDatabase error code: \S+\n\nDatabase error:\n.*no such column: "?global.*\n\n$/s,
    );

    const status = await run('--status', '--json');
    expect(status.code).toBe(1);
    expect(lastJson(status.stdout)).toMatchObject({ failed: [{ name: '20240101000000_settings' }], upToDate: false });

    // The runbook: finish the migration by hand (here: its last two statements, fixed), then record it as applied.
    writeFileSync(script, readFileSync(script, 'utf8').replace('"scope" = "global"', '"scope" = \'global\''));
    const d = new Database(file);
    d.exec('UPDATE "Setting" SET "scope" = \'global\'; CREATE TABLE "After" (x);');
    d.close();
    expect((await run('--mark-applied', '20240101000000_settings', '--confirm')).code).toBe(0);
    const after = await run('--status', '--json');
    expect(after.code).toBe(0);
    expect(lastJson(after.stdout)).toMatchObject({ applied: ['20240101000000_settings'], failed: [], changed: [], upToDate: true });
  });

  it('a statement the server does not support stops the run at its line (earlier statements stay, as with Prisma)', async () => {
    const { server, file } = await serve();
    const r = await deployMigrations({ url: server.url, dir: join(CORPUS, 'writable-schema'), confirm: true }).catch((e: Error) => e);
    expect(r).toBeInstanceOf(Error);
    expect((r as Error).message).toMatch(
      /^migration 20220712164005_init failed at line 32 of migration\.sql: .*unsupported statement: Pragma writable_schema=1;/,
    );
    expect(rows(file, "SELECT name FROM sqlite_schema WHERE type = 'table' AND name IN ('AccountType', 'Account', 'AccountBalanceStatement')")).toHaveLength(3);
    expect(rows(file, "SELECT name FROM sqlite_schema WHERE name LIKE 'sqlite_autoindex_Account%'")).toEqual([]);
  });

  it('a URL carrying user:password is a configuration error that names neither and says where the token goes', async () => {
    const secret = 'S3cretPassw0rd';
    for (const [args, env] of [
      [['--status'], { TURSO_DATABASE_URL: `https://admin:${secret}@127.0.0.1:9/` }],
      [['--db', `libsql://admin:${secret}@db.example.turso.io`, '--confirm'], { TURSO_DATABASE_URL: undefined }],
    ] as const) {
      const r = await runScript('migrate-turso', ['--dir', join(CORPUS, 'writable-schema'), ...args], { ...env, TURSO_AUTH_TOKEN: undefined });
      expect(r.code).toBe(2);
      const lines = r.stderr.trim().split('\n');
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(
        /^migrate-turso: error: the database URL must not carry a user name or password \(user:password@\): give it as (https:\/\/127\.0\.0\.1:9\/|libsql:\/\/db\.example\.turso\.io), and the token in TURSO_AUTH_TOKEN \(or in the variable --auth-token-env NAME names\)$/,
      );
      expect(r.stderr + r.stdout).not.toMatch(new RegExp(`${secret}|admin`));
    }
  });
});
