/**
 * media-mirror: an off-site copy of the binaries, and the way back.
 *
 * Download (`mirrorMedia`): every inventoried object goes to DIR/<pathname>, streamed to a hidden temporary name in
 * the same directory and renamed into place once its size is right, so DIR only ever holds whole objects under
 * their final names. A file already there with the right size (the inventory's size when it has one, else the
 * store's) is skipped without downloading: a rerun resumes. Pathnames that would land outside DIR are refused.
 *
 * Upload (`uploadMirror`): each inventoried object that the store lacks is put back from DIR under the same
 * pathname (`addRandomSuffix: false`), and the url mapping old → new is returned for `relink-media --map`.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { appendFile, mkdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { put, type HeadBlobResult } from '@vercel/blob';
import { onInterrupt } from '../cleanup.js';
import { BackupError } from '../errors.js';
import { fetchBlob, headObject, ObjectError, TransientError, withRetry, type RetryPolicy } from '../blob/client.js';
import { DEFAULT_CONCURRENCY } from './check.js';
import { blobRef, type Inventory, type MediaRow } from './model.js';
import { forEachBounded } from './pool.js';
import { urlPath } from './relink.js';

/** Where `pathname` lives under `dir`; refuses anything that could escape it or is not a plain relative path. */
export function mirrorPath(dir: string, pathname: string): string {
  const bad = (why: string): never => {
    throw new ObjectError('invalid', `pathname ${JSON.stringify(pathname)} ${why}`);
  };
  if (pathname === '' || pathname.endsWith('/')) bad('does not name a file');
  if (pathname.includes('\0')) bad('holds a NUL byte');
  if (pathname.includes('\\')) bad('holds a backslash');
  if (isAbsolute(pathname) || /^[a-zA-Z]:/.test(pathname)) bad('is absolute');
  const parts = pathname.split('/');
  if (parts.some((p) => p === '..' || p === '.' || p === '')) bad('holds an empty, "." or ".." segment (it would escape or alias the mirror directory)');
  if (parts.some((p) => p.startsWith('.media-mirror-'))) bad("collides with the mirror's temporary names");
  const root = resolve(dir);
  const full = resolve(root, ...parts);
  const rel = relative(root, full);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel) || !full.startsWith(root + sep)) bad('escapes the mirror directory');
  return full;
}

async function fileSize(path: string): Promise<number | null> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : null;
  } catch {
    return null;
  }
}

export interface MirrorProblem {
  id: string | number | null;
  pathname: string | null;
  url: string | null;
  error: string;
}

export interface MirrorResult {
  objects: number;
  downloaded: number;
  /** Already present with the right size. */
  skipped: number;
  bytes: number;
  missing: MirrorProblem[];
  failed: MirrorProblem[];
  /** Rows with neither url nor pathname. */
  unreferenced: number;
  durationMs: number;
}

export interface MirrorOptions {
  token: string;
  concurrency?: number;
  signal?: AbortSignal;
  policy?: RetryPolicy;
  onTotal?: (rows: number) => void;
  onProgress?: (done: number, bytes: number) => void;
  onProblem?: (kind: 'missing' | 'failed', p: MirrorProblem) => void;
}

const problem = (row: MediaRow, error: string): MirrorProblem => ({ id: row.id, pathname: row.pathname, url: row.url, error });

/** Counts bytes going through. */
function counter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
}

/**
 * DIR/.media-mirror-private: the pathnames (one JSON string a line) that needed the token to download, so that
 * `--upload-from` puts them back private. No pathname can collide with it (mirrorPath refuses `.media-mirror-*`).
 */
export const PRIVATE_LIST = '.media-mirror-private';

async function loadPrivateList(dir: string): Promise<Set<string>> {
  const out = new Set<string>();
  let text: string;
  try {
    text = await readFile(join(dir, PRIVATE_LIST), 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      out.add(JSON.parse(line) as string);
    } catch {
      // a torn last line from an interrupted run: that object is downloaded again next time anyway
    }
  }
  return out;
}

