/**
 * What the cron's function loads (issue 14): api/cron/backup.ts, run in a child process as a Vercel function would
 * run it, against the sqld stand-in (a remote database) and the Blob stand-in. Native code shows in the process's
 * shared objects (process.report); JavaScript modules are recorded by a resolve hook. A remote run must load
 * neither better-sqlite3 nor the `libsql` driver; the same handler over a `file:` database is the control that
 * shows the probe sees them.
 */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildSmallDb, ROOT, useBlobStore } from './blob/helpers.js';
import { withBlobEnv } from './support/blob-env.js';
import { tempDirs } from './support/dumps.js';
import { startHranaServer, type HranaServer } from './support/hrana-server.js';

const dirs = tempDirs('tb-cron-bundle-');
const SECRET = 'cron-bundle-secret-0123456789';
const DB_TOKEN = 'sqld-token-0123456789';
let tmp: string;
let db: string;
let sqld: HranaServer;
let probe: string;

// The child: a resolve hook logging every module, then one cron request, then what native code got loaded.
const HOOKS = `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const r = await next(specifier, context);
  appendFileSync(process.env.MODULE_LOG, r.url + '\\n');
  return r;
}`;
const REGISTER = (hooks: string) => `import { register } from 'node:module'; register(${JSON.stringify(pathToFileURL(hooks).href)});`;
const CHILD = (handler: string) => `const { GET } = await import(${JSON.stringify(pathToFileURL(handler).href)});
const res = await GET(new Request('https://app.example.com/api/cron/backup', { headers: { authorization: 'Bearer ' + process.env.CRON_SECRET } }));
const body = await res.json();
const native = process.report.getReport().sharedObjects.filter((s) => s.endsWith('.node'));
console.log(JSON.stringify({ status: res.status, body, native }));`;

beforeAll(async () => {
  tmp = dirs.make();
  db = join(tmp, 'app.db');
  buildSmallDb(db, 120);
  sqld = await startHranaServer({ db, token: DB_TOKEN });
  const hooks = join(tmp, 'hooks.mjs');
  writeFileSync(hooks, HOOKS);
  writeFileSync(join(tmp, 'register.mjs'), REGISTER(hooks));
  probe = join(tmp, 'child.mjs');
  writeFileSync(probe, CHILD(join(ROOT, 'api', 'cron', 'backup.ts')));
});
afterAll(async () => {
  await sqld?.close();
  dirs.cleanup();
});

interface Probe {
  status: number;
  body: { pathname?: string; tables?: Record<string, number>; error?: string };
  native: string[];
  modules: string[];
}

/** Runs the cron handler once in a fresh node process (tsx loads the TypeScript, as Vercel's bundler would compile it). */
function runCron(env: Record<string, string | undefined>): Promise<Probe> {
  const log = join(dirs.make(), 'modules.log');
  writeFileSync(log, '');
  const tsx = pathToFileURL(join(ROOT, 'node_modules', 'tsx', 'dist', 'loader.mjs')).href;
  const child = spawn(process.execPath, ['--import', tsx, '--import', pathToFileURL(join(tmp, 'register.mjs')).href, probe], {
    cwd: tmp,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? tmp, MODULE_LOG: log, CRON_SECRET: SECRET, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`the cron child failed (${code}): ${stderr}`));
      const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as Omit<Probe, 'modules'>;
      resolve({ ...out, modules: readFileSync(log, 'utf8').split('\n').filter(Boolean) });
    });
  });
}

const loads = (p: Probe, pkg: string) => p.modules.some((m) => m.includes(`/node_modules/${pkg}/`)) || p.native.some((n) => n.includes(`/node_modules/${pkg}`));

describe("the cron's function", () => {
  const blob = useBlobStore(() => tmp);

  it('backs up a remote database without loading better-sqlite3 or the native libsql driver', async () => {
    const p = await runCron({ ...withBlobEnv(blob()), TURSO_DATABASE_URL: sqld.url, TURSO_AUTH_TOKEN: DB_TOKEN });
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    expect(p.body.tables).toEqual({ users: 120 });
    // Our own optional module (libdeflate: the dump's gzip members, with zlib as the fallback where it is not
    // deployed) may load; no database driver's native code may.
    const drivers = p.native.filter((n) => !/\/dist\/native\/inflate-[a-z0-9]+-[a-z0-9]+\.node$/.test(n));
    expect(drivers, drivers.join('\n')).toEqual([]);
    expect(loads(p, 'better-sqlite3')).toBe(false);
    expect(loads(p, 'libsql')).toBe(false);
    expect(loads(p, '@libsql/linux-x64-gnu')).toBe(false);
    // It did load the Hrana client and the Blob client: the probe sees packages. @libsql/client (whose main entry
    // loads the native driver) is a test tool only.
    expect(loads(p, '@libsql/hrana-client')).toBe(true);
    expect(loads(p, '@libsql/client')).toBe(false);
    expect(loads(p, '@vercel/blob')).toBe(true);
  });

  it('the control: over a file: database the same probe sees better-sqlite3 loaded', async () => {
    const p = await runCron({ ...withBlobEnv(blob()), TURSO_DATABASE_URL: `file:${db}` });
    expect(p.status, JSON.stringify(p.body)).toBe(200);
    expect(p.native.some((n) => n.endsWith('better_sqlite3.node'))).toBe(true);
    expect(loads(p, 'better-sqlite3')).toBe(true);
  });
});
