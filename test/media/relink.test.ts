/**
 * relink-media as an operator runs it: dry run changes nothing, --confirm changes exactly the matching rows (whole
 * tables compared before/after), a second run changes none; local (better-sqlite3) and remote (@libsql/client
 * against the Hrana stand-in) databases.
 */
import { lastJson, runScript } from '../support/scripts.js';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startHranaServer } from '../support/hrana-server.js';

const OLD = 'https://oldstore.public.blob.vercel-storage.com/';
const NEW = 'https://newstore.public.blob.vercel-storage.com/';

const cli = (script: string, args: string[], env: Record<string, string | undefined>) =>
  runScript(script.replace(/\.ts$/, ''), args, { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined, ...env });

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'media-relink-'));
});
afterAll(() => rm(tmp, { recursive: true, force: true }));

type Row = Record<string, unknown>;

/** 12 rows: 0-5 under OLD (pathname = path), 6 under OLD with a pathname that does not follow the url, 7 under
 * OLD without pathname, 8-10 elsewhere, 11 with a NULL url. Plus an unrelated table. */
function buildDb(path: string): void {
  const db = new Database(path);
  db.exec(`
    CREATE TABLE "MediaAsset" ("id" TEXT NOT NULL PRIMARY KEY, "url" TEXT, "blobPathname" TEXT, "contentType" TEXT,
      "size" INTEGER, "alt" TEXT, "data" BLOB, "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP);
    CREATE TABLE "Post" ("id" INTEGER PRIMARY KEY, "cover" TEXT);`);
  const ins = db.prepare('INSERT INTO MediaAsset (id, url, blobPathname, contentType, size, alt, data) VALUES (?, ?, ?, ?, ?, ?, ?)');
  for (let i = 0; i < 6; i++) ins.run(`a${i}`, `${OLD}media/img-${i}.png`, `media/img-${i}.png`, 'image/png', 100 + i, `alt ${i}`, Buffer.from([i, 0, 255]));
  ins.run('b6', `${OLD}media/odd.png`, 'legacy/odd.png', 'image/png', 7, null, null);
  ins.run('b7', `${OLD}media/nopath.png`, null, 'image/png', 8, null, null);
  for (let i = 8; i < 11; i++) ins.run(`c${i}`, `https://cdn.example.com/media/img-${i}.png`, `media/img-${i}.png`, 'image/png', i, null, null);
  ins.run('d11', null, 'media/orphan.png', null, null, null, null);
  db.prepare('INSERT INTO Post VALUES (1, ?)').run(`${OLD}media/img-0.png`);
  db.close();
}

function snapshot(path: string): { media: Row[]; post: Row[]; sha: string } {
  const db = new Database(path, { readonly: true });
  const media = db.prepare('SELECT rowid AS _rowid, * FROM MediaAsset ORDER BY rowid').all() as Row[];
  const post = db.prepare('SELECT * FROM Post ORDER BY id').all() as Row[];
  db.close();
  return { media, post, sha: createHash('sha256').update(readFileSync(path)).digest('hex') };
}

/** Rows that differ between two snapshots, with the columns that differ. */
function diff(before: Row[], after: Row[]): Record<string, string[]> {
  expect(after).toHaveLength(before.length);
  const out: Record<string, string[]> = {};
  before.forEach((b, i) => {
    const a = after[i]!;
    const cols = Object.keys(b).filter((k) => JSON.stringify(b[k]) !== JSON.stringify(a[k]));
    if (cols.length) out[String(b.id)] = cols;
  });
  return out;
}

