/**
 * Remote failures: a refused token fails at once (AUTH), an unreachable host fails quickly naming the host, the
 * token never appears in errors or output, a response over the server's limit is split rather than failed, and a
 * restore whose transaction is lost fails cleanly with the target unchanged (no batch applied twice).
 */
import Database from 'better-sqlite3';
import { spawn } from 'node:child_process';
import { createReadStream, existsSync, readdirSync } from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { join, resolve } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backup, inspect } from '../../src/backup/backup.js';
import { restore as restoreApi } from '../../src/api/restore.js';
import { BackupError } from '../../src/errors.js';
import { remoteTuning, resetRemoteTuning } from '../../src/db/hrana/config.js';
import { restore } from '../../src/restore/restore.js';
import { fileSink } from '../../src/sink/file.js';
import { remoteTargetFactory } from '../../src/target/remote.js';
import { tempDirs } from '../support/dumps.js';
import { startHranaServer, type HranaServer, type HranaServerOptions } from '../support/hrana-server.js';

const TOKEN = 'tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0';
const dirs = tempDirs('tb-remote-faults-');
const servers: HranaServer[] = [];
let dir: string;
let db: string;
let dump: string;

async function serve(path: string, opts: Partial<HranaServerOptions> = {}) {
  const s = await startHranaServer({ db: path, token: TOKEN, ...opts });
  servers.push(s);
  return s;
}

function run(args: string[], env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const child = spawn('npx', ['tsx', 'scripts/backup-turso.ts', ...args], { cwd: resolve('.'), env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', rej);
    child.on('close', (status) => res({ status, stdout, stderr }));
  });
}

const rejection = <T>(p: Promise<T>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as BackupError,
  );

beforeAll(async () => {
  dir = dirs.make();
  db = join(dir, 'src.db');
  const d = new Database(db);
  d.exec('CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT)');
  d.exec('CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id), body TEXT)');
  d.exec('CREATE TABLE wide (id INTEGER PRIMARY KEY, body TEXT)');
  // child rows first in the dump order would break with foreign keys on: parent is dumped first, but child
  // references a parent that is only inserted later in its table (id 2000 → parent 2000).
  d.prepare(
    `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000)
     INSERT INTO parent (id, name) SELECT x, 'p' || x FROM n`,
  ).run();
  d.prepare(
    `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 4000)
     INSERT INTO child (id, parent_id, body) SELECT x, 1 + (x % 2000), hex(randomblob(60)) FROM n`,
  ).run();
  d.prepare(
    `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 600)
     INSERT INTO wide (id, body) SELECT x, hex(randomblob(1000)) FROM n`,
  ).run();
  d.close();
  const s = await serve(db);
  dump = join(dir, 'dump.ndjson.gz');
  await backup({ url: s.url, authToken: TOKEN }, fileSink(dump));
});

afterEach(() => resetRemoteTuning());
afterAll(async () => {
  for (const s of servers.splice(0)) await s.close();
  dirs.cleanup();
});

