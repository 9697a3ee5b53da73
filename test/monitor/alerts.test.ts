/**
 * Alerts and heartbeats end to end: the CLI (`backup-turso --write --alert`, spawned as an operator runs it) and the
 * cron handler (in-process, against the Blob stand-in), each against the local receiver. Fake secrets are in the
 * environment throughout; a hanging receiver delays a run by at most 10 s and never changes its result.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { head } from '@vercel/blob';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { GET } from '../../api/cron/backup.js';
import { applyEnv } from '../support/blob-env.js';
import { buildTinyDb, tempDirs } from '../support/dumps.js';
import { runScript } from '../support/scripts.js';
import { startWebhookServer, type WebhookServer } from '../support/webhook-server.js';
import { TOKEN, useBlobStore } from '../blob/helpers.js';
import { FAKE_SECRETS, everything, expectNoSecrets } from '../support/secrets.js';

const dirs = tempDirs('tb-alerts-');
let db: string;
beforeAll(() => {
  db = join(dirs.make(), 'app.db');
  buildTinyDb(db);
});
afterAll(() => dirs.cleanup());

let rx: WebhookServer;
beforeEach(async () => {
  rx = await startWebhookServer();
});
afterEach(() => rx.close());

const hooks = () => ({
  BACKUP_ALERT_WEBHOOK_URL: `${rx.origin}/alert/T01/B02/hookSecretPart`,
  BACKUP_HEARTBEAT_URL: `${rx.origin}/ping/5f1d-uuid`,
  BACKUP_HEARTBEAT_FAIL_URL: undefined,
});

/** The CLI's env: fake secrets everywhere, the database, the receiver; BLOB token kept out of a --write run. */
const cliEnv = (extra: Record<string, string | undefined> = {}) => ({
  ...FAKE_SECRETS,
  BACKUP_ENCRYPTION_KEY: undefined,
  TURSO_DATABASE_URL: `file:${db}`,
  ...hooks(),
  ...extra,
});

describe('CLI: backup-turso --alert', () => {
  it('success: a heartbeat with the summary and run id; no alert; the manifest records the run', async () => {
    const out = join(dirs.make(), 'backup-ok.ndjson.gz');
    const r = await runScript('backup-turso', ['--write', '--out', out, '--alert'], cliEnv());
    expect(r.code, r.stderr).toBe(0);
    expect(rx.to('/alert')).toHaveLength(0);
    const [ping] = rx.to('/ping/5f1d-uuid');
    expect(ping!.path).toBe('/ping/5f1d-uuid');
    expect(ping!.body).toMatch(/^turso-backup cli backup of file app\.db: OK in /);
    expect(ping!.body).toContain('backup-ok.ndjson.gz: 2 tables, 5 rows');
    const manifest = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8'));
    expect(manifest.run).toMatchObject({ id: ping!.query.rid, trigger: 'cli' });
    expect(r.stderr).toMatch(/backup-turso: heartbeat \(127\.0\.0\.1:\d+\): sent, HTTP 200/);
    expectNoSecrets(everything(rx.requests));
    expectNoSecrets(r.stdout + r.stderr, ['hookSecretPart', '5f1d-uuid']);
  });

  it('failure: one alert with the structured fields and a /fail ping; exit status unchanged; nothing leaks', async () => {
    const missing = join(dirs.make(), 'missing.db');
    const r = await runScript(
      'backup-turso',
      ['--write', '--out', join(dirs.make(), 'backup-x.ndjson.gz'), '--alert'],
      cliEnv({ TURSO_DATABASE_URL: `file:${missing}` }),
    );
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/backup-turso: error: .*does not exist/);
    const [alert] = rx.to('/alert/T01/B02/hookSecretPart');
    const body = JSON.parse(alert!.body);
    expect(body.backup).toMatchObject({ event: 'backup.failed', trigger: 'cli', database: 'file missing.db', stage: 'connect', code: 'NOT_FOUND' });
    expect(body.backup.runId).toMatch(/^[0-9a-f-]{36}$/);
    expect(body.backup.durationMs).toBeGreaterThanOrEqual(0);
    expect(body.backup.message).not.toContain('\n');
    expect(body.text).toContain('FAILED at stage "connect" (NOT_FOUND)');
    expect(body.content).toContain('FAILED at stage "connect" (NOT_FOUND)');
    const [fail] = rx.to('/ping/5f1d-uuid/fail');
    expect(fail!.query.rid).toBe(body.backup.runId);
    expect(rx.requests).toHaveLength(2);
    expectNoSecrets(everything(rx.requests));
    expectNoSecrets(rx.requests.map((q) => q.body).join('\n'), ['hookSecretPart', '5f1d-uuid']);
    expectNoSecrets(r.stdout + r.stderr, ['hookSecretPart', '5f1d-uuid']);
  });

  it('a hanging receiver: the backup still succeeds, at most 10 s later, and says so', async () => {
    rx.mode = 'hang';
    const dir = dirs.make();
    const r = await runScript('backup-turso', ['--write', '--out', join(dir, 'backup-hang.ndjson.gz'), '--alert'], cliEnv());
    const ended = Date.now();
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(dir, 'backup-hang.ndjson.gz.manifest.json'))).toBe(true);
    // The time once: "timed out after 10 s", not followed by "in 10250 ms".
    expect(r.stderr).toMatch(/warning: heartbeat \(127\.0\.0\.1:\d+\): FAILED, timed out after 10 s$/m);
    const arrived = rx.to('/ping')[0]!.at;
    // Bounded: the process ended within 10 s of the ping (plus the process's own exit).
    expect(ended - arrived).toBeLessThan(11_500);
    expect(ended - arrived).toBeGreaterThanOrEqual(9_500);
  }, 40_000);

  it('a receiver answering 500: reported, the backup exit status is 0', async () => {
    rx.mode = 'error';
    const r = await runScript('backup-turso', ['--write', '--out', join(dirs.make(), 'backup-500.ndjson.gz'), '--alert'], cliEnv());
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/warning: heartbeat \(127\.0\.0\.1:\d+\): FAILED, HTTP 500/);
  });

  it('--alert with nowhere to send, with an unusable URL, or on a dry run: exit 2 before the database is read', async () => {
    const dir = dirs.make();
    const none = await runScript(
      'backup-turso',
      ['--write', '--out', join(dir, 'backup-a.ndjson.gz'), '--alert'],
      cliEnv({ BACKUP_ALERT_WEBHOOK_URL: undefined, BACKUP_HEARTBEAT_URL: undefined }),
    );
    expect(none.code).toBe(2);
    expect(none.stderr).toMatch(/--alert needs BACKUP_ALERT_WEBHOOK_URL and\/or BACKUP_HEARTBEAT_URL/);
    const plain = await runScript(
      'backup-turso',
      ['--write', '--out', join(dir, 'backup-b.ndjson.gz'), '--alert'],
      cliEnv({ BACKUP_ALERT_WEBHOOK_URL: 'http://hooks.example.com/T/B/hookSecretPart' }),
    );
    expect(plain.code).toBe(2);
    expect(plain.stderr).toMatch(/BACKUP_ALERT_WEBHOOK_URL must be an https/);
    expect(plain.stderr).not.toContain('hookSecretPart');
    const dry = await runScript('backup-turso', ['--alert'], cliEnv());
    expect(dry.code).toBe(2);
    expect(readdirSync(dir)).toEqual([]);
    expect(rx.requests).toHaveLength(0);
  });
});

