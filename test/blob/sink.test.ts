/**
 * The blob sink and the tee, in-process, against the stand-in with the real @vercel/blob client: multipart parts,
 * retries, the bounded window (backpressure), abort leaving nothing, byte-identical tee output.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { head, list, put } from '@vercel/blob';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { BackupError } from '../../src/errors.js';
import type { Manifest } from '../../src/format/lines.js';
import { blobSink } from '../../src/sink/blob.js';
import { fileSink } from '../../src/sink/file.js';
import { blobResultOf, fileResultOf, teeSink } from '../../src/sink/tee.js';
import type { Sink } from '../../src/sink/types.js';
import { applyEnv } from '../support/blob-env.js';
import { tempDirs } from '../support/dumps.js';
import { prngBytes } from '../support/nasty-db.js';
import { buildBlobDb, buildSmallDb, MiB, sha256, TOKEN, useBlobStore } from './helpers.js';

const dirs = tempDirs('tb-blob-sink-');
let tmp: string;
let bigDb: string;
let smallDb: string;
beforeAll(() => {
  tmp = dirs.make();
  bigDb = join(tmp, 'big.db');
  smallDb = join(tmp, 'small.db');
  buildBlobDb(bigDb, 10);
  buildSmallDb(smallDb, 200);
});
afterAll(() => dirs.cleanup());

const fakeManifest = (bytes: number, sha: string): Manifest =>
  ({
    format: 'turso-backup',
    version: 1,
    tool: 'test',
    createdAt: new Date().toISOString(),
    source: 'file:test.db',
    consistency: 'snapshot',
    selection: { tables: null, excludeTables: [] },
    tables: {},
    media: null,
    totalRows: 0,
    contentSha256: sha,
    file: { name: 'x', bytes, sha256: sha },
  }) as unknown as Manifest;

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

/** Writes `data` into `sink` in odd-sized chunks, like the gzip stage does. */
async function writeAll(sink: Sink, data: Buffer, chunk = 300_007) {
  for (let i = 0; i < data.length; i += chunk) await sink.write(data.subarray(i, i + chunk));
}

describe('blobSink', () => {
  const server = useBlobStore(() => tmp);

  it('streams parts of partSize (last one shorter) into a private blob, then writes the manifest', async () => {
    const data = prngBytes(5 * MiB + 123, 11);
    const parts: number[] = [];
    const sink = blobSink('backups/t1.ndjson.gz', { token: TOKEN, partSize: MiB, onPart: (p) => parts.push(p.bytes) });
    await sink.open();
    await writeAll(sink, data);
    // Nothing is visible before commit: the multipart upload is not a blob.
    expect((await list({ prefix: 'backups/', token: TOKEN })).blobs).toEqual([]);
    const result = await sink.commit(fakeManifest(data.length, sha256(data)));
    expect(result).toMatchObject({ kind: 'blob', pathname: 'backups/t1.ndjson.gz', manifestPathname: 'backups/t1.ndjson.gz.manifest.json' });
    expect(parts.sort((a, b) => a - b)).toEqual([123, MiB, MiB, MiB, MiB, MiB]);
    expect(server().stats.requests.mpuCreate).toBe(1);
    expect(server().stats.requests.mpuUpload).toBe(6);
    expect(server().stats.requests.mpuComplete).toBe(1);

    const meta = await head('backups/t1.ndjson.gz', { token: TOKEN });
    expect(meta.size).toBe(data.length);
    expect(meta.contentType).toBe('application/gzip');
    expect(meta.cacheControl).toMatch(/^private/);
    expect(sha256(await download(meta.url))).toBe(sha256(data));
    // Private: no token, no bytes.
    expect((await fetch(meta.url)).status).toBe(403);
    const manifest = JSON.parse((await download((await head('backups/t1.ndjson.gz.manifest.json', { token: TOKEN })).url)).toString());
    expect(manifest.file.bytes).toBe(data.length);
    expect((result as { url: string }).url).not.toContain(TOKEN);
  });

  it('refuses to start over an existing blob or manifest', async () => {
    await put('backups/exists.ndjson.gz', 'x', { access: 'private', token: TOKEN });
    await expect(blobSink('backups/exists.ndjson.gz', { token: TOKEN }).open()).rejects.toThrow(/already exists/);
    await put('backups/orphan.ndjson.gz.manifest.json', '{}', { access: 'private', token: TOKEN });
    await expect(blobSink('backups/orphan.ndjson.gz', { token: TOKEN }).open()).rejects.toThrow(/already exists/);
    expect(server().stats.requests.mpuCreate).toBe(0);
  });

  it('abort() completes nothing and writes no manifest', async () => {
    const sink = blobSink('backups/t3.ndjson.gz', { token: TOKEN, partSize: MiB });
    await sink.open();
    await writeAll(sink, prngBytes(3 * MiB + 5, 13));
    await sink.abort();
    await expect(sink.write(Buffer.from('more'))).rejects.toThrow(/aborted/);
    expect(server().stats.requests.mpuComplete).toBe(0);
    expect((await list({ prefix: 'backups/', token: TOKEN })).blobs).toEqual([]);
  });

  it('a wrong token fails at open with an AUTH error and uploads nothing', async () => {
    const sink = blobSink('backups/t4.ndjson.gz', { token: 'vercel_blob_rw_teststore_wrong' });
    const err = await sink.open().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe('AUTH');
    expect((err as Error).message).not.toContain('wrong');
  });
});

