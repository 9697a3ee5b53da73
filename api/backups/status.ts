/**
 * The status page (src/monitor/report-html.ts) served by the cron deployment, never public:
 *
 *   GET /api/backups/status   Authorization: Bearer $STATUS_SECRET (or $CRON_SECRET when STATUS_SECRET is unset)
 *
 * Reads the Blob store (BLOB_READ_WRITE_TOKEN); BACKUP_MAX_AGE (default 26h) and BACKUP_MIN_ROWS_RATIO (default
 * 0.9) set the freshness verdict. The page carries no script and loads nothing; the response repeats its
 * Content-Security-Policy as a header, forbids framing and caching.
 */
import { isAuthorized } from '../cron/backup.js';
import { requireBlobToken } from '../../src/blob/config.js';
import { describeError } from '../../src/cli/run.js';
import { DEFAULT_MAX_AGE, DEFAULT_MIN_ROWS_RATIO, parseDuration, parseRatio } from '../../src/monitor/check.js';
import { blobStore } from '../../src/monitor/history.js';
import { redact } from '../../src/monitor/notify.js';
import { STATUS_CSP } from '../../src/monitor/report-html.js';
import { statusPage } from '../../src/monitor/report.js';

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' } });
}

export async function GET(request: Request): Promise<Response> {
  const secret = process.env.STATUS_SECRET?.trim() || process.env.CRON_SECRET?.trim();
  // Never open: without a secret nobody can be authenticated.
  if (!secret) return json(500, { error: 'STATUS_SECRET (or CRON_SECRET) is not configured' });
  if (!isAuthorized(request.headers.get('authorization'), secret)) return json(401, { error: 'unauthorized' });
  try {
    const maxAgeMs = parseDuration(process.env.BACKUP_MAX_AGE?.trim() || DEFAULT_MAX_AGE, 'BACKUP_MAX_AGE');
    const ratio = process.env.BACKUP_MIN_ROWS_RATIO?.trim();
    const minRowsRatio = ratio ? parseRatio(ratio, 'BACKUP_MIN_ROWS_RATIO') : DEFAULT_MIN_ROWS_RATIO;
    const { html } = await statusPage(blobStore(requireBlobToken()), { maxAgeMs, minRowsRatio });
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
