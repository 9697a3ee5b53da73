/**
 * Bounded, secret-free HTTP notifications (alert webhooks and heartbeat pings).
 *
 * A notification is best effort: it never throws, never takes longer than NOTIFY_TIMEOUT_MS (the request, its
 * answer and its body together), and reports what happened as a one-line outcome the run prints. The URLs
 * themselves are secrets (a Slack webhook path or a healthchecks.io UUID lets anyone post), so an outcome names the
 * host only, and redact() removes every configured URL and token from any text we send or print.
 */
import { BackupError } from '../errors.js';
import { scrub } from '../cli/run.js';
import { TOOL } from '../version.js';

/** No notification delays a run by more than this, whatever the receiver does. */
export const NOTIFY_TIMEOUT_MS = 10_000;

/** Environment variables whose values are secrets for this module (besides scrub()'s own list). */
export const SECRET_ENV = [
  'BACKUP_ALERT_WEBHOOK_URL',
  'BACKUP_HEARTBEAT_URL',
  'BACKUP_HEARTBEAT_FAIL_URL',
  'STATUS_SECRET',
  'CRON_SECRET',
  'TURSO_AUTH_TOKEN',
  'BLOB_READ_WRITE_TOKEN',
  'BACKUP_ENCRYPTION_KEY',
] as const;

export interface NotifyOutcome {
  /** What was sent where, without the secret part of the URL: "alert webhook (hooks.slack.com)". */
  target: string;
  ok: boolean;
  /** "HTTP 200", "HTTP 500", "timed out after 10 s", "failed: connect ECONNREFUSED", "not sent: …". */
  detail: string;
  ms: number;
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/**
 * A notification URL from the environment: https anywhere, plain http only to loopback (tests, a local relay).
 * Returns null when the variable is unset or blank; throws a CONFIG error naming the variable (never its value)
 * when it is unusable.
 */
export function notifyUrl(name: string, env: NodeJS.ProcessEnv = process.env): URL | null {
  const raw = env[name]?.trim();
  if (!raw) return null;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new BackupError('CONFIG', `${name} is not a valid URL`);
  }
  if (url.username || url.password) throw new BackupError('CONFIG', `${name} must not carry user:password credentials`);
  if (url.protocol === 'https:') return url;
  if (url.protocol === 'http:' && LOOPBACK.test(url.hostname)) return url;
  throw new BackupError('CONFIG', `${name} must be an https:// URL (plain http is allowed only to localhost)`);
}

/** The part of a URL that may be shown: scheme and host. */
export const hostLabel = (url: URL) => url.host;

/** Removes secrets from text bound for a receiver or the output: scrub()'s patterns plus every SECRET_ENV value. */
export function redact(text: string, env: NodeJS.ProcessEnv = process.env): string {
  let out = scrub(text);
  for (const name of SECRET_ENV) {
    const v = env[name]?.trim();
    if (v && v.length >= 6) out = out.split(v).join('REDACTED');
  }
  return out;
}

/** One line of at most `max` characters. */
export function oneLine(text: string, max = 500): string {
  const line = text.split('\n')[0]!.trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

const TIMED_OUT = 'timed out after';
/** "timed out after 10 s" (or "0.4 s"): a timeout's outcome already says the time, so its line adds no "in N ms". */
const timedOut = (ms: number) => `${TIMED_OUT} ${ms % 1000 ? (ms / 1000).toFixed(1) : ms / 1000} s`;

/**
 * POSTs `body` to `url`, bounded by `timeoutMs`. Never throws: failures, non-2xx answers and timeouts are outcomes.
 * Redirects are not followed (a webhook that redirects is misconfigured, and following one could carry the
 * payload elsewhere).
 */
export async function postBounded(what: string, url: URL, body: string, contentType: string, timeoutMs = NOTIFY_TIMEOUT_MS): Promise<NotifyOutcome> {
  const started = Date.now();
  const target = `${what} (${hostLabel(url)})`;
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  // The race is a second guard: whatever the fetch does with the abort, the caller resumes on time.
  let expire: () => void = () => {};
  const deadline = new Promise<'timeout'>((resolve) => {
    expire = () => resolve('timeout');
    setTimeout(expire, timeoutMs + 250).unref();
  });
  const attempt = (async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': contentType, 'user-agent': TOOL },
      body,
      redirect: 'manual',
      signal: ac.signal,
    });
    await res.body?.cancel().catch(() => {});
    return res.status;
  })();
  try {
    const r = await Promise.race([attempt, deadline]);
    if (r === 'timeout' || ac.signal.aborted) return { target, ok: false, detail: timedOut(timeoutMs), ms: Date.now() - started };
    return { target, ok: r >= 200 && r < 300, detail: `HTTP ${r}`, ms: Date.now() - started };
  } catch (e) {
    if (ac.signal.aborted) return { target, ok: false, detail: timedOut(timeoutMs), ms: Date.now() - started };
    const err = e as Error & { cause?: { code?: string; message?: string } };
    const cause = err.cause?.code ?? err.cause?.message ?? err.message;
    return { target, ok: false, detail: `failed: ${oneLine(redact(String(cause)), 200)}`, ms: Date.now() - started };
  } finally {
    clearTimeout(timer);
    attempt.catch(() => {});
  }
}

/** An outcome for a notification that could not be sent at all (e.g. its URL is invalid). */
export const notSent = (target: string, why: string): NotifyOutcome => ({ target, ok: false, detail: `not sent: ${oneLine(redact(why), 200)}`, ms: 0 });

/** "alert webhook (hooks.slack.com): HTTP 200 in 120 ms" */
export const describeOutcome = (o: NotifyOutcome) =>
  `${o.target}: ${o.ok ? 'sent' : 'FAILED'}, ${o.detail}${o.ms && !o.detail.startsWith(TIMED_OUT) ? ` in ${o.ms} ms` : ''}`;
