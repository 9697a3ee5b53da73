/**
 * /api/backups/status (in-process Web Requests) over the Blob stand-in: never public, the same page as the CLI with
 * its CSP as a header; and drill records in the Blob store: written beside a backup by the drill command, shown on
 * the page, deleted by prune together with their dump.
 */
import { join } from 'node:path';
import { list } from '@vercel/blob';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GET } from '../../api/backup-status.js';
import { pruneBackups } from '../../src/blob/prune.js';
import { STATUS_CSP } from '../../src/monitor/report-html.js';
import { applyEnv } from '../support/blob-env.js';
import { backupAt, buildAppDb, DAY, uploadStore } from '../support/backup-history.js';
import { tempDirs } from '../support/dumps.js';
import { FAKE_SECRETS } from '../support/secrets.js';
import { blobEnv, runScript, TOKEN, useBlobStore } from '../blob/helpers.js';

const dirs = tempDirs('tb-status-');
let files: string[];
let db: string;
beforeAll(async () => {
  const root = dirs.make();
  db = join(root, 'app.db');
  buildAppDb(db);
  const store = join(root, 'backups');
  const old = await backupAt(db, store, new Date(Date.now() - 5 * DAY));
  const recent = await backupAt(db, store, new Date(Date.now() - 3_600_000));
  files = [old, `${old}.manifest.json`, recent, `${recent}.manifest.json`];
});
afterAll(() => dirs.cleanup());

const call = (auth: string | null) => GET(new Request('https://app.example.com/api/backups/status', { headers: auth === null ? {} : { authorization: auth } }));

describe('/api/backups/status', () => {
  const server = useBlobStore(() => dirs.make());
  let restore: () => void;
  beforeEach(async () => {
    restore = applyEnv({ CRON_SECRET: FAKE_SECRETS.CRON_SECRET, STATUS_SECRET: undefined, BACKUP_MAX_AGE: undefined, BACKUP_MIN_ROWS_RATIO: undefined });
    await uploadStore(files, TOKEN);
  });
  afterEach(() => restore());

  it('never public: no secret configured → 500; a wrong or missing Bearer → 401; nothing read', async () => {
    const before = server().stats.requests.list;
    const undo = applyEnv({ CRON_SECRET: undefined });
    try {
      expect((await call(`Bearer ${FAKE_SECRETS.CRON_SECRET}`)).status).toBe(500);
    } finally {
      undo();
    }
    for (const auth of [null, 'Bearer nope', FAKE_SECRETS.CRON_SECRET]) expect((await call(auth)).status).toBe(401);
    expect(server().stats.requests.list).toBe(before);
  });

  it('with CRON_SECRET: the page, with the CSP as a header, no caching, no framing, no token in it', async () => {
    const res = await call(`Bearer ${FAKE_SECRETS.CRON_SECRET}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(res.headers.get('content-security-policy')).toBe(`${STATUS_CSP}; frame-ancestors 'none'`);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const html = await res.text();
    expect(html).toContain('Vercel Blob store (backups/)');
    expect(html).toContain('data-ok="true"');
    expect((html.match(/<tr class="complete"/g) ?? []).length).toBe(2);
    expect(html).not.toContain(TOKEN);
    expect(html).not.toContain(FAKE_SECRETS.CRON_SECRET);
  });

  it('STATUS_SECRET, when set, is the only key; BACKUP_MAX_AGE sets the verdict', async () => {
    const undo = applyEnv({ STATUS_SECRET: FAKE_SECRETS.STATUS_SECRET, BACKUP_MAX_AGE: '30m' });
    try {
      expect((await call(`Bearer ${FAKE_SECRETS.CRON_SECRET}`)).status).toBe(401);
      const res = await call(`Bearer ${FAKE_SECRETS.STATUS_SECRET}`);
      expect(res.status).toBe(200);
      expect(await res.text()).toMatch(/data-ok="false"><strong>1 problem\(s\)<\/strong>.*<li><strong>STALE<\/strong>/s);
    } finally {
      undo();
    }
  });

  it('a drill of a Blob backup is recorded beside it, shown on the page, and pruned with its dump', async () => {
    const [old, , recent] = files.map((f) => `backups/${f.split('/').pop()}`);
    const env = { ...blobEnv(server()), TURSO_DATABASE_URL: undefined };
    for (const target of [old!, recent!]) {
      const r = await runScript('drill', [target!], env);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(new RegExp(`drill result recorded: ${target!.replaceAll('.', '\\.')}\\.drill-.*\\.json`));
    }
    const html = await (await call(`Bearer ${FAKE_SECRETS.CRON_SECRET}`)).text();
    expect((html.match(/drill passed/g) ?? []).length).toBe(2);
    const record = (await list({ prefix: `${old}.drill-`, token: TOKEN })).blobs;
    expect(record).toHaveLength(1);

    const p = await pruneBackups(TOKEN, { daily: 1, weekly: 0, monthly: 0 }, { confirm: true });
    expect(p.remove.map((x) => x.pathname)).toEqual([old]);
    const left = (await list({ prefix: 'backups/', token: TOKEN })).blobs.map((b) => b.pathname);
    expect(left.filter((n) => n.startsWith(old!))).toEqual([]);
    expect(left.filter((n) => n.startsWith(`${recent}.drill-`))).toHaveLength(1);
  });
});
