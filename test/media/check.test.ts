/**
 * media-check against the Blob stand-in with the real @vercel/blob client: the CLI as an operator runs it (a child
 * process), inventories from a better-sqlite3 database and from a dump written by backup().
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { BlobServiceRateLimited, del, head, put } from '@vercel/blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { checkMedia } from '../../src/media/check.js';
import { dbInventory } from '../../src/media/inventory.js';
import { DEFAULT_MEDIA_COLUMNS } from '../../src/media/model.js';
import { fileSink } from '../../src/sink/file.js';
import { applyBlobEnv, withBlobEnv } from '../support/blob-env.js';
import { lastJson, runScript } from '../support/scripts.js';
import { startBlobServer, type BlobServer } from '../support/blob-server.js';

const TOKEN = 'vercel_blob_rw_checkstore_s3cr3t';

const cli = (script: string, args: string[], env: Record<string, string | undefined>) =>
  runScript(script.replace(/\.ts$/, ''), args, { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined, ...env });

let tmp: string;
let server: BlobServer;
let restoreEnv: () => void;
let dbPath: string;
let dumpPath: string;
let env: Record<string, string | undefined>;

/** 30 objects; `gone-*` rows point at objects never stored, `m-7` records the wrong size. */
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'media-check-'));
  server = await startBlobServer({ dir: join(tmp, 'store'), token: TOKEN });
  restoreEnv = applyBlobEnv(server);
  dbPath = join(tmp, 'app.db');
  const db = new Database(dbPath);
  db.exec(`
    CREATE TABLE "MediaAsset" ("id" TEXT NOT NULL PRIMARY KEY, "url" TEXT NOT NULL, "blobPathname" TEXT,
      "contentType" TEXT, "size" INTEGER, "thumb" BLOB);
    CREATE TABLE "Post" ("id" INTEGER PRIMARY KEY, "title" TEXT, "mediaId" TEXT);`);
  const ins = db.prepare('INSERT INTO MediaAsset VALUES (?, ?, ?, ?, ?, ?)');
  for (let i = 0; i < 30; i++) {
    const body = `object number ${i}`;
    const r = await put(`media/${i % 3}/obj-${i}.txt`, body, { access: 'public' });
    ins.run(`m-${i}`, r.url, r.pathname, 'text/plain', i === 7 ? 9999 : Buffer.byteLength(body), Buffer.from([i]));
  }
  for (const name of ['gone-a', 'gone-b']) {
    ins.run(name, `${server.origin}/store/media/${name}.png`, `media/${name}.png`, 'image/png', 10, null);
  }
  db.prepare('INSERT INTO Post VALUES (1, ?, ?)').run('hello', 'm-1');
  db.close();
  dumpPath = join(tmp, 'app.ndjson.gz');
  await backup({ url: `file:${dbPath}` }, fileSink(dumpPath));
  env = { ...withBlobEnv(server), TURSO_DATABASE_URL: `file:${dbPath}` };
});

afterAll(async () => {
  restoreEnv?.();
  await server?.close();
  await rm(tmp, { recursive: true, force: true });
});

const EXPECTED_MISSING = [
  { id: 'gone-a', pathname: 'media/gone-a.png', url: expect.stringContaining('/store/media/gone-a.png') },
  { id: 'gone-b', pathname: 'media/gone-b.png', url: expect.stringContaining('/store/media/gone-b.png') },
];
const byId = <T extends { id: unknown }>(xs: T[]) => [...xs].sort((a, b) => String(a.id).localeCompare(String(b.id)));

