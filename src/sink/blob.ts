/**
 * A Vercel Blob sink: the dump streams into a PRIVATE multipart upload (the client's manual API:
 * createMultipartUpload / uploadPart / completeMultipartUpload) while it is being produced.
 *
 * - Written bytes are copied into one part buffer of `partSize` (8 MiB; Vercel's minimum is 5 MiB for every part
 *   but the last). A full buffer becomes an immutable `Blob` (so the client's internal retries can resend it) and is
 *   uploaded while the next part fills. At most `concurrency` parts are in flight: when the window is full, write()
 *   waits, which is the engine's backpressure all the way back to the database reader. Memory: one part buffer plus
 *   `concurrency` parts, whatever the dump's size.
 * - A part that fails after the client's own retries is retried by the Blob client's one policy (blob/client.ts) for
 *   errors that are worth it (5xx, 429, network); anything else fails the backup at once.
 * - abort(): the client has no "abort multipart upload" call. Nothing is completed and no manifest is written: the
 *   parts stay in an unfinished multipart upload, which is not a blob (head/list never show it) and which the store
 *   discards on its own. In-flight part requests are cancelled.
 * - commit(): last part, wait for all, complete (parts in ascending number), check the blob's size, and only then
 *   upload the sidecar `<pathname>.manifest.json` (private, allowOverwrite false). A dump without a manifest is
 *   never taken for a complete backup (list marks it incomplete).
 */
import { basename } from 'node:path';
import { completeMultipartUpload, createMultipartUpload, del, put, uploadPart, type Part } from '@vercel/blob';
import { DEFAULT_RETRY, headObject, manifestPathnameFor, ObjectError, objectFailure, withRetry, type RetryPolicy } from '../blob/client.js';
import { onInterrupt } from '../cleanup.js';
import { BackupError } from '../errors.js';
import type { Manifest } from '../format/lines.js';
import type { Sink, SinkResult } from './types.js';

export const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
export const DEFAULT_CONCURRENCY = 3;
/** S3's (and so Vercel Blob's) part number limit: 10,000 × 8 MiB ≈ 78 GiB of dump. */
export const MAX_PARTS = 10_000;

export interface BlobSinkOptions {
  token: string;
  /** Bytes per part (all but the last). Default 8 MiB; Vercel refuses parts under 5 MiB except the last. */
  partSize?: number;
  /** Parts uploading at once (default 3). */
  concurrency?: number;
  /** Our own extra attempts per request after the client gave up (default: the client module's policy). */
  retries?: number;
  /** The first wait between those attempts. */
  retryDelayMs?: number;
  /** Default application/gzip (application/octet-stream suits an encrypted dump). */
  contentType?: string;
  /** Called when a part is stored (tests, benchmarks). */
  onPart?: (p: { partNumber: number; bytes: number; attempts: number }) => void;
}

const PRIVATE = { access: 'private' as const, addRandomSuffix: false, allowOverwrite: false };

/** The stored blob's size and url, or null when there is none. */
async function exists(pathname: string, token: string): Promise<{ size: number; url: string } | null> {
  try {
    return await headObject(pathname, token, { failCode: 'SINK' });
  } catch (e) {
    if (e instanceof ObjectError && e.kind === 'missing') return null;
    return objectFailure(e, 'SINK');
  }
}

/** Failures to upload are the sink's: SINK unless they are about the token or an interruption. */
async function sinkCall<T>(what: string, fn: () => Promise<T>, policy: RetryPolicy, signal?: AbortSignal): Promise<T> {
  try {
    return await withRetry(what, fn, { policy, signal, failCode: 'SINK' });
  } catch (e) {
    return objectFailure(e, 'SINK');
  }
}

