/**
 * The daily backup as a Web-standard request handler: `export const GET = createCronHandler()` in a Vercel function
 * (api/cron/backup.ts) or a Next.js App Router route (app/api/cron/backup/route.ts). docs/notes-cron.md explains
 * the choices and the limits.
 *
 *   GET …  Authorization: Bearer $CRON_SECRET   → streams a backup into a private blob
 *   GET …?dryRun=1                              → per-table counts, nothing written
 *
 * Env: TURSO_DATABASE_URL, TURSO_AUTH_TOKEN, BLOB_READ_WRITE_TOKEN, CRON_SECRET; optional BACKUP_RETENTION
 * ("daily=7,weekly=4,monthly=6": prune after a successful run) and BACKUP_ENCRYPTION_KEY (encrypt the dump).
 * Monitoring (monitor/run.ts): BACKUP_ALERT_WEBHOOK_URL (a failed run posts an alert), BACKUP_HEARTBEAT_URL
 * (+ BACKUP_HEARTBEAT_FAIL_URL): pinged after every run; the outcome is in the response's `monitor`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { backup, inspect } from '../backup/backup.js';
import { backupPathname, requireBlobToken } from '../blob/config.js';
import { parseRetentionSpec } from '../blob/retention.js';
import { parseEncryptionKey } from '../crypto/key.js';
import { requireDatabaseUrl } from '../db/url.js';
import { describeError, scrub } from '../errors.js';
import { startRun, type MonitoredRun } from '../monitor/run.js';

export interface CronHandlerOptions {
  /** Where configuration is read from (default process.env, read on every request). */
  env?: NodeJS.ProcessEnv;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  });
}

/** One line, no secrets (tokens, bearer values and the known secret env values are scrubbed). */
const oneLine = (e: unknown) => scrub(describeError(e)).split('\n')[0]!;

/**
 * `Authorization: Bearer <CRON_SECRET>`, compared in constant time: both sides are hashed first so the comparison
 * is between equal-length digests and leaks neither the secret's length nor a matching prefix.
 */
export function isAuthorized(header: string | null, secret: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();
  const ok = timingSafeEqual(digest(header ?? ''), digest(`Bearer ${secret}`));
  return ok && header !== null;
}

/** A backup into the Blob store, then the retention policy when one is set. */
async function runBackup(env: NodeJS.ProcessEnv, run: MonitoredRun, started: number, onPathname: (p: string) => void): Promise<Response> {
  const url = requireDatabaseUrl(env);
  const authToken = env.TURSO_AUTH_TOKEN || undefined;
  // Configuration is checked before the database is touched.
  const token = requireBlobToken(env);
  const retentionSpec = env.BACKUP_RETENTION?.trim();
  const retention = retentionSpec ? parseRetentionSpec(retentionSpec) : null;
  const keyText = env.BACKUP_ENCRYPTION_KEY?.trim();
  const key = keyText ? parseEncryptionKey(keyText) : undefined;
  const { blobSink } = await import('../sink/blob.js');
  const { encryptSink } = await import('../sink/encrypt.js');
  // Milliseconds plus a random suffix: overlapping runs (duplicate cron deliveries) never share a pathname, and
  // allowOverwrite false means one could never replace another's blob anyway.
  const pathname = backupPathname(new Date(), { unique: true });
  onPathname(pathname);
  const sink = blobSink(pathname, { token, contentType: key ? 'application/octet-stream' : 'application/gzip' });
  const r = await backup({ url, authToken }, run.track(key ? encryptSink(sink, key) : sink));
  const body: Record<string, unknown> = {
    pathname,
    bytes: r.bytes,
    tables: r.tables,
    sha256: r.sha256,
    contentSha256: r.manifest?.contentSha256,
    encrypted: key !== undefined,
    durationMs: Date.now() - started,
  };
  if (retention) {
    try {
      const { pruneBackups } = await import('../blob/prune.js');
      const p = await pruneBackups(token, retention, { confirm: true });
      body.retention = { policy: p.policy, deleted: p.remove.map((d) => d.pathname), kept: p.keep.length };
    } catch (e) {
      // The backup itself is complete (dump + manifest); say so, but fail the run so the prune error is seen.
      return json(500, {
        ...body,
        error: `the backup succeeded, but applying BACKUP_RETENTION failed: ${oneLine(e)}`,
        monitor: await run.failed(e, 'retention'),
      });
    }
  }
  return json(200, { ...body, monitor: await run.succeeded() });
}

/**
 * `?dryRun=` as the handler reads it; null for what it cannot read. A typo (`?dryrun=1`, `?dryRun=yes please`) is
 * refused rather than taken for a real run, which writes a backup and applies BACKUP_RETENTION.
 */
export function dryRunOf(params: URLSearchParams): boolean | null {
  if ([...params.keys()].some((k) => k !== 'dryRun' && /^dry[-_]?run$/i.test(k))) return null;
  const values = params.getAll('dryRun');
  if (values.length === 0) return false;
  if (values.length > 1) return null;
  if (/^(1|true|yes)$/i.test(values[0]!)) return true;
  return /^(0|false|no)$/i.test(values[0]!) ? false : null;
}

/**
 * The cron's request handler: `(request: Request) => Promise<Response>`, authenticated with CRON_SECRET.
 * @returns 200 with the backup's summary, 400 for a `dryRun` it cannot read, 401 without the secret, 500 (one line,
 *   no secrets) on failure.
 */
export function createCronHandler(opts: CronHandlerOptions = {}): (request: Request) => Promise<Response> {
  return async (request) => {
    const env = opts.env ?? process.env;
    const secret = env.CRON_SECRET;
    // Never open: without a secret nobody can be authenticated.
    if (!secret) return json(500, { error: 'CRON_SECRET is not configured' });
    if (!isAuthorized(request.headers.get('authorization'), secret)) return json(401, { error: 'unauthorized' });
    const started = Date.now();
    let pathname: string | null = null;
    const dryRun = dryRunOf(new URL(request.url).searchParams);
    if (dryRun === null) {
      return json(400, { error: 'dryRun must be 1, true or yes (a dry run) or 0, false or no, given once as ?dryRun=…; nothing was done' });
    }
    // A dry run is not a backup: it alerts nobody. A notification never fails the run.
    const run = startRun('cron', { notify: !dryRun, env });
    try {
      if (dryRun) {
        const r = await inspect({ url: requireDatabaseUrl(env), authToken: env.TURSO_AUTH_TOKEN || undefined });
        return json(200, { mode: 'dry-run', tables: r.tables, consistency: r.consistency, notes: r.notes, durationMs: Date.now() - started });
      }
      return await runBackup(env, run, started, (p) => (pathname = p));
    } catch (e) {
      console.error(`cron backup failed${pathname ? ` (${pathname})` : ''}: ${oneLine(e)}`);
      const monitor = await run.failed(e);
      return json(500, { error: oneLine(e), ...(pathname ? { pathname, note: 'no manifest was written: this run left no complete backup' } : {}), monitor });
    }
  };
}
