/**
 * The Blob side of the media commands: the store is the one of BLOB_READ_WRITE_TOKEN (passed explicitly to every
 * call, so an OIDC setup cannot silently redirect a check to another store), errors sorted into what they mean for
 * an object (missing, invalid) or for the command (fatal), and our own retry layer above the client's.
 *
 * The client (@vercel/blob 2.8) already retries 5xx, `unknown_error` and network failures up to VERCEL_BLOB_RETRIES
 * (10) times with 1 s+ exponential waits; it never retries 429 (`rate_limited`). We retry those transient classes
 * again (a few attempts, short exponential backoff with jitter, honouring `retry-after`), then give up on the whole
 * command: a store that keeps failing is not "N missing objects".
 */
import { setTimeout as sleep } from 'node:timers/promises';
import {
  BlobAccessError,
  BlobError,
  BlobNotFoundError,
  BlobRequestAbortedError,
  BlobServiceNotAvailable,
  BlobServiceRateLimited,
  BlobStoreNotFoundError,
  BlobStoreSuspendedError,
  BlobUnknownError,
  head,
  list,
  type HeadBlobResult,
} from '@vercel/blob';
import { BackupError } from '../errors.js';

export function blobToken(env: NodeJS.ProcessEnv = process.env): string {
  const token = env.BLOB_READ_WRITE_TOKEN?.trim();
  if (!token) throw new BackupError('CONFIG', 'BLOB_READ_WRITE_TOKEN is not set: the media commands check the Blob store of that token');
  return token;
}

export type Classified =
  | { kind: 'missing' }
  | { kind: 'transient'; message: string; retryAfterMs?: number }
  /** This object cannot be looked up (a malformed pathname, ...): reported, the command goes on. */
  | { kind: 'invalid'; message: string }
  | { kind: 'fatal'; error: BackupError };

const NETWORK_MESSAGES = new Set(['fetch failed', 'terminated', 'other side closed', 'socket hang up']);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

export function isNetworkError(e: unknown): boolean {
  const err = e as { name?: string; message?: string; code?: string; cause?: { code?: string } };
  if (!err || typeof err !== 'object') return false;
  if (err.code && NETWORK_CODES.has(err.code)) return true;
  if (err.cause?.code && NETWORK_CODES.has(err.cause.code)) return true;
  return err.name === 'TypeError' && typeof err.message === 'string' && NETWORK_MESSAGES.has(err.message);
}

export function classifyBlobError(e: unknown): Classified {
  if (e instanceof BackupError) return { kind: 'fatal', error: e };
  if (e instanceof BlobNotFoundError) return { kind: 'missing' };
  if (e instanceof BlobAccessError) {
    return { kind: 'fatal', error: new BackupError('AUTH', 'the Blob store refused BLOB_READ_WRITE_TOKEN (403 forbidden): check the token and that it belongs to this store') };
  }
  if (e instanceof BlobStoreNotFoundError) {
    return { kind: 'fatal', error: new BackupError('AUTH', 'the Blob store of BLOB_READ_WRITE_TOKEN does not exist') };
  }
  if (e instanceof BlobStoreSuspendedError) return { kind: 'fatal', error: new BackupError('REMOTE', 'the Blob store of BLOB_READ_WRITE_TOKEN is suspended') };
  if (e instanceof BlobRequestAbortedError || (e as Error)?.name === 'AbortError') {
    return { kind: 'fatal', error: new BackupError('INTERRUPTED', 'interrupted') };
  }
  if (e instanceof BlobServiceRateLimited) {
    return { kind: 'transient', message: 'rate limited (429)', retryAfterMs: e.retryAfter > 0 ? e.retryAfter * 1000 : undefined };
  }
  if (e instanceof BlobServiceNotAvailable) return { kind: 'transient', message: 'service unavailable (503)' };
  if (e instanceof BlobUnknownError) return { kind: 'transient', message: 'unknown error from the Blob API (5xx)' };
  if (isNetworkError(e)) return { kind: 'transient', message: `network error (${(e as Error).message})` };
  if (e instanceof TransientError) return { kind: 'transient', message: e.message, retryAfterMs: e.retryAfterMs };
  if (e instanceof BlobError) return { kind: 'invalid', message: (e as Error).message.replace(/^Vercel Blob:\s*/, '') };
  return { kind: 'fatal', error: new BackupError('REMOTE', `Blob request failed: ${(e as Error)?.message ?? String(e)}`, { cause: e }) };
}

/** Thrown by our own HTTP code (downloads) for a failure worth retrying. */
export class TransientError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
    this.name = 'TransientError';
  }
}

/** An object-level outcome that is not success. */
export class ObjectError extends Error {
  constructor(
    readonly kind: 'missing' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'ObjectError';
  }
}

