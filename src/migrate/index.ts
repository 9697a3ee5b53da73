/**
 * Prisma migrations applied the way `prisma migrate deploy` applies them to SQLite, on a `file:` database or a
 * remote libSQL server: `<dir>/<name>/migration.sql` in directory order, each recorded in `_prisma_migrations`
 * exactly as Prisma records it. The sources these modules follow are named in each one; docs/DESIGN.md
 * ("Prisma migrations") is the overview.
 *
 *   files.ts      the directory and migration_lock.toml, as Prisma lists them
 *   checksum.ts   Prisma's checksum and its equivalences (line endings, old unpadded format)
 *   history.ts    `_prisma_migrations` rows: started, succeeded, failed, resolved
 *   status.ts     applied / pending / failed / changed, as `prisma migrate status` sees them
 *   deploy.ts     what deploy refuses, and the run itself
 *   resolve.ts    `prisma migrate resolve --rolled-back / --applied`
 *   dqs.ts, dqs-replay.ts, schema-text.ts   double-quoted string literals on a driver without them
 *   (statements are cut where SQLite cuts them by src/sql-text.ts, which a dump's schema check shares)
 *   db.ts         the database interface; adapter.ts implements it on today's drivers
 */
import { openMigrationDb } from './adapter.js';
import { applyPending, checkDeployable, editedApplied, editedWarning, inspect, interruptedError } from './deploy.js';
import { readMigrationsDir, type MigrationsDir } from './files.js';
import type { MigrationStatus } from './status.js';

export { openMigrationDb } from './adapter.js';
export { checksumMatches, scriptChecksum } from './checksum.js';
export type { MigrationDb } from './db.js';
export { applyPending, checkDeployable, deployRefusal, editedApplied, editedWarning, inspect } from './deploy.js';
export { readMigrationsDir, type MigrationFile, type MigrationsDir } from './files.js';
export { PRISMA_MIGRATIONS_DDL } from './history.js';
export { markApplied, markRolledBack } from './resolve.js';
export { diagnose, unmanaged, upToDate, type MigrationStatus } from './status.js';

/** What a run found before applying anything: the state before, and the warnings that do not stop it. */
export interface DeployPlan {
  /** To be applied, in order (all that are pending). */
  pending: string[];
  alreadyApplied: string[];
  notInDirectory: string[];
  /** Applied migrations whose migration.sql changed afterwards: not run again (as deploy), one warning each. */
  edited: string[];
  /** One line per edited migration (editedWarning). */
  warnings: string[];
}

export interface DeployResult {
  /** Applied by this run, in order. */
  applied: string[];
  /** Still pending (all of them in a dry run). */
  pending: string[];
  alreadyApplied: string[];
  notInDirectory: string[];
  /** Applied migrations whose migration.sql changed afterwards: not run again (as deploy), one warning each. */
  edited: string[];
  /** One line per edited migration (editedWarning). */
  warnings: string[];
  notes: string[];
}

/** Reads the target read-only (a missing file stays missing) and throws what deploy would refuse. */
async function deployable(url: string, authToken: string | undefined, dir: MigrationsDir): Promise<MigrationStatus> {
  const reader = await openMigrationDb(url, authToken, { create: false, readonly: true });
  try {
    const seen = await inspect(reader, dir);
    checkDeployable(dir, seen.status, seen.userTables);
    return seen.status;
  } finally {
    await reader?.close();
  }
}

/**
 * `prisma migrate deploy` in one call: a dry run (the default) reads only and never creates a `file:` target;
 * `confirm` applies the pending migrations (creating a missing `file:` target).
 */
export async function deployMigrations(opts: {
  url: string;
  authToken?: string;
  dir: string;
  confirm?: boolean;
  /** Called once, after the checks and before the first migration is applied: the state before the run. */
  onPlan?: (plan: DeployPlan) => void;
  onApplied?: (name: string) => void;
  /**
   * Aborting stops the run after the migration under way (BackupError INTERRUPTED; it is recorded as applied), or
   * before the first when already aborted; an abort during the last migration ends nothing (the run is complete).
   */
  signal?: AbortSignal;
}): Promise<DeployResult> {
  if (opts.signal?.aborted) throw interruptedError([]);
  const dir = readMigrationsDir(opts.dir);
  const confirm = opts.confirm ?? false;
  const notes: string[] = [];
  const status = await deployable(opts.url, opts.authToken, dir);
  const edited = editedApplied(status);
  const plan: DeployPlan = {
    pending: status.pending,
    alreadyApplied: status.applied,
    notInDirectory: status.notInDirectory,
    edited,
    warnings: edited.map((n) => editedWarning(dir, n)),
  };
  opts.onPlan?.(plan);
  let applied: string[] = [];
  // Like deploy, a confirmed run initializes `_prisma_migrations` even when there is nothing to apply.
  if (confirm && (status.pending.length > 0 || !status.hasMigrationsTable)) {
    const db = (await openMigrationDb(opts.url, opts.authToken, { create: true, readonly: false }))!;
    try {
      applied = await applyPending(db, dir, status.pending, { notes, onApplied: opts.onApplied, signal: opts.signal });
    } finally {
      await db.close();
    }
  }
  return { ...plan, applied, pending: status.pending.filter((n) => !applied.includes(n)), notes: [...new Set(notes)] };
}
