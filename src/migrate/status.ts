/**
 * The migrations directory against `_prisma_migrations`, in Prisma's terms (prisma-engines:
 * schema-engine/core/src/commands/apply_migrations.rs for what deploy applies and refuses,
 * diagnose_migration_history.rs for what `prisma migrate status` reports):
 * - pending: in the directory, with no row that is not rolled back (deploy applies these, in directory order);
 * - applied: a finished row that is not rolled back;
 * - failed: a row with neither finished_at nor rolled_back_at (deploy refuses to run while there is one, P3009);
 * - changed: the file no longer matches the checksum recorded for it (checksum.ts; status reports it as edited
 *   but does not fail on it, and deploy does not look: an applied one is never run again);
 * - notInDirectory: applied rows (finished, not rolled back) whose migration is not in the directory; a rolled-back
 *   row of a folder deleted since is history, not an applied migration (deploy says nothing about it either).
 */
import { checksumMatches } from './checksum.js';
import type { MigrationsDir } from './files.js';
import type { MigrationRecord } from './history.js';

export interface FailedMigration {
  name: string;
  startedAt: string;
  /** The first line of the recorded error, if any. */
  error: string | null;
}

export interface MigrationStatus {
  /** False when the database has no `_prisma_migrations` table (or does not exist yet). */
  hasMigrationsTable: boolean;
  applied: string[];
  pending: string[];
  failed: FailedMigration[];
  changed: string[];
  /** Pending migrations whose directory has no readable migration.sql (Prisma: P3015). */
  missingScript: string[];
  notInDirectory: string[];
}

const isNull = (v: unknown) => v === null || v === undefined;

/** A stored timestamp (Unix milliseconds from Prisma; text from other tools) as ISO 8601. */
export function timestamp(v: unknown): string {
  if (typeof v === 'bigint' || typeof v === 'number') return new Date(Number(v)).toISOString();
  return String(v);
}

/**
 * The database's error in a failed migration's logs, whichever engine wrote them: the native engine writes a header,
 * "Migration name:", "Database error code:", then "Database error:" and the error, then its span trace; the engine
 * Prisma runs with a driver adapter writes the error first and the trace after it. So: the line after
 * "Database error:", else the first line that is none of the header's, the hint's or the trace's.
 */
function errorLine(logs: string | null): string | null {
  const lines = (logs ?? '')
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  const at = lines.indexOf('Database error:');
  if (at >= 0) return lines[at + 1] ?? null;
  const notTheError = /^(A migration failed to apply\b|Migration name:|Database error code:|Please check the query number|\d+: |at |with )/;
  return lines.find((l) => !notTheError.test(l)) ?? null;
}

/** The directory against the recorded rows (null: no `_prisma_migrations` table). */
export function diagnose(dir: MigrationsDir, records: MigrationRecord[] | null): MigrationStatus {
  const rows = records ?? [];
  const inDir = new Set(dir.migrations.map((m) => m.name));
  const status: MigrationStatus = {
    hasMigrationsTable: records !== null,
    applied: [],
    pending: [],
    failed: [],
    changed: [],
    missingScript: [],
    notInDirectory: [],
  };
  for (const m of dir.migrations) {
    const live = rows.filter((r) => r.name === m.name && isNull(r.rolledBackAt));
    if (live.length === 0) {
      status.pending.push(m.name);
      if (m.script === null) status.missingScript.push(m.name);
      continue;
    }
    const applied = live.find((r) => !isNull(r.finishedAt));
    if (applied) status.applied.push(m.name);
    // Prisma's status compares with the first row of that name, even a rolled-back one (diagnose_migration_history.rs),
    // which flags a migration fixed after a failure as edited; the row that counts is the applied one, else the failed one.
    if (m.script === null || !checksumMatches(m.script, (applied ?? live[0]!).checksum)) status.changed.push(m.name);
  }
  for (const r of rows) {
    if (isNull(r.finishedAt) && isNull(r.rolledBackAt)) status.failed.push({ name: r.name, startedAt: timestamp(r.startedAt), error: errorLine(r.logs) });
    const applied = !isNull(r.finishedAt) && isNull(r.rolledBackAt);
    if (applied && !inDir.has(r.name) && !status.notInDirectory.includes(r.name)) status.notInDirectory.push(r.name);
  }
  return status;
}

/**
 * A history table, nothing to apply and nothing failed: what `prisma migrate status` calls up to date. Without
 * `_prisma_migrations` it never is, even with no migration to apply: Prisma's status then says the database is
 * not managed by Prisma Migrate and exits 1 (packages/migrate/src/commands/MigrateStatus.ts). An edited migration
 * is reported (`changed`) but does not count, as in Prisma's status; a failed one counts already as failed.
 */
export const upToDate = (s: MigrationStatus): boolean =>
  s.hasMigrationsTable && s.pending.length === 0 && s.failed.length === 0 && s.missingScript.length === 0;

/** No history table and nothing to apply: the state Prisma's status reports as "not managed by Prisma Migrate". */
export const unmanaged = (s: MigrationStatus): boolean => !s.hasMigrationsTable && s.pending.length === 0;
