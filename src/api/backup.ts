/**
 * `backup(options)`: the library's backup, and the CLI's (`turso-backup backup` prints what this returns with
 * `--json`). Where the dump goes is a local file (`out`), the Blob store (`upload`), any sinks of the caller's, or
 * nothing (a dry run: counts from one snapshot).
 */
import { basename, dirname, join } from 'node:path';
import type { BackupProgress, BackupResult } from '../backup/backup.js';
import { BACKUP_PREFIX } from '../blob/config.js';
import { encryptionKeyOf, requiredUrl } from './options.js';
import { BackupError } from '../errors.js';
import { encryptSink } from '../sink/encrypt.js';
import { describePartial, fileSink, removePartials, stalePartials } from '../sink/file.js';
import { blobResultOf, fileResultOf, teeSink } from '../sink/tee.js';
import type { Sink } from '../sink/types.js';

export type { BackupProgress };

export interface BackupOptions {
  /** The database: `file:PATH`, `libsql://…` or `https://…`. */
  url: string;
  /** The token of a remote database. */
  authToken?: string;
  /** Write the dump to this local file (its manifest goes beside it as `<out>.manifest.json`). */
  out?: string;
  /** Stream the dump into the private Vercel Blob store: its read-write token, and the pathname (default `backups/<file name>`). */
  upload?: { token: string; pathname?: string };
  /** More destinations (sink/: fileSink, blobSink, or your own). With none of out, upload, sinks: a dry run. */
  sinks?: Sink[];
  /** Encrypt the dump (32 bytes, or 64 hex characters / base64 of them, as BACKUP_ENCRYPTION_KEY). */
  encryptionKey?: Buffer | string;
  /** Only these tables. */
  tables?: string[];
  /** Every table but these. */
  excludeTables?: string[];
  /** The media table recorded as the dump's media inventory (default `MediaAsset`). */
  mediaTable?: string;
  /** One read snapshot for everything (default), or one per table. */
  consistency?: 'snapshot' | 'per-table';
  /** gzip level 1..9 (default: the engine's, `turso-backup backup --help` shows it). */
  gzipLevel?: number;
  /** With `out`: delete the `.NAME.partial-*` files that killed backups left in its folder. */
  cleanPartials?: boolean;
  /** Warnings as they are found (also in the summary's `warnings`). */
  onWarning?: (warning: string) => void;
  onProgress?: (p: BackupProgress) => void;
  /** Aborting stops the backup; nothing is left behind (the error's code is INTERRUPTED). */
  signal?: AbortSignal;
}

/** What a backup did: the summary `turso-backup backup --json` prints. */
export interface BackupSummary {
  mode: 'dry-run' | 'write';
  /** The local dump, when one was written. */
  file: string | null;
  /** The uploaded blob (private: reading its url needs the token). */
  blob: { pathname: string; url: string; bytes: number | null } | null;
  bytes: number | null;
  /** The dump file's SHA-256, as `sha256sum` prints it (of the stored bytes before encryption). */
  sha256: string | null;
  /**
   * The SHA-256 of the dump's uncompressed content, from its trailer: what `verify` prints as its `sha256`, whatever
   * the compression or encryption. Null in a dry run.
   */
  contentSha256: string | null;
  /** Rows per table. */
  tables: Record<string, number>;
  consistency: 'snapshot' | 'per-table';
  durationMs: number;
  /** The database, without credentials. */
  source: string;
  notes: string[];
  warnings: string[];
  /** Partial files removed (cleanPartials). */
  removedPartials: string[];
}

/** How the CLI hooks a monitored run into the sink (monitor/run.ts); not part of the public options. */
export interface BackupHooks {
  track?: (sink: Sink) => Sink;
  /** The engine's full result, for the CLI's human output. */
  onResult?: (r: BackupResult) => void;
}

/** A timestamped dump name: `backup-2026-05-01T02-00-00.000Z.ndjson.gz`. */
export const backupFileName = (d = new Date()) => `backup-${d.toISOString().replaceAll(':', '-')}.ndjson.gz`;

