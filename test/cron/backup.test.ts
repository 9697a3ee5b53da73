/**
 * The cron handler (api/cron/backup.ts) called in-process with Web Requests, against the Blob stand-in driven by
 * the real @vercel/blob client: auth (never open), dry run, a real run, overlapping runs, retention, errors.
 */
import { join } from 'node:path';
import { head, list, put } from '@vercel/blob';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GET } from '../../api/cron/backup.js';
import { isAuthorized } from '../../src/cron/handler.js';
import { applyEnv } from '../support/blob-env.js';
import { tempDirs } from '../support/dumps.js';
import { buildSmallDb, sha256, TOKEN, useBlobStore } from '../blob/helpers.js';

const SECRET = 'cron-secret-0123456789abcdef';
const dirs = tempDirs('tb-cron-');
let tmp: string;
let db: string;
beforeAll(() => {
  tmp = dirs.make();
  db = join(tmp, 'app.db');
  buildSmallDb(db, 80);
});
afterAll(() => dirs.cleanup());

const call = (query = '', auth: string | null = `Bearer ${SECRET}`) =>
  GET(new Request(`https://app.example.com/api/cron/backup${query}`, { headers: auth === null ? {} : { authorization: auth } }));

async function body(res: Response): Promise<Record<string, unknown>> {
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return (await res.json()) as Record<string, unknown>;
}

const totalRequests = (stats: { requests: Record<string, number> }) => Object.values(stats.requests).reduce((a, b) => a + b, 0);

describe('cron: auth', () => {
  const server = useBlobStore(() => tmp);
  let restoreEnv: () => void;
  beforeEach(() => {
    restoreEnv = applyEnv({
      CRON_SECRET: SECRET,
      TURSO_DATABASE_URL: `file:${db}`,
      TURSO_AUTH_TOKEN: undefined,
      BACKUP_RETENTION: undefined,
      BACKUP_ENCRYPTION_KEY: undefined,
    });
  });
  afterEach(() => restoreEnv());

  it('CRON_SECRET unset: 500 with a clear message, never open (even to a request that carries a header)', async () => {
    for (const value of [undefined, '']) {
      const undo = applyEnv({ CRON_SECRET: value });
      try {
        for (const auth of [null, 'Bearer ', 'Bearer undefined', `Bearer ${SECRET}`]) {
          const res = await call('', auth);
          expect(res.status).toBe(500);
          expect(await body(res)).toEqual({ error: 'CRON_SECRET is not configured' });
        }
      } finally {
        undo();
      }
    }
    expect(totalRequests(server().stats)).toBe(0);
  });

  it('missing or wrong Authorization: 401, nothing done', async () => {
    const wrong = [
      null,
      '',
      SECRET,
      `Bearer ${SECRET.slice(0, -1)}`,
      `Bearer ${SECRET}x`,
      `bearer ${SECRET}`,
      `Bearer  ${SECRET}`,
      `Basic ${SECRET}`,
      `Bearer ${SECRET.replace('0', '1')}`,
    ];
    for (const auth of wrong) {
      const res = await call('', auth);
      expect(res.status, String(auth)).toBe(401);
      const b = await body(res);
      expect(b).toEqual({ error: 'unauthorized' });
    }
    const dry = await call('?dryRun=1', 'Bearer nope');
    expect(dry.status).toBe(401);
    expect(totalRequests(server().stats)).toBe(0);
  });

  it('isAuthorized compares digests in constant time and needs the exact header', () => {
    expect(isAuthorized(`Bearer ${SECRET}`, SECRET)).toBe(true);
    expect(isAuthorized(null, SECRET)).toBe(false);
    expect(isAuthorized('', SECRET)).toBe(false);
    expect(isAuthorized(`Bearer ${SECRET} `, SECRET)).toBe(false);
  });
});

