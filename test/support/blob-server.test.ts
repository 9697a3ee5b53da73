/**
 * The stand-in driven by the real @vercel/blob client: if these pass, the client accepted every answer shape.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import {
  BlobAccessError,
  BlobError,
  BlobNotFoundError,
  completeMultipartUpload,
  copy,
  createMultipartUpload,
  createMultipartUploader,
  del,
  get,
  head,
  list,
  put,
  uploadPart,
} from '@vercel/blob';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyBlobEnv, routeBlobHostsTo } from './blob-env.js';
import { startBlobServer, type BlobServer, type BlobServerOptions } from './blob-server.js';

const TOKEN = 'vercel_blob_rw_teststore_s3cr3t';
const MiB = 1024 * 1024;

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'blob-server-test-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A fresh server + env per test, so stats and stored blobs never leak between tests. */
function useServer(opts: Partial<BlobServerOptions> = {}): () => BlobServer {
  let server: BlobServer;
  let restoreEnv: () => void;
  beforeEach(async () => {
    server = await startBlobServer({ dir: await mkdtemp(join(tmp, 'store-')), token: TOKEN, ...opts });
    restoreEnv = applyBlobEnv(server);
  });
  afterEach(async () => {
    restoreEnv();
    await server.close();
  });
  return () => server;
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

async function fetchBytes(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
}

/** A Node stream of `size` bytes in odd-sized chunks, so part boundaries never line up with chunks. */
function chunked(data: Buffer, chunkSize = 1_000_003): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < data.length; i += chunkSize) yield data.subarray(i, i + chunkSize);
    })(),
  );
}

describe('put / head / list / del', () => {
  const server = useServer();

  it('puts and heads a blob with coherent metadata', async () => {
    const res = await put('dir/hello.txt', 'hello world', { access: 'public' });
    expect(res.pathname).toBe('dir/hello.txt');
    expect(res.url).toBe(`${server().origin}/store/dir/hello.txt`);
    expect(res.downloadUrl).toBe(`${res.url}?download=1`);
    expect(res.contentType).toBe('text/plain');

    const meta = await head(res.url);
    expect(meta).toMatchObject({ pathname: 'dir/hello.txt', size: 11, url: res.url, etag: res.etag });
    expect(meta.uploadedAt).toBeInstanceOf(Date);
    expect(meta.cacheControl).toBe('public, max-age=2592000');
    expect(await head('dir/hello.txt')).toMatchObject({ url: res.url }); // a pathname works too

    const download = await fetchBytes(res.downloadUrl);
    expect(download.body.toString()).toBe('hello world');
    expect(download.headers.get('content-disposition')).toBe('attachment; filename="hello.txt"');
  });

  it('refuses to overwrite without allowOverwrite, honours addRandomSuffix and allowOverwrite', async () => {
    await put('a.bin', 'one', { access: 'public' });
    await expect(put('a.bin', 'two', { access: 'public' })).rejects.toThrow(/already exists/);

    const suffixed = await put('a.bin', 'two', { access: 'public', addRandomSuffix: true });
    expect(suffixed.pathname).toMatch(/^a-[A-Za-z0-9]{30}\.bin$/);

    await put('a.bin', 'three', { access: 'public', allowOverwrite: true, contentType: 'x/y', cacheControlMaxAge: 60 });
    const meta = await head('a.bin');
    expect(meta).toMatchObject({ size: 5, contentType: 'x/y', cacheControl: 'public, max-age=60' });
  });

  it('lists by prefix with cursor pagination and folded mode', async () => {
    const names = ['b/1', 'b/2', 'b/3', 'b/4', 'b/5', 'b/sub/6', 'c/7'];
    for (const n of names) await put(n, n, { access: 'public' });

    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await list({ prefix: 'b/', limit: 2, cursor });
      seen.push(...page.blobs.map((b) => b.pathname));
      cursor = page.hasMore ? page.cursor : undefined;
      pages++;
    } while (cursor);
    expect(seen).toEqual(names.slice(0, 6));
    expect(pages).toBe(3);

    const folded = await list({ prefix: 'b/', mode: 'folded' });
    expect(folded.folders).toEqual(['b/sub/']);
    expect(folded.blobs.map((b) => b.pathname)).toEqual(['b/1', 'b/2', 'b/3', 'b/4', 'b/5']);
    expect(folded.hasMore).toBe(false);

    const all = await list();
    expect(all.blobs.map((b) => b.size)).toEqual(names.map((n) => n.length));
  });

  it('deletes by url or pathname; head then throws BlobNotFoundError', async () => {
    const a = await put('x/a', 'a', { access: 'public' });
    await put('x/b', 'b', { access: 'public' });
    await del([a.url, 'x/b', 'x/never-existed']);
    await expect(head(a.url)).rejects.toBeInstanceOf(BlobNotFoundError);
    expect((await list({ prefix: 'x/' })).blobs).toEqual([]);
    expect((await fetchBytes(a.url)).status).toBe(404);
  });

  it('copies a blob to a new pathname with new access', async () => {
    const src = await put('src.txt', 'copy me', { access: 'public' });
    const dst = await copy(src.url, 'dst.txt', { access: 'private' });
    expect(dst.pathname).toBe('dst.txt');
    expect((await head(dst.url)).size).toBe(7);
    expect((await fetchBytes(dst.url)).status).toBe(403);
  });

  it('streams a put body from a Node stream', async () => {
    const data = randomBytes(3 * MiB + 17);
    const res = await put('stream.bin', chunked(data), { access: 'public' });
    const download = await fetchBytes(res.url);
    expect(sha256(download.body)).toBe(sha256(data));
    expect(server().stats.requests.put).toBe(1);
    expect(server().stats.bytesReceived).toBe(data.length);
  });
});

