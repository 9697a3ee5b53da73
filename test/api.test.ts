/**
 * The library as an app calls it (issue 14): `import { backup, restore, verifyDump, migrate, createCronHandler,
 * createStatusHandler } from 'turso-backup'` (src/index.ts), no CLI in between. Each returns the summary the CLI's
 * --json line prints, takes its URLs, tokens and sinks as arguments, and stops on an AbortSignal leaving nothing.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  backup,
  BackupError,
  createCronHandler,
  createStatusHandler,
  encryptSink,
  fileSink,
  migrate,
  restore,
  teeSink,
  verifyDump,
  type BackupSummary,
} from '../src/index.js';
import { buildSmallDb, TOKEN, useBlobStore } from './blob/helpers.js';
import { listDir, tempDirs } from './support/dumps.js';
import { buildBigDb, diffDumps, dumpDb } from './support/nasty-db.js';
import { lastJson, runCli } from './support/scripts.js';

const dirs = tempDirs('tb-api-');
const MIGRATIONS = new URL('../fixtures/prisma/migrations', import.meta.url).pathname;
const KEY = 'a'.repeat(64);
const clean = { TURSO_DATABASE_URL: undefined, TURSO_AUTH_TOKEN: undefined, DEBUG: undefined };
let db: string;
let dump: string;
let summary: BackupSummary;

beforeAll(async () => {
  db = join(dirs.make(), 'app.db');
  buildSmallDb(db, 200);
  dump = join(dirs.make(), 'app.ndjson.gz');
  summary = await backup({ url: `file:${db}`, out: dump });
});
afterAll(() => dirs.cleanup());

/** Rejects with a BackupError of `code`. */
async function failsWith(p: Promise<unknown>, code: string): Promise<BackupError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e, `expected a ${code} BackupError`).toBeInstanceOf(BackupError);
  expect((e as BackupError).code).toBe(code);
  return e as BackupError;
}

describe('backup()', () => {
  it('writes a dump and returns the summary `turso-backup backup --json` prints', async () => {
    expect(summary).toMatchObject({
      mode: 'write',
      file: dump,
      blob: null,
      tables: { users: 200 },
      consistency: 'snapshot',
      warnings: [],
      removedPartials: [],
    });
    expect(summary.bytes).toBe(readFileSync(dump).length);
    expect(existsSync(`${dump}.manifest.json`)).toBe(true);
    // Two checksums, each named for what it covers: the file's (as sha256sum prints it) and the content's (verify's).
    expect(summary.sha256).toBe(createHash('sha256').update(readFileSync(dump)).digest('hex'));
    expect(summary.contentSha256).toBe((await verifyDump(dump)).sha256);
    expect(summary.contentSha256).toBe(JSON.parse(readFileSync(`${dump}.manifest.json`, 'utf8')).contentSha256);
    const cli = await runCli(['backup', '--db', `file:${db}`, '--write', '--out', join(dirs.make(), 'cli.ndjson.gz'), '--json'], clean);
    expect(cli.code, cli.stderr).toBe(0);
    expect(Object.keys(lastJson(cli.stdout)).sort()).toEqual(Object.keys(summary).sort());
  });

  it("without a destination it is a dry run; with the caller's sinks, one pass into each (encrypted once)", async () => {
    const dry = await backup({ url: `file:${db}` });
    expect(dry).toMatchObject({ mode: 'dry-run', file: null, bytes: null, sha256: null, contentSha256: null, tables: { users: 200 } });
    const dir = dirs.make();
    const a = join(dir, 'a.ndjson.gz.enc');
    // A tee of two file sinks (the same file name is required), encrypted as one container.
    const sub = join(dir, 'copy');
    const r = await backup({
      url: `file:${db}`,
      sinks: [encryptSink(teeSink([fileSink(a), fileSink(join(sub, 'a.ndjson.gz.enc'))]), Buffer.from(KEY, 'hex'))],
    });
    expect(r.mode).toBe('write');
    expect(readFileSync(a).equals(readFileSync(join(sub, 'a.ndjson.gz.enc')))).toBe(true);
    expect((await verifyDump(a, { encryptionKey: KEY })).encrypted).toBe(true);
  });

  it('bad options are refused before the database is opened', async () => {
    await failsWith(backup({ url: `file:${db}`, tables: ['users'], excludeTables: ['users'] }), 'USAGE');
    await failsWith(backup({ url: `file:${db}`, gzipLevel: 10 }), 'USAGE');
    await failsWith(backup({ url: `file:${db}`, out: join(dirs.make(), 'x.gz'), encryptionKey: 'not-a-key' }), 'CONFIG');
    await failsWith(backup({ url: 'postgres://db' }), 'CONFIG');
  });

  it('an AbortSignal stops it: INTERRUPTED, nothing left behind', async () => {
    const big = join(dirs.make(), 'big.db');
    buildBigDb(big, 200_000);
    const dir = dirs.make();
    const ac = new AbortController();
    const run = backup({ url: `file:${big}`, out: join(dir, 'big.ndjson.gz'), signal: ac.signal, onProgress: () => ac.abort() });
    await failsWith(run, 'INTERRUPTED');
    expect(listDir(dir)).toEqual([]);
  });
});