/** Streams one object to `dest` through a temporary name; returns its size and whether it is private. */
async function download(
  h: HeadBlobResult,
  dest: string,
  token: string,
  signal: AbortSignal | undefined,
  onBytes: (n: number) => void,
): Promise<{ size: number; authed: boolean }> {
  await mkdir(dirname(dest), { recursive: true }).catch((e) => fsFailure(e, dest));
  const tmp = join(dirname(dest), `.media-mirror-${randomBytes(6).toString('hex')}.part`);
  const unregister = onInterrupt(() => rm(tmp, { force: true }));
  let written = 0;
  try {
    const { res, authed } = await fetchBlob(h.url, token, signal);
    if (!res.body) throw new TransientError('download answered without a body');
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    try {
      await pipeline(
        body,
        counter((n) => {
          written += n;
          onBytes(n);
        }),
        createWriteStream(tmp, { flags: 'wx', mode: 0o600 }),
        { signal },
      );
    } catch (e) {
      if (signal?.aborted) throw new BackupError('INTERRUPTED', 'interrupted');
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code.startsWith('E') && !/ECONNRESET|EPIPE|ETIMEDOUT/.test(code)) fsFailure(e, tmp);
      throw new TransientError(`download of ${h.pathname} broke off (${(e as Error).message})`);
    }
    if (written !== h.size) throw new TransientError(`download of ${h.pathname} gave ${written} bytes, the store says ${h.size}`);
    await rename(tmp, dest).catch((e) => fsFailure(e, dest));
    return { size: written, authed };
  } catch (e) {
    await rm(tmp, { force: true });
    onBytes(-written);
    throw e;
  } finally {
    unregister();
  }
}

/**
 * A local write failure: a path clash inside the mirror (a file where a directory is needed, or the reverse) is that
 * object's problem; anything else (disk full, permissions) ends the command.
 */
function fsFailure(e: unknown, path: string): never {
  const err = e as NodeJS.ErrnoException;
  if (err.code === 'ENOTDIR' || err.code === 'EISDIR' || err.code === 'EEXIST' || err.code === 'ENAMETOOLONG') {
    throw new ObjectError('invalid', `cannot write ${path}: ${err.code} (a file and a directory of the same name?)`);
  }
  throw new BackupError('SINK', `cannot write ${path}: ${err.message}`, { cause: e });
}

export async function mirrorMedia(inventory: Inventory, dir: string, opts: MirrorOptions): Promise<MirrorResult> {
  const started = Date.now();
  await mkdir(dir, { recursive: true });
  const r: MirrorResult = { objects: 0, downloaded: 0, skipped: 0, bytes: 0, missing: [], failed: [], unreferenced: 0, durationMs: 0 };
  let done = 0;
  let bytes = 0;
  const policy = opts.policy;

  const task = async (row: MediaRow) => {
    const ref = blobRef(row);
    try {
      if (!ref) {
        r.unreferenced++;
        return;
      }
      r.objects++;
      // Resume without asking the store when the inventory knows the size and the file already has it.
      if (row.pathname && row.size !== null && (await fileSize(mirrorPath(dir, row.pathname))) === row.size) {
        r.skipped++;
        return;
      }
      const h = await headObject(ref, opts.token, { signal: opts.signal, policy });
      const dest = mirrorPath(dir, h.pathname);
      if ((await fileSize(dest)) === h.size) {
        r.skipped++;
        return;
      }
      const got = await withRetry(h.pathname, () => download(h, dest, opts.token, opts.signal, (k) => (bytes += k)), { signal: opts.signal, policy });
      if (got.authed) await appendFile(join(dir, PRIVATE_LIST), `${JSON.stringify(h.pathname)}\n`, { mode: 0o600 });
      r.downloaded++;
      r.bytes += got.size;
    } catch (e) {
      if (!(e instanceof ObjectError)) throw e;
      const p = problem(row, e.message);
      if (e.kind === 'missing') r.missing.push(p);
      else r.failed.push(p);
      opts.onProblem?.(e.kind === 'missing' ? 'missing' : 'failed', p);
    } finally {
      opts.onProgress?.(++done, bytes);
    }
  };
  await forEachBounded(inventory.rows({ onTotal: opts.onTotal }), opts.concurrency ?? DEFAULT_CONCURRENCY, task, opts.signal);
  r.durationMs = Date.now() - started;
  return r;
}

// ---------------------------------------------------------------------------------------------------------------
// Upload

export interface UploadResult {
  objects: number;
  uploaded: number;
  /** Of those, put back as private. */
  uploadedPrivate: number;
  /** Present in the store already. */
  present: number;
  /** Mapping entries reported through onMapping (old url → new url, where they differ). */
  mapped: number;
  /** Missing in the store and not in the mirror either (or with the wrong size there). */
  unavailable: MirrorProblem[];
  failed: MirrorProblem[];
  unreferenced: number;
  bytes: number;
  durationMs: number;
}

