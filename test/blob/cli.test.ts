/**
 * The operator's commands against the stand-in: backup-turso --upload / --write --upload, restore-turso from a
 * blob pathname and a blob URL, list-backups and prune-backups (dry run and --confirm).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { head, list, put } from '@vercel/blob';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDirs } from '../support/dumps.js';
import { diffDumps, dumpDb } from '../support/nasty-db.js';
import { blobEnv, buildBlobDb, buildSmallDb, lastJson, MiB, runScript, sha256, TOKEN, useBlobStore } from './helpers.js';

const dirs = tempDirs('tb-blob-cli-');
let tmp: string;
let bigDb: string;
let smallDb: string;
beforeAll(() => {
  tmp = dirs.make();
  bigDb = join(tmp, 'big.db');
  smallDb = join(tmp, 'small.db');
  buildBlobDb(bigDb, 20);
  buildSmallDb(smallDb, 300);
});
afterAll(() => dirs.cleanup());

async function download(url: string): Promise<Buffer> {
  const res = await fetch(url, { headers: { authorization: `Bearer ${TOKEN}` } });
  expect(res.status).toBe(200);
  return Buffer.from(await res.arrayBuffer());
}

describe('backup-turso --upload', () => {
  const server = useBlobStore(() => tmp);

  it('--write --upload: one pass, the local file and the private blob are byte-identical, multipart', async () => {
    const out = join(tmp, 'w1', 'backup-one.ndjson.gz');
    const r = await runScript('backup-turso', ['--write', '--upload', '--out', out, '--json'], { ...blobEnv(server()), TURSO_DATABASE_URL: `file:${bigDb}` });
    expect(r.stderr).not.toContain(TOKEN);
    expect(r.code).toBe(0);
    const summary = lastJson<{ file: string; bytes: number; sha256: string; blob: { pathname: string; url: string; bytes: number } }>(r.stdout);
    expect(summary.file).toBe(out);
    expect(summary.blob).toEqual({ pathname: 'backups/backup-one.ndjson.gz', url: expect.any(String), bytes: summary.bytes });
    expect(summary.blob.url).not.toContain(TOKEN);
    expect(r.stdout).not.toContain(TOKEN);

    const local = readFileSync(out);
    expect(local.length).toBeGreaterThan(16 * MiB);
    const meta = await head(summary.blob.pathname, { token: TOKEN });
    expect(meta.url).toBe(summary.blob.url);
    const remote = await download(meta.url);
    expect(sha256(remote)).toBe(sha256(local));
    expect(sha256(remote)).toBe(summary.sha256);
    // One pass over the database, a real multipart upload of 8 MiB parts.
    const s = server().stats;
    expect(s.requests.mpuCreate).toBe(1);
    expect(s.requests.mpuUpload).toBe(Math.ceil(local.length / (8 * MiB)));
    expect(s.requests.mpuComplete).toBe(1);
    expect((await fetch(meta.url)).status).toBe(403); // private
    // The manifests agree.
    const localManifest = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8'));
    const remoteManifest = JSON.parse((await download((await head(`${summary.blob.pathname}.manifest.json`, { token: TOKEN })).url)).toString());
    expect(remoteManifest).toEqual(localManifest);
  });

  it('--upload alone writes no local file; the default pathname is backups/backup-<UTC timestamp>.ndjson.gz', async () => {
    const r = await runScript('backup-turso', ['--upload', '--json'], { ...blobEnv(server()), TURSO_DATABASE_URL: `file:${smallDb}` });
    expect(r.code).toBe(0);
    const summary = lastJson<{ file: null; blob: { pathname: string } }>(r.stdout);
    expect(summary.file).toBeNull();
    expect(summary.blob.pathname).toMatch(/^backups\/backup-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z\.ndjson\.gz$/);
    expect(existsSync(join(tmp, summary.blob.pathname))).toBe(false);
    const names = (await list({ prefix: 'backups/', token: TOKEN })).blobs.map((b) => b.pathname);
    expect(names).toEqual([summary.blob.pathname, `${summary.blob.pathname}.manifest.json`]);
  });

  it('--upload without BLOB_READ_WRITE_TOKEN: CONFIG error naming it, exit 2, nothing read or sent', async () => {
    const r = await runScript('backup-turso', ['--upload'], { ...blobEnv(server()), BLOB_READ_WRITE_TOKEN: undefined, TURSO_DATABASE_URL: `file:${smallDb}` });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/BLOB_READ_WRITE_TOKEN is not set/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(Object.values(server().stats.requests).reduce((a, b) => a + b, 0)).toBe(0);
  });

  it('without --write/--upload it stays a dry run: the store is not touched', async () => {
    const r = await runScript('backup-turso', ['--json'], { ...blobEnv(server()), TURSO_DATABASE_URL: `file:${smallDb}` });
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ mode: 'dry-run', blob: null });
    expect(Object.values(server().stats.requests).reduce((a, b) => a + b, 0)).toBe(0);
  });
});

describe('restore-turso from the Blob store', () => {
  const server = useBlobStore(() => tmp);

  it('restores exactly from a pathname and from a URL; a missing blob is NOT_FOUND', async () => {
    const up = await runScript('backup-turso', ['--upload', '--json'], { ...blobEnv(server()), TURSO_DATABASE_URL: `file:${smallDb}` });
    expect(up.code).toBe(0);
    const { blob } = lastJson<{ blob: { pathname: string; url: string } }>(up.stdout);
    const source = dumpDb(smallDb);

    const t1 = join(tmp, 'restored-by-pathname.db');
    const a = await runScript('restore-turso', [blob.pathname, '--confirm', '--json'], { ...blobEnv(server()), TURSO_DATABASE_URL: `file:${t1}` });
    expect(a.stderr).not.toMatch(/error/);
    expect(a.code).toBe(0);
    expect(lastJson(a.stdout)).toMatchObject({ mode: 'restore', verified: true });
    expect(diffDumps(source, dumpDb(t1))).toEqual([]);

    const t2 = join(tmp, 'restored-by-url.db');
    const b = await runScript('restore-turso', [blob.url, '--confirm', '--json'], { ...blobEnv(server()), TURSO_DATABASE_URL: `file:${t2}` });
    expect(b.code).toBe(0);
    expect(diffDumps(source, dumpDb(t2))).toEqual([]);
    // Each restore reads the blob twice (verify pass, load pass) plus a sniff of its first bytes.
    expect(server().stats.requests.download).toBeGreaterThanOrEqual(6);

    const c = await runScript('restore-turso', ['backups/backup-nope.ndjson.gz'], {
      ...blobEnv(server()),
      TURSO_DATABASE_URL: `file:${join(tmp, 'never.db')}`,
    });
    expect(c.code).toBe(1);
    expect(c.stderr.trim()).toBe('restore-turso: error: backups/backup-nope.ndjson.gz does not exist in the Blob store');
    expect(existsSync(join(tmp, 'never.db'))).toBe(false);

    const d = await runScript('restore-turso', [blob.pathname], {
      ...blobEnv(server()),
      BLOB_READ_WRITE_TOKEN: 'vercel_blob_rw_teststore_nottheone',
      TURSO_DATABASE_URL: `file:${join(tmp, 'never.db')}`,
    });
    expect(d.code).toBe(1);
    expect(d.stderr).toMatch(/access denied/);
    expect(d.stderr).not.toContain('nottheone');
  });
});

/** A fake complete backup: a dump blob plus its manifest with the given createdAt. */
async function fakeBackup(createdAt: string, opts: { manifest?: boolean } = {}) {
  const pathname = `backups/backup-${createdAt.replaceAll(':', '-')}.ndjson.gz`;
  const body = Buffer.from(`dump of ${createdAt}`);
  await put(pathname, body, { access: 'private', token: TOKEN, contentType: 'application/gzip' });
  if (opts.manifest !== false) {
    const manifest = {
      format: 'turso-backup',
      version: 1,
      createdAt,
      tables: { a: { rows: 1, sha256: 'x' } },
      totalRows: 1,
      file: { name: pathname.slice(8), bytes: body.length, sha256: sha256(body), encrypted: false },
    };
    await put(`${pathname}.manifest.json`, JSON.stringify(manifest), { access: 'private', token: TOKEN, contentType: 'application/json' });
  }
  return pathname;
}

