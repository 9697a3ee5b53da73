/**
 * Vercel Blob helpers shared by the blob sink, restore-from-Blob, list, prune and the cron: the token, error
 * mapping to our codes, a bounded retry for errors that escape the client's own retries, and authenticated
 * streaming downloads (the client's get() only accepts *.blob.vercel-storage.com hosts; head() + fetch with the
 * Bearer token works against any API base, the stand-in included).
 *
 * Every call passes the token explicitly (`token` option): with BLOB_STORE_ID + an OIDC token in the environment
 * the client would otherwise prefer OIDC.
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
  type HeadBlobResult,
} from '@vercel/blob';
import { BackupError, type ErrorCode } from '../errors.js';

export { BACKUP_PREFIX, DUMP_SUFFIX, MANIFEST_SUFFIX, manifestPathnameFor, requireBlobToken, looksLikeBlobRef } from './config.js';

/** Errors worth another attempt: server-side 5xx, rate limiting, network failures. Never auth, 4xx or aborts. */
export function isRetryableBlobError(e: unknown): boolean {
  if (e instanceof BlobRequestAbortedError) return false;
  if (e instanceof BlobUnknownError || e instanceof BlobServiceNotAvailable || e instanceof BlobServiceRateLimited) return true;
  if (e instanceof BlobError || e instanceof BackupError) return false;
  const err = e as { name?: string; message?: string; cause?: { code?: string } };
  if (err?.name === 'AbortError') return false;
  // undici: "fetch failed" / "terminated" / socket resets
  return err instanceof TypeError || /fetch failed|terminated|ECONNRESET|ECONNREFUSED|EPIPE|ETIMEDOUT|socket/i.test(err?.message ?? '');
}

export interface RetryOptions {
  /** Attempts after the first (default 3). */
  retries?: number;
  /** First wait, doubled each time (default 1000 ms), with ±25 % jitter. */
  baseDelayMs?: number;
  signal?: AbortSignal;
  onRetry?: (e: unknown, attempt: number) => void;
}


/**
 * Runs `fn` with a bounded number of extra attempts for retryable errors (on top of the client's own retries,
 * which cover 5xx but not 429 and give up on some network failures).
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions = {}): Promise<T> {
  const retries = opts.retries ?? 3;
  const base = opts.baseDelayMs ?? 1000;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (e) {
      if (attempt >= retries || !isRetryableBlobError(e) || opts.signal?.aborted) throw e;
      opts.onRetry?.(e, attempt + 1);
      const rateLimited = e instanceof BlobServiceRateLimited && e.retryAfter > 0 ? e.retryAfter * 1000 : 0;
      const delay = Math.max(rateLimited, base * 2 ** attempt * (0.75 + Math.random() * 0.5));
      await sleep(delay, undefined, { signal: opts.signal });
    }
  }
}

/** A client error → a one-line BackupError in the operator's terms (`what` says what we were doing). */
export function blobError(e: unknown, what: string, fallback: ErrorCode = 'REMOTE'): BackupError {
  if (e instanceof BackupError) return e;
  let code: ErrorCode = fallback;
  let detail = (e as Error)?.message ?? String(e);
  if (e instanceof BlobAccessError) {
    code = 'AUTH';
    detail = 'access denied: check BLOB_READ_WRITE_TOKEN';
  } else if (e instanceof BlobNotFoundError) {
    code = 'NOT_FOUND';
    detail = 'no such blob';
  } else if (e instanceof BlobStoreNotFoundError || e instanceof BlobStoreSuspendedError) {
    code = 'CONFIG';
  }
  detail = detail.replace(/^Vercel Blob: /, '').split('\n')[0]!;
  return new BackupError(code, `Vercel Blob: ${what}: ${detail}`, { cause: e });
}

/** head() with the token; a missing blob is a NOT_FOUND naming `ref`. */
export async function headBlob(ref: string, token: string): Promise<HeadBlobResult> {
  try {
    return await withRetry(() => head(ref, { token }));
  } catch (e) {
    if (e instanceof BlobNotFoundError) throw new BackupError('NOT_FOUND', `${ref} does not exist in the Blob store`);
    throw blobError(e, `cannot look up ${ref}`);
  }
}

/** Authenticated GET of a blob url (as returned by head/list/put, never a user-supplied one: it carries the token). */
export async function fetchBlob(url: string, token: string, label: string, signal?: AbortSignal): Promise<Response> {
  let res: Response;
  try {
    res = await withRetry(
      async () => {
        const r = await fetch(url, { headers: { authorization: `Bearer ${token}` }, signal });
        if (r.status >= 500) {
          await r.body?.cancel().catch(() => {});
          throw new BlobUnknownError();
        }
        return r;
      },
      { retries: 3, signal },
    );
  } catch (e) {
    throw blobError(e, `cannot download ${label}`);
  }
  if (res.ok) return res;
  await res.body?.cancel().catch(() => {});
  if (res.status === 404) throw new BackupError('NOT_FOUND', `${label} does not exist in the Blob store`);
  if (res.status === 401 || res.status === 403) throw new BackupError('AUTH', `Vercel Blob: download of ${label} refused (${res.status}): check BLOB_READ_WRITE_TOKEN`);
  throw new BackupError('REMOTE', `Vercel Blob: download of ${label} failed: HTTP ${res.status}`);
}

/**
 * A blob's bytes as a Node stream. `expect` (size, etag from head()) is checked against what arrives: a blob that
 * changed since it was looked up, or a download cut short, is an error rather than a silently different input.
 */
export async function openBlobStream(
  url: string,
  token: string,
  label: string,
  expect?: { size?: number; etag?: string },
): Promise<Readable> {
  const res = await fetchBlob(url, token, label);
  const etag = res.headers.get('etag');
  if (expect?.etag && etag && etag !== expect.etag) {
    await res.body?.cancel().catch(() => {});
    throw new BackupError('CORRUPT', `${label} changed in the Blob store while it was being read (etag ${etag}, expected ${expect.etag})`);
  }
  const body = res.body;
  if (!body) return Readable.from([]);
  const expectedSize = expect?.size;
  async function* bytes() {
    const reader = body!.getReader();
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
  return Readable.from(bytes(), { objectMode: false });
}