describe('remote errors', () => {
  it('fails at once with AUTH on a wrong token, naming the host and not the token', async () => {
    const s = await serve(db);
    const t0 = Date.now();
    const e = await rejection(inspect({ url: s.url, authToken: 'wrong-token-value' }));
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(e).toBeInstanceOf(BackupError);
    expect(e.code).toBe('AUTH');
    expect(e.message).toContain(`the server refused the token (HTTP 401) for 127.0.0.1:${s.port}`);
    expect(e.message).not.toContain('wrong-token-value');
    expect(s.stats.requests).toBe(1); // a 401 is not retried
  });

  it('fails with AUTH when no token is given', async () => {
    const s = await serve(db);
    const e = await rejection(inspect({ url: s.url }));
    expect(e.code).toBe('AUTH');
  });

  it('fails quickly on an unreachable host, naming it', async () => {
    // Port 1 is refused by fetch itself; a closed port is refused by the host (retried a few times, then fails).
    const closed = await startHranaServer({ db: join(dirs.make(), 'gone.db') });
    await closed.close();
    for (const [url, reason] of [
      ['http://127.0.0.1:1', /cannot reach 127\.0\.0\.1:1: the port is one that fetch refuses/],
      [closed.url, new RegExp(`cannot reach 127\\.0\\.0\\.1:${closed.port}: connection refused \\(ECONNREFUSED\\) \\(3 attempts`)],
    ] as const) {
      const t0 = Date.now();
      const e = await rejection(inspect({ url, authToken: TOKEN }));
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(e.code).toBe('REMOTE');
      expect(e.message).toMatch(reason);
      expect(e.message).not.toContain(TOKEN);
    }
  });

  it('fails on a wrong token for a restore target too, writing nothing', async () => {
    const target = join(dirs.make(), 'target.db');
    const s = await serve(target);
    const e = await rejection(restore({ openInput: async () => createReadStream(dump), target: remoteTargetFactory(s.url, 'nope'), confirm: true }));
    expect(e.code).toBe('AUTH');
  });

  it('an interrupted restore or backup waiting on a server that does not answer stops at once, as INTERRUPTED', async () => {
    // The server accepts and never answers: without the signal reaching the requests, the run waited for its
    // timeouts (the CLI left after 10 s) and then reported the server's failure rather than the interruption.
    const sockets: Socket[] = [];
    const server = createServer((c) => void sockets.push(c.on('error', () => {})));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    try {
      for (const start of [
        (signal: AbortSignal) => restoreApi({ source: dump, target: url, authToken: TOKEN, confirm: true, signal }),
        (signal: AbortSignal) => backup({ url, authToken: TOKEN, signal }, fileSink(join(dirs.make(), 'never.ndjson.gz'))),
      ]) {
        const ac = new AbortController();
        const run = start(ac.signal);
        setTimeout(() => ac.abort(), 300);
        const began = Date.now();
        const e = await run.then(
          () => null,
          (err: unknown) => err as BackupError,
        );
        expect(e?.code, e?.message).toBe('INTERRUPTED');
        expect(Date.now() - began).toBeLessThan(3000);
      }
    } finally {
      for (const c of sockets) c.destroy();
      server.close();
    }
  });

  it('a signal during the COMMIT lets it finish: the restore is applied and says so, never "rolled back"', async () => {
    // A proxy in front of the stand-in holds the load's COMMIT (sent with its PRAGMA foreign_keys=ON) for 300 ms and
    // aborts the run as it passes. Aborting that request would not stop the server from applying it: the restore
    // would then report a rollback of a target it had replaced.
    const targetDb = join(dirs.make(), 'commit-target.db');
    const s = await serve(targetDb);
    const ac = new AbortController();
    let held = false;
    const links: Socket[] = [];
    const proxy = createServer((client) => {
      const upstream = connect(s.port, '127.0.0.1');
      links.push(client, upstream);
      const queue: Buffer[] = [];
      let paused = false;
      client.on('data', (d: Buffer) => {
        if (paused) return void queue.push(d);
        if (!held && d.includes('COMMIT') && d.includes('foreign_keys=ON')) {
          held = true;
          paused = true;
          ac.abort();
          setTimeout(() => {
            upstream.write(d);
            for (const q of queue.splice(0)) upstream.write(q);
            paused = false;
          }, 300);
          return;
        }
        upstream.write(d);
      });
      upstream.on('data', (d) => client.write(d));
      for (const sock of [client, upstream]) sock.on('error', () => {});
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(proxy.address() as { port: number }).port}`;
    try {
      const r = await restore({
        openInput: async () => createReadStream(dump),
        target: remoteTargetFactory(url, TOKEN, ac.signal),
        confirm: true,
        signal: ac.signal,
      });
      expect(held).toBe(true);
      expect(r.verified).toBe(true);
      expect(r.tables).toEqual({ parent: 2000, child: 4000, wide: 600 });
      const back = new Database(targetDb, { readonly: true });
      expect(back.prepare('SELECT (SELECT count(*) FROM parent), (SELECT count(*) FROM child), (SELECT count(*) FROM wide)').raw().get()).toEqual([
        2000, 4000, 600,
      ]);
      back.close();
    } finally {
      for (const l of links) l.destroy();
      proxy.close();
    }
  });

  it('splits a page the server refuses as too large instead of failing', async () => {
    const s = await serve(db, { maxResponseBytes: 200_000 });
    const out = join(dirs.make(), 'split.ndjson.gz');
    const r = await backup({ url: s.url, authToken: TOKEN }, fileSink(out));
    const local = await backup({ url: `file:${db}` }, fileSink(join(dirs.make(), 'local.ndjson.gz')));
    expect(r.manifest!.tables).toEqual(local.manifest!.tables);
  });

  it('reports one row larger than the response limit as UNSUPPORTED', async () => {
    const s = await serve(db, { maxResponseBytes: 1500 });
    const sub = dirs.make();
    const e = await rejection(backup({ url: s.url, authToken: TOKEN, selection: { tables: ['wide'] } }, fileSink(join(sub, 'x.ndjson.gz'))));
    expect(e.code).toBe('UNSUPPORTED');
    expect(e.message).toMatch(/table "wide": one row is larger than the server's response limit/);
    expect(readdirSync(sub)).toEqual([]);
  });

  it('loads with foreign keys off on the load stream (child rows before their parents are fine)', async () => {
    const target = join(dirs.make(), 'fk.db');
    const s = await serve(target);
    // Dump order: child, parent, wide (the restore creates and loads in the dump's table order).
    const out = join(dirs.make(), 'fk.ndjson.gz');
    const src = await serve(db);
    await backup({ url: src.url, authToken: TOKEN, selection: { tables: ['child', 'parent'] } }, fileSink(out));
    const r = await restore({ openInput: async () => createReadStream(out), target: remoteTargetFactory(s.url, TOKEN), confirm: true });
    expect(r.verified).toBe(true);
    expect(r.foreignKeyViolations).toEqual({});
    const d = new Database(target, { readonly: true });
    expect(d.prepare('SELECT count(*) FROM child').pluck().get()).toBe(4000);
    d.close();
  });

  it('fails a restore whose request ran but lost its answer, without re-applying it; the target stays unchanged', async () => {
    const target = join(dirs.make(), 'lost.db');
    const s = await serve(target, { failEvery: 6, failAfterExecute: true, streamIdleMs: 500 });
    remoteTuning.requestBytes = 64 * 1024; // many requests, so one inside the load fails
    const e = await rejection(restore({ openInput: async () => createReadStream(dump), target: remoteTargetFactory(s.url, TOKEN), confirm: true }));
    expect(e.message).toMatch(/transaction on 127\.0\.0\.1:\d+ was lost/);
    expect(e.message).toMatch(/target is unchanged/);
    // The server drops the orphaned stream when it expires, rolling the transaction back.
    await new Promise((r) => setTimeout(r, 800));
    const d = new Database(target, { readonly: true });
    expect(d.prepare("SELECT count(*) FROM sqlite_schema WHERE type = 'table'").pluck().get()).toBe(0);
    d.close();
  });

  it('backs up through the CLI (npx tsx scripts/backup-turso.ts) without printing the token', async () => {
    const s = await serve(db, { latencyMs: 5 });
    const out = join(dirs.make(), 'cli.ndjson.gz');
    const env = { ...process.env, TURSO_DATABASE_URL: s.url, TURSO_AUTH_TOKEN: TOKEN };
    // Asynchronously: the stand-in runs in this process and must keep answering.
    const ok = await run(['--write', '--out', out], env);
    expect(ok.status, ok.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
    expect(ok.stdout + ok.stderr).not.toContain(TOKEN);
    expect(ok.stdout).toContain('child');

    const bad = await run(['--write', '--out', out.replace('cli.', 'cli-2.')], { ...env, TURSO_AUTH_TOKEN: 'cli-wrong-token' });
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain(`the server refused the token (HTTP 401) for 127.0.0.1:${s.port}`);
    // Not only TURSO_AUTH_TOKEN: the token may come from the variable --auth-token-env names (the RUNBOOK's restores do).
    expect(bad.stderr).toContain('(TURSO_AUTH_TOKEN, or the variable --auth-token-env names)');
    expect(bad.stderr + bad.stdout).not.toContain('cli-wrong-token');
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
  });
});
