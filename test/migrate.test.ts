/** migrate-turso: Prisma-style migrations applied as `prisma migrate deploy` does. */
import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

const rows = (sql: string) => {
  const d = new Database(db, { readonly: true });
  try {
    return d.prepare(sql).all() as Record<string, unknown>[];
  } finally {
    d.close();
  }
};

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

  it('refuses when an applied migration was changed afterwards', async () => {
    expect((await migrate('--confirm')).code).toBe(0);
    const file = join(migrations, '20240101000000_init', 'migration.sql');
    writeFileSync(file, `${readFileSync(file, 'utf8')}\n-- edited\n`);
    const r = await migrate('--confirm');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/20240101000000_init was modified after it was applied/);
  });

  it('a failing migration stops the run, is recorded unfinished, and blocks the next run', async () => {
    mkdirSync(join(migrations, '20240301000000_broken'));
    writeFileSync(join(migrations, '20240301000000_broken', 'migration.sql'), 'CREATE TABLE "Broken" (;\n');
    const r = await migrate('--confirm');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/migration 20240301000000_broken failed/);
    const broken = rows("SELECT finished_at, logs FROM _prisma_migrations WHERE migration_name = '20240301000000_broken'");
    expect(broken).toHaveLength(1);
    expect(broken[0]!.finished_at).toBeNull();
    expect(String(broken[0]!.logs)).toMatch(/syntax error/);
    const next = await migrate('--confirm');
    expect(next.code).toBe(1);
    expect(next.stderr).toMatch(/started but did not finish/);
  });

  it('a missing directory is a clear error', async () => {
    const r = await runScript('migrate-turso', ['--dir', join(dir, 'nope')], env());
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/migrations directory .* does not exist/);
  });
});
