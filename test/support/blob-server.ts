/**
 * A protocol-level stand-in for the Vercel Blob API, so tests drive the REAL `@vercel/blob` client (pointed here
 * through `VERCEL_BLOB_API_URL`) instead of a mock of it. Wire formats were read from @vercel/blob 2.8
 * (dist/chunk-*.js, dist/index.js); docs/notes-blob.md lists them.
 *
 * Layout on disk (persistent, so the CLI can be restarted over the same dir):
 *   DIR/objects/<sha256(pathname)>.bin   blob bytes
 *   DIR/objects/<sha256(pathname)>.json  sidecar metadata (pathname, access, etag, ...)
 *   DIR/mpu/<uploadId>/<n>.part          multipart parts until `complete`
 *   DIR/tmp/                             bodies being received (renamed into place when whole)
 *
 * Bodies (puts and parts) are streamed to disk with backpressure; only small JSON bodies are buffered.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

// ---------------------------------------------------------------------------------------------------------------
// Public API

export type BlobAccess = 'public' | 'private';

export interface BlobServerOptions {
  /** Storage directory (created if missing). */
  dir: string;
  /** 0 (default) = random free port. */
  port?: number;
  /** The only accepted read-write token, `vercel_blob_rw_<storeId>_<secret>`. */
  token: string;
  /** The first attempt to upload this part number (in every multipart upload) answers a 500 once. */
  failPart?: number;
  /** Delay before handling each request (API calls and downloads). */
  latencyMs?: number;
  /**
   * Shape of the blob urls handed out. 'local' (default): `http://127.0.0.1:PORT/store/<pathname>`, fetchable from
   * any process. 'vercel': `https://<storeId>.<access>.blob.vercel-storage.com/<pathname>` exactly like Vercel, which
   * `get(url)` insists on, but only reachable in-process through `routeBlobHostsTo()` (blob-env.ts).
   */
  urlStyle?: 'local' | 'vercel';
}

export type RequestKind = 'put' | 'head' | 'list' | 'delete' | 'copy' | 'rename' | 'mpuCreate' | 'mpuUpload' | 'mpuComplete' | 'download' | 'unsupported';

export interface BlobServerStats {
  /** Requests by kind, counted on arrival (so rejected and retried attempts count too). */
  requests: Record<RequestKind, number>;
  /** Requests answered 401/403 (bad token, private download without token). */
  denied: number;
  /** Parts stored successfully (a retried part counts once per successful attempt). */
  partsUploaded: number;
  /** Part attempts answered 5xx on purpose (`failPart`). */
  failedParts: number;
  /** Body bytes written to disk by puts and parts. */
  bytesReceived: number;
}

export interface BlobServer {
  /** API base, the value for VERCEL_BLOB_API_URL. */
  url: string;
  /** `http://127.0.0.1:PORT`, where blob urls (local style) and the API live. */
  origin: string;
  port: number;
  token: string;
  /** Store id as the client derives it from the token. */
  storeId: string;
  stats: BlobServerStats;
  close(): Promise<void>;
}

export async function startBlobServer(opts: BlobServerOptions): Promise<BlobServer> {
  const storeId = storeIdFromToken(opts.token);
  const store = new BlobStore(opts.dir);
  await store.init();
  const stats = emptyStats();
  const ctx: Context = { opts, storeId, store, stats, uploads: new Map(), origin: '' };

  // requestTimeout 0: multi-GB uploads from benchmarks must not be cut off by Node's 5 min default.
  const server = createServer({ requestTimeout: 0 }, (req, res) => void handleRequest(ctx, req, res));
  const port = await listen(server, opts.port ?? 0);
  ctx.origin = `http://127.0.0.1:${port}`;

  return {
    url: `${ctx.origin}${API_PREFIX}`,
    origin: ctx.origin,
    port,
    token: opts.token,
    storeId,
    stats,
    close: () => closeServer(server),
  };
}

/** Same rule as the client (`parseStoreIdFromReadWriteToken`): the 4th `_`-separated field. */
export function storeIdFromToken(token: string): string {
  const [prefix1, prefix2, kind, storeId, ...secret] = token.split('_');
  if (prefix1 !== 'vercel' || prefix2 !== 'blob' || kind !== 'rw' || !storeId || secret.join('_') === '') {
    throw new Error('blob-server: token must look like vercel_blob_rw_<storeId>_<secret>');
  }
  return storeId;
}

// ---------------------------------------------------------------------------------------------------------------
// Constants mirrored from Vercel

