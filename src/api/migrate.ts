/**
 * `migrate(options)`: Prisma migrations applied as `prisma migrate deploy` applies them, for the library and the CLI
 * (`turso-backup migrate --json` prints what this returns). A dry run unless `confirm`.
 */
import { requiredUrl } from './options.js';

export interface MigrateOptions {
  /** The database: `file:PATH` (created when missing, on a confirmed run), `libsql://…` or `https://…`. */
  url: string;
  authToken?: string;
  /** The migrations folder (default `prisma/migrations`). */
  dir?: string;
  /** Without it, a dry run: what would be applied, or what deploy would refuse; nothing is written. */
  confirm?: boolean;
  /** Once, after the checks and before anything is applied: the state before the run (nothing is applied yet). */
  onPlan?: (plan: MigratePlan) => void;
  /** Each migration as it is applied. */
  onApplied?: (name: string) => void;
  /**
   * Aborting stops before the next migration (one that started finishes, as deploy would leave it): BackupError
   * INTERRUPTED. An abort during the last migration stops nothing: the run completes and resolves as usual.
   */
  signal?: AbortSignal;
}

/** The state before a run: what is applied, what it will apply, and what it warns about. */
export interface MigratePlan {
  /** Pending before the run, in the order they will be applied. */
  pending: string[];
  alreadyApplied: string[];
  /** Recorded as applied in the database but not in the folder. */
  notInDirectory: string[];
  /** Applied migrations whose migration.sql changed afterwards: not run again, as `prisma migrate deploy` does. */
  edited: string[];
  /** One line per edited migration, saying so (the CLI prints each as `warning: …`). */
  warnings: string[];
}

/** What a migrate run did: the summary `turso-backup migrate --json` prints. */
export interface MigrateSummary {
  mode: 'migrate' | 'dry-run';
  /** Applied by this run, in order. */
  applied: string[];
  /** Still pending (all of them in a dry run). */
  pending: string[];
  alreadyApplied: string[];
  /** Recorded as applied in the database but not in the folder. */
  notInDirectory: string[];
  /** Applied migrations whose migration.sql changed afterwards: not run again, as `prisma migrate deploy` does. */
  edited: string[];
  /** One line per edited migration, saying so (the CLI prints each as `warning: …`). */
  warnings: string[];
  notes: string[];
}

/**
 * Applies the pending migrations of `options.dir` to `options.url` as `prisma migrate deploy` does, refusing what
 * it refuses (a failed migration, a non-empty database without `_prisma_migrations`); an applied migration edited
 * afterwards is not run again and is named in `edited` and `warnings`.
 * @returns the summary `turso-backup migrate --json` prints.
 * @throws BackupError with a `code` (REFUSED, SCHEMA, CONSTRAINT, NOT_FOUND, REMOTE, INTERRUPTED, …).
 */
export async function migrate(options: MigrateOptions): Promise<MigrateSummary> {
  requiredUrl(options.url);
  const confirm = options.confirm ?? false;
  // Loaded when used: importing the library loads no database driver.
  const { deployMigrations } = await import('../migrate/index.js');
  const r = await deployMigrations({
    url: options.url,
    authToken: options.authToken,
    dir: options.dir ?? 'prisma/migrations',
    confirm,
    onPlan: options.onPlan,
    onApplied: options.onApplied,
    // Checked between migrations only (migrate/deploy.ts applyPending), the one place a stop leaves the history as deploy would.
    signal: options.signal,
  });
  return {
    mode: confirm ? 'migrate' : 'dry-run',
    applied: r.applied,
    pending: r.pending,
    alreadyApplied: r.alreadyApplied,
    notInDirectory: r.notInDirectory,
    edited: r.edited,
    warnings: r.warnings,
    notes: r.notes,
  };
}