describe('blobSink window', () => {
  // Every request waits 100 ms: parts finish slowly, so a writer that ignored the window would run ahead.
  useBlobStore(() => tmp, { latencyMs: 100 });

  it('keeps at most `concurrency` parts in flight: write() waits for the window (backpressure)', async () => {
    const partSize = 256 * 1024;
    let stored = 0;
    let peak = 0;
    const sink = blobSink('backups/w1.ndjson.gz', { token: TOKEN, partSize, concurrency: 2, onPart: () => stored++ });
    await sink.open();
    const data = prngBytes(4 * MiB, 12);
    const started = Date.now();
    for (let i = 0; i < data.length; i += partSize) {
      await sink.write(data.subarray(i, i + partSize));
      const handedOff = (i + partSize) / partSize;
      peak = Math.max(peak, handedOff - stored);
    }
    const writing = Date.now() - started;
    expect(peak).toBe(2);
    // 16 parts, 2 at a time, >= 100 ms each: the writer was held back for at least 7 rounds.
    expect(writing).toBeGreaterThanOrEqual(700);
    await sink.commit(fakeManifest(data.length, sha256(data)));
    expect(sha256(await download((await head('backups/w1.ndjson.gz', { token: TOKEN })).url))).toBe(sha256(data));
  });
});

describe('blobSink retries', () => {
  const server = useBlobStore(() => tmp, { failPart: 2 });

  it('a failed part is retried (by the client) and the blob is whole', async () => {
    const data = prngBytes(3 * MiB + 1, 21);
    const sink = blobSink('backups/r1.ndjson.gz', { token: TOKEN, partSize: MiB });
    await sink.open();
    await writeAll(sink, data);
    await sink.commit(fakeManifest(data.length, sha256(data)));
    expect(server().stats.failedParts).toBe(1);
    expect(server().stats.requests.mpuUpload).toBe(5); // 4 parts + 1 retry
    expect(sha256(await download((await head('backups/r1.ndjson.gz', { token: TOKEN })).url))).toBe(sha256(data));
  });

  it('a part failure that escapes the client is retried by the sink (bounded)', async () => {
    // No client retries: the injected 500 reaches the sink, whose own retry must recover.
    const restore = applyEnv({ VERCEL_BLOB_RETRIES: '0' });
    try {
      const data = prngBytes(2 * MiB + 7, 22);
      const attempts: number[] = [];
      const sink = blobSink('backups/r2.ndjson.gz', {
        token: TOKEN,
        partSize: MiB,
        retryDelayMs: 10,
        onPart: (p) => p.partNumber === 2 && attempts.push(p.attempts),
      });
      await sink.open();
      await writeAll(sink, data);
      await sink.commit(fakeManifest(data.length, sha256(data)));
      expect(attempts).toEqual([2]);
      expect(server().stats.failedParts).toBe(1);
      expect(sha256(await download((await head('backups/r2.ndjson.gz', { token: TOKEN })).url))).toBe(sha256(data));
    } finally {
      restore();
    }
  });

  it('with no retries left the upload fails as a SINK error and leaves nothing', async () => {
    const restore = applyEnv({ VERCEL_BLOB_RETRIES: '0' });
    try {
      const sink = blobSink('backups/r3.ndjson.gz', { token: TOKEN, partSize: MiB, retries: 0 });
      await sink.open();
      const err = await (async () => {
        await writeAll(sink, prngBytes(4 * MiB, 23));
        await sink.commit(fakeManifest(4 * MiB, 'x'));
      })().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupError);
      expect((err as BackupError).code).toBe('SINK');
      expect((err as Error).message).toMatch(/part 2/);
      await sink.abort();
      expect(server().stats.requests.mpuComplete).toBe(0);
      expect((await list({ prefix: 'backups/', token: TOKEN })).blobs).toEqual([]);
    } finally {
      restore();
    }
  });
});