describe('list-backups and prune-backups', () => {
  const server = useBlobStore(() => tmp);

  it('lists complete and incomplete backups, newest first, with manifest facts', async () => {
    const up = await runScript('backup-turso', ['--upload', '--json'], { ...blobEnv(server()), TURSO_DATABASE_URL: `file:${smallDb}` });
    expect(up.code).toBe(0);
    const real = lastJson<{ blob: { pathname: string } }>(up.stdout).blob.pathname;
    const old = await fakeBackup('2026-01-01T02:00:00.000Z');
    const partial = await fakeBackup('2026-01-02T02:00:00.000Z', { manifest: false });

    const r = await runScript('list-backups', ['--json'], blobEnv(server()));
    expect(r.code).toBe(0);
    const listing = lastJson<{ backups: { pathname: string; complete: boolean; tables: number | null; rows: number | null; size: number }[] }>(r.stdout);
    // An incomplete dump is dated by its upload (it has no manifest): here, after the real backup's snapshot.
    expect(listing.backups.map((b) => b.pathname)).toEqual([partial, real, old]);
    expect(listing.backups.map((b) => b.complete)).toEqual([false, true, true]);
    expect(listing.backups[1]).toMatchObject({ tables: 1, rows: 300 });
    expect(r.stderr).toMatch(/INCOMPLETE/);

    const human = await runScript('list-backups', [], blobEnv(server()));
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/3 backup\(s\) under backups\/: 2 complete, 1 incomplete/);
  });

  it('prune: dry run lists, --confirm deletes dumps with their manifests, the newest complete backup stays', async () => {
    // Three days with two backups each, two older weeks, one older month.
    const times = [
      '2026-03-10T02:00:00.000Z',
      '2026-03-10T14:00:00.000Z',
      '2026-03-09T02:00:00.000Z',
      '2026-03-09T14:00:00.000Z',
      '2026-03-08T02:00:00.000Z',
      '2026-03-08T14:00:00.000Z',
      '2026-03-01T02:00:00.000Z',
      '2026-02-22T02:00:00.000Z',
      '2026-01-15T02:00:00.000Z',
    ];
    for (const t of times) await fakeBackup(t);
    const before = (await list({ prefix: 'backups/', token: TOKEN })).blobs.length;
    expect(before).toBe(18);

    const dry = await runScript('prune-backups', ['--keep-daily', '2', '--keep-weekly', '2', '--json'], blobEnv(server()));
    expect(dry.code).toBe(0);
    const plan = lastJson<{ mode: string; keep: { pathname: string }[]; remove: { pathname: string; pathnames: string[] }[]; deleted: string[] }>(dry.stdout);
    expect(plan.mode).toBe('dry-run');
    expect(plan.deleted).toEqual([]);
    const kept = plan.keep.map((k) => k.pathname.slice('backups/backup-'.length, 'backups/backup-'.length + 13));
    // daily 2: newest of 03-10 and 03-09; weekly 2: newest of 2026-W11 (03-10) and 2026-W10 (03-08).
    expect(kept.sort()).toEqual(['2026-03-08T14', '2026-03-09T14', '2026-03-10T14']);
    expect(plan.remove).toHaveLength(6);
    for (const d of plan.remove) expect(d.pathnames).toEqual([d.pathname, `${d.pathname}.manifest.json`]);
    expect((await list({ prefix: 'backups/', token: TOKEN })).blobs.length).toBe(18);
    expect(dry.stderr).toMatch(/would delete/);

    const real = await runScript('prune-backups', ['--keep-daily', '2', '--keep-weekly', '2', '--confirm', '--json'], blobEnv(server()));
    expect(real.code).toBe(0);
    expect(lastJson<{ deleted: string[] }>(real.stdout).deleted).toHaveLength(12);
    const left = (await list({ prefix: 'backups/', token: TOKEN })).blobs.map((b) => b.pathname);
    expect(left).toHaveLength(6);
    expect(left.filter((p) => p.endsWith('.manifest.json'))).toHaveLength(3);

    // A policy of zeros still keeps the newest complete backup.
    const zero = await runScript('prune-backups', ['--keep-daily', '0', '--confirm', '--json'], blobEnv(server()));
    expect(zero.code).toBe(0);
    const after = (await list({ prefix: 'backups/', token: TOKEN })).blobs.map((b) => b.pathname);
    expect(after).toEqual(['backups/backup-2026-03-10T14-00-00.000Z.ndjson.gz', 'backups/backup-2026-03-10T14-00-00.000Z.ndjson.gz.manifest.json']);
  });

  it('prune --keep-daily 1 with a backup dated a year ahead: the newest real backup stays, the future one is left alone', async () => {
    const day = 86_400_000;
    const real = [await fakeBackup(new Date(Date.now() - 2 * day).toISOString()), await fakeBackup(new Date(Date.now() - 60_000).toISOString())];
    const ahead = await fakeBackup(new Date(Date.now() + 365 * day).toISOString()); // a host whose clock ran ahead
    const r = await runScript('prune-backups', ['--keep-daily', '1', '--confirm', '--json'], blobEnv(server()));
    expect(r.code, r.stderr).toBe(0);
    const plan = lastJson<{ keep: { pathname: string; reasons: string[] }[]; deleted: string[] }>(r.stdout);
    expect(plan.deleted).toEqual([real[0], `${real[0]}.manifest.json`]);
    expect(plan.keep.find((k) => k.pathname === real[1])?.reasons[0]).toBe('newest complete backup');
    expect(plan.keep.find((k) => k.pathname === ahead)?.reasons[0]).toMatch(/^dated in the future .*a clock ahead/);
  });

  it('prune refuses to run without a --keep-* rule', async () => {
    const r = await runScript('prune-backups', ['--confirm'], blobEnv(server()));
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--keep-daily/);
  });
});