const API_PREFIX = '/api/blob';
const STORE_PREFIX = '/store/';
const VERCEL_HOST_SUFFIX = '.blob.vercel-storage.com';
/** Client-side MAXIMUM_PATHNAME_LENGTH. */
const MAX_PATHNAME_LENGTH = 950;
/** Vercel's default cache max-age: one month. */
const DEFAULT_CACHE_MAX_AGE = 30 * 24 * 60 * 60;
const LIST_DEFAULT_LIMIT = 1000;
const MAX_PART_NUMBER = 10_000;
/** Vercel random suffixes are 30 alphanumerics inserted before the extension. */
const RANDOM_SUFFIX_LENGTH = 30;
/** Upper bound for the JSON bodies we buffer (delete url lists, complete part lists). */
const MAX_JSON_BODY = 16 * 1024 * 1024;

const EXISTS_MESSAGE =
  'This blob already exists, use `allowOverwrite: true` if you want to overwrite it. Or `addRandomSuffix: true` to generate a unique filename.';

// ---------------------------------------------------------------------------------------------------------------
// Storage

interface BlobMeta {
  pathname: string;
  access: BlobAccess;
  size: number;
  contentType: string;
  cacheControlMaxAge: number;
  uploadedAt: string;
  etag: string;
}

interface Received {
  file: string;
  size: number;
  md5: Buffer;
}

class BlobStore {
  private readonly index = new Map<string, BlobMeta>();
  readonly objectsDir: string;
  readonly tmpDir: string;
  readonly mpuDir: string;

  constructor(dir: string) {
    this.objectsDir = join(dir, 'objects');
    this.tmpDir = join(dir, 'tmp');
    this.mpuDir = join(dir, 'mpu');
  }

  /** Loads existing sidecars so a restarted server over the same dir still serves its blobs. */
  async init(): Promise<void> {
    await Promise.all([this.objectsDir, this.tmpDir, this.mpuDir].map((d) => mkdir(d, { recursive: true })));
    for (const name of await readdir(this.objectsDir)) {
      if (!name.endsWith('.json')) continue;
      const meta = JSON.parse(await readFile(join(this.objectsDir, name), 'utf8')) as BlobMeta;
      this.index.set(meta.pathname, meta);
    }
  }

  get(pathname: string): BlobMeta | undefined {
    return this.index.get(pathname);
  }

  /** All blobs sorted by pathname (byte order, like S3 listings). */
  sorted(): BlobMeta[] {
    return [...this.index.values()].sort((a, b) => compareKeys(a.pathname, b.pathname));
  }

  dataFile(pathname: string): string {
    return join(this.objectsDir, `${hashName(pathname)}.bin`);
  }

  tmpFile(): string {
    return join(this.tmpDir, randomUUID());
  }

  /** Streams `source` into a temp file; the caller commits or discards it. */
  receive(source: Readable, onBytes: (n: number) => void, file = this.tmpFile()): Promise<Received> {
    return receiveToFile(source, file, onBytes);
  }

  /** Moves a fully received file into place, then its sidecar: readers never see a partial blob. */
  async commit(file: string, meta: BlobMeta): Promise<BlobMeta> {
    await rename(file, this.dataFile(meta.pathname));
    const sidecar = this.tmpFile();
    await writeFile(sidecar, JSON.stringify(meta, null, 2));
    await rename(sidecar, join(this.objectsDir, `${hashName(meta.pathname)}.json`));
    this.index.set(meta.pathname, meta);
    return meta;
  }

  async remove(pathname: string): Promise<void> {
    if (!this.index.delete(pathname)) return;
    const base = join(this.objectsDir, hashName(pathname));
    await Promise.all([rm(`${base}.bin`, { force: true }), rm(`${base}.json`, { force: true })]);
  }
}

/** Pathnames can be 950 chars with any characters: hash them for file names. */
function hashName(pathname: string): string {
  return createHash('sha256').update(pathname).digest('hex');
}

function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

async function receiveToFile(source: Readable, file: string, onBytes: (n: number) => void): Promise<Received> {
  const md5 = createHash('md5');
  let size = 0;
  async function* tap(chunks: AsyncIterable<Buffer>) {
    for await (const chunk of chunks) {
      md5.update(chunk);
      size += chunk.length;
      onBytes(chunk.length);
      yield chunk;
    }
  }
  try {
    await pipeline(source, tap, createWriteStream(file));
  } catch (err) {
    await rm(file, { force: true });
    throw err;
  }
  return { file, size, md5: md5.digest() };
}

// ---------------------------------------------------------------------------------------------------------------
// Request plumbing

interface Upload {
  uploadId: string;
  key: string;
  /** Final pathname (random suffix applied at create). */
  pathname: string;
  put: PutOptions;
  dir: string;
  parts: Map<number, { file: string; etag: string; md5: Buffer; size: number }>;
  /** `failPart` already triggered for this upload. */
  failed: boolean;
}

