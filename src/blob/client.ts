/**
 * The one Vercel Blob client of the project: the sinks, list/prune, restore-from-Blob and the media commands all
 * use these functions, so there is one retry policy, one error classifier, one authenticated download that checks
 * where the token goes, and one `head()`.
 *
 * - The token is passed explicitly to every call (`token` option): with BLOB_STORE_ID + an OIDC token in the
 *   environment the client would otherwise prefer OIDC, and a check could silently look at another store.
 * - @vercel/blob 2.x retries 5xx, `unknown_error` and network failures itself (VERCEL_BLOB_RETRIES times, waits
 *   from 1 s doubling) but never 429. Our retry (`withRetry`) sits on top of it for the transient classes, honouring
 *   `retry-after`; the client's own count is lowered to CLIENT_RETRIES unless the operator chose one, so a dead
 *   API is reported in seconds, not after the client's ~17 minutes of waits.
 * - Downloads: the client's get() only accepts `*.blob.vercel-storage.com` urls; `head()` + fetch works against any
 *   API base (the stand-in included), with the Bearer token sent only to a trusted origin.
 */
import { Readable } from 'node:stream';
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
import { BackupError, type ErrorCode } from '../errors.js';

export { BACKUP_PREFIX, DUMP_SUFFIX, MANIFEST_SUFFIX, manifestPathnameFor, requireBlobToken, looksLikeBlobRef } from './config.js';

export type Classified =
  | { kind: 'missing' }
  | { kind: 'transient'; message: string; retryAfterMs?: number }
  /** This object cannot be looked up (a malformed pathname, ...): the caller decides what that means. */
  | { kind: 'invalid'; message: string }
  /** About the store or the token, not an object: the command cannot go on. */
  | { kind: 'fatal'; error: BackupError };

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

/** An object-level outcome that is not success: missing (404) or invalid (the API refused the reference). */
export class ObjectError extends Error {
  constructor(
    readonly kind: 'missing' | 'invalid',
    message: string,
  ) {
    super(message);
    this.name = 'ObjectError';
  }
}

const NETWORK_MESSAGES = new Set(['fetch failed', 'terminated', 'other side closed', 'socket hang up']);
const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT']);

export function isNetworkError(e: unknown): boolean {
  const err = e as { name?: string; message?: string; code?: string; cause?: { code?: string } };
  if (!err || typeof err !== 'object') return false;
  if (err.code && NETWORK_CODES.has(err.code)) return true;
  if (err.cause?.code && NETWORK_CODES.has(err.cause.code)) return true;
  return err.name === 'TypeError' && typeof err.message === 'string' && NETWORK_MESSAGES.has(err.message);
}

const REFUSED_TOKEN = 'the Blob store refused BLOB_READ_WRITE_TOKEN (access denied): check the token and that it belongs to this store';

/** What a failure of a Blob call means. The one classifier of the project. */
export function classifyBlobError(e: unknown): Classified {
  if (e instanceof BackupError) return { kind: 'fatal', error: e };
  if (e instanceof ObjectError) return e.kind === 'missing' ? { kind: 'missing' } : { kind: 'invalid', message: e.message };
  if (e instanceof BlobNotFoundError) return { kind: 'missing' };
  if (e instanceof BlobAccessError) return { kind: 'fatal', error: new BackupError('AUTH', REFUSED_TOKEN) };
  if (e instanceof BlobStoreNotFoundError) return { kind: 'fatal', error: new BackupError('CONFIG', 'the Blob store of BLOB_READ_WRITE_TOKEN does not exist') };
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
  if (e instanceof BlobError) return { kind: 'invalid', message: (e as Error).message.replace(/^Vercel Blob:\s*/, '').split('\n')[0]! };
  return { kind: 'fatal', error: new BackupError('REMOTE', `Blob request failed: ${(e as Error)?.message ?? String(e)}`, { cause: e }) };
}

export interface RetryPolicy {
  /** Attempts in all (first included). */
  attempts: number;
  /** First wait; doubled each time, with ±50 % jitter, capped at maxMs. */
  baseMs: number;
  maxMs: number;
}

/** The retry policy of every Blob call (on top of the client's own CLIENT_RETRIES). */
export const DEFAULT_RETRY: RetryPolicy = { attempts: 5, baseMs: 250, maxMs: 8000 };

export interface RetryOptions {
  policy?: RetryPolicy;
  signal?: AbortSignal;
  onRetry?: (message: string, attempt: number) => void;
  /** The error code when the store keeps failing (default REMOTE; the sinks say SINK). */
  failCode?: ErrorCode;
}

/**
 * Runs `fn` (`what` names it in messages), retrying transient failures. Resolves with its value; rejects with
 * ObjectError for a missing or invalid object, or with a BackupError that ends the command (auth, store gone,
 * retries exhausted, interrupted).
 */
export async function withRetry<T>(what: string, fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const policy = opts.policy ?? DEFAULT_RETRY;
  for (let attempt = 1; ; attempt++) {
    if (opts.signal?.aborted) throw new BackupError('INTERRUPTED', 'interrupted');
    try {
      return await fn(attempt);
    } catch (e) {
      const c = classifyBlobError(e);
      if (c.kind === 'missing') throw new ObjectError('missing', `${what}: not found`);
      if (c.kind === 'invalid') throw new ObjectError('invalid', `${what}: ${c.message}`);
      if (c.kind === 'fatal') throw c.error;
      if (attempt >= policy.attempts) {
        throw new BackupError(opts.failCode ?? 'REMOTE', `Vercel Blob: ${what} kept failing (${c.message}) after ${attempt} attempts`, { cause: e });
      }
      opts.onRetry?.(c.message, attempt);
      const backoff = Math.min(policy.maxMs, policy.baseMs * 2 ** (attempt - 1)) * (0.5 + Math.random());
      await sleep(c.retryAfterMs ?? backoff, undefined, { signal: opts.signal }).catch(() => {
        throw new BackupError('INTERRUPTED', 'interrupted');
      });
    }
  }
}