export interface RetryPolicy {
  /** Attempts in all (first included). */
  attempts: number;
  /** First wait; doubled each time, with ±50 % jitter, capped at maxMs. */
  baseMs: number;
  maxMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 250, maxMs: 8000 };


/**
 * Runs `fn`, retrying transient failures. Resolves with its value; rejects with ObjectError for a missing or
 * invalid object, or with a BackupError that should end the command (auth, store gone, retries exhausted).
 */
export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  opts: { policy?: RetryPolicy; signal?: AbortSignal; onRetry?: (message: string) => void } = {},
): Promise<T> {
  const policy = opts.policy ?? DEFAULT_RETRY;
  for (let attempt = 1; ; attempt++) {
    if (opts.signal?.aborted) throw new BackupError('INTERRUPTED', 'interrupted');
    try {
      return await fn();
    } catch (e) {
      if (e instanceof ObjectError) throw e;
      const c = classifyBlobError(e);
      if (c.kind === 'missing') throw new ObjectError('missing', `${what}: not found`);
      if (c.kind === 'invalid') throw new ObjectError('invalid', `${what}: ${c.message}`);
      if (c.kind === 'fatal') throw c.error;
      if (attempt >= policy.attempts) {
        throw new BackupError('REMOTE', `the Blob store kept failing (${c.message}) for ${what} after ${attempt} attempts`);
      }
      opts.onRetry?.(c.message);
      const backoff = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)) * (0.5 + Math.random());
      await sleep(c.retryAfterMs ?? backoff, undefined, { signal: opts.signal }).catch(() => {
        throw new BackupError('INTERRUPTED', 'interrupted');
      });
    }
  }
}

/** Fails fast, once, with a clear message when the token is refused (before any inventory is read). */
export async function checkStoreAccess(token: string, signal?: AbortSignal): Promise<void> {
  await withRetry('the store listing', () => list({ limit: 1, token, abortSignal: signal }), { signal }).catch((e) => {
    if (e instanceof ObjectError) throw new BackupError('REMOTE', `cannot list the Blob store: ${e.message}`);
    throw e;
  });
}

/** head() with retries: the object's metadata, or ObjectError('missing' | 'invalid'). */
export function headObject(
  ref: string,
  token: string,
  opts: { signal?: AbortSignal; policy?: RetryPolicy; onRetry?: (m: string) => void; head?: typeof head } = {},
): Promise<HeadBlobResult> {
  const fn = opts.head ?? head;
  return withRetry(ref, () => fn(ref, { token, abortSignal: opts.signal }), opts);
}

/** The origins that may receive the token on a download: Vercel's blob hosts and the configured API's own origin. */
function trustedForToken(url: URL): boolean {
  if (url.protocol === 'https:' && url.hostname.endsWith('.blob.vercel-storage.com')) return true;
  const api = process.env.VERCEL_BLOB_API_URL || process.env.NEXT_PUBLIC_VERCEL_BLOB_API_URL;
  if (!api) return false;
  try {
    return new URL(api).origin === url.origin;
  } catch {
    return false;
  }
}

/**
 * GETs a blob's bytes. The client's own download helper (`get()`) only accepts `*.blob.vercel-storage.com` urls,
 * so this fetches the url head() returned: without credentials for public blobs, with `Authorization: Bearer` for
 * private ones (a `.private.` host, or a 401/403 answer), and only ever to a trusted origin. Returns the response
 * (2xx, body unread) and whether it needed the token (the blob is private); ObjectError('missing') on 404;
 * TransientError on 429/5xx; BackupError AUTH on 401/403.
 */
export async function fetchBlob(urlText: string, token: string, signal?: AbortSignal): Promise<{ res: Response; authed: boolean }> {
  const url = new URL(urlText);
  const trusted = trustedForToken(url);
  const auth = { authorization: `Bearer ${token}` };
  const privateHost = url.hostname.endsWith('.private.blob.vercel-storage.com');
  let authed = privateHost && trusted;
  let res = await fetch(url, { headers: authed ? auth : {}, signal });
  if ((res.status === 401 || res.status === 403) && !authed && trusted) {
    await res.body?.cancel();
    authed = true;
    res = await fetch(url, { headers: auth, signal });
  }
  if (res.ok) return { res, authed };
  await res.body?.cancel();
  if (res.status === 404) throw new ObjectError('missing', `${urlText}: download answered 404`);
  if (res.status === 401 || res.status === 403) {
    throw new BackupError('AUTH', `the download of ${urlText} was refused (${res.status})${trusted ? '' : ': not a Vercel Blob host, so no credentials were sent'}`);
  }
  if (res.status === 429 || res.status >= 500) {
    const ra = Number(res.headers.get('retry-after'));
    throw new TransientError(`download answered ${res.status}`, Number.isFinite(ra) && ra > 0 ? ra * 1000 : undefined);
  }
  throw new ObjectError('invalid', `${urlText}: download answered ${res.status}`);
}
