/**
 * The daily backup as a Vercel Function (scheduled by vercel.json's `crons`): a thin Web-standard handler over the
 * library. docs/notes-cron.md explains the choices and the limits.
 *
 *   GET /api/cron/backup            Authorization: Bearer $CRON_SECRET  → streams a backup into a private blob
 *   GET /api/cron/backup?dryRun=1   same auth                           → per-table counts, nothing written
 *
 * Env: TURSO_DATABASE_URL, TURSO_AUTH_TOKEN, BLOB_READ_WRITE_TOKEN, CRON_SECRET; optional BACKUP_RETENTION
 * ("daily=7,weekly=4,monthly=6": prune after a successful run) and BACKUP_ENCRYPTION_KEY (encrypt the dump).
 * Monitoring (src/monitor/run.ts): BACKUP_ALERT_WEBHOOK_URL (a failed run posts an alert), BACKUP_HEARTBEAT_URL
 * (+ BACKUP_HEARTBEAT_FAIL_URL): pinged after every run; the outcome is in the response's `monitor`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { backup, inspect } from '../../src/backup.js';
import { backupPathname, requireBlobToken } from '../../src/blob/config.js';
import { parseRetentionSpec } from '../../src/blob/retention.js';
import { describeError, scrub } from '../../src/cli/run.js';
import { createEncryptStream } from '../../src/crypto/container.js';
import { parseEncryptionKey } from '../../src/crypto/key.js';
import { requireDatabaseUrl } from '../../src/source/url.js';
import { startRun } from '../../src/monitor/run.js'; // issue 15

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

export async function GET(request: Request): Promise<Response> {
  const secret = process.env.CRON_SECRET;
  // Never open: without a secret nobody can be authenticated.
  if (!secret) return json(500, { error: 'CRON_SECRET is not configured' });
  if (!isAuthorized(request.headers.get('authorization'), secret)) return json(401, { error: 'unauthorized' });

  const started = Date.now();
  let pathname: string | null = null;
  // issue 15: alert/heartbeat for real runs (a dry run is not a backup); a notification never fails the run.
  const run = startRun('cron', { notify: !/^(1|true|yes)$/i.test(new URL(request.url).searchParams.get('dryRun') ?? '') });
  try {
    const url = requireDatabaseUrl();
    const authToken = process.env.TURSO_AUTH_TOKEN || undefined;
    const dryRun = /^(1|true|yes)$/i.test(new URL(request.url).searchParams.get('dryRun') ?? '');
    if (dryRun) {
      const r = await inspect({ url, authToken });
      return json(200, { mode: 'dry-run', tables: r.tables, consistency: r.consistency, notes: r.notes, durationMs: Date.now() - started });
    }

    // Configuration is checked before the database is touched.
    const token = requireBlobToken();
    const retentionSpec = process.env.BACKUP_RETENTION?.trim();
    const retention = retentionSpec ? parseRetentionSpec(retentionSpec) : null;
    const keyText = process.env.BACKUP_ENCRYPTION_KEY?.trim();
    const key = keyText ? parseEncryptionKey(keyText) : undefined;

    const { blobSink } = await import('../../src/sink/blob.js');
    // Milliseconds plus a random suffix: overlapping runs (duplicate cron deliveries) never share a pathname, and
    // allowOverwrite false means one could never replace another's blob anyway.
    pathname = backupPathname(new Date(), { unique: true });
    const r = await backup(
      {
        url,
        authToken,
        transform: key ? () => createEncryptStream(key) : undefined,
        encrypted: key !== undefined,
      },
      run.track(blobSink(pathname, { token, contentType: key ? 'application/octet-stream' : 'application/gzip' })),
    );
    const body: Record<string, unknown> = {
      pathname,
      bytes: r.bytes,
      tables: r.tables,
      sha256: r.sha256,
      encrypted: key !== undefined,
      durationMs: Date.now() - started,
    };
    if (retention) {
      try {
        const { pruneBackups } = await import('../../src/blob/prune.js');
        const p = await pruneBackups(token, retention, { confirm: true });
        body.retention = { policy: p.policy, deleted: p.remove.map((d) => d.pathname), kept: p.keep.length };
      } catch (e) {
        // The backup itself is complete (dump + manifest); say so, but fail the run so the prune error is seen.
        return json(500, { ...body, error: `the backup succeeded, but applying BACKUP_RETENTION failed: ${oneLine(e)}`, monitor: await run.failed(e, 'retention') });
      }
    }
    return json(200, { ...body, monitor: await run.succeeded() });
  } catch (e) {
    console.error(`cron backup failed${pathname ? ` (${pathname})` : ''}: ${oneLine(e)}`);
    const monitor = await run.failed(e); // issue 15
    return json(500, { error: oneLine(e), ...(pathname ? { pathname, note: 'no manifest was written: this run left no complete backup' } : {}), monitor });
  }
}