describe('media-check', () => {
  it('finds missing and mismatched objects from the database', async () => {
    const r = await cli('media-check.ts', ['--json'], env);
    expect(r.code).toBe(3); // missing objects: the check found problems
    const out = lastJson(r.stdout);
    expect(out.checked).toBe(32);
    expect(byId(out.missing)).toEqual(EXPECTED_MISSING);
    expect(out.mismatched).toEqual([{ id: 'm-7', pathname: 'media/1/obj-7.txt', expected: 9999, actual: Buffer.byteLength('object number 7') }]);
    // --json keeps stdout to the one JSON line; the human summary and list go to stderr.
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toContain('missing: id=gone-a pathname=media/gone-a.png');
    expect(r.stderr).toContain('2 missing, 1 size mismatch');
  });

  it('finds them from a dump, without any database', async () => {
    const r = await cli('media-check.ts', [dumpPath, '--json', '--concurrency', '4'], { ...withBlobEnv(server) });
    expect(r.code).toBe(3);
    const out = lastJson(r.stdout);
    expect(out.checked).toBe(32);
    expect(byId(out.missing)).toEqual(EXPECTED_MISSING);
    expect(out.mismatched.map((m: { id: string }) => m.id)).toEqual(['m-7']);
  });

  it('finds them from a dump stored in Blob, given its pathname', async () => {
    await put('backups/app.ndjson.gz', readFileSync(dumpPath), { access: 'private' });
    const r = await cli('media-check.ts', ['backups/app.ndjson.gz', '--json'], { ...withBlobEnv(server) });
    expect(r.code).toBe(3);
    const out = lastJson(r.stdout);
    expect(out.checked).toBe(32);
    expect(byId(out.missing)).toEqual(EXPECTED_MISSING);
    await del('backups/app.ndjson.gz');
  });

  it('reads another table of the dump when --media-table names it', async () => {
    const r = await cli('media-check.ts', [dumpPath, '--json', '--media-table', 'Post', '--url-column', 'title'], { ...withBlobEnv(server) });
    // "hello" is neither a stored pathname nor a url: missing, found through the Post table section.
    expect(r.code).toBe(3);
    expect(lastJson(r.stdout)).toMatchObject({ checked: 1, missing: [{ id: 1, pathname: null, url: 'hello' }] });
  });

  it('exits 0 when every object is present (human output on stdout)', async () => {
    const clean = join(tmp, 'clean.db');
    const db = new Database(clean);
    db.exec('CREATE TABLE MediaAsset (id INTEGER PRIMARY KEY, url TEXT, blobPathname TEXT, size INTEGER)');
    const h = await head('media/0/obj-0.txt');
    db.prepare('INSERT INTO MediaAsset (url, blobPathname, size) VALUES (?, ?, ?)').run(h.url, h.pathname, h.size);
    // A url-only row: looked up by its url.
    db.prepare('INSERT INTO MediaAsset (url) VALUES (?)').run((await head('media/1/obj-1.txt')).url);
    db.prepare('INSERT INTO MediaAsset (url) VALUES (NULL)').run();
    db.close();
    const r = await cli('media-check.ts', [], { ...env, TURSO_DATABASE_URL: `file:${clean}` });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ok: checked 2 objects .*2 present, 0 missing, 0 size mismatches, 1 rows without url or pathname skipped/m);
  });

  it('a refused token is a failure of the command, not missing objects', async () => {
    const r = await cli('media-check.ts', ['--json'], { ...env, BLOB_READ_WRITE_TOKEN: 'vercel_blob_rw_checkstore_wrongsecret' });
    expect(r.code).toBe(1);
    // --json: stdout is only the failure line (issue 14), never a list of "missing" objects.
    expect(r.stdout.trim().split('\n')).toHaveLength(1);
    expect(lastJson(r.stdout)).toMatchObject({ ok: false, code: 'AUTH' });
    expect(r.stdout).not.toContain('wrongsecret');
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^media-check: error: the Blob store refused BLOB_READ_WRITE_TOKEN/);
    expect(r.stderr).not.toContain('wrongsecret');
    expect(r.stderr).not.toContain('missing');
  });

  it('usage and configuration errors exit 2', async () => {
    expect((await cli('media-check.ts', [], { ...env, BLOB_READ_WRITE_TOKEN: undefined })).code).toBe(2);
    expect((await cli('media-check.ts', [], { ...withBlobEnv(server) })).code).toBe(2); // no TURSO_DATABASE_URL, no DUMP
    expect((await cli('media-check.ts', ['--concurrency', '0'], env)).code).toBe(2);
    expect((await cli('media-check.ts', ['a', 'b'], env)).code).toBe(2);
    const missingTable = await cli('media-check.ts', ['--media-table', 'Nope'], env);
    expect(missingTable.code).toBe(1);
    expect(missingTable.stderr).toContain('no table "Nope"');
  });

  it('retries transient errors (rate limiting) instead of reporting objects missing', async () => {
    const seen = new Set<string>();
    let inFlight = 0;
    let maxInFlight = 0;
    const flaky: typeof head = async (ref, opts) => {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      try {
        if (!seen.has(ref)) {
          seen.add(ref);
          throw new BlobServiceRateLimited(0);
        }
        return await head(ref, opts);
      } finally {
        inFlight--;
      }
    };
    const r = await checkMedia(dbInventory(`file:${dbPath}`, undefined, DEFAULT_MEDIA_COLUMNS, 'test'), {
      token: TOKEN,
      concurrency: 5,
      head: flaky,
      policy: { attempts: 3, baseMs: 1, maxMs: 5 },
    });
    expect(r.checked).toBe(32);
    expect(r.retries).toBe(32);
    expect(r.missing).toHaveLength(2);
    expect(maxInFlight).toBeLessThanOrEqual(5);
  });

  it('sees a deleted object as missing', async () => {
    await del('media/2/obj-29.txt');
    const r = await cli('media-check.ts', ['--json'], env);
    expect(
      lastJson(r.stdout)
        .missing.map((m: { id: string }) => m.id)
        .sort(),
    ).toEqual(['gone-a', 'gone-b', 'm-29']);
  });
});
