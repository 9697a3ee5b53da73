/**
 * Notifications against a real local receiver (test/support/webhook-server.ts): URL rules, bounded POSTs, the alert
 * and heartbeat payloads, and a monitored run's hooks in-process. Fake secrets are set in the environment and must
 * never reach a receiver.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { BackupError } from '../../src/errors.js';
import { backup } from '../../src/backup/backup.js';
import { alertPayload } from '../../src/monitor/alert.js';
import { failUrlOf, withRunId } from '../../src/monitor/heartbeat.js';
import { describeOutcome, notifyUrl, postBounded } from '../../src/monitor/notify.js';
import { databaseLabel, startRun, stageOf } from '../../src/monitor/run.js';
import { fileSink } from '../../src/sink/file.js';
import { applyEnv } from '../support/blob-env.js';
import { buildTinyDb, tempDirs } from '../support/dumps.js';
import { startWebhookServer, type WebhookServer } from '../support/webhook-server.js';
import { FAKE_SECRETS, everything, expectNoSecrets } from '../support/secrets.js';

const dirs = tempDirs('tb-notify-');
afterAll(() => dirs.cleanup());

describe('notification URLs', () => {
  it('accepts https anywhere and http only to loopback; refuses credentials; never echoes the value', () => {
    const env = (v: string) => ({ X: v });
    expect(notifyUrl('X', env('https://hooks.slack.com/services/T0/B0/sekrit'))?.host).toBe('hooks.slack.com');
    expect(notifyUrl('X', env('http://127.0.0.1:9/x'))?.port).toBe('9');
    expect(notifyUrl('X', env('http://localhost/x'))).not.toBeNull();
    expect(notifyUrl('X', env('  '))).toBeNull();
    expect(notifyUrl('X', {})).toBeNull();
    for (const bad of ['http://hooks.example.com/sekrit', 'ftp://x/sekrit', 'not a url sekrit', 'https://user:sekrit@hooks.example.com/']) {
      let err: unknown;
      try {
        notifyUrl('X', env(bad));
      } catch (e) {
        err = e;
      }
      expect(err, bad).toBeInstanceOf(BackupError);
      expect((err as BackupError).code).toBe('CONFIG');
      expect((err as BackupError).message).toContain('X');
      expect((err as BackupError).message).not.toContain('sekrit');
    }
  });

  it('the heartbeat failure URL is <ping>/fail unless configured; rid carries the run id', () => {
    expect(failUrlOf(new URL('https://hc-ping.com/abc'), null).href).toBe('https://hc-ping.com/abc/fail');
    expect(failUrlOf(new URL('https://hc-ping.com/abc/?x=1'), null).href).toBe('https://hc-ping.com/abc/fail?x=1');
    expect(failUrlOf(new URL('https://hc-ping.com/abc'), new URL('https://other.example/f')).href).toBe('https://other.example/f');
    expect(withRunId(new URL('https://hc-ping.com/abc'), 'r-1').href).toBe('https://hc-ping.com/abc?rid=r-1');
  });
});

describe('postBounded', () => {
  let rx: WebhookServer;
  beforeEach(async () => {
    rx = await startWebhookServer();
  });
  afterEach(() => rx.close());

  it('reports HTTP status, failures and timeouts as outcomes, never throws', async () => {
    const url = new URL(`${rx.origin}/hook/secret-path`);
    const ok = await postBounded('alert webhook', url, '{"a":1}', 'application/json');
    expect(ok).toMatchObject({ ok: true, detail: 'HTTP 200', target: `alert webhook (${url.host})` });
    expect(ok.target).not.toContain('secret-path');
    expect(rx.requests[0]).toMatchObject({ method: 'POST', path: '/hook/secret-path', body: '{"a":1}' });
    expect(rx.requests[0]!.headers['content-type']).toBe('application/json');

    rx.mode = 'error';
    expect(await postBounded('x', url, '', 'text/plain')).toMatchObject({ ok: false, detail: 'HTTP 500' });

    rx.mode = 'hang';
    const t = Date.now();
    const hung = await postBounded('x', url, '', 'text/plain', 400);
    expect(hung).toMatchObject({ ok: false, detail: expect.stringMatching(/^timed out after/) });
    expect(describeOutcome(hung)).toBe(`x (${url.host}): FAILED, timed out after 0.4 s`);
    expect(Date.now() - t).toBeLessThan(1500);

    const closed = new URL(rx.origin);
    await rx.close();
    const refused = await postBounded('x', closed, '', 'text/plain', 2000);
    expect(refused.ok).toBe(false);
    expect(refused.detail).toMatch(/^failed: /);
  });
});

describe('payloads', () => {
  it('the alert: text (Slack, escaped), content (Discord, no pings), structured fields', () => {
    const p = alertPayload({
      runId: 'run-1',
      trigger: 'cron',
      database: 'db-org.turso.io',
      stage: 'dump',
      code: 'SNAPSHOT',
      message: 'table "a<b>&c" changed during the backup',
      startedAt: '2026-01-01T02:00:00.000Z',
      finishedAt: '2026-01-01T02:00:05.000Z',
      durationMs: 5000,
      dump: 'backups/backup-x.ndjson.gz',
    });
    expect(p.text).toContain('a&lt;b&gt;&amp;c');
    expect(p.text).toMatch(/^:rotating_light: turso-backup: the cron backup of db-org\.turso\.io FAILED at stage "dump" \(SNAPSHOT\)/);
    expect(p.content).toContain('a<b>&c');
    expect(p.content.length).toBeLessThanOrEqual(2000);
    expect(p.allowed_mentions).toEqual({ parse: [] });
    expect(p.backup).toMatchObject({ event: 'backup.failed', runId: 'run-1', stage: 'dump', code: 'SNAPSHOT', durationMs: 5000, database: 'db-org.turso.io' });
  });

  it('the database label is a host or a file name, never credentials or a query', () => {
    expect(databaseLabel({ TURSO_DATABASE_URL: 'libsql://db-org.turso.io?authToken=abc' })).toBe('db-org.turso.io');
    expect(databaseLabel({ TURSO_DATABASE_URL: 'https://u:p@db.example.com/' })).toBe('db.example.com');
    expect(databaseLabel({ TURSO_DATABASE_URL: 'file:/srv/data/app.db' })).toBe('file app.db');
    expect(databaseLabel({})).toBe('(TURSO_DATABASE_URL not set)');
  });

  it('stages: explicit, by code, else by how far the sink got', () => {
    expect(stageOf(new BackupError('CONFIG', 'x'), 'writing')).toBe('config');
    expect(stageOf(new BackupError('INTERRUPTED', 'x'), 'writing')).toBe('interrupted');
    expect(stageOf(new Error('x'), 'before')).toBe('connect');
    expect(stageOf(new BackupError('SINK', 'x'), 'opening')).toBe('store');
    expect(stageOf(new BackupError('SINK', 'x'), 'writing')).toBe('dump');
    expect(stageOf(new BackupError('SINK', 'x'), 'committing')).toBe('commit');
    expect(stageOf(new Error('x'), 'committed', 'retention')).toBe('retention');
  });
});

describe('a monitored run, in-process', () => {
  let rx: WebhookServer;
  let restore: () => void;
  let db: string;
  beforeAll(() => {
    db = join(dirs.make(), 'tiny.db');
    buildTinyDb(db);
  });
  beforeEach(async () => {
    rx = await startWebhookServer();
    restore = applyEnv({
      ...FAKE_SECRETS,
      TURSO_DATABASE_URL: `libsql://db-org.turso.io?authToken=${FAKE_SECRETS.TURSO_AUTH_TOKEN}`,
      BACKUP_ALERT_WEBHOOK_URL: `${rx.origin}/alert/T0/B0/hookSecretPart`,
      BACKUP_HEARTBEAT_URL: `${rx.origin}/ping/0d338dcc-uuid`,
      BACKUP_HEARTBEAT_FAIL_URL: undefined,
    });
  });
  afterEach(async () => {
    restore();
    await rx.close();
  });

  it('success: the manifest gets the run summary; the heartbeat gets a summary and the run id', async () => {
    const run = startRun('cron', { notify: true });
    const out = join(dirs.make(), 'backup-x.ndjson.gz');
    await backup({ url: `file:${db}` }, run.track(fileSink(out)));
    const report = await run.succeeded();
    expect(report.notifications).toEqual([expect.objectContaining({ ok: true, target: `heartbeat (${new URL(rx.origin).host})` })]);
    const manifest = JSON.parse(readFileSync(`${out}.manifest.json`, 'utf8'));
    expect(manifest.run).toMatchObject({ id: run.id, trigger: 'cron' });
    expect(manifest.run.durationMs).toBeGreaterThanOrEqual(0);
    expect(rx.to('/alert')).toHaveLength(0);
    const [ping] = rx.to('/ping/0d338dcc-uuid');
    expect(ping!.query.rid).toBe(run.id);
    expect(ping!.headers['content-type']).toMatch(/^text\/plain/);
    expect(ping!.body).toMatch(/^turso-backup cron backup of db-org\.turso\.io: OK in /);
    expect(ping!.body).toContain('2 tables, 5 rows');
    expectNoSecrets(everything(rx.requests));
  });

  it('failure: one alert (JSON) and one /fail ping, in parallel, without secrets', async () => {
    const run = startRun('cron', { notify: true });
    const err = new BackupError('AUTH', `the server refused the token ${FAKE_SECRETS.TURSO_AUTH_TOKEN} (HTTP 401) at https://x:${FAKE_SECRETS.CRON_SECRET}@h/`);
    const report = await run.failed(err);
    expect(report.notifications.map((n) => n.ok)).toEqual([true, true]);
    const [alert] = rx.to('/alert/T0/B0/hookSecretPart');
    expect(alert!.headers['content-type']).toBe('application/json');
    const body = JSON.parse(alert!.body);
    expect(body.backup).toMatchObject({ event: 'backup.failed', runId: run.id, trigger: 'cron', database: 'db-org.turso.io', stage: 'connect', code: 'AUTH' });
    expect(body.backup.message).toMatch(/^the server refused the token REDACTED/);
    expect(typeof body.text).toBe('string');
    const [fail] = rx.to('/ping/0d338dcc-uuid/fail');
    expect(fail!.query.rid).toBe(run.id);
    expect(fail!.body).toMatch(/FAILED at stage "connect" \(AUTH\)/);
    expectNoSecrets(everything(rx.requests));
    // The webhook's own URL is only where the request goes, never in what it says.
    expectNoSecrets(rx.requests.map((r) => r.body).join('\n'), ['hookSecretPart', '0d338dcc-uuid']);
    expectNoSecrets(JSON.stringify(report), ['hookSecretPart', '0d338dcc-uuid']);
  });

  it('without notify nothing is sent; a usage error never alerts', async () => {
    await startRun('cli').failed(new Error('x'));
    await startRun('cli', { notify: true, strict: true }).failed(new BackupError('USAGE', 'bad flag'));
    expect(rx.requests).toHaveLength(0);
  });

  it('lenient (cron): an unusable URL is reported as not sent, never thrown', async () => {
    const undo = applyEnv({ BACKUP_ALERT_WEBHOOK_URL: 'http://hooks.example.com/nope' });
    try {
      const report = await startRun('cron', { notify: true }).failed(new Error('boom'));
      expect(report.notifications).toContainEqual(
        expect.objectContaining({ ok: false, target: 'alert webhook', detail: expect.stringMatching(/^not sent: BACKUP_ALERT_WEBHOOK_URL must be an https/) }),
      );
      expect(rx.to('/ping/0d338dcc-uuid/fail')).toHaveLength(1);
      expect(() => startRun('cli', { notify: true, strict: true })).toThrow(/BACKUP_ALERT_WEBHOOK_URL must be an https/);
    } finally {
      undo();
    }
  });
});
