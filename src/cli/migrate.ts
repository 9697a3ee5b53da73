/**
 * `migrate-turso`: Prisma migrations applied to TURSO_DATABASE_URL as `prisma migrate deploy` applies them.
 *   (default)                 dry run: what would be applied, or what deploy would refuse; writes nothing
 *   --confirm                 apply the pending migrations
 *   --status                  read-only report like `prisma migrate status`: applied, pending, failed, changed
 *                             (exit 0 when up to date, 1 when something is pending or needs attention)
 *   --mark-rolled-back NAME   `prisma migrate resolve --rolled-back NAME` (with --confirm)
 *   --mark-applied NAME       `prisma migrate resolve --applied NAME` (with --confirm)
 */
import { BackupError } from '../errors.js';
import { deployMigrations, inspect, markApplied, markRolledBack, openMigrationDb, readMigrationsDir, upToDate, type MigrationStatus } from '../migrate/index.js';
import { requireDatabaseUrl } from '../db/url.js';
import { parse } from './args.js';
import { makeOut, type Out } from './output.js';

const USAGE =
  'migrate-turso [--dir prisma/migrations] [--status | --confirm] [--mark-rolled-back NAME | --mark-applied NAME] [--json] [--quiet]';

const OPTIONS = {
  dir: { type: 'string' },
  confirm: { type: 'boolean' },
  status: { type: 'boolean' },
  'mark-applied': { type: 'string' },
  'mark-rolled-back': { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
} as const;

type Values = ReturnType<typeof parse<typeof OPTIONS>>['values'];

function checkFlags(v: Values): void {
  const marks = [v['mark-applied'], v['mark-rolled-back']].filter((x) => x !== undefined).length;
  if (marks > 1) throw new BackupError('USAGE', `--mark-applied and --mark-rolled-back exclude each other (usage: ${USAGE})`);
  if (v.status && (v.confirm || marks)) throw new BackupError('USAGE', `--status only reads: it takes no --confirm or --mark-… (usage: ${USAGE})`);
}

/** The command: parses flags, then one of deploy (dry run or --confirm), --status, --mark-…. */
export async function migrateMain(argv: string[]): Promise<number> {
  const { values: v } = parse(argv, OPTIONS, { min: 0, max: 0, usage: USAGE });
  checkFlags(v);
  const dir = v.dir ?? 'prisma/migrations';
  const url = requireDatabaseUrl();
  const token = process.env.TURSO_AUTH_TOKEN || undefined;
  const out = makeOut({ json: v.json, quiet: v.quiet });
  if (v.status) return status(url, token, dir, out, v.json ?? false);
  const mark = v['mark-applied'] ?? v['mark-rolled-back'];
  if (mark !== undefined) {
    const as = v['mark-applied'] !== undefined ? 'applied' : 'rolled-back';
    return resolve({ url, token, dir, name: mark, as, confirm: v.confirm ?? false, out, json: v.json ?? false });
  }
  return deploy(url, token, dir, v.confirm ?? false, out, v.json ?? false);
}

async function deploy(url: string, token: string | undefined, dir: string, confirm: boolean, out: Out, json: boolean): Promise<number> {
  const r = await deployMigrations({ url, authToken: token, dir, confirm, onApplied: (name) => out.info(`  applied: ${name}`) });
  for (const name of r.notInDirectory) out.info(`warning: ${name} is recorded as applied but is not in ${dir}`);
  out.info(`${r.alreadyApplied.length} applied, ${r.pending.length + r.applied.length} pending in ${dir}`);
  if (confirm) {
    for (const note of r.notes) out.info(`note: ${note}`);
    out.info(`done: ${r.applied.length} migration${r.applied.length === 1 ? '' : 's'} applied`);
  } else {
    for (const name of r.pending) out.info(`  pending: ${name}`);
    if (r.pending.length) out.info('dry run: nothing was applied; run again with --confirm');
  }
  if (json) out.json({ mode: confirm ? 'migrate' : 'dry-run', applied: r.applied, pending: r.pending, alreadyApplied: r.alreadyApplied });
  return 0;
}

function statusLines(s: MigrationStatus, dir: string, display: string, total: number): string[] {
  const lines = [`${total} migration${total === 1 ? '' : 's'} in ${dir}; ${display}: ${s.hasMigrationsTable ? `${s.applied.length} applied` : 'no _prisma_migrations table'}`];
  const section = (title: string, items: string[]) => {
    if (items.length) lines.push(`${title} (${items.length}):`, ...items.map((i) => `  ${i}`));
  };
  section('pending', s.pending.map((n) => (s.missingScript.includes(n) ? `${n} (no migration.sql)` : n)));
  section('failed', s.failed.map((f) => `${f.name} (started ${f.startedAt})${f.error ? `: ${f.error}` : ''}`));
  section('changed since recorded', s.changed);
  section(`recorded but not in ${dir}`, s.notInDirectory);
  if (s.failed.length) lines.push(`to go on: fix the database, then --mark-rolled-back ${s.failed[0]!.name} (re-run it) or --mark-applied ${s.failed[0]!.name} (done by hand), with --confirm`);
  else if (s.pending.length) lines.push('to apply: run again with --confirm');
  if (upToDate(s)) lines.push('database is up to date');
  return lines;
}

async function status(url: string, token: string | undefined, dirPath: string, out: Out, json: boolean): Promise<number> {
  const dir = readMigrationsDir(dirPath);
  const db = await openMigrationDb(url, token, { create: false, readonly: true });
  try {
    const { status: s } = await inspect(db, dir);
    const display = db?.displayUrl ?? `${url} (does not exist)`;
    for (const line of statusLines(s, dirPath, display, dir.migrations.length)) out.info(line);
    if (json) out.json({ mode: 'status', database: display, upToDate: upToDate(s), ...s });
    return upToDate(s) ? 0 : 1;
  } finally {
    await db?.close();
  }
}

interface ResolveRun {
  url: string;
  token: string | undefined;
  dir: string;
  name: string;
  as: 'applied' | 'rolled-back';
  confirm: boolean;
  out: Out;
  json: boolean;
}

async function resolve({ url, token, dir: dirPath, name, as, confirm, out, json }: ResolveRun): Promise<number> {
  const dir = readMigrationsDir(dirPath);
  const db = await openMigrationDb(url, token, { create: false, readonly: !confirm });
  if (!db) throw new BackupError('NOT_FOUND', `${url} does not exist: there is nothing to resolve`);
  try {
    const failedRows = as === 'applied' ? await markApplied(db, dir, name, confirm) : await markRolledBack(db, name, confirm);
    const what = as === 'applied' ? `${name} recorded as applied` : `${name} marked rolled back (deploy will run it again)`;
    out.info(confirm ? `done: ${what}` : `dry run: ${what} (${failedRows} failed row${failedRows === 1 ? '' : 's'}); run again with --confirm`);
    if (json) out.json({ mode: confirm ? `mark-${as}` : 'dry-run', migration: name, failedRows });
    return 0;
  } finally {
    await db.close();
  }
}