describe('cron: runs', () => {
  const server = useBlobStore(() => tmp);
  let restoreEnv: () => void;
  beforeEach(() => {
    restoreEnv = applyEnv({
      CRON_SECRET: SECRET,
      TURSO_DATABASE_URL: `file:${db}`,
      TURSO_AUTH_TOKEN: undefined,
      BACKUP_RETENTION: undefined,
      BACKUP_ENCRYPTION_KEY: undefined,
    });
  });
  afterEach(() => restoreEnv());

  it('?dryRun=1: 200 with per-table counts, nothing written', async () => {
    const res = await call('?dryRun=1');
    expect(res.status).toBe(200);
    const b = await body(res);
    expect(b).toMatchObject({ mode: 'dry-run', tables: { users: 80 } });
    expect(typeof b.durationMs).toBe('number');
    expect(totalRequests(server().stats)).toBe(0);
  });

  it('a dryRun value or a parameter it cannot read: 400, nothing read or written (a typo must not run a backup)', async () => {
    for (const query of ['?dryRun=no-thanks', '?dryRun=2', '?dryRun=', '?dryrun=1', '?dry-run=1', '?dry_run=true', '?dryRun=1&dryRun=0']) {
      const res = await call(query);
      expect(res.status, query).toBe(400);
      expect((await body(res)).error, query).toMatch(/dryRun/);
    }
    for (const query of ['?dryRun=true', '?dryRun=YES']) expect((await body(await call(query))).mode, query).toBe('dry-run');
    expect(totalRequests(server().stats)).toBe(0);
  });

  it('a real run streams a private blob, then its manifest; answers {pathname, bytes, tables, sha256, durationMs}', async () => {
    const res = await call();
    const b = await body(res);
    expect(res.status, JSON.stringify(b)).toBe(200);
    expect(b).toMatchObject({ tables: { users: 80 }, encrypted: false });
    expect(b.pathname).toMatch(/^backups\/backup-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d\.\d{3}Z-[0-9a-f]{6}\.ndjson\.gz$/);
    expect(typeof b.durationMs).toBe('number');
    const meta = await head(b.pathname as string, { token: TOKEN });
    expect(meta.size).toBe(b.bytes);
    expect(meta.cacheControl).toMatch(/^private/);
    expect((await fetch(meta.url)).status).toBe(403);
    const bytes = Buffer.from(await (await fetch(meta.url, { headers: { authorization: `Bearer ${TOKEN}` } })).arrayBuffer());
    expect(sha256(bytes)).toBe(b.sha256);
    const manifestMeta = await head(`${b.pathname as string}.manifest.json`, { token: TOKEN });
    const manifest = JSON.parse(Buffer.from(await (await fetch(manifestMeta.url, { headers: { authorization: `Bearer ${TOKEN}` } })).arrayBuffer()).toString());
    expect(manifest.file).toMatchObject({ bytes: b.bytes, sha256: b.sha256 });
    expect(manifest.contentSha256).toBe(b.contentSha256);
    expect(server().stats.requests.mpuComplete).toBe(1);
    expect(JSON.stringify(b)).not.toContain(TOKEN);
  });

  it('two overlapping runs get distinct pathnames and both complete', async () => {
    const [r1, r2] = await Promise.all([call(), call()]);
    const [b1, b2] = [await body(r1), await body(r2)];
    expect([r1.status, r2.status]).toEqual([200, 200]);
    expect(b1.pathname).not.toBe(b2.pathname);
    const names = (await list({ prefix: 'backups/', token: TOKEN })).blobs.map((x) => x.pathname).sort();
    expect(names).toEqual([b1.pathname, `${b1.pathname as string}.manifest.json`, b2.pathname, `${b2.pathname as string}.manifest.json`].sort());
  });

  it('BACKUP_RETENTION is applied after a successful run', async () => {
    const old = 'backups/backup-2025-01-01T02-00-00.000Z.ndjson.gz';
    await put(old, 'old dump', { access: 'private', token: TOKEN });
    await put(`${old}.manifest.json`, JSON.stringify({ createdAt: '2025-01-01T02:00:00.000Z', tables: {}, totalRows: 0, file: { bytes: 8 } }), {
      access: 'private',
      token: TOKEN,
    });
    const undo = applyEnv({ BACKUP_RETENTION: 'daily=7' });
    try {
      const res = await call();
      const b = await body(res);
      expect(res.status, JSON.stringify(b)).toBe(200);
      // daily=7 keeps the newest backup of each of the last 7 days that have one: both days here have one.
      expect(b.retention).toMatchObject({ deleted: [], kept: 2 });
      const undo2 = applyEnv({ BACKUP_RETENTION: 'daily=1' });
      try {
        const again = await body(await call());
        // daily=1: today's newest (this run) stays; the earlier run of today and the old one go.
        expect((again.retention as { deleted: string[] }).deleted.sort()).toEqual([old, b.pathname].sort());
        const left = (await list({ prefix: 'backups/', token: TOKEN })).blobs.map((x) => x.pathname);
        expect(left).not.toContain(old);
        expect(left).not.toContain(`${old}.manifest.json`);
        expect(left).toContain(again.pathname);
        expect(left).not.toContain(b.pathname);
      } finally {
        undo2();
      }
    } finally {
      undo();
    }
  });

  it('configuration errors are 500 one-liners before anything is read or written, without secrets', async () => {
    const cases: [Record<string, string | undefined>, RegExp][] = [
      [{ BLOB_READ_WRITE_TOKEN: undefined }, /BLOB_READ_WRITE_TOKEN is not set/],
      [{ TURSO_DATABASE_URL: undefined }, /TURSO_DATABASE_URL is not set/],
      [{ BACKUP_RETENTION: 'daily=7,hourly=2' }, /BACKUP_RETENTION: "hourly=2"/],
      [{ BACKUP_ENCRYPTION_KEY: 'short' }, /BACKUP_ENCRYPTION_KEY/],
    ];
    for (const [env, message] of cases) {
      const undo = applyEnv(env);
      try {
        const res = await call();
        expect(res.status).toBe(500);
        const b = await body(res);
        expect(b.error).toMatch(message);
        expect(String(b.error)).not.toContain('\n');
      } finally {
        undo();
      }
    }
    expect(totalRequests(server().stats)).toBe(0);
  });

  it('a refused Blob token: 500 naming the cause, not the token; nothing completed', async () => {
    const bad = 'vercel_blob_rw_teststore_NotTheRealOne';
    const undo = applyEnv({ BLOB_READ_WRITE_TOKEN: bad });
    try {
      const res = await call();
      expect(res.status).toBe(500);
      const text = JSON.stringify(await body(res));
      expect(text).toMatch(/access denied/);
      expect(text).not.toContain('NotTheRealOne');
      expect(text).not.toContain(SECRET);
      expect(server().stats.requests.mpuComplete).toBe(0);
    } finally {
      undo();
    }
  });

  it('with BACKUP_ENCRYPTION_KEY the uploaded dump is encrypted', async () => {
    const undo = applyEnv({ BACKUP_ENCRYPTION_KEY: 'ab'.repeat(32) });
    try {
      const res = await call();
      const b = await body(res);
      expect(res.status, JSON.stringify(b)).toBe(200);
      expect(b.encrypted).toBe(true);
      const meta = await head(b.pathname as string, { token: TOKEN });
      const bytes = Buffer.from(await (await fetch(meta.url, { headers: { authorization: `Bearer ${TOKEN}` } })).arrayBuffer());
      expect(bytes.subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]))).toBe(false); // not plain gzip
    } finally {
      undo();
    }
  });
});
