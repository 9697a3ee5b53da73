/**
 * `prisma migrate resolve` for a failed migration, for targets the Prisma CLI does not reach (prisma-engines:
 * schema-engine/core/src/commands/mark_migration_rolled_back.rs and mark_migration_applied.rs), with the same
 * refusals: P3011 (never applied), P3012 (not failed), P3017 (not in the directory), P3008 (already applied).
 */
import { BackupError } from '../errors.js';
import type { MigrationDb } from './db.js';
import { checkProvider, type MigrationsDir } from './files.js';
import * as history from './history.js';

const isNull = (v: unknown) => v === null || v === undefined;

/**
 * `--rolled-back`: the failed rows of `name` are marked rolled back, so deploy applies the migration again. It reads
 * no migration folder, so the lock file does not matter here (mark_migration_rolled_back.rs takes only the name).
 */
export async function markRolledBack(db: MigrationDb, name: string, confirm: boolean): Promise<number> {
  const rows = ((await history.readRecords(db)) ?? []).filter((r) => r.name === name);
  if (rows.length === 0) throw new BackupError('REFUSED', `migration ${name} cannot be marked rolled back: it was never applied to this database`);
  if (rows.every((r) => !isNull(r.finishedAt))) throw new BackupError('REFUSED', `migration ${name} cannot be marked rolled back: it is not in a failed state`);
  const failed = rows.filter((r) => isNull(r.finishedAt) && isNull(r.rolledBackAt));
  if (confirm) for (const r of failed) await history.markRolledBack(db, r.id);
  return failed.length;
}

/**
 * `--applied`: the migration is recorded as applied (its failed rows rolled back) without running it. A folder of
 * another provider is refused first (P3019), as mark_migration_applied.rs calls error_on_changed_provider.
 */
export async function markApplied(db: MigrationDb, dir: MigrationsDir, name: string, confirm: boolean): Promise<number> {
  checkProvider(dir);
  const m = dir.migrations.find((x) => x.name === name);
  if (!m || m.script === null) throw new BackupError('REFUSED', `migration ${name} cannot be marked applied: ${dir.dir} has no ${name}/migration.sql`);
  const records = await history.readRecords(db);
  const rows = (records ?? []).filter((r) => r.name === name);
  if (rows.some((r) => !isNull(r.finishedAt))) throw new BackupError('REFUSED', `migration ${name} is already recorded as applied`);
  const failed = rows.filter((r) => isNull(r.rolledBackAt));
  if (!confirm) return failed.length;
  if (records === null) await history.createMigrationsTable(db);
  for (const r of failed) await history.markRolledBack(db, r.id);
  await history.recordApplied(db, name, m.checksum);
  return failed.length;
}