interface Context {
  opts: BlobServerOptions;
  storeId: string;
  store: BlobStore;
  stats: BlobServerStats;
  uploads: Map<string, Upload>;
  origin: string;
}

interface Request {
  ctx: Context;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
}

/** An error answered the way Vercel does: `{ error: { code, message } }`; the client maps `code` to a class. */
class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

const badRequest = (message: string) => new ApiError(400, 'bad_request', message);
const notFound = () => new ApiError(404, 'not_found', 'The requested blob does not exist');
const forbidden = () => new ApiError(403, 'forbidden', 'Access denied, please provide a valid token for this resource.');

async function handleRequest(ctx: Context, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // A client aborting mid-body emits 'error' on req; without a listener that would crash the server.
  req.on('error', () => {});
  const r: Request = { ctx, req, res, url: new URL(req.url ?? '/', 'http://stand-in') };
  try {
    if (ctx.opts.latencyMs) await sleep(ctx.opts.latencyMs);
    await route(r);
  } catch (err) {
    await answerError(r, err);
  }
}

async function answerError({ ctx, req, res }: Request, err: unknown): Promise<void> {
  const apiError = err instanceof ApiError ? err : new ApiError(500, 'internal_server_error', `stand-in failure: ${String(err)}`);
  // A 500 makes the client retry for minutes: say why right away (unless the client just went away).
  if (!(err instanceof ApiError) && !res.destroyed) console.error('blob-server:', err);
  if (apiError.status === 401 || apiError.status === 403) ctx.stats.denied++;
  // Read the rest of the body first: answering while the client still streams makes undici see a reset
  // ("fetch failed") instead of our status, which would turn a clean 4xx into network-error retries.
  await drain(req);
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  sendJson(res, apiError.status, { error: { code: apiError.code, message: apiError.message } });
}

async function route(r: Request): Promise<void> {
  const { pathname } = r.url;
  if (pathname.startsWith(STORE_PREFIX)) return download(r, decodePath(pathname.slice(STORE_PREFIX.length)));
  if (pathname !== API_PREFIX && !pathname.startsWith(`${API_PREFIX}/`)) {
    count(r, 'unsupported');
    throw new ApiError(404, 'not_found', `stand-in: no route ${r.req.method} ${pathname}`);
  }
  const action = apiAction(r.req, pathname.slice(API_PREFIX.length), r.url.searchParams);
  count(r, action?.kind ?? 'unsupported');
  // Checked before auth: presigned requests carry no Bearer token and would otherwise read as a bad token.
  if (r.url.searchParams.has('vercel-blob-delegation')) throw badRequest('stand-in: presigned urls are not supported');
  authorize(r);
  if (!action) throw badRequest(`stand-in: unsupported API call ${r.req.method} ${pathname}`);
  await action.run(r);
}

/** Endpoint table, as the client builds them with getApiUrl(): note head/list use `/api/blob?`, put `/api/blob/?`. */
function apiAction(req: IncomingMessage, sub: string, query: URLSearchParams): { kind: RequestKind; run: (r: Request) => Promise<void> } | undefined {
  const method = req.method ?? 'GET';
  const root = sub === '' || sub === '/';
  if (root && method === 'GET') return query.has('url') ? { kind: 'head', run: headBlob } : { kind: 'list', run: listBlobs };
  if (root && method === 'PUT') return query.has('fromUrl') ? { kind: 'copy', run: copyBlob } : { kind: 'put', run: putBlob };
  if (sub === '/delete' && method === 'POST') return { kind: 'delete', run: deleteBlobs };
  if (sub === '/rename' && method === 'POST') return { kind: 'rename', run: renameBlob };
  // Multipart: POST /api/blob/mpu?pathname=..., the step is in the x-mpu-action header.
  if (sub === '/mpu' && method === 'POST') {
    const step = header(req, 'x-mpu-action') ?? '';
    return Object.hasOwn(MPU_ACTIONS, step) ? MPU_ACTIONS[step as keyof typeof MPU_ACTIONS] : undefined;
  }
  return undefined;
}

function count(r: Request, kind: RequestKind): void {
  r.ctx.stats.requests[kind]++;
}

function authorize({ ctx, req }: Request): void {
  if (req.headers.authorization !== `Bearer ${ctx.opts.token}`) throw forbidden();
}

// ---------------------------------------------------------------------------------------------------------------
// Put / copy / rename

interface PutOptions {
  access: BlobAccess;
  contentType?: string;
  addRandomSuffix: boolean;
  allowOverwrite: boolean;
  cacheControlMaxAge: number;
  ifMatch?: string;
}

