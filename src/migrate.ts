/**
 * Prisma-style migrations applied the way `prisma migrate deploy` does: `<dir>/<timestamp_name>/migration.sql`
 * in name order, each recorded in `_prisma_migrations` (checksum = SHA-256 of the file), applied ones skipped,
 * a changed applied migration or an unfinished one refused.
 */
import { createHash, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Connection } from './db/connection.js';
import { BackupError } from './errors.js';

export interface Migration {
  name: string;
  checksum: string;
  sql: string;
}

export interface MigrationStatus {
  applied: string[];
  pending: Migration[];
  /** Recorded as applied but no longer in the directory. */
  unknown: string[];
}

/** Prisma's own DDL for its migration table, as `prisma migrate` writes it for SQLite. */
export const PRISMA_MIGRATIONS_DDL = `CREATE TABLE "_prisma_migrations" (
    "id"                    TEXT PRIMARY KEY NOT NULL,
    "checksum"              TEXT NOT NULL,
    "finished_at"           DATETIME,
    "migration_name"        TEXT NOT NULL,
    "logs"                  TEXT,
    "rolled_back_at"        DATETIME,
    "started_at"            DATETIME NOT NULL DEFAULT current_timestamp,
    "applied_steps_count"   INTEGER UNSIGNED NOT NULL DEFAULT 0
)`;

export function readMigrations(dir: string): Migration[] {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new BackupError('NOT_FOUND', `migrations directory ${dir} does not exist`);
  return readdirSync(dir)
    .filter((n) => existsSync(join(dir, n, 'migration.sql')))
    .sort()
    .map((name) => {
      const bytes = readFileSync(join(dir, name, 'migration.sql'));
      return { name, checksum: createHash('sha256').update(bytes).digest('hex'), sql: bytes.toString('utf8') };
    });
}

export async function migrationStatus(conn: Connection | null, migrations: Migration[]): Promise<MigrationStatus> {
  const exists = conn && (await conn.query("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_prisma_migrations'")).length > 0;
  const rows = exists
    ? await conn!.query('SELECT migration_name, checksum, finished_at, rolled_back_at FROM "_prisma_migrations" ORDER BY started_at')
    : [];
  const byName = new Map(migrations.map((m) => [m.name, m]));
  const applied: string[] = [];
  const unknown: string[] = [];
  for (const [name, checksum, finished, rolledBack] of rows as [string, string, unknown, unknown][]) {
    if (rolledBack !== null) continue;
    if (finished === null) {
      throw new BackupError('REFUSED', `migration ${name} started but did not finish: fix the database, then mark it rolled back`);
    }
    const m = byName.get(name);
    if (!m) {
      unknown.push(name);
      continue;
    }
    if (m.checksum !== checksum) {
      throw new BackupError('REFUSED', `migration ${name} was modified after it was applied (checksum differs): refusing`);
    }
    applied.push(name);
  }
  const done = new Set(applied);
  return { applied, pending: migrations.filter((m) => !done.has(m.name)), unknown };
}

/** Applies pending migrations in order; stops at the first failure, recording it as Prisma does. */
export async function applyMigrations(conn: Connection, pending: Migration[], onApplied?: (m: Migration) => void): Promise<void> {
  const exists = await conn.query("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_prisma_migrations'");
  if (exists.length === 0) await conn.exec(PRISMA_MIGRATIONS_DDL);
  for (const m of pending) {
    const id = randomUUID();
    await conn.run(
      'INSERT INTO "_prisma_migrations" (id, checksum, migration_name, started_at, applied_steps_count) VALUES (?, ?, ?, ?, 0)',
      [id, m.checksum, m.name, BigInt(Date.now())],
    );
    try {
      await conn.exec(m.sql);
    } catch (e) {
      const msg = (e as Error).message;
      await conn.run('UPDATE "_prisma_migrations" SET logs = ? WHERE id = ?', [msg, id]).catch(() => {});
      throw new BackupError('SCHEMA', `migration ${m.name} failed: ${msg.split('\n')[0]}`);
    }
    await conn.run('UPDATE "_prisma_migrations" SET finished_at = ?, applied_steps_count = 1 WHERE id = ?', [BigInt(Date.now()), id]);
    onApplied?.(m);
  }
}
