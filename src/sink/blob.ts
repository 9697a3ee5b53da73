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

interface UploadConfig {
  pathname: string;
  token: string;
  contentType: string;
  concurrency: number;
  partSize: number;
  policy: RetryPolicy;
  onPart?: BlobSinkOptions['onPart'];
}

/**
 * The parts of one multipart upload: at most `concurrency` in flight (send() waits for a free slot: the backpressure),
 * the first failure kept and every other request then cancelled.
 */
class PartWindow {
  readonly parts: Part[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly ac = new AbortController();
  private failure: BackupError | null = null;
  private aborted = false;
  /** Parts sent so far (the last one's number). */
  sent = 0;

  constructor(
    private readonly cfg: UploadConfig,
    private readonly upload: { key: string; uploadId: string },
  ) {}

  /** Throws the upload's failure, or that it was aborted. */
  check(): void {
    if (this.aborted) throw new BackupError('SINK', `upload of ${this.cfg.pathname} was aborted`);
    if (this.failure) throw this.failure;
  }

  private fail(e: unknown): void {
    // A part our own abort() cancelled is not a failure of its own.
    if (this.failure || this.aborted) return;
    this.failure = e instanceof BackupError ? e : new BackupError('SINK', `Vercel Blob: ${(e as Error).message}`, { cause: e });
    this.ac.abort(this.failure);
  }

  /** Sends `bytes` as the next part once the window has room; they are copied then, and the caller may reuse them. */
  async send(bytes: Buffer): Promise<void> {
    const { pathname, token, contentType, policy } = this.cfg;
    while (this.inFlight.size >= this.cfg.concurrency) await Promise.race(this.inFlight);
    this.check();
    if (this.sent >= MAX_PARTS) {
      this.failure = new BackupError(
        'SINK',
        `${pathname}: the dump exceeds ${MAX_PARTS} parts of ${this.cfg.partSize} bytes, the multipart limit; nothing was completed`,
      );
      throw this.failure;
    }
    // An immutable Blob the client can resend on retry.
    const body = new Blob([bytes as Uint8Array<ArrayBuffer>]);
    const n = ++this.sent;
    let attempts = 0;
    const once = () => {
      attempts++;
      return uploadPart(pathname, body, { ...PRIVATE, contentType, token, ...this.upload, partNumber: n, abortSignal: this.ac.signal });
    };
    const task = sinkCall(`upload of part ${n} of ${pathname}`, once, policy, this.ac.signal).then(
      (part) => {
        this.parts.push({ partNumber: n, etag: part.etag });
        this.cfg.onPart?.({ partNumber: n, bytes: body.size, attempts });
      },
      (e) => this.fail(e),
    );
    const tracked: Promise<void> = task.finally(() => this.inFlight.delete(tracked));
    this.inFlight.add(tracked);
  }

  /** Waits for every part; throws the upload's failure. */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all(this.inFlight);
    this.check();
  }