describe('relink-media (local database)', () => {
  let db: string;
  let env: Record<string, string>;
  beforeEach(async () => {
    db = join(tmp, `app-${Math.random().toString(16).slice(2)}.db`);
    buildDb(db);
    env = { TURSO_DATABASE_URL: `file:${db}` };
  });

  it('dry run reports, changes nothing; --confirm changes exactly the matching rows; a second run changes none', async () => {
    const before = snapshot(db);
    const dry = await cli('relink-media.ts', ['--from', OLD, '--to', NEW, '--json'], env);
    expect(dry.code).toBe(0);
    const d = lastJson(dry.stdout);
    expect(d).toMatchObject({ mode: 'dry-run', matched: 8, changed: 0, pathnames: 0 });
    expect(d.examples[0]).toEqual({ id: 'a0', url: { old: `${OLD}media/img-0.png`, new: `${NEW}media/img-0.png` } });
    expect(dry.stderr).toContain('would be relinked');
    expect(snapshot(db)).toEqual(before);

    const run = await cli('relink-media.ts', ['--from', OLD, '--to', NEW, '--confirm', '--json'], env);
    expect(run.code).toBe(0);
    expect(lastJson(run.stdout)).toMatchObject({ mode: 'confirm', matched: 8, changed: 8 });
    const after = snapshot(db);
    expect(after.post).toEqual(before.post);
    const changed = diff(before.media, after.media);
    expect(Object.keys(changed).sort()).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'b6', 'b7']);
    for (const cols of Object.values(changed)) expect(cols).toEqual(['url']);
    expect(after.media.find((r) => r.id === 'a3')!.url).toBe(`${NEW}media/img-3.png`);

    const again = await cli('relink-media.ts', ['--from', OLD, '--to', NEW, '--confirm', '--json'], env);
    expect(lastJson(again.stdout)).toMatchObject({ matched: 0, changed: 0 });
    expect(snapshot(db).media).toEqual(after.media);
  });

  it('moves the pathname with a prefix that reaches into it, only where it followed the url', async () => {
    const before = snapshot(db);
    const r = await cli('relink-media.ts', ['--from', `${OLD}media/`, '--to', `${NEW}assets/2024/`, '--confirm'], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/relinked 8 MediaAsset rows .*\(6 with their blobPathname too\)/);
    const after = snapshot(db);
    const changed = diff(before.media, after.media);
    expect(changed.a2).toEqual(['url', 'blobPathname']);
    expect(changed.b6).toEqual(['url']); // legacy/odd.png does not follow its url: untouched
    expect(changed.b7).toEqual(['url']);
    expect(after.media.find((x) => x.id === 'a2')).toMatchObject({ url: `${NEW}assets/2024/img-2.png`, blobPathname: 'assets/2024/img-2.png' });
    const again = await cli('relink-media.ts', ['--from', `${OLD}media/`, '--to', `${NEW}assets/2024/`, '--confirm', '--json'], env);
    expect(lastJson(again.stdout).changed).toBe(0);
  });

  it('--map FILE (CSV or JSON) relinks exactly the listed urls', async () => {
    const csv = join(tmp, 'map.csv');
    await writeFile(
      csv,
      `old,new\n${OLD}media/img-1.png,${NEW}x/one.png\nhttps://cdn.example.com/media/img-9.png,${NEW}media/img-9.png\n${OLD}not-in-db.png,${NEW}z.png\n`,
    );
    const before = snapshot(db);
    const r = await cli('relink-media.ts', ['--map', csv, '--confirm', '--json'], env);
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ changed: 2, pathnames: 1 });
    const after = snapshot(db);
    expect(diff(before.media, after.media)).toEqual({ a1: ['url', 'blobPathname'], c9: ['url'] });
    expect(after.media.find((x) => x.id === 'a1')).toMatchObject({ url: `${NEW}x/one.png`, blobPathname: 'x/one.png' });

    const json = join(tmp, 'map.json');
    await writeFile(json, JSON.stringify({ [`${OLD}media/img-1.png`]: `${NEW}x/one.png`, [`${OLD}media/img-2.png`]: `${NEW}media/img-2.png` }));
    const r2 = await cli('relink-media.ts', ['--map', json, '--confirm', '--json'], env);
    expect(lastJson(r2.stdout)).toMatchObject({ changed: 1 });
  });

  it('refuses a rewrite that is not idempotent, changing nothing', async () => {
    const chain = join(tmp, 'chain.json');
    await writeFile(chain, JSON.stringify({ [`${OLD}media/img-1.png`]: `${OLD}media/img-2.png`, [`${OLD}media/img-2.png`]: `${NEW}two.png` }));
    const before = snapshot(db);
    const r = await cli('relink-media.ts', ['--map', chain, '--confirm'], env);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/not idempotent/);
    expect(snapshot(db)).toEqual(before);
  });

  it('conflicting or incomplete flags are usage errors (exit 2)', async () => {
    const map = join(tmp, 'm.json');
    await writeFile(map, '{}');
    for (const args of [
      ['--map', map, '--from', OLD],
      ['--map', map, '--to', NEW],
      ['--from', OLD],
      ['--to', NEW],
      [],
      ['--from', OLD, '--to', OLD],
      ['--from', '', '--to', NEW],
      ['extra'],
    ]) {
      const r = await cli('relink-media.ts', args, env);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect((await cli('relink-media.ts', ['--from', OLD, '--to', NEW], {})).code).toBe(2); // no TURSO_DATABASE_URL
  });

  it('honours --media-table / --url-column / --pathname-column', async () => {
    const custom = join(tmp, 'custom.db');
    const d = new Database(custom);
    d.exec('CREATE TABLE Asset (key TEXT PRIMARY KEY, href TEXT, path TEXT) WITHOUT ROWID');
    d.prepare('INSERT INTO Asset VALUES (?, ?, ?)').run('k1', `${OLD}p/a.png`, 'p/a.png');
    d.prepare('INSERT INTO Asset VALUES (?, ?, ?)').run('k2', `${NEW}p/b.png`, 'p/b.png');
    d.close();
    const args = [
      '--media-table',
      'Asset',
      '--url-column',
      'href',
      '--pathname-column',
      'path',
      '--from',
      `${OLD}p/`,
      '--to',
      `${NEW}q/`,
      '--confirm',
      '--json',
    ];
    const r = await cli('relink-media.ts', args, { TURSO_DATABASE_URL: `file:${custom}` });
    expect(r.code).toBe(0);
    expect(lastJson(r.stdout)).toMatchObject({ changed: 1, pathnames: 1, examples: [{ id: 'k1' }] });
    const check = new Database(custom, { readonly: true });
    expect(check.prepare('SELECT * FROM Asset ORDER BY key').all()).toEqual([
      { key: 'k1', href: `${NEW}q/a.png`, path: 'q/a.png' },
      { key: 'k2', href: `${NEW}p/b.png`, path: 'p/b.png' },
    ]);
    check.close();
  });
});

