/**
 * The status page (monitor/report-html.ts) as a Web-standard request handler, never public: the cron deployment
 * serves it at /api/backups/status (api/backup-status.ts, by a rewrite in vercel.json), a Next.js app at any route it likes.
 *
 *   GET /api/backups/status   Authorization: Bearer $STATUS_SECRET (or $CRON_SECRET when STATUS_SECRET is unset)
 *
 * Reads the Blob store (BLOB_READ_WRITE_TOKEN); BACKUP_MAX_AGE (default 26h) and BACKUP_MIN_ROWS_RATIO (default
 * 0.9) set the freshness verdict. The page carries no script and loads nothing; the response repeats its
 * Content-Security-Policy as a header, forbids framing and caching.
 */
import { requireBlobToken } from '../blob/config.js';
import { describeError } from '../errors.js';
import { DEFAULT_MAX_AGE, DEFAULT_MIN_ROWS_RATIO, parseDuration, parseRatio } from '../monitor/check.js';
import { blobStore } from '../monitor/history.js';
import { redact } from '../monitor/notify.js';
import { STATUS_CSP } from '../monitor/report-html.js';
import { statusPage } from '../monitor/report.js';
import { isAuthorized } from './handler.js';

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } });
}

export interface StatusHandlerOptions {
  /** Where configuration is read from (default process.env, read on every request). */
  env?: NodeJS.ProcessEnv;
}

/**
 * The status page handler: `export const GET = createStatusHandler()`.
 * @returns the page (200), 401 without the secret, 500 (one line, no secrets) when the store cannot be read.
 */
export function createStatusHandler(opts: StatusHandlerOptions = {}): (request: Request) => Promise<Response> {
  return (request) => status(request, opts.env ?? process.env);
}

async function status(request: Request, env: NodeJS.ProcessEnv): Promise<Response> {
  const secret = env.STATUS_SECRET?.trim() || env.CRON_SECRET?.trim();
  // Never open: without a secret nobody can be authenticated.
  if (!secret) return json(500, { error: 'STATUS_SECRET (or CRON_SECRET) is not configured' });
  if (!isAuthorized(request.headers.get('authorization'), secret)) return json(401, { error: 'unauthorized' });
  try {
    const maxAgeMs = parseDuration(env.BACKUP_MAX_AGE?.trim() || DEFAULT_MAX_AGE, 'BACKUP_MAX_AGE');
    const ratio = env.BACKUP_MIN_ROWS_RATIO?.trim();
    const minRowsRatio = ratio ? parseRatio(ratio, 'BACKUP_MIN_ROWS_RATIO') : DEFAULT_MIN_ROWS_RATIO;
    const { html } = await statusPage(blobStore(requireBlobToken(env)), { maxAgeMs, minRowsRatio });
    return new Response(html, {
      status: 200,
      headers: {
        'content-type': 'text/html; charset=utf-8',
        'cache-control': 'no-store',
        'content-security-policy': `${STATUS_CSP}; frame-ancestors 'none'`,
        'x-content-type-options': 'nosniff',
        'referrer-policy': 'no-referrer',
      },
    });
  } catch (e) {
    return json(500, { error: redact(describeError(e)).split('\n')[0] });
  }
}