describe('private blobs', () => {
  const server = useServer();

  it('serve downloads only with the Bearer token', async () => {
    const data = randomBytes(100_000);
    const res = await put('secret/data.bin', data, { access: 'private' });

    const anonymous = await fetchBytes(res.url);
    expect(anonymous.status).toBe(403);
    const wrong = await fetchBytes(res.url, { authorization: 'Bearer vercel_blob_rw_teststore_nope' });
    expect(wrong.status).toBe(403);

    const authed = await fetchBytes(res.url, { authorization: `Bearer ${TOKEN}` });
    expect(authed.status).toBe(200);
    expect(authed.body.equals(data)).toBe(true);
    expect(authed.headers.get('etag')).toBe(res.etag);
    expect((await head(res.url)).cacheControl).toBe('private, max-age=2592000');

    const ranged = await fetchBytes(res.url, { authorization: `Bearer ${TOKEN}`, range: 'bytes=10-19' });
    expect(ranged.status).toBe(206);
    expect(ranged.body.equals(data.subarray(10, 20))).toBe(true);
    expect(server().stats.denied).toBe(2);
  });

  it('work with the client get() once vercel-storage hosts are routed here', async () => {
    const restore = routeBlobHostsTo(server());
    try {
      const data = randomBytes(50_000);
      await put('secret/get.bin', data, { access: 'private' });
      const got = await get('secret/get.bin', { access: 'private' });
      expect(got?.statusCode).toBe(200);
      const body = Buffer.from(await new Response(got!.stream).arrayBuffer());
      expect(body.equals(data)).toBe(true);
      expect(got!.blob.size).toBe(data.length);
      expect(await get('secret/missing.bin', { access: 'private' })).toBeNull();
    } finally {
      await restore();
    }
  });
});

describe('vercel-style urls', () => {
  const server = useServer({ urlStyle: 'vercel' });

  it('hands out https://<store>.<access>.blob.vercel-storage.com urls that get(url) accepts', async () => {
    const restore = routeBlobHostsTo(server());
    try {
      const res = await put('v/one.txt', 'vercel style', { access: 'private' });
      expect(res.url).toBe('https://teststore.private.blob.vercel-storage.com/v/one.txt');
      expect((await head(res.url)).size).toBe(12);
      const got = await get(res.url, { access: 'private' });
      expect(await new Response(got!.stream).text()).toBe('vercel style');
      // Global fetch shares undici's global dispatcher, so plain fetches of these urls are routed too.
      expect((await fetchBytes(res.url, { authorization: `Bearer ${TOKEN}` })).body.toString()).toBe('vercel style');
      await del(res.url);
      await expect(head(res.url)).rejects.toBeInstanceOf(BlobNotFoundError);
    } finally {
      await restore();
    }
  });
});