export interface UploadOptions extends MirrorOptions {
  /**
   * Access of the re-uploaded objects. 'auto': private when the old url is on a `.private.` Vercel host or the
   * mirror recorded the object as private (it needed the token to download), public otherwise.
   */
  access: 'public' | 'private' | 'auto';
  onMapping?: (oldUrl: string, newUrl: string) => void;
}

/** Bodies up to this size are read into memory so the client can resend them on a retry; larger ones go multipart. */
const BUFFERED_PUT = 8 * 1024 * 1024;

/** The pathname an inventory row's object has in any store: its pathname column, else its url's path. */
export const storePathname = (row: MediaRow): string | null => row.pathname ?? (row.url ? urlPath(row.url) : null);

/** Whether a re-uploaded object is public or private: --access, else as it was (the mirror's list, its url's host). */
function accessRule(access: UploadOptions['access'], privateSet: Set<string>) {
  return (row: MediaRow, pathname: string): 'public' | 'private' => {
    if (access !== 'auto') return access;
    if (privateSet.has(pathname)) return 'private';
    try {
      if (row.url && new URL(row.url).hostname.endsWith('.private.blob.vercel-storage.com')) return 'private';
    } catch {
      // not a url: public
    }
    return 'public';
  };
}

/** One object from the mirror's file back into the store under its own pathname (small ones buffered). */
function reupload(row: MediaRow, pathname: string, file: string, size: number, access: 'public' | 'private', opts: UploadOptions) {
  return withRetry(
    pathname,
    async () => {
      const common = {
        access,
        addRandomSuffix: false,
        token: opts.token,
        abortSignal: opts.signal,
        ...(row.contentType ? { contentType: row.contentType } : {}),
      };
      if (size <= BUFFERED_PUT) return put(pathname, await readFile(file), common);
      return put(pathname, createReadStream(file), { ...common, multipart: true });
    },
    { signal: opts.signal, policy: opts.policy },
  );
}

/** Re-uploads every inventory object missing from the store from the mirror `dir`; reports each url that changed. */
export async function uploadMirror(inventory: Inventory, dir: string, opts: UploadOptions): Promise<UploadResult> {
  const started = Date.now();
  const r: UploadResult = {
    objects: 0,
    uploaded: 0,
    uploadedPrivate: 0,
    present: 0,
    mapped: 0,
    unavailable: [],
    failed: [],
    unreferenced: 0,
    bytes: 0,
    durationMs: 0,
  };
  let done = 0;
  const accessOf = accessRule(opts.access, opts.access === 'auto' ? await loadPrivateList(dir) : new Set<string>());
  // Several rows may share one url: report each pair once (a set of the pairs seen, not of the inventory).
  const seen = new Set<string>();
  const map = (oldUrl: string | null, newUrl: string) => {
    if (!oldUrl || oldUrl === newUrl) return;
    const k = `${oldUrl}\u0000${newUrl}`;
    if (seen.has(k)) return;
    seen.add(k);
    r.mapped++;
    opts.onMapping?.(oldUrl, newUrl);
  };

  const task = async (row: MediaRow) => {
    const pathname = storePathname(row);
    try {
      if (!pathname) {
        r.unreferenced++;
        return;
      }
      r.objects++;
      try {
        const h = await headObject(pathname, opts.token, { signal: opts.signal, policy: opts.policy });
        r.present++;
        map(row.url, h.url);
        return;
      } catch (e) {
        if (!(e instanceof ObjectError && e.kind === 'missing')) throw e;
      }
      const file = mirrorPath(dir, pathname);
      const size = await fileSize(file);
      if (size === null) throw new ObjectError('missing', `${pathname}: missing in the store and not in the mirror`);
      if (row.size !== null && size !== row.size) {
        throw new ObjectError('missing', `${pathname}: missing in the store; the mirror's copy has ${size} bytes, the inventory says ${row.size}`);
      }
      const res = await reupload(row, pathname, file, size, accessOf(row, pathname), opts);
      r.uploaded++;
      if (accessOf(row, pathname) === 'private') r.uploadedPrivate++;
      r.bytes += size;
      map(row.url, res.url);
    } catch (e) {
      if (!(e instanceof ObjectError)) throw e;
      const p = problem(row, e.message);
      if (e.kind === 'missing') r.unavailable.push(p);
      else r.failed.push(p);
      opts.onProblem?.(e.kind === 'missing' ? 'missing' : 'failed', p);
    } finally {
      opts.onProgress?.(++done, r.bytes);
    }
  };
  await forEachBounded(inventory.rows({ onTotal: opts.onTotal }), opts.concurrency ?? DEFAULT_CONCURRENCY, task, opts.signal);
  r.durationMs = Date.now() - started;
  return r;
}