export function blobSink(pathname: string, opts: BlobSinkOptions): Sink {
  const { token } = opts;
  const partSize = opts.partSize ?? DEFAULT_PART_SIZE;
  const concurrency = Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY);
  const contentType = opts.contentType ?? 'application/gzip';
  const manifestPathname = manifestPathnameFor(pathname);
  if (!Number.isInteger(partSize) || partSize < 1) throw new BackupError('INTERNAL', 'blob sink: partSize must be a positive integer');

  const policy = { ...DEFAULT_RETRY, ...(opts.retries !== undefined ? { attempts: opts.retries + 1 } : {}), ...(opts.retryDelayMs !== undefined ? { baseMs: opts.retryDelayMs } : {}) };
  const ac = new AbortController();
  let upload: { key: string; uploadId: string } | null = null;
  let state: 'new' | 'open' | 'completed' | 'aborted' = 'new';
  let fill: Buffer = Buffer.alloc(0);
  let fillLen = 0;
  let partNumber = 0;
  let bytes = 0;
  const parts: Part[] = [];
  const inFlight = new Set<Promise<void>>();
  let failure: BackupError | null = null;
  let unregister: (() => void) | null = null;

  const fail = (e: unknown) => {
    // A part our own abort() cancelled is not a failure of its own.
    if (failure || state === 'aborted') return;
    failure = e instanceof BackupError ? e : new BackupError('SINK', `Vercel Blob: ${(e as Error).message}`, { cause: e });
    ac.abort(failure);
  };
  const check = () => {
    if (state === 'aborted') throw new BackupError('SINK', `upload of ${pathname} was aborted`);
    if (failure) throw failure;
  };

  /** Sends the filled buffer as the next part, after waiting for a free slot in the window. */
  async function flushPart(): Promise<void> {
    while (inFlight.size >= concurrency) await Promise.race(inFlight);
    check();
    if (partNumber >= MAX_PARTS) {
      failure = new BackupError('SINK', `${pathname}: the dump exceeds ${MAX_PARTS} parts of ${partSize} bytes, the multipart limit; nothing was completed`);
      throw failure;
    }
    // The Blob copies the bytes: the fill buffer is reused at once, and the client can resend the Blob on retry.
    const body = new Blob([fill.subarray(0, fillLen) as Uint8Array<ArrayBuffer>]);
    const n = ++partNumber;
    const size = fillLen;
    fillLen = 0;
    let attempts = 0;
    const upload1 = () => {
      attempts++;
      return uploadPart(pathname, body, { ...PRIVATE, contentType, token, uploadId: upload!.uploadId, key: upload!.key, partNumber: n, abortSignal: ac.signal });
    };
    const task = sinkCall(`upload of part ${n} of ${pathname}`, upload1, policy, ac.signal).then(
      (part) => {
        parts.push({ partNumber: n, etag: part.etag });
        opts.onPart?.({ partNumber: n, bytes: size, attempts });
      },
      (e) => fail(e),
    );
    const tracked: Promise<void> = task.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  }

  async function drain(): Promise<void> {
    while (inFlight.size > 0) await Promise.all(inFlight);
  }

  /** Put that tolerates a lost answer to a successful attempt: afterwards the blob is there with our size. */
  async function putOnce(path: string, body: string): Promise<void> {
    try {
      await sinkCall(`upload of ${path}`, () => put(path, body, { ...PRIVATE, contentType: 'application/json', token }), policy);
    } catch (e) {
      const found = await exists(path, token).catch(() => null);
      if (found && found.size === Buffer.byteLength(body)) return;
      throw e;
    }
  }

  const sink: Sink = {
    kind: 'blob',
    label: `blob:${pathname}`,
    fileName: basename(pathname),

    async open() {
      if (state !== 'new') throw new BackupError('INTERNAL', 'blob sink opened twice');
      // allowOverwrite false would refuse at complete, after the whole upload: refuse before reading anything.
      for (const p of [pathname, manifestPathname]) {
        if (await exists(p, token)) throw new BackupError('REFUSED', `${p} already exists in the Blob store: refusing to overwrite a backup`);
      }
      upload = await sinkCall(`start of the upload of ${pathname}`, () => createMultipartUpload(pathname, { ...PRIVATE, contentType, token }), policy);
      fill = Buffer.allocUnsafe(partSize);
      state = 'open';
      unregister = onInterrupt(() => sink.abort());
    },

    async write(chunk) {
      check();
      let off = 0;
      while (off < chunk.length) {
        const n = Math.min(partSize - fillLen, chunk.length - off);
        chunk.copy(fill, fillLen, off, off + n);
        fillLen += n;
        off += n;
        bytes += n;
        if (fillLen === partSize) await flushPart();
      }
    },

    async commit(manifest: Manifest): Promise<SinkResult> {
      check();
      try {
        if (fillLen > 0 || partNumber === 0) await flushPart();
        await drain();
        check();
        fill = Buffer.alloc(0);
        parts.sort((a, b) => a.partNumber - b.partNumber);
        let url: string;
        try {
          const done = await completeMultipartUpload(pathname, parts, { ...PRIVATE, contentType, token, uploadId: upload!.uploadId, key: upload!.key });
          url = done.url;
        } catch (e) {
          // A lost answer to a completed upload: the blob is there with our size.
          const found = await exists(pathname, token).catch(() => null);
          if (!found || found.size !== bytes) throw e instanceof BackupError ? e : new BackupError('SINK', `Vercel Blob: cannot complete the upload of ${pathname}: ${(e as Error).message}`, { cause: e });
          url = found.url;
        }
        state = 'completed';
        const stored = await exists(pathname, token);
        if (!stored || stored.size !== bytes) {
          await del(pathname, { token }).catch(() => {});
          throw new BackupError('SINK', `${pathname} holds ${stored?.size ?? 0} bytes after the upload, ${bytes} were sent: removed it`);
        }
        if (!url) url = stored.url;
        try {
          await putOnce(manifestPathname, `${JSON.stringify(manifest, null, 2)}\n`);
        } catch (e) {
          throw new BackupError('SINK', `${pathname} was uploaded but its manifest could not be written (the dump lists as incomplete): ${(e as Error).message}`, { cause: e });
        }
        return { kind: 'blob', pathname, url, manifestPathname };
      } finally {
        unregister?.();
        unregister = null;
      }
    },

    async abort() {
      unregister?.();
      unregister = null;
      if (state === 'completed' || state === 'aborted') return;
      state = 'aborted';
      ac.abort(new BackupError('SINK', 'upload aborted'));
      await Promise.allSettled([...inFlight]);
      fill = Buffer.alloc(0);
      fillLen = 0;
    },
  };
  return sink;
}