/** Headers from the client's putOptionHeaderMap (x-vercel-blob-access, x-content-type, ...). */
function parsePutOptions(req: IncomingMessage): PutOptions {
  const access = header(req, 'x-vercel-blob-access');
  if (access !== 'public' && access !== 'private') throw badRequest('access must be "private" or "public"');
  const maxAge = header(req, 'x-cache-control-max-age');
  const cacheControlMaxAge = maxAge === undefined ? DEFAULT_CACHE_MAX_AGE : Number(maxAge);
  if (!Number.isInteger(cacheControlMaxAge) || cacheControlMaxAge < 0) throw badRequest('invalid cacheControlMaxAge');
  return {
    access,
    contentType: header(req, 'x-content-type'),
    // Both default to false since @vercel/blob 1.0; the client only sends them when set.
    addRandomSuffix: header(req, 'x-add-random-suffix') === '1',
    allowOverwrite: header(req, 'x-allow-overwrite') === '1',
    cacheControlMaxAge,
    ifMatch: header(req, 'x-if-match'),
  };
}

function validatePathname(pathname: string | null): string {
  if (!pathname) throw badRequest('pathname is required');
  if (pathname.length > MAX_PATHNAME_LENGTH) throw badRequest(`pathname is too long, maximum length is ${MAX_PATHNAME_LENGTH}`);
  if (pathname.includes('//')) throw badRequest('pathname cannot contain "//", please encode it if needed');
  return pathname;
}

/** Vercel inserts `-<30 alphanumerics>` before the extension of the last segment. */
function withRandomSuffix(pathname: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  const suffix = [...randomBytes(RANDOM_SUFFIX_LENGTH)].map((b) => alphabet[b % alphabet.length]).join('');
  const slash = pathname.lastIndexOf('/');
  const dot = pathname.lastIndexOf('.');
  if (dot <= slash + 1) return `${pathname}-${suffix}`;
  return `${pathname.slice(0, dot)}-${suffix}${pathname.slice(dot)}`;
}

function targetPathname(requested: string, put: PutOptions): string {
  return put.addRandomSuffix ? withRandomSuffix(requested) : requested;
}

/** Overwrite rules: ifMatch wins (conditional overwrite), else an existing blob needs allowOverwrite. */
function assertWritable(store: BlobStore, pathname: string, put: PutOptions): void {
  const existing = store.get(pathname);
  if (put.ifMatch !== undefined) {
    if (!existing || !sameEtag(existing.etag, put.ifMatch)) {
      throw new ApiError(412, 'precondition_failed', 'Precondition failed: ETag mismatch.');
    }
    return;
  }
  if (existing && !put.allowOverwrite) throw badRequest(EXISTS_MESSAGE);
}

function newMeta(pathname: string, put: PutOptions, size: number, etag: string, fallbackType?: string): BlobMeta {
  return {
    pathname,
    access: put.access,
    size,
    contentType: put.contentType ?? fallbackType ?? contentTypeFor(pathname),
    cacheControlMaxAge: put.cacheControlMaxAge,
    uploadedAt: new Date().toISOString(),
    etag,
  };
}

async function putBlob(r: Request): Promise<void> {
  const { ctx, req, res } = r;
  const put = parsePutOptions(req);
  const pathname = targetPathname(validatePathname(r.url.searchParams.get('pathname')), put);
  // Checked before and after the body: fail fast, and still refuse if another put landed meanwhile.
  assertWritable(ctx.store, pathname, put);
  const body = await ctx.store.receive(req, (n) => (ctx.stats.bytesReceived += n));
  try {
    assertWritable(ctx.store, pathname, put);
  } catch (err) {
    await rm(body.file, { force: true });
    throw err;
  }
  const meta = await ctx.store.commit(body.file, newMeta(pathname, put, body.size, quoted(body.md5.toString('hex'))));
  sendJson(res, 200, putResult(ctx, meta));
}

/** copy(): PUT /api/blob?pathname=<to>&fromUrl=<url or pathname>, no body. */
async function copyBlob(r: Request): Promise<void> {
  const meta = await duplicate(r);
  sendJson(r.res, 200, putResult(r.ctx, meta));
}

/** rename(): POST /api/blob/rename?pathname=<to>&fromUrl=<url or pathname> = copy, then delete the source. */
async function renameBlob(r: Request): Promise<void> {
  const meta = await duplicate(r);
  const from = resolveBlobRef(r.ctx, r.url.searchParams.get('fromUrl') ?? '');
  if (from !== undefined && from !== meta.pathname) await r.ctx.store.remove(from);
  sendJson(r.res, 200, putResult(r.ctx, meta));
}

