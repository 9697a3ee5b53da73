/**
 * In-process: listing (pagination, pairing, orphans, damaged manifests), prune with a clock (incomplete dumps
 * older than a day), and restore from Vercel-shaped blob URLs (resolveDumpSource + restore()).
 */
import { join } from 'node:path';
import { list, put } from '@vercel/blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { listBackups } from '../../src/blob/list.js';
import { pruneBackups } from '../../src/blob/prune.js';
import { resolveDumpSource } from '../../src/dump-source.js';
import { BackupError } from '../../src/errors.js';
import { restore } from '../../src/restore/restore.js';
import { blobSink } from '../../src/sink/blob.js';
import { targetFactory } from '../../src/target/open.js';
import { routeBlobHostsTo } from '../support/blob-env.js';
import { tempDirs } from '../support/dumps.js';
import { diffDumps, dumpDb } from '../support/nasty-db.js';
import { buildSmallDb, sha256, TOKEN, useBlobStore } from './helpers.js';

const dirs = tempDirs('tb-blob-store-');
let tmp: string;
let smallDb: string;
beforeAll(() => {
  tmp = dirs.make();
  smallDb = join(tmp, 'small.db');
  buildSmallDb(smallDb, 120);
});
afterAll(() => dirs.cleanup());

async function fake(createdAt: string, opts: { manifest?: 'ok' | 'none' | 'garbage' | 'wrong-size' } = {}) {
  const pathname = `backups/backup-${createdAt.replaceAll(':', '-')}.ndjson.gz`;
  const body = Buffer.from(`dump ${createdAt}`);
  await put(pathname, body, { access: 'private', token: TOKEN });
  const kind = opts.manifest ?? 'ok';
  if (kind !== 'none') {
    const manifest = {
      createdAt,
      tables: { t: { rows: 2 } },
      totalRows: 2,
      file: { bytes: kind === 'wrong-size' ? 1 : body.length, sha256: sha256(body), encrypted: false },
    };
    await put(`${pathname}.manifest.json`, kind === 'garbage' ? '{not json' : JSON.stringify(manifest), { access: 'private', token: TOKEN });
  }
  return pathname;
}

describe('listBackups', () => {
  useBlobStore(() => tmp);

  it('follows the cursor, pairs dumps with manifests, flags incomplete ones and orphans', async () => {
    const a = await fake('2026-03-01T00:00:00.000Z');
    const b = await fake('2026-03-02T00:00:00.000Z', { manifest: 'garbage' });
    const c = await fake('2026-03-03T00:00:00.000Z', { manifest: 'wrong-size' });
    const d = await fake('2026-03-04T00:00:00.000Z');
    await put('backups/backup-gone.ndjson.gz.manifest.json', '{}', { access: 'private', token: TOKEN });
    await put('backups/readme.txt', 'hi', { access: 'private', token: TOKEN });
    await put('elsewhere/backup-x.ndjson.gz', 'x', { access: 'private', token: TOKEN });

    const listing = await listBackups(TOKEN, { pageSize: 2 });
    expect(listing.backups.filter((x) => x.complete).map((x) => x.pathname)).toEqual([d, a]);
    const bad = Object.fromEntries(listing.backups.filter((x) => !x.complete).map((x) => [x.pathname, x.problem]));
    expect(bad[b]).toMatch(/manifest unreadable/);
    expect(bad[c]).toMatch(/differs from the manifest/);
    expect(listing.orphans.map((o) => o.pathname)).toEqual(['backups/backup-gone.ndjson.gz.manifest.json']);
    expect(listing.others).toBe(1);
    expect(listing.backups.find((x) => x.pathname === a)).toMatchObject({ tables: 1, rows: 2, createdAt: '2026-03-01T00:00:00.000Z' });
  });
});

describe('pruneBackups', () => {
  useBlobStore(() => tmp);

  it('deletes incomplete dumps and orphan manifests older than a day, keeps younger ones', async () => {
    const keep = await fake('2026-03-04T00:00:00.000Z');
    const partial = await fake('2026-03-03T00:00:00.000Z', { manifest: 'none' });
    await put('backups/backup-gone.ndjson.gz.manifest.json', '{}', { access: 'private', token: TOKEN });

    // Just uploaded: nothing incomplete is old enough.
    const now = await pruneBackups(TOKEN, { daily: 7, weekly: 0, monthly: 0 }, { confirm: true });
    expect(now.remove).toEqual([]);
    expect((await list({ prefix: 'backups/', token: TOKEN })).blobs).toHaveLength(4);

    // Two days later (by the clock the plan is given), they go.
    const later = new Date(Date.now() + 2 * 24 * 3600 * 1000);
    const dry = await pruneBackups(TOKEN, { daily: 7, weekly: 0, monthly: 0 }, { now: later });
    expect(dry.remove.map((r) => r.pathname).sort()).toEqual(['backups/backup-gone.ndjson.gz.manifest.json', partial].sort());
    expect(dry.deleted).toEqual([]);
    const done = await pruneBackups(TOKEN, { daily: 7, weekly: 0, monthly: 0 }, { now: later, confirm: true });
    expect(done.deleted.sort()).toEqual(['backups/backup-gone.ndjson.gz.manifest.json', partial].sort());
    expect((await list({ prefix: 'backups/', token: TOKEN })).blobs.map((x) => x.pathname)).toEqual([keep, `${keep}.manifest.json`]);
  });
});

describe('restore from Vercel-shaped blob URLs', () => {
  const server = useBlobStore(() => tmp, { urlStyle: 'vercel' });

  it('resolveDumpSource: pathname and https://<store>.private.blob.vercel-storage.com url, both passes exact', async () => {
    const unroute = routeBlobHostsTo(server());
    try {
      const r = await backup({ url: `file:${smallDb}` }, blobSink('backups/backup-v.ndjson.gz', { token: TOKEN }));
      const url = (r.sink as { url: string }).url;
      expect(url).toBe(`https://${server().storeId}.private.blob.vercel-storage.com/backups/backup-v.ndjson.gz`);
      for (const [i, source] of ['backups/backup-v.ndjson.gz', url].entries()) {
        const src = await resolveDumpSource(source);
        expect(src.legacy).toBe(false);
        const target = join(tmp, `vercel-${i}.db`);
        const result = await restore({ openInput: src.openInput, target: await targetFactory(`file:${target}`), confirm: true });
        expect(result.verified).toBe(true);
        expect(diffDumps(dumpDb(smallDb), dumpDb(target))).toEqual([]);
      }
      // A url of another store is not ours: not found, and the token never leaves for it.
      await expect(resolveDumpSource('https://otherstore.private.blob.vercel-storage.com/backups/backup-v.ndjson.gz')).rejects.toThrow(
        /does not exist in the Blob store/,
      );
    } finally {
      await unroute();
    }
  });

  it('a blob replaced between the two passes is refused rather than read as another dump', async () => {
    const unroute = routeBlobHostsTo(server());
    try {
      await backup({ url: `file:${smallDb}` }, blobSink('backups/backup-w.ndjson.gz', { token: TOKEN }));
      const src = await resolveDumpSource('backups/backup-w.ndjson.gz');
      await put('backups/backup-w.ndjson.gz', 'replaced', { access: 'private', token: TOKEN, allowOverwrite: true });
      const err = await src.openInput().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BackupError);
      expect((err as BackupError).code).toBe('CORRUPT');
      expect((err as Error).message).toMatch(/changed in the Blob store/);
    } finally {
      await unroute();
    }
  });
});