describe('cron: alerts and heartbeat', () => {
  const tmp = () => dirs.make();
  useBlobStore(tmp);
  let restoreEnv: () => void;
  beforeEach(() => {
    restoreEnv = applyEnv({
      CRON_SECRET: FAKE_SECRETS.CRON_SECRET,
      TURSO_DATABASE_URL: `file:${db}`,
      TURSO_AUTH_TOKEN: undefined,
      BACKUP_RETENTION: undefined,
      BACKUP_ENCRYPTION_KEY: undefined,
      ...hooks(),
    });
  });
  afterEach(() => restoreEnv());
  const call = (q = '') =>
    GET(new Request(`https://app.example.com/api/cron/backup${q}`, { headers: { authorization: `Bearer ${FAKE_SECRETS.CRON_SECRET}` } }));

  it('a good run pings the heartbeat, records the run in the blob manifest and reports it in the response', async () => {
    const res = await call();
    const b = (await res.json()) as { pathname: string; monitor: { runId: string; notifications: { ok: boolean; target: string }[] } };
    expect(res.status, JSON.stringify(b)).toBe(200);
    expect(b.monitor.notifications).toEqual([expect.objectContaining({ ok: true, target: expect.stringMatching(/^heartbeat \(127\.0\.0\.1:\d+\)$/) })]);
    const [ping] = rx.to('/ping/5f1d-uuid');
    expect(ping!.query.rid).toBe(b.monitor.runId);
    expect(ping!.body).toContain(b.pathname);
    const meta = await head(`${b.pathname}.manifest.json`, { token: TOKEN });
    const manifest = await (await fetch(meta.url, { headers: { authorization: `Bearer ${TOKEN}` } })).json();
    expect(manifest.run).toMatchObject({ id: b.monitor.runId, trigger: 'cron' });
    expect(rx.to('/alert')).toHaveLength(0);
    expect(JSON.stringify(b)).not.toContain('hookSecretPart');
  });

  it('a failed run alerts (stage "store" for a refused Blob token) and pings /fail; no token anywhere', async () => {
    const undo = applyEnv({ BLOB_READ_WRITE_TOKEN: 'vercel_blob_rw_teststore_NotTheRealOne' });
    try {
      const res = await call();
      expect(res.status).toBe(500);
      const b = (await res.json()) as { error: string; monitor: { runId: string; notifications: { ok: boolean }[] } };
      expect(b.monitor.notifications.map((n) => n.ok)).toEqual([true, true]);
      const alert = JSON.parse(rx.to('/alert')[0]!.body);
      expect(alert.backup).toMatchObject({ trigger: 'cron', stage: 'store', code: 'AUTH', runId: b.monitor.runId, database: 'file app.db' });
      expect(alert.backup.message).toBe(b.error);
      expect(rx.to('/ping/5f1d-uuid/fail')).toHaveLength(1);
      expectNoSecrets(everything(rx.requests), ['NotTheRealOne']);
    } finally {
      undo();
    }
  });

  it('a webhook that fails never fails the backup; an unusable one is reported; a dry run notifies nobody', async () => {
    rx.mode = 'error';
    const undo = applyEnv({ BACKUP_ALERT_WEBHOOK_URL: 'http://hooks.example.com/x' });
    try {
      const res = await call();
      const b = (await res.json()) as { monitor: { notifications: { ok: boolean; detail: string }[] } };
      expect(res.status).toBe(200);
      expect(b.monitor.notifications.map((n) => n.detail)).toEqual([expect.stringMatching(/^not sent: BACKUP_ALERT_WEBHOOK_URL/), 'HTTP 500']);
      const before = rx.requests.length;
      expect((await call('?dryRun=1')).status).toBe(200);
      expect(rx.requests.length).toBe(before);
    } finally {
      undo();
    }
  });
});