describe('relink-media (remote database over Hrana)', () => {
  it('applies in one remote transaction and is idempotent', async () => {
    const path = join(tmp, 'remote.db');
    buildDb(path);
    const before = snapshot(path);
    const server = await startHranaServer({ db: path, token: 'hrana-secret' });
    try {
      const env = { TURSO_DATABASE_URL: server.url, TURSO_AUTH_TOKEN: 'hrana-secret' };
      const dry = await cli('relink-media.ts', ['--from', OLD, '--to', NEW, '--json'], env);
      expect(dry.code).toBe(0);
      expect(lastJson(dry.stdout)).toMatchObject({ matched: 8, changed: 0 });
      const r = await cli('relink-media.ts', ['--from', OLD, '--to', NEW, '--confirm', '--json'], env);
      expect(r.stderr).not.toContain('hrana-secret');
      expect(r.code).toBe(0);
      expect(lastJson(r.stdout)).toMatchObject({ changed: 8 });
      const again = await cli('relink-media.ts', ['--from', OLD, '--to', NEW, '--confirm', '--json'], env);
      expect(lastJson(again.stdout)).toMatchObject({ changed: 0 });
    } finally {
      await server.close();
    }
    const after = snapshot(path);
    expect(Object.keys(diff(before.media, after.media)).sort()).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'b6', 'b7']);
    expect(after.post).toEqual(before.post);
  });
});
