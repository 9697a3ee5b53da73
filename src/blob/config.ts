/**
 * Blob store configuration and naming, without loading @vercel/blob (the CLI imports this eagerly; the client is
 * loaded only when a command really talks to the store).
 */
import { randomBytes } from 'node:crypto';
import { BackupError } from '../errors.js';

/** Where backups live in the store, and how their files are named. */
export const BACKUP_PREFIX = 'backups/';
export const DUMP_SUFFIX = '.ndjson.gz';
export const MANIFEST_SUFFIX = '.manifest.json';
export const manifestPathnameFor = (dumpPathname: string) => `${dumpPathname}${MANIFEST_SUFFIX}`;

/**
 * The client retries 5xx and network errors VERCEL_BLOB_RETRIES times (default 10) with waits doubling from 1 s:
 * 10 retries wait ~17 minutes before an unreachable API is reported. Our own retry (blob/client.ts withRetry) sits
 * on top of it for every call, so unless the operator chose a value the client's own count is 2 (~3 s of waits).
 */
export const CLIENT_RETRIES = '2';

/** BLOB_READ_WRITE_TOKEN, or a CONFIG error (exit 2) naming it. Also applies CLIENT_RETRIES when unset. */
export function requireBlobToken(env: NodeJS.ProcessEnv = process.env): string {
  const token = env.BLOB_READ_WRITE_TOKEN?.trim();
  if (!token) {
    throw new BackupError('CONFIG', 'BLOB_READ_WRITE_TOKEN is not set: it is needed to use the Vercel Blob store (vercel_blob_rw_…)');
  }
  if (!env.VERCEL_BLOB_RETRIES) env.VERCEL_BLOB_RETRIES = CLIENT_RETRIES;
  return token;
}

/** True for a source argument that names a blob rather than a local file: an http(s) URL or `backups/…`. */
export function looksLikeBlobRef(source: string): boolean {
  return /^https?:\/\//i.test(source) || source.startsWith(BACKUP_PREFIX);
}

/**
 * A backup's pathname in the store: `backups/backup-<UTC ISO timestamp with ms, ':' → '-'>.ndjson.gz`, the local
 * file's name. `unique` adds `-<6 hex>` before the extension, for runs that may overlap in the same millisecond
 * (duplicate cron deliveries).
 */
export function backupPathname(d = new Date(), opts: { unique?: boolean } = {}): string {
  const stamp = d.toISOString().replaceAll(':', '-');
  const suffix = opts.unique ? `-${randomBytes(3).toString('hex')}` : '';
  return `${BACKUP_PREFIX}backup-${stamp}${suffix}${DUMP_SUFFIX}`;
}
