/**
 * `migrate`: Prisma migrations applied to the database as `prisma migrate deploy` applies them.
 *   (default)                 dry run: what would be applied, or what deploy would refuse; writes nothing
 *   --confirm                 apply the pending migrations
 *   --status                  read-only report like `prisma migrate status`: applied, pending, failed, changed
 *                             (exit 0 when up to date, 1 when something is pending or failed or deploy would
 *                             refuse; an edited applied migration is a warning, as in Prisma)
 *   --mark-rolled-back NAME   `prisma migrate resolve --rolled-back NAME` (with --confirm)
 *   --mark-applied NAME       `prisma migrate resolve --applied NAME` (with --confirm)
 */
import { type MigratePlan, migrate } from '../api/migrate.js';
import { BackupError } from '../errors.js';
import {
  deployRefusal,
  editedApplied,
  editedWarning,
  inspect,
  markApplied,
  markRolledBack,
  openMigrationDb,
  readMigrationsDir,
  unmanaged,
  upToDate,
  type MigrationStatus,
  type MigrationsDir,
} from '../migrate/index.js';
import type { Parsed } from './args.js';
import { connection, type Connection } from './connection.js';
import { makeOut, type Out } from './output.js';
import { plural } from '../units.js';
import { redactUrl } from '../db/url.js';

function checkFlags(p: Parsed): void {
  const marks = [p.str('mark-applied'), p.str('mark-rolled-back')].filter((x) => x !== undefined).length;
  if (marks > 1) throw new BackupError('USAGE', '--mark-applied and --mark-rolled-back exclude each other');
  if (p.bool('status') && (p.bool('confirm') || marks)) throw new BackupError('USAGE', '--status only reads: it takes no --confirm or --mark-…');
}

/** The command: parses flags, then one of deploy (dry run or --confirm), --status, --mark-…. */
export async function migrateMain(p: Parsed, signal: AbortSignal): Promise<number> {
  checkFlags(p);
  const dir = p.str('dir') ?? 'prisma/migrations';
  const db = connection(p, 'db');
  const out = makeOut({ json: p.bool('json'), quiet: p.bool('quiet') });
  const json = p.bool('json');
  if (p.bool('status')) return status(db, dir, out, json);
  const mark = p.str('mark-applied') ?? p.str('mark-rolled-back');
  if (mark !== undefined) {
    const as = p.str('mark-applied') !== undefined ? 'applied' : 'rolled-back';
    return resolve({ db, dir, name: mark, as, confirm: p.bool('confirm'), out, json });
  }
  return deploy(db, dir, p.bool('confirm'), out, json, signal);
}

/** The state before the run, printed before anything is applied: warnings, then what is applied and pending. */
function printPlan(plan: MigratePlan, dir: string, out: Out): void {
  for (const name of plan.notInDirectory) out.warn(`warning: ${name} is recorded as applied but is not in ${dir}`);
  for (const w of plan.warnings) out.warn(`warning: ${w}`);
  // After the checks every migration of the folder is pending or applied: none means an empty folder.
  if (plan.alreadyApplied.length + plan.pending.length === 0) out.info(`no migration found in ${dir}`);
  out.info(`${plan.alreadyApplied.length} applied, ${plan.pending.length} pending in ${dir}`);
}

async function deploy(db: Connection, dir: string, confirm: boolean, out: Out, json: boolean, signal: AbortSignal): Promise<number> {
  const r = await migrate({
    url: db.url,
    authToken: db.authToken,
    dir,
    confirm,
    signal,
    onPlan: (plan) => printPlan(plan, dir, out),
    onApplied: (name) => out.info(`  applied: ${name}`),
  });
  if (confirm) {
    for (const note of r.notes) out.info(`note: ${note}`);
    out.info(`done: ${plural(r.applied.length, 'migration')} applied`);
  } else {
    for (const name of r.pending) out.info(`  pending: ${name}`);
    if (r.pending.length) out.info('dry run: nothing was applied; run again with --confirm');
  }
  if (json) out.json(r);
  return 0;
}