/** An ObjectError where the caller needs a BackupError: the object itself is the problem. */
export function objectFailure(e: unknown, code: ErrorCode = 'REMOTE'): never {
  if (e instanceof ObjectError) throw new BackupError(e.kind === 'missing' ? 'NOT_FOUND' : code, `Vercel Blob: ${e.message}`);
  throw e;
}

/** head() of a blob by url or pathname: its metadata, or ObjectError('missing' | 'invalid'). */
export function headObject(ref: string, token: string, opts: RetryOptions & { head?: typeof head } = {}): Promise<HeadBlobResult> {
  const fn = opts.head ?? head;
  return withRetry(ref, () => fn(ref, { token, abortSignal: opts.signal }), opts);
}

/** head() of a blob that must exist: NOT_FOUND names `ref` when it does not. */
export async function headBlob(ref: string, token: string): Promise<HeadBlobResult> {
  try {
    return await headObject(ref, token);
  } catch (e) {
    if (e instanceof ObjectError && e.kind === 'missing') throw new BackupError('NOT_FOUND', `${ref} does not exist in the Blob store`);
    return objectFailure(e);
  }
}

/** The origins that may receive the token: Vercel's blob hosts and the configured API's own origin. */
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
 * GETs a blob's bytes: without credentials for public blobs, with `Authorization: Bearer` for private ones (a
 * `.private.` host, or a 401/403 answer), and only ever to a trusted origin. Returns the response (2xx, body unread)
 * and whether it needed the token; ObjectError('missing') on 404; TransientError on 429/5xx; AUTH on 401/403.
 */
export async function fetchBlob(urlText: string, token: string, signal?: AbortSignal): Promise<{ res: Response; authed: boolean }> {
  const url = new URL(urlText);
  const trusted = trustedForToken(url);
  const auth = { authorization: `Bearer ${token}` };
  let authed = url.hostname.endsWith('.private.blob.vercel-storage.com') && trusted;
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
    throw new BackupError(
      'AUTH',
      `the download of ${urlText} was refused (${res.status})${trusted ? ': access denied, check BLOB_READ_WRITE_TOKEN' : ': not a Vercel Blob host, so no credentials were sent'}`,
    );
  }
  if (res.status === 429 || res.status >= 500) {
    const ra = Number(res.headers.get('retry-after'));
    throw new TransientError(`download answered ${res.status}`, Number.isFinite(ra) && ra > 0 ? ra * 1000 : undefined);
  }
  throw new ObjectError('invalid', `${urlText}: download answered ${res.status}`);
}

/** A whole small blob (a manifest) as text, retried. */
export async function readBlobText(url: string, token: string, label: string): Promise<string> {
  try {
    return await withRetry(label, async () => (await fetchBlob(url, token)).res.text());
  } catch (e) {
    return objectFailure(e);
  }
}

/**
 * A blob's bytes as a Node stream. `expect` (size, etag from head()) is checked against what arrives: a blob that
 * changed since it was looked up, or a download cut short, is an error rather than a silently different input.
 */
export async function openBlobStream(url: string, token: string, label: string, expect?: { size?: number; etag?: string }): Promise<Readable> {
  let res: Response;
  try {
    res = (await withRetry(`download of ${label}`, () => fetchBlob(url, token))).res;
  } catch (e) {
    if (e instanceof ObjectError && e.kind === 'missing') throw new BackupError('NOT_FOUND', `${label} does not exist in the Blob store`);
    return objectFailure(e);
  }
  const etag = res.headers.get('etag');
  if (expect?.etag && etag && etag !== expect.etag) {
    await res.body?.cancel().catch(() => {});
    throw new BackupError('CORRUPT', `${label} changed in the Blob store while it was being read (etag ${etag}, expected ${expect.etag})`);
  }
  const body = res.body;
  if (!body) return Readable.from([]);
  return Readable.from(countedBytes(body, label, expect?.size), { objectMode: false });
}

async function* countedBytes(body: ReadableStream<Uint8Array>, label: string, expectedSize: number | undefined): AsyncGenerator<Buffer> {
  const reader = body.getReader();
  let n = 0;
  try {
    for (;;) {
      let r: ReadableStreamReadResult<Uint8Array>;
      try {
        r = await reader.read();
      } catch (e) {
        throw new BackupError('REMOTE', `Vercel Blob: the download of ${label} was interrupted after ${n} bytes: ${(e as Error).message}`);
      }
      if (r.done) break;
      n += r.value.byteLength;
      yield Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    }
    if (expectedSize !== undefined && n !== expectedSize) {
      throw new BackupError('REMOTE', `Vercel Blob: the download of ${label} ended after ${n} of ${expectedSize} bytes`);
    }
  } finally {
    await reader.cancel().catch(() => {});
  }
}

/** Fails fast, once, with a clear message when the token is refused (before a long command reads anything). */
export async function checkStoreAccess(token: string, signal?: AbortSignal): Promise<void> {
  try {
    await withRetry('the store listing', () => list({ limit: 1, token, abortSignal: signal }), { signal });
  } catch (e) {
    if (e instanceof ObjectError) throw new BackupError('REMOTE', `cannot list the Blob store: ${e.message}`);
    throw e;
  }
}