function checkOptions(o: BackupOptions): void {
  requiredUrl(o.url);
  if (o.tables && o.excludeTables?.some((t) => o.tables!.includes(t))) throw new BackupError('USAGE', 'tables and excludeTables name the same table');
  if (o.gzipLevel !== undefined && (!Number.isInteger(o.gzipLevel) || o.gzipLevel < 1 || o.gzipLevel > 9)) {
    throw new BackupError('USAGE', `the gzip level must be 1..9 (got ${o.gzipLevel})`);
  }
  if (o.consistency !== undefined && o.consistency !== 'snapshot' && o.consistency !== 'per-table') {
    throw new BackupError('USAGE', 'consistency must be snapshot or per-table');
  }
}

/** The sinks the options name, before the database is touched (a bad key or a missing folder fails fast). */
async function sinksOf(o: BackupOptions, key: Buffer | undefined): Promise<Sink | null> {
  const sinks: Sink[] = [];
  if (o.out !== undefined) sinks.push(fileSink(o.out));
  if (o.upload) {
    // Loaded only when uploading: a local backup never loads @vercel/blob.
    const { blobSink } = await import('../sink/blob.js');
    const pathname = o.upload.pathname ?? `${BACKUP_PREFIX}${basename(o.out ?? backupFileName())}`;
    sinks.push(blobSink(pathname, { token: o.upload.token, contentType: key ? 'application/octet-stream' : 'application/gzip' }));
  }
  sinks.push(...(o.sinks ?? []));
  if (sinks.length === 0) return null;
  // Several: one pass over the database, the same bytes to each (encrypted once, as one container).
  const sink = sinks.length === 1 ? sinks[0]! : teeSink(sinks);
  return key ? encryptSink(sink, key) : sink;
}

/** Names (and with cleanPartials removes) what killed backups left in the output folder. */
async function partials(o: BackupOptions, warn: (w: string) => void): Promise<string[]> {
  if (o.out === undefined) return [];
  const found = stalePartials(dirname(o.out));
  const removed = o.cleanPartials ? await removePartials(found) : [];
  for (const p of found) if (!removed.includes(p.path)) warn(describePartial(p));
  return removed;
}

/**
 * Backs up the database at `options.url`: to a local file (`out`), the private Blob store (`upload`) and/or your
 * `sinks`, in one pass over one read snapshot; with none of them, a dry run that reads the schema and counts and
 * writes nothing. A failure or an abort leaves nothing behind.
 * @returns the summary `turso-backup backup --json` prints.
 * @throws BackupError with a `code` (CONFIG, NOT_FOUND, REMOTE, AUTH, SNAPSHOT, SINK, NO_SPACE, INTERRUPTED, …).
 */
export function backup(options: BackupOptions): Promise<BackupSummary> {
  return runBackup(options);
}

/** backup() with the CLI's hooks. */
export async function runBackup(options: BackupOptions, hooks: BackupHooks = {}): Promise<BackupSummary> {
  checkOptions(options);
  const key = encryptionKeyOf(options.encryptionKey);
  const warnings: string[] = [];
  const warn = (w: string) => {
    warnings.push(w);
    options.onWarning?.(w);
  };
  const removedPartials = await partials(options, warn);
  const sink = await sinksOf(options, key);
  const engine = {
    url: options.url,
    authToken: options.authToken,
    selection: { tables: options.tables ?? null, excludeTables: options.excludeTables ?? [] },
    media: options.mediaTable ? { table: options.mediaTable } : undefined,
    consistency: options.consistency ?? 'snapshot',
    gzip: options.gzipLevel !== undefined ? { level: options.gzipLevel } : undefined,
    signal: options.signal,
    onProgress: options.onProgress,
  };
  const { backup: runEngine, inspect } = await import('../backup/backup.js');
  const r = sink ? await runEngine(engine, hooks.track ? hooks.track(sink) : sink) : await inspect(engine);
  hooks.onResult?.(r);
  const blob = blobResultOf(r.sink);
  return {
    mode: r.mode,
    file: fileResultOf(r.sink)?.path ?? null,
    // The blob url of a private blob needs the token in a header to be read: it never carries one.
    blob: blob ? { pathname: blob.pathname, url: blob.url, bytes: r.bytes ?? null } : null,
    bytes: r.bytes ?? null,
    sha256: r.sha256 ?? null,
    contentSha256: r.manifest?.contentSha256 ?? null,
    tables: r.tables,
    consistency: r.consistency,
    durationMs: r.durationMs,
    source: r.source,
    notes: r.notes,
    warnings,
    removedPartials,
  };
}

/** The default local dump path: `backups/backup-<UTC time>.ndjson.gz`. */
export const defaultOut = () => join('backups', backupFileName());