describe('multipart', () => {
  const server = useServer();

  it('put(..., { multipart: true }) of a 20 MB stream uploads several parts in order', async () => {
    const data = randomBytes(20 * MiB);
    const res = await put('big/data.bin', chunked(data), { access: 'private', multipart: true });
    const stats = server().stats;
    expect(stats.requests.mpuCreate).toBe(1);
    expect(stats.partsUploaded).toBe(3); // 8 MiB parts: 8 + 8 + 4
    expect(stats.requests.mpuComplete).toBe(1);
    expect(res.etag).toMatch(/-3"$/);

    expect((await head(res.url)).size).toBe(data.length);
    const download = await fetchBytes(res.url, { authorization: `Bearer ${TOKEN}` });
    expect(sha256(download.body)).toBe(sha256(data));
  });

  it('manual createMultipartUpload / uploadPart / completeMultipartUpload', async () => {
    const p1 = randomBytes(5 * MiB);
    const p2 = randomBytes(1234);
    const opts = { access: 'public' as const };
    const { key, uploadId } = await createMultipartUpload('manual.bin', opts);
    // Upload (and list) out of order: the server must still assemble by part number.
    const part2 = await uploadPart('manual.bin', p2, { ...opts, key, uploadId, partNumber: 2 });
    const part1 = await uploadPart('manual.bin', p1, { ...opts, key, uploadId, partNumber: 1 });
    const res = await completeMultipartUpload('manual.bin', [part2, part1], { ...opts, key, uploadId });
    expect(res.pathname).toBe('manual.bin');
    const download = await fetchBytes(res.url);
    expect(download.body.equals(Buffer.concat([p1, p2]))).toBe(true);
  });

  it('createMultipartUploader, and a bad etag at complete is refused', async () => {
    const uploader = await createMultipartUploader('uploader.bin', { access: 'public' });
    const part = await uploader.uploadPart(1, 'abc');
    await expect(uploader.complete([{ partNumber: 1, etag: '"nope"' }])).rejects.toThrow(BlobError);
    const res = await uploader.complete([part]);
    expect((await fetchBytes(res.url)).body.toString()).toBe('abc');
  });
});

describe('failPart', () => {
  const server = useServer({ failPart: 2 });

  it('fails part 2 once; the client retries and the blob is intact', async () => {
    const data = randomBytes(17 * MiB);
    const res = await put('retry.bin', chunked(data), { access: 'private', multipart: true });
    const stats = server().stats;
    expect(stats.failedParts).toBe(1);
    expect(stats.partsUploaded).toBe(3);
    expect(stats.requests.mpuUpload).toBe(4);
    const download = await fetchBytes(res.url, { authorization: `Bearer ${TOKEN}` });
    expect(sha256(download.body)).toBe(sha256(data));
  });
});

describe('auth', () => {
  const server = useServer();

  it('a wrong token makes the client throw BlobAccessError, without retries', async () => {
    const token = 'vercel_blob_rw_teststore_wrong';
    await expect(put('x.txt', 'x', { access: 'public', token })).rejects.toBeInstanceOf(BlobAccessError);
    await expect(list({ token })).rejects.toBeInstanceOf(BlobAccessError);
    await expect(put('y.bin', randomBytes(9 * MiB), { access: 'public', token, multipart: true })).rejects.toBeInstanceOf(BlobAccessError);
    expect(server().stats.denied).toBe(3);
    expect((await list()).blobs).toEqual([]);
  });
});

describe('latencyMs', () => {
  useServer({ latencyMs: 150 });

  it('delays each request', async () => {
    const started = Date.now();
    await list();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
  });
});

describe('CLI', () => {
  it('prints a listening line and serves the API', async () => {
    const script = fileURLToPath(new URL('./blob-server.ts', import.meta.url));
    const dir = await mkdtemp(join(tmp, 'cli-'));
    // `node --import tsx` rather than `npx tsx`: one process, so killing it by pid leaves nothing behind.
    const child = spawn(process.execPath, ['--import', 'tsx', script, '--dir', dir, '--port', '0', '--token', TOKEN], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      const line = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          if (out.includes('listening')) resolve(out);
        });
        child.once('exit', (code) => reject(new Error(`blob-server exited with ${code}: ${out}`)));
      });
      const url = /url=(\S+)/.exec(line)?.[1];
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/api\/blob$/);
      const res = await fetch(`${url}?limit=1`, { headers: { authorization: `Bearer ${TOKEN}` } });
      expect(await res.json()).toEqual({ blobs: [], hasMore: false });
    } finally {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
  });
});