async function duplicate({ ctx, req, url }: Request): Promise<BlobMeta> {
  await drain(req);
  const put = parsePutOptions(req);
  const fromPathname = resolveBlobRef(ctx, url.searchParams.get('fromUrl') ?? '');
  const source = fromPathname === undefined ? undefined : ctx.store.get(fromPathname);
  if (!source) throw notFound();
  const pathname = targetPathname(validatePathname(url.searchParams.get('pathname')), put);
  assertWritable(ctx.store, pathname, put);
  const tmp = ctx.store.tmpFile();
  await copyFile(ctx.store.dataFile(source.pathname), tmp);
  return ctx.store.commit(tmp, newMeta(pathname, put, source.size, source.etag, source.contentType));
}

// ---------------------------------------------------------------------------------------------------------------
// Head / list / delete

async function headBlob(r: Request): Promise<void> {
  const pathname = resolveBlobRef(r.ctx, r.url.searchParams.get('url') ?? '');
  const meta = pathname === undefined ? undefined : r.ctx.store.get(pathname);
  if (!meta) throw notFound();
  sendJson(r.res, 200, headResult(r.ctx, meta));
}

/** list(): GET /api/blob?limit&prefix&cursor&mode. The cursor is opaque to the client: the last key served. */
async function listBlobs({ ctx, res, url }: Request): Promise<void> {
  const q = url.searchParams;
  const prefix = q.get('prefix') ?? '';
  const requested = Math.trunc(Number(q.get('limit') ?? LIST_DEFAULT_LIMIT));
  const limit = requested >= 1 ? Math.min(requested, LIST_DEFAULT_LIMIT) : LIST_DEFAULT_LIMIT;
  const after = q.get('cursor') ? Buffer.from(q.get('cursor')!, 'base64url').toString('utf8') : undefined;
  const folded = q.get('mode') === 'folded';

  const entries = listEntries(ctx.store.sorted(), prefix, folded).filter((e) => after === undefined || compareKeys(e.key, after) > 0);
  const page = entries.slice(0, limit);
  const hasMore = entries.length > limit;
  const body: Record<string, unknown> = {
    blobs: page.flatMap((e) => (e.blob ? [listItem(ctx, e.blob)] : [])),
    hasMore,
    ...(hasMore ? { cursor: Buffer.from(page[page.length - 1]!.key).toString('base64url') } : {}),
  };
  if (folded) body.folders = page.flatMap((e) => (e.blob ? [] : [e.key]));
  sendJson(res, 200, body);
}

/** In folded mode a blob deeper than `prefix` collapses into its first folder below it (`prefix + seg + '/'`). */
function listEntries(blobs: BlobMeta[], prefix: string, folded: boolean): { key: string; blob?: BlobMeta }[] {
  const entries: { key: string; blob?: BlobMeta }[] = [];
  const seenFolders = new Set<string>();
  for (const blob of blobs) {
    if (!blob.pathname.startsWith(prefix)) continue;
    const rest = blob.pathname.slice(prefix.length);
    const slash = folded ? rest.indexOf('/') : -1;
    if (slash < 0) {
      entries.push({ key: blob.pathname, blob });
      continue;
    }
    const folder = prefix + rest.slice(0, slash + 1);
    if (!seenFolders.has(folder)) entries.push({ key: folder });
    seenFolders.add(folder);
  }
  return entries.sort((a, b) => compareKeys(a.key, b.key));
}

/** del(): POST /api/blob/delete `{ urls }` (urls or pathnames). Missing blobs are ignored, like Vercel. */
async function deleteBlobs({ ctx, req, res }: Request): Promise<void> {
  const body = (await readJson(req)) as { urls?: unknown };
  if (!Array.isArray(body.urls) || !body.urls.every((u) => typeof u === 'string')) throw badRequest('urls must be an array of strings');
  const pathnames = (body.urls as string[]).map((u) => resolveBlobRef(ctx, u));
  const ifMatch = header(req, 'x-if-match');
  if (ifMatch !== undefined) {
    const meta = pathnames[0] === undefined ? undefined : ctx.store.get(pathnames[0]);
    if (!meta || !sameEtag(meta.etag, ifMatch)) throw new ApiError(412, 'precondition_failed', 'Precondition failed: ETag mismatch.');
  }
  for (const p of pathnames) if (p !== undefined) await ctx.store.remove(p);
  // The client always parses the answer as JSON.
  sendJson(res, 200, {});
}

// ---------------------------------------------------------------------------------------------------------------
// Multipart: POST /api/blob/mpu?pathname=..., header x-mpu-action: create | upload | complete

const MPU_ACTIONS = {
  create: { kind: 'mpuCreate', run: mpuCreate },
  upload: { kind: 'mpuUpload', run: mpuUpload },
  complete: { kind: 'mpuComplete', run: mpuComplete },
} as const;