/** `refusal`: what a confirmed run would refuse (deployRefusal), so the report never sends the operator into it. */
function statusLines(dir: MigrationsDir, s: MigrationStatus, display: string, refusal: string | null): string[] {
  const total = dir.migrations.length;
  const lines = [
    `${plural(total, 'migration')} in ${dir.dir}; ${display}: ${s.hasMigrationsTable ? `${s.applied.length} applied` : 'no _prisma_migrations table'}`,
  ];
  const section = (title: string, items: string[]) => {
    if (items.length) lines.push(`${title} (${items.length}):`, ...items.map((i) => `  ${i}`));
  };
  section(
    'pending',
    s.pending.map((n) => (s.missingScript.includes(n) ? `${n} (no migration.sql)` : n)),
  );
  section(
    'failed',
    s.failed.map((f) => `${f.name} (started ${f.startedAt})${f.error ? `: ${f.error}` : ''}`),
  );
  // An applied one is a warning, as in `prisma migrate status`; a failed one whose file was fixed is shown as changed.
  const edited = editedApplied(s);
  section(
    'changed since recorded',
    s.changed.filter((n) => !edited.includes(n)),
  );
  lines.push(...edited.map((n) => `warning: ${editedWarning(dir, n)}`));
  section(`recorded but not in ${dir.dir}`, s.notInDirectory);
  if (s.failed.length)
    lines.push(
      `to go on: fix the database, then --mark-rolled-back ${s.failed[0]!.name} (re-run it) or --mark-applied ${s.failed[0]!.name} (done by hand), with --confirm`,
    );
  else if (refusal) lines.push(`a run with --confirm would refuse: ${refusal}`);
  else if (s.pending.length) lines.push('to apply: run again with --confirm');
  else if (unmanaged(s))
    lines.push(
      `the database is not managed by Prisma Migrate: it has no _prisma_migrations table and ${dir.dir} holds no migration (prisma migrate status exits 1 on it too); a run with --confirm creates the table`,
    );
  if (upToDate(s) && !refusal) lines.push('database is up to date');
  return lines;
}

async function status(conn: Connection, dirPath: string, out: Out, json: boolean): Promise<number> {
  const dir = readMigrationsDir(dirPath);
  const db = await openMigrationDb(conn.url, conn.authToken, { create: false, readonly: true });
  try {
    const { status: s, userTables } = await inspect(db, dir);
    const display = db?.displayUrl ?? `${redactUrl(conn.url)} (does not exist)`;
    const refusal = deployRefusal(dir, s, userTables);
    // A database deploy would refuse (another provider's folder, P3019; tables but no history, P3005) is not up to
    // date: `prisma migrate status` fails on both.
    const ok = upToDate(s) && refusal === null;
    for (const line of statusLines(dir, s, display, refusal)) out.info(line);
    if (json) out.json({ mode: 'status', database: display, upToDate: ok, ...s });
    return ok ? 0 : 1;
  } finally {
    await db?.close();
  }
}

interface ResolveRun {
  db: Connection;
  dir: string;
  name: string;
  as: 'applied' | 'rolled-back';
  confirm: boolean;
  out: Out;
  json: boolean;
}

async function resolve({ db: conn, dir: dirPath, name, as, confirm, out, json }: ResolveRun): Promise<number> {
  const dir = readMigrationsDir(dirPath);
  const db = await openMigrationDb(conn.url, conn.authToken, { create: false, readonly: !confirm });
  if (!db) throw new BackupError('NOT_FOUND', `${redactUrl(conn.url)} does not exist: there is nothing to resolve`);
  try {
    const failedRows = as === 'applied' ? await markApplied(db, dir, name, confirm) : await markRolledBack(db, name, confirm);
    const done = as === 'applied' ? `${name} recorded as applied` : `${name} marked rolled back (deploy will run it again)`;
    const wouldBe = as === 'applied' ? `${name} would be recorded as applied` : `${name} would be marked rolled back`;
    out.info(confirm ? `done: ${done}` : `dry run: ${wouldBe} (${plural(failedRows, 'failed row')}); nothing written, run again with --confirm`);
    if (json) out.json({ mode: confirm ? `mark-${as}` : 'dry-run', migration: name, failedRows });
    return 0;
  } finally {
    await db.close();
  }
}
