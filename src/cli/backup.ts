/** `backup-turso`: dry run by default; --write streams a dump to a local file. */
import { basename, join } from 'node:path';
import { backup, inspect, type BackupOptions, type BackupResult } from '../backup/backup.js';
import { BackupError } from '../errors.js';
import { parseEncryptionKey } from '../crypto/key.js';
import { BACKUP_PREFIX, requireBlobToken } from '../blob/config.js';
import { encryptSink } from '../sink/encrypt.js';
import { fileSink } from '../sink/file.js';
import { blobResultOf, fileResultOf, teeSink } from '../sink/tee.js';
import type { Sink } from '../sink/types.js';
import { requireDatabaseUrl } from '../db/url.js';
import { list, parse } from './args.js';
import { fmtBytes, makeOut, table } from './output.js';
import { makeProgress } from './progress.js';
import { withRunReport, type MonitoredRun } from '../monitor/run.js';

const USAGE =
  'backup-turso [--write] [--out PATH] [--upload] [--tables a,b] [--exclude-tables c] [--media-table NAME] [--consistency snapshot|per-table] [--encrypt] [--gzip-level 1-9] [--alert] [--json] [--quiet]';

function gzipLevel(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 9) throw new BackupError('USAGE', `--gzip-level must be 1..9 (got ${v})`);
  return n;
}

export const backupFileName = (d = new Date()) => `backup-${d.toISOString().replaceAll(':', '-')}.ndjson.gz`;

/** A backup run, monitored: its summary goes into the manifest; with --alert a failure alerts and a heartbeat pings. */
export async function backupMain(argv: string[], signal: AbortSignal): Promise<number> {
  return withRunReport('backup-turso', argv, (run) => backupRun(argv, signal, run));
}

async function backupRun(argv: string[], signal: AbortSignal, run: MonitoredRun): Promise<number> {
  const { values: v } = parse(
    argv,
    {
      write: { type: 'boolean' },
      upload: { type: 'boolean' },
      out: { type: 'string' },
      tables: { type: 'string' },
      'exclude-tables': { type: 'string' },
      'media-table': { type: 'string' },
      consistency: { type: 'string' },
      encrypt: { type: 'boolean' },
      'gzip-level': { type: 'string' },
      alert: { type: 'boolean' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
    { min: 0, max: 0, usage: USAGE },
  );
  if (v.out !== undefined && !v.write) throw new BackupError('USAGE', '--out needs --write (without it the backup is a dry run)');
  if (v.consistency !== undefined && v.consistency !== 'snapshot' && v.consistency !== 'per-table') {
    throw new BackupError('USAGE', '--consistency must be snapshot or per-table');
  }
  const tables = list(v.tables);
  const exclude = list(v['exclude-tables']) ?? [];
  if (tables && exclude.some((t) => tables.includes(t))) {
    throw new BackupError('USAGE', '--tables and --exclude-tables name the same table');
  }
  if (v.alert && !v.write && !v.upload) throw new BackupError('USAGE', '--alert needs --write or --upload (a dry run is not a backup)');
  if (v.encrypt && !v.write && !v.upload) throw new BackupError('USAGE', '--encrypt needs --write or --upload (a dry run writes nothing to encrypt)');
  // The Blob token is checked before touching the database, like the key.
  const blobToken = v.upload ? requireBlobToken() : undefined;
  // Parse the key before touching the database: a bad key fails fast, and never after a long run.
  const key = v.encrypt ? parseEncryptionKey(process.env.BACKUP_ENCRYPTION_KEY) : undefined;
  const out = makeOut({ json: v.json, quiet: v.quiet });
  const progress = makeProgress({ quiet: v.quiet });
  const opts: BackupOptions = {
    url: requireDatabaseUrl(),
    authToken: process.env.TURSO_AUTH_TOKEN || undefined,
    selection: { tables: tables ?? null, excludeTables: exclude },
    media: v['media-table'] ? { table: v['media-table'] } : undefined,
    consistency: (v.consistency as BackupOptions['consistency']) ?? 'snapshot',
    gzip: v['gzip-level'] !== undefined ? { level: gzipLevel(v['gzip-level']) } : undefined,
    signal,
    onProgress: (p) => progress.update({ label: p.table, done: p.rows, total: p.totalRows, bytes: p.bytes }),
  };

  let result: BackupResult;
  if (!v.write && !v.upload) {
    result = await inspect(opts);
    out.info(`dry run: ${result.source} (${Object.keys(result.tables).length} tables; nothing written, use --write or --upload)`);
  } else {
    const path = v.out ?? join('backups', backupFileName());
    const sinks: Sink[] = v.write ? [fileSink(path)] : [];
    if (blobToken) {
      // Loaded only when uploading: a local backup never loads @vercel/blob.
      const { blobSink } = await import('../sink/blob.js');
      sinks.push(blobSink(`${BACKUP_PREFIX}${basename(path)}`, { token: blobToken, contentType: key ? 'application/octet-stream' : 'application/gzip' }));
    }
    // --write --upload: one pass over the database, the same bytes to both (encrypted once, as one container).
    const sink = sinks.length === 1 ? sinks[0]! : teeSink(sinks);
    result = await backup(opts, run.track(key ? encryptSink(sink, key) : sink));
    progress.done();
    const file = fileResultOf(result.sink);
    const blob = blobResultOf(result.sink);
    if (file) out.info(`wrote ${file.path} (${fmtBytes(result.bytes!)}, sha256 ${result.sha256}) from ${result.source}`);
    if (blob) out.info(`uploaded ${blob.pathname} to Vercel Blob (private, ${fmtBytes(result.bytes!)}, sha256 ${result.sha256}) from ${result.source}`);
  }
  for (const line of table(Object.entries(result.tables).map(([n, c]) => [n, String(c)]))) out.info(line);
  for (const note of result.notes) out.info(`note: ${note}`);
  if (v.json) {
    const file = fileResultOf(result.sink)?.path ?? null;
    const blob = blobResultOf(result.sink);
    out.json({
      mode: result.mode,
      file,
      // The blob url of a private blob needs the token in a header to be read: it never carries one.
      blob: blob ? { pathname: blob.pathname, url: blob.url, bytes: result.bytes ?? null } : null,
      bytes: result.bytes ?? null,
      sha256: result.sha256 ?? null,
      tables: result.tables,
      consistency: result.consistency,
      durationMs: result.durationMs,
    });
  } else {
    out.info(`done in ${result.durationMs} ms`);
  }
  return 0;
}
