/**
 * media-mirror against the Blob stand-in with the real client: download (pathname layout, resumable, private blobs,
 * escaping pathnames refused), and the way back: objects deleted from the store are re-uploaded from the mirror and
 * relinked, after which media-check passes again, in the same store and after a move to another store.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, truncate, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { del, head, put } from '@vercel/blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mirrorMedia, PRIVATE_LIST } from '../../src/media/mirror.js';
import type { Inventory, MediaRow } from '../../src/media/model.js';
import { applyBlobEnv, routeBlobHostsTo, withBlobEnv } from '../support/blob-env.js';
import { lastJson, runScript } from '../support/scripts.js';
import { startBlobServer, type BlobServer } from '../support/blob-server.js';

const TOKEN_A = 'vercel_blob_rw_storea_s3cr3t';
const TOKEN_B = 'vercel_blob_rw_storeb_s3cr3t';

const cli = (script: string, args: string[], env: Record<string, string | undefined>) =>
  runScript(script.replace(/\.ts$/, ''), args, { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined, ...env });

/** Deterministic bodies of assorted sizes (one over the 8 MiB buffered-put limit goes multipart on re-upload). */
const body = (i: number) => {
  const size = i === 0 ? 9 * 1024 * 1024 + 17 : 1 + ((i * 7919) % 50_000);
  const b = Buffer.alloc(size);
  for (let k = 0; k < size; k++) b[k] = (k * 31 + i) & 0xff;
  return b;
};

const N = 24;
const pathOf = (i: number) => `media/${i % 4}/sub dir/file-${i}.bin`;
const isPrivate = (i: number) => i % 5 === 4;

let tmp: string;
let serverA: BlobServer;
let restoreEnv: () => void;
let dbPath: string;
let envA: Record<string, string | undefined>;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'media-mirror-'));
  serverA = await startBlobServer({ dir: join(tmp, 'storeA'), token: TOKEN_A });
  restoreEnv = applyBlobEnv(serverA);
  dbPath = join(tmp, 'app.db');
  const db = new Database(dbPath);
  db.exec(
    'CREATE TABLE "MediaAsset" ("id" TEXT NOT NULL PRIMARY KEY, "url" TEXT NOT NULL, "blobPathname" TEXT, "contentType" TEXT, "size" INTEGER, "note" TEXT)',
  );
  const ins = db.prepare('INSERT INTO MediaAsset VALUES (?, ?, ?, ?, ?, ?)');
  for (let i = 0; i < N; i++) {
    const r = await put(pathOf(i), body(i), { access: isPrivate(i) ? 'private' : 'public', contentType: 'application/x-test' });
    ins.run(`id-${String(i).padStart(2, '0')}`, r.url, r.pathname, 'application/x-test', body(i).length, `note ${i}`);
  }
  db.close();
  envA = { ...withBlobEnv(serverA), TURSO_DATABASE_URL: `file:${dbPath}` };
}, 120_000);

afterAll(async () => {
  restoreEnv?.();
  await serverA?.close();
  await rm(tmp, { recursive: true, force: true });
});

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile() && e.name !== PRIVATE_LIST) out.push(join(e.parentPath, e.name).slice(dir.length + 1));
  }
  return out.sort();
}