async function mpuCreate({ ctx, req, res, url }: Request): Promise<void> {
  await drain(req);
  const put = parsePutOptions(req);
  const pathname = targetPathname(validatePathname(url.searchParams.get('pathname')), put);
  assertWritable(ctx.store, pathname, put);
  const uploadId = randomUUID();
  const dir = join(ctx.store.mpuDir, uploadId);
  await mkdir(dir, { recursive: true });
  // The key stands for the storage key; clients echo it back (URI-encoded) in x-mpu-key.
  ctx.uploads.set(uploadId, { uploadId, key: pathname, pathname, put, dir, parts: new Map(), failed: false });
  sendJson(res, 200, { key: pathname, uploadId });
}

function findUpload({ ctx, req }: Request): Upload {
  const upload = ctx.uploads.get(header(req, 'x-mpu-upload-id') ?? '');
  const key = header(req, 'x-mpu-key');
  if (!upload || key === undefined || decodePath(key) !== upload.key) throw badRequest('unknown multipart upload (uploadId/key)');
  return upload;
}

async function mpuUpload(r: Request): Promise<void> {
  const { ctx, req, res } = r;
  const upload = findUpload(r);
  const partNumber = Number(header(req, 'x-mpu-part-number'));
  if (!Number.isInteger(partNumber) || partNumber < 1 || partNumber > MAX_PART_NUMBER) throw badRequest('invalid x-mpu-part-number');
  if (partNumber === ctx.opts.failPart && !upload.failed) {
    upload.failed = true;
    ctx.stats.failedParts++;
    // internal_server_error is one of the codes requestApi() retries (with unknown_error, service_unavailable).
    throw new ApiError(500, 'internal_server_error', `stand-in: injected failure for part ${partNumber}`);
  }
  // Received beside the final name and renamed, so a retried part replaces its predecessor atomically.
  const body = await ctx.store.receive(req, (n) => (ctx.stats.bytesReceived += n), join(upload.dir, `${randomUUID()}.tmp`));
  const file = join(upload.dir, `${partNumber}.part`);
  await rename(body.file, file);
  const etag = quoted(body.md5.toString('hex'));
  upload.parts.set(partNumber, { file, etag, md5: body.md5, size: body.size });
  ctx.stats.partsUploaded++;
  sendJson(res, 200, { etag });
}

/**
 * Concatenates parts by ascending partNumber. The client's put({multipart:true}) lists parts in COMPLETION order
 * (uploadAllParts pushes as uploads finish, 8 at a time), so honouring the given order would corrupt blobs;
 * Vercel (S3 underneath) evidently orders them by number.
 */
