/** `backup`: dry run by default; --write streams a dump to a local file, --upload into the Blob store. */
import { defaultOut, runBackup, type BackupSummary } from '../api/backup.js';
import type { BackupResult } from '../backup/backup.js';
import { requireBlobToken } from '../blob/config.js';
import { parseEncryptionKey } from '../crypto/key.js';
import { BackupError } from '../errors.js';
import { printRunReport, startRun, type MonitoredRun } from '../monitor/run.js';
import { blobResultOf, fileResultOf } from '../sink/tee.js';
import { list, type Parsed } from './args.js';
import { connection } from './connection.js';
import type { CommandContext } from './main.js';
import { plural } from '../units.js';
import { basename } from 'node:path';
import { statSync } from 'node:fs';
import { fmtBytes, makeOut, table, type Out } from './output.js';
import { makeProgress } from './progress.js';

export { backupFileName } from '../api/backup.js';

function gzipLevel(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new BackupError('USAGE', `--gzip-level must be 1..9 (got ${v})`);
  return n;
}

/** Whether `path` is a folder; any path that cannot be looked at is left for the sink to refuse in its own words. */
function isDirectory(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isDirectory() === true;
  } catch {
    return false;
  }
}

/** The flag combinations that make no sense, refused before anything is read. */
function checkFlags(p: Parsed): void {
  const writes = p.bool('write') || p.bool('upload');
  if (p.str('out') !== undefined && !p.bool('write')) throw new BackupError('USAGE', '--out needs --write (without it the backup is a dry run)');
  // check, drill, list and report find a folder's dumps by this ending: a dump named otherwise would be invisible to them.
  const named = p.str('out');
  // A folder is left to the sink, whose refusal shows the file name to write instead.
  if (named !== undefined && !isDirectory(named) && !basename(named).endsWith('.ndjson.gz')) {
    throw new BackupError('USAGE', `--out must name a file ending in .ndjson.gz (check, drill, list and report find dumps by it): ${basename(named)}`);
  }
  if (p.bool('clean-partials') && !p.bool('write'))
    throw new BackupError('USAGE', '--clean-partials needs --write (it cleans the folder the dump is written to)');
  const consistency = p.str('consistency');
  if (consistency !== undefined && consistency !== 'snapshot' && consistency !== 'per-table')
    throw new BackupError('USAGE', '--consistency must be snapshot or per-table');
  const tables = list(p.str('tables'));
  if (tables && list(p.str('exclude-tables'))?.some((t) => tables.includes(t)))
    throw new BackupError('USAGE', '--tables and --exclude-tables name the same table');
  if (p.bool('alert') && !writes) throw new BackupError('USAGE', '--alert needs --write or --upload (a dry run is not a backup)');
  if (p.bool('encrypt') && !writes) throw new BackupError('USAGE', '--encrypt needs --write or --upload (a dry run writes nothing to encrypt)');
}

/** A backup run, monitored: its summary goes into the manifest; with --alert a failure alerts and a heartbeat pings. */
export async function backupMain(p: Parsed, signal: AbortSignal, ctx: CommandContext): Promise<number> {
  checkFlags(p);
  const db = connection(p, 'db');
  // The run's alerts name the database the flags chose.
  const run = startRun('cli', { notify: p.bool('alert'), strict: true, env: { ...process.env, TURSO_DATABASE_URL: db.url } });
  try {
    const code = await backupRun(p, signal, run, db);
    printRunReport(ctx.name, await run.succeeded(), p.bool('quiet'));
    return code;
  } catch (e) {
    printRunReport(ctx.name, await run.failed(e), p.bool('quiet'));
    throw e;
  }
}

async function backupRun(p: Parsed, signal: AbortSignal, run: MonitoredRun, db: { url: string; authToken: string | undefined }): Promise<number> {
  const write = p.bool('write');
  // The Blob token and the key are checked before touching the database: a bad one fails fast, never after a long run.
  const blobToken = p.bool('upload') ? requireBlobToken() : undefined;
  const key = p.bool('encrypt') ? parseEncryptionKey(process.env.BACKUP_ENCRYPTION_KEY) : undefined;
  const out = makeOut({ json: p.bool('json'), quiet: p.bool('quiet') });
  const progress = makeProgress({ quiet: p.bool('quiet') });
  let result: BackupResult | null = null;
  const summary = await runBackup(
    {
      url: db.url,
      authToken: db.authToken,
      out: write ? (p.str('out') ?? defaultOut()) : undefined,
      upload: blobToken ? { token: blobToken } : undefined,
      encryptionKey: key,
      tables: list(p.str('tables')),
      excludeTables: list(p.str('exclude-tables')),
      mediaTable: p.str('media-table') || undefined,
      consistency: p.str('consistency') as 'snapshot' | 'per-table' | undefined,
      gzipLevel: gzipLevel(p.str('gzip-level')),
      cleanPartials: p.bool('clean-partials'),
      onWarning: (w) => out.warn(`warning: ${w}`),
      signal,
      onProgress: (s) => progress.update({ label: s.table, done: s.rows, total: s.totalRows, bytes: s.bytes }),
    },
    { track: (sink) => run.track(sink), onResult: (r) => (result = r) },
  );
  progress.done();
  report(summary, result!, out);
  if (p.bool('json')) out.json(summary);
  else out.info(`done in ${summary.durationMs} ms`);
  return 0;
}

function report(s: BackupSummary, r: BackupResult, out: Out): void {
  for (const path of s.removedPartials) out.info(`removed ${path} (left by an interrupted backup)`);
  if (s.mode === 'dry-run') {
    out.info(`dry run: ${s.source} (${plural(Object.keys(s.tables).length, 'table')}; nothing written, use --write or --upload)`);
  } else {
    const file = fileResultOf(r.sink);
    const blob = blobResultOf(r.sink);
    if (file) out.info(`wrote ${file.path} (${fmtBytes(s.bytes!)}, sha256 ${s.sha256}) from ${s.source}`);
    if (blob) out.info(`uploaded ${blob.pathname} to Vercel Blob (private, ${fmtBytes(s.bytes!)}, sha256 ${s.sha256}) from ${s.source}`);
  }
  for (const line of table(Object.entries(s.tables).map(([n, c]) => [n, String(c)]))) out.info(line);
  for (const note of s.notes) out.warn(`note: ${note}`);
}