describe('media-mirror DIR', () => {
  it('downloads every object in pathname layout, private ones included, then resumes', async () => {
    const dir = join(tmp, 'mirror1');
    const r = await cli('media-mirror.ts', [dir, '--concurrency', '6'], envA);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^ok: mirrored ${N} objects .* ${N} downloaded`, 'm'));
    expect(await filesUnder(dir)).toEqual(Array.from({ length: N }, (_, i) => pathOf(i)).sort());
    for (let i = 0; i < N; i++) expect(readFileSync(join(dir, pathOf(i))).equals(body(i)), pathOf(i)).toBe(true);
    // The private ones are recorded so that --upload-from puts them back private.
    const priv = readFileSync(join(dir, PRIVATE_LIST), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .sort();
    expect(priv).toEqual(
      Array.from({ length: N }, (_, i) => i)
        .filter(isPrivate)
        .map(pathOf)
        .sort(),
    );

    // Rerun: nothing downloaded.
    const downloads = serverA.stats.requests.download;
    const again = await cli('media-mirror.ts', [dir], envA);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`0 downloaded (0 B), ${N} already there`);
    expect(serverA.stats.requests.download).toBe(downloads);

    // A lost file and a truncated one (an interrupted copy from another tool) are fetched again, nothing else.
    await unlink(join(dir, pathOf(3)));
    await truncate(join(dir, pathOf(4)), 10);
    const resume = await cli('media-mirror.ts', [dir], envA);
    expect(resume.code).toBe(0);
    expect(resume.stdout).toContain(`2 downloaded`);
    expect(readFileSync(join(dir, pathOf(4))).equals(body(4))).toBe(true);
    expect((await filesUnder(dir)).filter((f) => f.includes('.media-mirror-'))).toEqual([]);
  });

  it('refuses pathnames that would escape DIR, and reports objects missing in the store', async () => {
    const db = join(tmp, 'evil.db');
    const d = new Database(db);
    d.exec('CREATE TABLE MediaAsset (id INTEGER PRIMARY KEY, url TEXT, blobPathname TEXT, size INTEGER)');
    d.prepare('INSERT INTO MediaAsset (url, blobPathname, size) VALUES (?, ?, ?)').run('https://x/evil', '../../evil.txt', 3);
    d.prepare('INSERT INTO MediaAsset (url, blobPathname) VALUES (?, ?)').run('https://x/gone', 'media/gone.txt');
    const ok = await head(pathOf(1));
    d.prepare('INSERT INTO MediaAsset (url, blobPathname) VALUES (?, ?)').run(ok.url, ok.pathname);
    d.close();
    const dir = join(tmp, 'mirror-evil', 'inner');
    const r = await cli('media-mirror.ts', [dir], { ...envA, TURSO_DATABASE_URL: `file:${db}` });
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/INCOMPLETE: mirrored 3 objects .* 1 downloaded .* 1 missing in the store, 1 failed/);
    expect(r.stderr).toMatch(/failed: id=1 .*escape/);
    expect(r.stderr).toMatch(/missing: id=2 media\/gone.txt/);
    expect(existsSync(join(tmp, 'evil.txt'))).toBe(false);
    expect(await filesUnder(join(tmp, 'mirror-evil'))).toEqual([`inner/${pathOf(1)}`]);
  });

  it('fetches private blobs with the token from vercel-style urls (in process, hosts routed to the stand-in)', async () => {
    const server = await startBlobServer({ dir: join(tmp, 'storeV'), token: 'vercel_blob_rw_storev_s3cr3t', urlStyle: 'vercel' });
    const restore = applyBlobEnv(server);
    const unroute = routeBlobHostsTo(server);
    try {
      const pub = await put('v/pub.txt', 'public bytes', { access: 'public' });
      const priv = await put('v/priv.txt', 'private bytes', { access: 'private' });
      expect(priv.url).toMatch(/^https:\/\/storev\.private\.blob\.vercel-storage\.com\//);
      const rows: MediaRow[] = [pub, priv].map((p, i) => ({ id: i, url: p.url, pathname: null, size: null, contentType: null }));
      const inventory: Inventory = {
        label: 'test',
        rows: async function* () {
          yield* rows;
        },
      };
      const dir = join(tmp, 'mirrorV');
      const r = await mirrorMedia(inventory, dir, { token: server.token });
      expect(r).toMatchObject({ objects: 2, downloaded: 2, missing: [], failed: [] });
      expect(await readFile(join(dir, 'v/priv.txt'), 'utf8')).toBe('private bytes');
      expect(server.stats.denied).toBe(0); // the private host got the token on the first request
    } finally {
      await unroute();
      restore();
      await server.close();
    }
  });

  it('usage errors exit 2', async () => {
    expect((await cli('media-mirror.ts', [], envA)).code).toBe(2);
    expect((await cli('media-mirror.ts', ['d', '--upload-from', 'e'], envA)).code).toBe(2);
    expect((await cli('media-mirror.ts', ['d', '--map-out', 'm.json'], envA)).code).toBe(2);
    expect((await cli('media-mirror.ts', ['--upload-from', 'd', '--access', 'secret'], envA)).code).toBe(2);
  });
});

describe('mirror → loss → --upload-from → relink --map → media-check', () => {
  it('restores the same store after objects were deleted from it', async () => {
    const dir = join(tmp, 'mirror2');
    expect((await cli('media-mirror.ts', [dir], envA)).code).toBe(0);
    const lost = [0, 2, 9, 14, 19]; // 0 is over 8 MiB (multipart); 14 and 19 are private
    await del(lost.map(pathOf));
    const broken = await cli('media-check.ts', ['--json'], envA);
    expect(broken.code).toBe(3); // media-check: missing objects are problems found (exit 3)
    expect(lastJson(broken.stdout).missing).toHaveLength(lost.length);

    const mapFile = join(tmp, 'same-store-map.json');
    const up = await cli('media-mirror.ts', ['--upload-from', dir, '--map-out', mapFile], envA);
    expect(up.code).toBe(0);
    expect(up.stderr).toMatch(new RegExp(`${lost.length} re-uploaded .* ${N - lost.length} already in the store, 0 unavailable, 0 failed; 0 urls changed`));
    // Same store, same pathnames, no random suffix: the urls did not change, so the map is empty.
    expect(JSON.parse(await readFile(mapFile, 'utf8'))).toEqual({});
    const relink = await cli('relink-media.ts', ['--map', mapFile, '--confirm', '--json'], envA);
    expect(lastJson(relink.stdout).changed).toBe(0);

    const fixed = await cli('media-check.ts', ['--json'], envA);
    expect(fixed.code).toBe(0);
    expect(lastJson(fixed.stdout)).toMatchObject({ checked: N, missing: [], mismatched: [] });
    // Bytes came back intact (the large one through multipart).
    for (const i of lost) {
      const h = await head(pathOf(i));
      expect(h.size).toBe(body(i).length);
    }
    const res = await fetch((await head(pathOf(2))).url);
    expect(Buffer.from(await res.arrayBuffer()).equals(body(2))).toBe(true);
  });

  it('moves the media to another store: re-upload all, relink the urls, check passes there', async () => {
    const dir = join(tmp, 'mirror3');
    expect((await cli('media-mirror.ts', [dir], envA)).code).toBe(0);
    const serverB = await startBlobServer({ dir: join(tmp, 'storeB'), token: TOKEN_B });
    try {
      const envB = { ...withBlobEnv(serverB), TURSO_DATABASE_URL: `file:${dbPath}` };
      const before = new Database(dbPath, { readonly: true }).prepare('SELECT * FROM MediaAsset ORDER BY id').all() as Record<string, unknown>[];

      const mapFile = join(tmp, 'move-map.json');
      const up = await cli('media-mirror.ts', ['--upload-from', dir, '--map-out', mapFile, '--concurrency', '8'], envB);
      expect(up.code).toBe(0);
      expect(up.stderr).toContain(`${N} re-uploaded`);
      expect(up.stderr).toContain(`${Array.from({ length: N }, (_, i) => i).filter(isPrivate).length} of them private`);
      const map = JSON.parse(await readFile(mapFile, 'utf8')) as Record<string, string>;
      expect(Object.keys(map)).toHaveLength(N);
      expect(up.stdout.trim().split('\n')).toHaveLength(N); // one `old → new` line per object on stdout
      for (const [from, to] of Object.entries(map)) {
        expect(from.startsWith(serverA.origin)).toBe(true);
        expect(to.startsWith(serverB.origin)).toBe(true);
      }

      const dry = await cli('relink-media.ts', ['--map', mapFile, '--json'], envB);
      expect(lastJson(dry.stdout)).toMatchObject({ mode: 'dry-run', matched: N, changed: 0 });
      const relink = await cli('relink-media.ts', ['--map', mapFile, '--confirm', '--json'], envB);
      expect(lastJson(relink.stdout)).toMatchObject({ changed: N, pathnames: 0 });
      const again = await cli('relink-media.ts', ['--map', mapFile, '--confirm', '--json'], envB);
      expect(lastJson(again.stdout).changed).toBe(0);

      const after = new Database(dbPath, { readonly: true }).prepare('SELECT * FROM MediaAsset ORDER BY id').all() as Record<string, unknown>[];
      after.forEach((row, i) => {
        expect({ ...row, url: null }).toEqual({ ...before[i], url: null });
        expect(row.url).toBe(map[before[i]!.url as string]);
      });
      const check = await cli('media-check.ts', ['--json'], envB);
      expect(check.code).toBe(0);
      expect(lastJson(check.stdout)).toMatchObject({ checked: N, missing: [], mismatched: [] });
      const res = await fetch(after[5]!.url as string);
      expect(Buffer.from(await res.arrayBuffer()).equals(body(5))).toBe(true);
      // Private objects stayed private in the new store: no bytes without the token.
      expect((await fetch(after[4]!.url as string)).status).toBe(403);
      const authed = await fetch(after[4]!.url as string, { headers: { authorization: `Bearer ${TOKEN_B}` } });
      expect(Buffer.from(await authed.arrayBuffer()).equals(body(4))).toBe(true);

      // The reverse map file works as CSV too (relink back to store A).
      const csv = join(tmp, 'back.csv');
      await writeFile(
        csv,
        Object.entries(map)
          .map(([a, b]) => `${b},${a}`)
          .join('\n'),
      );
      const back = await cli('relink-media.ts', ['--map', csv, '--confirm', '--json'], envA);
      expect(lastJson(back.stdout).changed).toBe(N);
    } finally {
      await serverB.close();
    }
  });
});