  /** Completes the upload (parts in ascending order); a lost answer is taken for success when the blob has our size. */
  async complete(bytes: number): Promise<string> {
    const { pathname, token, contentType } = this.cfg;
    const parts = [...this.parts].sort((a, b) => a.partNumber - b.partNumber);
    try {
      return (await completeMultipartUpload(pathname, parts, { ...PRIVATE, contentType, token, ...this.upload })).url;
    } catch (e) {
      const found = await exists(pathname, token).catch(() => null);
      if (found && found.size === bytes) return found.url;
      throw e instanceof BackupError
        ? e
        : new BackupError('SINK', `Vercel Blob: cannot complete the upload of ${pathname}: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Cancels the requests in flight and waits for them to settle. */
  async abort(): Promise<void> {
    this.aborted = true;
    this.ac.abort(new BackupError('SINK', 'upload aborted'));
    await Promise.allSettled([...this.inFlight]);
  }
}

/** Put that tolerates a lost answer to a successful attempt: afterwards the blob is there with our size. */
async function putOnce(path: string, body: string, token: string, policy: RetryPolicy): Promise<void> {
  try {
    await sinkCall(`upload of ${path}`, () => put(path, body, { ...PRIVATE, contentType: 'application/json', token }), policy);
  } catch (e) {
    const found = await exists(path, token).catch(() => null);
    if (found && found.size === Buffer.byteLength(body)) return;
    throw e;
  }
}

/** The completed blob must hold exactly what was sent: otherwise it is removed and the backup fails. */
async function checkStored(pathname: string, token: string, bytes: number): Promise<string> {
  const stored = await exists(pathname, token);
  if (stored && stored.size === bytes) return stored.url;
  await del(pathname, { token }).catch(() => {});
  throw new BackupError('SINK', `${pathname} holds ${stored?.size ?? 0} bytes after the upload, ${bytes} were sent: removed it`);
}

/** The upload's settings from the sink's options (defaults filled in, the part size checked). */
function uploadConfig(pathname: string, opts: BlobSinkOptions): UploadConfig {
  const partSize = opts.partSize ?? DEFAULT_PART_SIZE;
  if (!Number.isInteger(partSize) || partSize < 1) throw new BackupError('INTERNAL', 'blob sink: partSize must be a positive integer');
  return {
    pathname,
    token: opts.token,
    contentType: opts.contentType ?? 'application/gzip',
    concurrency: Math.max(1, opts.concurrency ?? DEFAULT_CONCURRENCY),
    partSize,
    policy: {
      ...DEFAULT_RETRY,
      ...(opts.retries !== undefined ? { attempts: opts.retries + 1 } : {}),
      ...(opts.retryDelayMs !== undefined ? { baseMs: opts.retryDelayMs } : {}),
    },
    onPart: opts.onPart,
  };
}

/** Refuses a dump or manifest already there, then starts the multipart upload. */
async function startUpload(cfg: UploadConfig, manifestPathname: string): Promise<PartWindow> {
  const { pathname, token } = cfg;
  // allowOverwrite false would refuse at complete, after the whole upload: refuse before reading anything.
  for (const p of [pathname, manifestPathname]) {
    if (await exists(p, token)) throw new BackupError('REFUSED', `${p} already exists in the Blob store: refusing to overwrite a backup`);
  }
  const upload = await sinkCall(
    `start of the upload of ${pathname}`,
    () => createMultipartUpload(pathname, { ...PRIVATE, contentType: cfg.contentType, token }),
    cfg.policy,
  );
  return new PartWindow(cfg, upload);
}

/** The sidecar manifest, written once the dump is complete and checked. */
async function putManifest(cfg: UploadConfig, manifestPathname: string, manifest: Manifest): Promise<void> {
  try {
    await putOnce(manifestPathname, `${JSON.stringify(manifest, null, 2)}\n`, cfg.token, cfg.policy);
  } catch (e) {
    const why = `${cfg.pathname} was uploaded but its manifest could not be written (the dump lists as incomplete): ${(e as Error).message}`;
    throw new BackupError('SINK', why, { cause: e });
  }
}

/** A sink uploading to `pathname` in the Blob store (see the file's header). */
export function blobSink(pathname: string, opts: BlobSinkOptions): Sink {
  const cfg = uploadConfig(pathname, opts);
  const { token, partSize } = cfg;
  const manifestPathname = manifestPathnameFor(pathname);
  let window: PartWindow | null = null;
  let state: 'new' | 'open' | 'completed' | 'aborted' = 'new';
  let fill: Buffer = Buffer.alloc(0);
  let fillLen = 0;
  let bytes = 0;
  let unregister: (() => void) | null = null;
  const check = () => {
    if (state === 'aborted') throw new BackupError('SINK', `upload of ${pathname} was aborted`);
    window?.check();
  };
  const flush = async () => {
    await window!.send(fill.subarray(0, fillLen));
    fillLen = 0;
  };
  const release = () => {
    unregister?.();
    unregister = null;
  };

  const sink: Sink = {
    kind: 'blob',
    label: `blob:${pathname}`,
    fileName: basename(pathname),
    async open() {
      if (state !== 'new') throw new BackupError('INTERNAL', 'blob sink opened twice');
      window = await startUpload(cfg, manifestPathname);
      fill = Buffer.allocUnsafe(partSize);
      state = 'open';
      unregister = onInterrupt(() => sink.abort());
    },
    async write(chunk) {
      check();
      for (let off = 0; off < chunk.length; ) {
        const n = Math.min(partSize - fillLen, chunk.length - off);
        chunk.copy(fill, fillLen, off, off + n);
        fillLen += n;
        off += n;
        bytes += n;
        if (fillLen === partSize) await flush();
      }
    },
    async flush() {
      check();
      if (fillLen > 0 || window!.sent === 0) await flush();
      await window!.drain();
    },
    async commit(manifest: Manifest): Promise<SinkResult> {
      check();
      try {
        await sink.flush!();
        fill = Buffer.alloc(0);
        const completedUrl = await window!.complete(bytes);
        state = 'completed';
        const storedUrl = await checkStored(pathname, token, bytes);
        const url = completedUrl || storedUrl;
        await putManifest(cfg, manifestPathname, manifest);
        return { kind: 'blob', pathname, url, manifestPathname };
      } finally {
        release();
      }
    },
    async abort() {
      release();
      if (state === 'completed' || state === 'aborted') return;
      state = 'aborted';
      await window?.abort();
      fill = Buffer.alloc(0);
      fillLen = 0;
    },
  };
  return sink;
}
