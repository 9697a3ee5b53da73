/**
 * A remote (Hrana over HTTP) source streaming into a slow Blob store: the upload window holds the database reader
 * back for longer than the server keeps an idle stream, so the read snapshot must be kept alive meanwhile.
 */
import { join } from 'node:path';
import { head } from '@vercel/blob';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { remoteTuning, resetRemoteTuning } from '../../src/db/hrana/config.js';
import { blobSink } from '../../src/sink/blob.js';
import { fileSink } from '../../src/sink/file.js';
import { tempDirs } from '../support/dumps.js';
import { startHranaServer } from '../support/hrana-server.js';
import { buildBlobDb, sha256, TOKEN, useBlobStore } from './helpers.js';

const dirs = tempDirs('tb-blob-remote-');
let tmp: string;
let db: string;
beforeAll(() => {
  tmp = dirs.make();
  db = join(tmp, 'remote.db');
  buildBlobDb(db, 1);
});
afterAll(() => dirs.cleanup());
afterEach(() => resetRemoteTuning());

describe('remote source → slow Blob upload', () => {
  // Every Blob request takes 1.6 s; the Hrana stand-in drops a stream idle for 1 s; the client keeps it alive every
  // 100 ms. (The margins are wide so that a loaded machine, whose timers run late, tests the same thing.)
  useBlobStore(() => tmp, { latencyMs: 1600 });

  it('the snapshot survives upload backpressure longer than the stream idle timeout', async () => {
    const hrana = await startHranaServer({ db, token: 'hrana-token', streamIdleMs: 1000 });
    try {
      remoteTuning.keepAliveMs = 100;
      // Small pages and parts, one part in flight: the reader is held back ~1.6 s per part, many times over.
      const r = await backup(
        { url: hrana.url, authToken: 'hrana-token', pages: { maxRows: 1, targetBytes: 64 * 1024, firstRows: 1 }, gzip: { blockBytes: 128 * 1024 } },
        blobSink('backups/backup-remote.ndjson.gz', { token: TOKEN, partSize: 256 * 1024, concurrency: 1 }),
      );
      const local = await backup({ url: `file:${db}` }, fileSink(join(tmp, 'local.ndjson.gz')));
      // Same rows, same checksums as a local read of the same file.
      expect(r.manifest!.tables).toEqual(local.manifest!.tables);
      const meta = await head('backups/backup-remote.ndjson.gz', { token: TOKEN });
      const bytes = Buffer.from(await (await fetch(meta.url, { headers: { authorization: `Bearer ${TOKEN}` } })).arrayBuffer());
      expect(sha256(bytes)).toBe(r.sha256);
      expect(meta.size).toBeGreaterThan(4 * 256 * 1024); // several stalls
    } finally {
      await hrana.close();
    }
  });
});