describe('verifyDump()', () => {
  it('takes a path, a stream or a function opening one; returns the summary `verify --json` prints', async () => {
    const byPath = await verifyDump(dump);
    expect(byPath).toMatchObject({
      ok: true,
      file: dump,
      version: 1,
      encrypted: false,
      tables: { users: 200 },
      totalRows: 200,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
    expect(await verifyDump(createReadStream(dump))).toMatchObject({ ok: true, file: 'stream', totalRows: 200 });
    expect(await verifyDump(async () => createReadStream(dump))).toMatchObject({ ok: true, totalRows: 200 });
    const cli = await runCli(['verify', dump, '--json'], clean);
    expect(Object.keys(lastJson(cli.stdout)).sort()).toEqual(Object.keys(byPath).sort());
  });

  it('a damaged dump is CORRUPT; an aborted read is INTERRUPTED', async () => {
    const bytes = readFileSync(dump);
    const { Readable } = await import('node:stream');
    await failsWith(verifyDump(Readable.from([bytes.subarray(0, bytes.length - 64)])), 'CORRUPT');
    const ac = new AbortController();
    ac.abort();
    await failsWith(verifyDump(dump, { signal: ac.signal }), 'INTERRUPTED');
  });
});

describe('restore()', () => {
  it("a dry run by default; with confirm the target holds the source, verified; the summary is the CLI's", async () => {
    const target = join(dirs.make(), 'restored.db');
    const dry = await restore({ source: dump, target: `file:${target}` });
    expect(dry).toMatchObject({ mode: 'dry-run', path: 'empty', tables: { users: 200 } });
    expect(existsSync(target)).toBe(false);
    const done = await restore({ source: async () => createReadStream(dump), target: `file:${target}`, confirm: true });
    expect(done).toMatchObject({ mode: 'restore', verified: true, tables: { users: 200 } });
    expect(diffDumps(dumpDb(db), dumpDb(target))).toEqual([]);
    const cli = await runCli(['restore', dump, '--target', `file:${join(dirs.make(), 'cli.db')}`, '--json'], clean);
    expect(Object.keys(lastJson(cli.stdout)).sort()).toEqual(Object.keys(dry).sort());
  });

  it('refuses a target that is the source, and rolls back on abort', async () => {
    await failsWith(restore({ source: dump, target: `file:${db}`, confirm: true }), 'REFUSED');
    const ac = new AbortController();
    const target = join(dirs.make(), 'aborted.db');
    await failsWith(restore({ source: dump, target: `file:${target}`, confirm: true, signal: ac.signal, onProgress: () => ac.abort() }), 'INTERRUPTED');
    expect(listDir(join(target, '..'))).toEqual([]);
  });
});

describe('migrate()', () => {
  it('applies pending migrations as prisma migrate deploy; a dry run applies nothing; an aborted run stops between migrations', async () => {
    const target = join(dirs.make(), 'migrated.db');
    const dry = await migrate({ url: `file:${target}`, dir: MIGRATIONS });
    expect(dry.mode).toBe('dry-run');
    expect(dry.pending.length).toBeGreaterThan(1);
    expect(existsSync(target)).toBe(false);
    const ac = new AbortController();
    const seen: string[] = [];
    const e = await failsWith(
      migrate({
        url: `file:${target}`,
        dir: MIGRATIONS,
        confirm: true,
        signal: ac.signal,
        onApplied: (n) => {
          seen.push(n);
          ac.abort();
        },
      }),
      'INTERRUPTED',
    );
    expect(e.message).toContain(`after applying ${seen[0]}`);
    expect(seen).toHaveLength(1);
    const rest = await migrate({ url: `file:${target}`, dir: MIGRATIONS, confirm: true });
    expect(rest).toMatchObject({ mode: 'migrate', applied: dry.pending.slice(1), pending: [], alreadyApplied: [seen[0]] });
  });
});

describe('a required option missing (a caller from JavaScript, or a misspelt name)', () => {
  it('is a USAGE error naming the option, not a TypeError from inside, and nothing is created', async () => {
    const dir = dirs.make();
    const loose = <T>(o: Record<string, unknown>) => o as unknown as T;
    expect((await failsWith(backup(loose({ db: `file:${db}`, out: join(dir, 'x.ndjson.gz') })), 'USAGE')).message).toMatch(/the option url is required/);
    expect((await failsWith(restore(loose({ input: dump, target: `file:${join(dir, 'r.db')}` })), 'USAGE')).message).toMatch(/the option source is required/);
    expect((await failsWith(restore(loose({ source: dump, targetUrl: 'file:x.db' })), 'USAGE')).message).toMatch(/the option target is required/);
    expect((await failsWith(migrate(loose({ db: `file:${join(dir, 'm.db')}`, dir: MIGRATIONS })), 'USAGE')).message).toMatch(/the option url is required/);
    expect((await failsWith(verifyDump(loose(undefined as never)), 'USAGE')).message).toMatch(/verifyDump's source is required/);
    expect(listDir(dir)).toEqual([]);
  });
});

describe('createCronHandler() and createStatusHandler() as Next.js App Router routes', () => {
  const server = useBlobStore(() => dirs.make());
  const SECRET = 'route-secret-0123456789';

  it('export const GET = createCronHandler(): a Web Request in, a JSON Response out', async () => {
    // app/api/cron/backup/route.ts: `export const GET = createCronHandler();` (configuration from the env given here)
    const env = { CRON_SECRET: SECRET, TURSO_DATABASE_URL: `file:${db}`, BLOB_READ_WRITE_TOKEN: TOKEN, VERCEL_BLOB_API_URL: server().url };
    const GET = createCronHandler({ env });
    const denied = await GET(new Request('https://app.example.com/api/cron/backup'));
    expect(denied.status).toBe(401);
    const res = await GET(new Request('https://app.example.com/api/cron/backup', { headers: { authorization: `Bearer ${SECRET}` } }));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { pathname: string; tables: Record<string, number> };
    expect(body.pathname).toMatch(/^backups\/backup-.*\.ndjson\.gz$/);
    expect(body.tables).toEqual({ users: 200 });

    const STATUS = createStatusHandler({ env });
    const page = await STATUS(new Request('https://app.example.com/api/backups/status', { headers: { authorization: `Bearer ${SECRET}` } }));
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(await page.text()).toContain(body.pathname.replace('backups/', ''));
  });
});
