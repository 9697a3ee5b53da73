/** `backup-turso`: dry run by default; --write streams a dump to a local file. */
import { join } from 'node:path';
import { backup, inspect, type BackupOptions, type BackupResult } from '../backup.js';
import { BackupError } from '../errors.js';
import { createEncryptStream } from '../crypto/container.js';
import { parseEncryptionKey } from '../crypto/key.js';
import { fileSink } from '../sink/file.js';
import { requireDatabaseUrl } from '../source/url.js';
import { list, parse } from './args.js';
import { fmtBytes, makeOut, table } from './output.js';
import { makeProgress } from './progress.js';

const USAGE =
  'backup-turso [--write] [--out PATH] [--tables a,b] [--exclude-tables c] [--media-table NAME] [--consistency snapshot|per-table] [--encrypt] [--json] [--quiet]';

export const backupFileName = (d = new Date()) => `backup-${d.toISOString().replaceAll(':', '-')}.ndjson.gz`;

export async function backupMain(argv: string[], signal: AbortSignal): Promise<number> {
  const { values: v } = parse(
    argv,
    {
      write: { type: 'boolean' },
      out: { type: 'string' },
      tables: { type: 'string' },
      'exclude-tables': { type: 'string' },
      'media-table': { type: 'string' },
      consistency: { type: 'string' },
      encrypt: { type: 'boolean' },
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
  if (v.encrypt && !v.write) throw new BackupError('USAGE', '--encrypt needs --write (a dry run writes nothing to encrypt)');
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
    signal,
    transform: key ? () => createEncryptStream(key) : undefined,
    encrypted: key !== undefined,
    onProgress: (p) => progress.update({ label: p.table, done: p.rows, total: p.totalRows, bytes: p.bytes }),
  };

  let result: BackupResult;
  if (!v.write) {
    result = await inspect(opts);
    out.info(`dry run: ${result.source} (${Object.keys(result.tables).length} tables; nothing written, use --write)`);
  } else {
    const path = v.out ?? join('backups', backupFileName());
    result = await backup(opts, fileSink(path));
    progress.done();
    out.info(`wrote ${path} (${fmtBytes(result.bytes!)}, sha256 ${result.sha256}) from ${result.source}`);
  }
  for (const line of table(Object.entries(result.tables).map(([n, c]) => [n, String(c)]))) out.info(line);
  for (const note of result.notes) out.info(`note: ${note}`);
  if (v.json) {
    const file = result.sink?.kind === 'file' ? result.sink.path : null;
    out.json({
      mode: result.mode,
      file,
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