describe('backup() into blob and tee sinks', () => {
  const server = useBlobStore(() => tmp);

  it('tee: one pass writes a local file and a blob with identical bytes (multipart, 8 MiB parts)', async () => {
    const out = join(tmp, 'tee', 'backup-tee.ndjson.gz');
    const parts: number[] = [];
    const sink = teeSink([fileSink(out), blobSink('backups/backup-tee.ndjson.gz', { token: TOKEN, onPart: (p) => parts.push(p.partNumber) })]);
    const r = await backup({ url: `file:${bigDb}` }, sink);
    const local = readFileSync(out);
    expect(local.length).toBe(r.bytes);
    expect(local.length).toBeGreaterThan(8 * MiB); // really more than one part
    expect(parts.length).toBeGreaterThanOrEqual(2);
    const meta = await head('backups/backup-tee.ndjson.gz', { token: TOKEN });
    const remote = await download(meta.url);
    expect(sha256(remote)).toBe(sha256(local));
    expect(sha256(remote)).toBe(r.sha256);
    expect(fileResultOf(r.sink)?.path).toBe(out);
    expect(blobResultOf(r.sink)).toMatchObject({ pathname: 'backups/backup-tee.ndjson.gz', url: meta.url });
    // Both manifests describe the same dump.
    const localManifest = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8'));
    const remoteManifest = JSON.parse((await download((await head('backups/backup-tee.ndjson.gz.manifest.json', { token: TOKEN })).url)).toString());
    expect(remoteManifest).toEqual(localManifest);
    expect(server().stats.requests.mpuComplete).toBe(1);
  });

  it('a backup interrupted mid-way (the read is aborted) leaves no blob and no manifest', async () => {
    const ac = new AbortController();
    let writes = 0;
    const inner = blobSink('backups/aborted.ndjson.gz', { token: TOKEN, partSize: MiB });
    // Abort the backup (like a failed read) once a part reached the server. Parts go out in the background: aborted
    // at once after the third write, the requests in flight were sometimes cancelled before the server saw one.
    const sink: Sink = {
      ...inner,
      open: () => inner.open(),
      commit: (m) => inner.commit(m),
      abort: () => inner.abort(),
      write: async (c) => {
        await inner.write(c);
        if (++writes !== 3) return;
        await vi.waitFor(() => expect(server().stats.requests.mpuUpload).toBeGreaterThanOrEqual(1), { timeout: 10_000, interval: 5 });
        ac.abort();
      },
    };
    const err = await backup({ url: `file:${bigDb}`, signal: ac.signal, gzip: { blockBytes: 512 * 1024 } }, sink).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BackupError);
    expect(server().stats.requests.mpuCreate).toBe(1);
    expect(server().stats.requests.mpuUpload).toBeGreaterThanOrEqual(1); // it was under way
    expect(server().stats.requests.mpuComplete).toBe(0);
    expect(server().stats.requests.put).toBe(0);
    expect((await list({ prefix: 'backups/', token: TOKEN })).blobs).toEqual([]);
  });

  it('a failing tee branch aborts the upload: no blob, no manifest, no local file', async () => {
    const out = join(tmp, 'tee-fail', 'backup-x.ndjson.gz');
    let n = 0;
    const failing: Sink = {
      kind: 'file',
      label: 'failing',
      fileName: 'backup-x.ndjson.gz',
      open: async () => {},
      write: async () => {
        if (++n === 2) throw new BackupError('SINK', 'disk full (simulated)');
      },
      commit: async () => ({ kind: 'file', path: 'x', manifestPath: 'x' }),
      abort: async () => {},
    };
    const sink = teeSink([fileSink(out), blobSink('backups/backup-x.ndjson.gz', { token: TOKEN, partSize: MiB }), failing]);
    await expect(backup({ url: `file:${bigDb}`, gzip: { blockBytes: 256 * 1024 } }, sink)).rejects.toThrow(/disk full/);
    expect(server().stats.requests.mpuComplete).toBe(0);
    expect((await list({ prefix: 'backups/', token: TOKEN })).blobs).toEqual([]);
    const { existsSync, readdirSync } = await import('node:fs');
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(join(tmp, 'tee-fail'))).toEqual([]);
  });

  it('a small backup is one (short) part', async () => {
    const r = await backup({ url: `file:${smallDb}` }, blobSink('backups/small.ndjson.gz', { token: TOKEN }));
    expect(server().stats.requests.mpuUpload).toBe(1);
    const meta = await head('backups/small.ndjson.gz', { token: TOKEN });
    expect(meta.size).toBe(r.bytes);
    expect(sha256(await download(meta.url))).toBe(r.sha256);
  });
});