async function mpuComplete(r: Request): Promise<void> {
  const { ctx, req, res } = r;
  const upload = findUpload(r);
  const listed = await readJson(req);
  const parts = completedParts(upload, listed);
  const tmp = await concatenate(
    ctx.store.tmpFile(),
    parts.map((p) => p.file),
  );
  try {
    assertWritable(ctx.store, upload.pathname, upload.put);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  // S3-style multipart etag: md5 of the parts' md5s, dash, part count.
  const etag = quoted(
    `${createHash('md5')
      .update(Buffer.concat(parts.map((p) => p.md5)))
      .digest('hex')}-${parts.length}`,
  );
  const size = parts.reduce((n, p) => n + p.size, 0);
  const meta = await ctx.store.commit(tmp, newMeta(upload.pathname, upload.put, size, etag));
  ctx.uploads.delete(upload.uploadId);
  await rm(upload.dir, { recursive: true, force: true });
  sendJson(res, 200, putResult(ctx, meta));
}

async function concatenate(target: string, files: string[]): Promise<string> {
  // One pipeline over every part: a pipeline per part into one stream (end: false) left its listeners on that stream.
  async function* parts() {
    for (const file of files) yield* createReadStream(file);
  }
  try {
    await pipeline(parts, createWriteStream(target));
  } catch (err) {
    await rm(target, { force: true });
    throw err;
  }
  return target;
}

function completedParts(upload: Upload, listed: unknown): { file: string; md5: Buffer; size: number }[] {
  if (!Array.isArray(listed) || listed.length === 0) throw badRequest('parts must be a non-empty array');
  const numbers = new Set<number>();
  for (const p of listed as { partNumber?: unknown; etag?: unknown }[]) {
    const stored = upload.parts.get(Number(p.partNumber));
    if (!stored || typeof p.etag !== 'string' || !sameEtag(stored.etag, p.etag)) {
      throw badRequest(`part ${String(p.partNumber)} was not uploaded or its etag does not match`);
    }
    if (numbers.has(Number(p.partNumber))) throw badRequest(`part ${String(p.partNumber)} listed twice`);
    numbers.add(Number(p.partNumber));
  }
  return [...numbers].sort((a, b) => a - b).map((n) => upload.parts.get(n)!);
}

// ---------------------------------------------------------------------------------------------------------------
// Downloads: GET/HEAD /store/<pathname> (and vercel-storage hosts routed here by blob-env.ts)

async function download(r: Request, pathname: string): Promise<void> {
  const { ctx, req, res, url } = r;
  count(r, 'download');
  await drain(req);
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new ApiError(405, 'bad_request', 'method not allowed');
  const meta = ctx.store.get(pathname);
  if (!meta) throw notFound();
  // Private blobs: the same Bearer token as the API (what `get()` sends); public ones are open to anyone.
  if (meta.access === 'private') authorize(r);

  const headers = downloadHeaders(meta, url.searchParams.get('download') === '1');
  if (req.headers['if-none-match'] && sameEtag(meta.etag, req.headers['if-none-match'])) {
    res.writeHead(304, headers).end();
    return;
  }
  const range = parseRange(req.headers.range, meta.size);
  if (range === 'unsatisfiable') {
    res.writeHead(416, { 'content-range': `bytes */${meta.size}` }).end();
    return;
  }
  const [start, end] = range ?? [0, meta.size - 1];
  res.writeHead(range ? 206 : 200, {
    ...headers,
    'content-length': String(Math.max(0, end - start + 1)),
    ...(range ? { 'content-range': `bytes ${start}-${end}/${meta.size}` } : {}),
  });
  if (req.method === 'HEAD' || meta.size === 0) {
    res.end();
    return;
  }
  await pipeline(createReadStream(ctx.store.dataFile(pathname), { start, end }), res);
}

function downloadHeaders(meta: BlobMeta, attachment: boolean): Record<string, string> {
  return {
    'content-type': meta.contentType,
    'content-disposition': contentDisposition(meta.pathname, attachment),
    'cache-control': cacheControl(meta),
    etag: meta.etag,
    'last-modified': new Date(meta.uploadedAt).toUTCString(),
    'accept-ranges': 'bytes',
  };
}

/** Single `bytes=a-b`, `bytes=a-` or `bytes=-n` range; anything fancier is served whole. */
function parseRange(value: string | undefined, size: number): [number, number] | 'unsatisfiable' | undefined {
  const m = value ? /^bytes=(\d*)-(\d*)$/.exec(value.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return undefined;
  let start: number;
  let end: number;
  if (m[1] === '') {
    start = Math.max(0, size - Number(m[2]));
    end = size - 1;
  } else {
    start = Number(m[1]);
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  }
  return start >= size || start > end ? 'unsatisfiable' : [start, end];
}

// ---------------------------------------------------------------------------------------------------------------
// Urls and result shapes

function encodePathname(pathname: string): string {
  return pathname.split('/').map(encodeURIComponent).join('/');
}

function blobUrl(ctx: Context, meta: BlobMeta): string {
  if (ctx.opts.urlStyle === 'vercel') {
    return `https://${ctx.storeId}.${meta.access}${VERCEL_HOST_SUFFIX}/${encodePathname(meta.pathname)}`;
  }
  return `${ctx.origin}${STORE_PREFIX}${encodePathname(meta.pathname)}`;
}

/** Same as the client's getDownloadUrl(): the blob url plus `download=1`. */
function downloadUrl(url: string): string {
  const u = new URL(url);
  u.searchParams.set('download', '1');
  return u.toString();
}

/**
 * A url (either style) or a bare pathname -> pathname; undefined when the url is not one of ours (another store's
 * host or an unknown origin), which reads as "no such blob".
 */
function resolveBlobRef(ctx: Context, ref: string): string | undefined {
  if (!/^https?:\/\//.test(ref)) return ref;
  const u = new URL(ref);
  if (u.hostname.endsWith(VERCEL_HOST_SUFFIX)) {
    return u.hostname.startsWith(`${ctx.storeId}.`) ? decodePath(u.pathname.slice(1)) : undefined;
  }
  if (u.origin === ctx.origin && u.pathname.startsWith(STORE_PREFIX)) {
    return decodePath(u.pathname.slice(STORE_PREFIX.length));
  }
  return undefined;
}

/** A malformed escape is the caller's mistake (400), not a 500 the client would retry for minutes. */
function decodePath(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw badRequest(`malformed percent-encoding in ${encoded}`);
  }
}

function cacheControl(meta: BlobMeta): string {
  return `${meta.access}, max-age=${meta.cacheControlMaxAge}`;
}

function contentDisposition(pathname: string, attachment: boolean): string {
  const filename = pathname.slice(pathname.lastIndexOf('/') + 1).replace(/["\\\r\n]/g, '_');
  return `${attachment ? 'attachment' : 'inline'}; filename="${filename}"`;
}

/** put / copy / rename / mpu complete answer (PutBlobResult). */
function putResult(ctx: Context, meta: BlobMeta) {
  const url = blobUrl(ctx, meta);
  return {
    url,
    downloadUrl: downloadUrl(url),
    pathname: meta.pathname,
    contentType: meta.contentType,
    contentDisposition: contentDisposition(meta.pathname, false),
    etag: meta.etag,
  };
}

/** head answer (HeadBlobResult); uploadedAt is an ISO string the client turns into a Date. */
function headResult(ctx: Context, meta: BlobMeta) {
  return {
    ...putResult(ctx, meta),
    size: meta.size,
    uploadedAt: meta.uploadedAt,
    cacheControl: cacheControl(meta),
  };
}

/** list item (ListBlobResultBlob). */
function listItem(ctx: Context, meta: BlobMeta) {
  const url = blobUrl(ctx, meta);
  return { url, downloadUrl: downloadUrl(url), pathname: meta.pathname, size: meta.size, uploadedAt: meta.uploadedAt, etag: meta.etag };
}

const CONTENT_TYPES: Record<string, string> = {
  txt: 'text/plain',
  json: 'application/json',
  ndjson: 'application/x-ndjson',
  gz: 'application/gzip',
  html: 'text/html',
  csv: 'text/csv',
  png: 'image/png',
  jpg: 'image/jpeg',
  jpeg: 'image/jpeg',
  db: 'application/vnd.sqlite3',
  sqlite: 'application/vnd.sqlite3',
};

/** Vercel infers the type from the extension when x-content-type is absent. */
function contentTypeFor(pathname: string): string {
  const name = pathname.slice(pathname.lastIndexOf('/') + 1);
  const ext = name.includes('.') ? name.slice(name.lastIndexOf('.') + 1).toLowerCase() : '';
  return CONTENT_TYPES[ext] ?? 'application/octet-stream';
}

function quoted(s: string): string {
  return `"${s}"`;
}

function sameEtag(a: string, b: string): boolean {
  const norm = (s: string) => s.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
  return norm(a) === norm(b);
}

// ---------------------------------------------------------------------------------------------------------------
// Small HTTP helpers

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }).end(text);
}

/** Small JSON bodies only (delete lists, complete part lists). */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_JSON_BODY) throw badRequest('JSON body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw badRequest('invalid JSON body');
  }
}

