/**
 * The `_prisma_migrations` table, read and written as Prisma's schema engine does for SQLite
 * (prisma-engines: schema-engine/connectors/sql-schema-connector/src/flavour/sqlite.rs for the DDL and the
 * listing, sql_migration_persistence.rs for the writes, quaint's SQLite conversion for the values):
 * - timestamps are INTEGER Unix milliseconds (quaint binds a DateTime as `timestamp_millis()`);
 * - started: a row with id (UUID v4), checksum, started_at, migration_name; logs, finished_at, rolled_back_at NULL,
 *   applied_steps_count 0;
 * - succeeded: applied_steps_count + 1, then finished_at;
 * - failed: logs = the error as Prisma renders it; nothing else changes (finished_at stays NULL: a failed
 *   migration, which `prisma migrate resolve` then marks rolled back or applied);
 * - resolve --rolled-back sets rolled_back_at on the failed rows; resolve --applied marks failed rows rolled back
 *   and adds a row with logs '', started_at = finished_at = now, applied_steps_count 0.
 */
import { randomUUID } from 'node:crypto';
import type { MigrationDb } from './db.js';

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

export interface MigrationRecord {
  id: string;
  name: string;
  checksum: string;
  startedAt: unknown;
  finishedAt: unknown;
  rolledBackAt: unknown;
  logs: string | null;
  appliedStepsCount: bigint;
}

const now = () => BigInt(Date.now());

/** Whether `_prisma_migrations` exists (Prisma's "persistence initialized"). */
export async function hasMigrationsTable(db: MigrationDb): Promise<boolean> {
  return (await db.query("SELECT 1 FROM sqlite_schema WHERE type = 'table' AND name = '_prisma_migrations'")).length > 0;
}

/** Every row, oldest first (Prisma orders by started_at); null when the table does not exist. */
export async function readRecords(db: MigrationDb): Promise<MigrationRecord[] | null> {
  if (!(await hasMigrationsTable(db))) return null;
  const rows = await db.query(
    'SELECT id, migration_name, checksum, started_at, finished_at, rolled_back_at, logs, applied_steps_count FROM "_prisma_migrations" ORDER BY started_at ASC',
  );
  return rows.map(([id, name, checksum, startedAt, finishedAt, rolledBackAt, logs, steps]) => ({
    id: String(id),
    name: String(name),
    checksum: String(checksum),
    startedAt,
    finishedAt,
    rolledBackAt,
    logs: logs === null ? null : String(logs),
    appliedStepsCount: BigInt(steps as bigint),
  }));
}

/**
 * Tables that make a database "not empty" for Prisma (P3005). Prisma ignores none on SQLite, not even SQLite's own
 * (sqlite_sequence left by a dropped AUTOINCREMENT table, sqlite_stat1 after ANALYZE): sql_migration_persistence.rs
 * `initialize`, with flavour/sqlite.rs listing every `type = 'table'` row. Only a server's own tables are left out
 * (libsql_*, _litestream_*), which a Turso database may hold before any migration; the Prisma CLI never reaches one.
 */
export async function userTables(db: MigrationDb): Promise<string[]> {
  const rows = await db.query("SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY rowid");
  return rows.map((r) => String(r[0])).filter((n) => !/^(libsql_|_litestream_)/i.test(n));
}

/** Creates `_prisma_migrations` with Prisma's DDL (its text is what sqlite_schema then holds). */
export const createMigrationsTable = (db: MigrationDb) => db.exec(PRISMA_MIGRATIONS_DDL);

/** A migration starts: its row, with a new UUID; returns the id. */
export async function recordStarted(db: MigrationDb, name: string, checksum: string): Promise<string> {
  const id = randomUUID();
  await db.query('INSERT INTO "_prisma_migrations" ("id", "checksum", "started_at", "migration_name") VALUES (?, ?, ?, ?)', [id, checksum, now(), name]);
  return id;
}

/** It succeeded: Prisma's two updates, the step count then finished_at. */
export async function recordSucceeded(db: MigrationDb, id: string): Promise<void> {
  await db.query('UPDATE "_prisma_migrations" SET "applied_steps_count" = "applied_steps_count" + 1 WHERE "id" = ?', [id]);
  await db.query('UPDATE "_prisma_migrations" SET "finished_at" = ? WHERE "id" = ?', [now(), id]);
}

/** It failed: only the logs change. */
export async function recordFailed(db: MigrationDb, id: string, logs: string): Promise<void> {
  await db.query('UPDATE "_prisma_migrations" SET "logs" = ? WHERE "id" = ?', [logs, id]);
}

/** `resolve --rolled-back` on one row. */
export async function markRolledBack(db: MigrationDb, id: string): Promise<void> {
  await db.query('UPDATE "_prisma_migrations" SET "rolled_back_at" = ? WHERE "id" = ?', [now(), id]);
}

/** `resolve --applied`: a finished row without running anything. */
export async function recordApplied(db: MigrationDb, name: string, checksum: string): Promise<void> {
  const t = now();
  await db.query('INSERT INTO "_prisma_migrations" ("id", "checksum", "logs", "started_at", "finished_at", "migration_name") VALUES (?, ?, ?, ?, ?, ?)', [
    randomUUID(),
    checksum,
    '',
    t,
    t,
    name,
  ]);
}

/**
 * The logs Prisma writes for a failed SQLite migration: ApplyMigrationError's message (P3018, user-facing-errors
 * src/schema_engine.rs) with the SQLite extended result code and rusqlite's rendering of the error (the message).
 * Prisma appends a tracing span trace after it, which no other tool can reproduce and nothing reads.
 */
export function prismaFailureLogs(name: string, extendedCode: string, message: string): string {
  return (
    'A migration failed to apply. New migrations cannot be applied before the error is recovered from. Read more about how to resolve migration issues in a production database: https://pris.ly/d/migrate-resolve\n\n' +
    `Migration name: ${name}\n\nDatabase error code: ${extendedCode}\n\nDatabase error:\n${message}\n\n`
  );
}