/** Discards whatever is left of the request body. */
function drain(req: IncomingMessage): Promise<void> {
  if (req.complete || req.destroyed || req.readableEnded) return Promise.resolve();
  return new Promise((resolve) => {
    req.once('end', resolve);
    req.once('close', resolve);
    req.resume();
  });
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function emptyStats(): BlobServerStats {
  const kinds: RequestKind[] = ['put', 'head', 'list', 'delete', 'copy', 'rename', 'mpuCreate', 'mpuUpload', 'mpuComplete', 'download', 'unsupported'];
  return {
    requests: Object.fromEntries(kinds.map((k) => [k, 0])) as Record<RequestKind, number>,
    denied: 0,
    partsUploaded: 0,
    failedParts: 0,
    bytesReceived: 0,
  };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

/** undici keeps connections alive; close them or close() waits for their idle timeout. */
function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    server.closeAllConnections();
  });
}

// ---------------------------------------------------------------------------------------------------------------
// CLI: npx tsx test/support/blob-server.ts --dir DIR --port N --token T [--fail-part N] [--latency-ms N]

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      dir: { type: 'string' },
      port: { type: 'string', default: '0' },
      token: { type: 'string' },
      'fail-part': { type: 'string' },
      'latency-ms': { type: 'string' },
      'url-style': { type: 'string' },
    },
  });
  if (!values.dir || !values.token) {
    console.error(
      'usage: blob-server --dir DIR --token vercel_blob_rw_<store>_<secret> [--port N] [--fail-part N] [--latency-ms N] [--url-style local|vercel]',
    );
    process.exit(2);
  }
  const server = await startBlobServer({
    dir: values.dir,
    token: values.token,
    port: Number(values.port),
    failPart: values['fail-part'] === undefined ? undefined : Number(values['fail-part']),
    latencyMs: values['latency-ms'] === undefined ? undefined : Number(values['latency-ms']),
    urlStyle: values['url-style'] === 'vercel' ? 'vercel' : 'local',
  });
  console.log(`blob-server listening url=${server.url} port=${server.port} store=${server.storeId}`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
