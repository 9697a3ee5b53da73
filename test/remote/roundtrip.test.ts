/**
 * Remote round trip through the stand-in sqld and the real @libsql/client: the nasty database is served over HTTP
 * (with added latency and every 9th request failing), backed up, verified, restored into an empty remote database
 * (with latency and faults too), and compared cell by cell ([typeof, exact bytes]) with the original.
 */
import Database from 'better-sqlite3';
import { createReadStream, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup } from '../../src/backup/backup.js';
import { restore } from '../../src/restore/restore.js';
import { fileSink } from '../../src/sink/file.js';
import { remoteTargetFactory } from '../../src/target/remote.js';
import { verify } from '../../src/verify.js';
import { tempDirs } from '../support/dumps.js';
import { startHranaServer, type HranaServer, type HranaServerOptions } from '../support/hrana-server.js';
import { buildNastyDb, diffDumps, dumpDb } from '../support/nasty-db.js';

const TOKEN = 'sekrit-token-0123456789abcdef';
const dirs = tempDirs('tb-remote-rt-');
const servers: HranaServer[] = [];
let dir: string;
let src: string;
let localShas: Record<string, string>;

async function serve(db: string, opts: Partial<HranaServerOptions> = {}) {
  const s = await startHranaServer({ db, token: TOKEN, ...opts });
  servers.push(s);
  return s;
}

beforeAll(async () => {
  dir = dirs.make();
  src = join(dir, 'nasty.db');
  buildNastyDb(src);
  const local = await backup({ url: `file:${src}` }, fileSink(join(dir, 'local.ndjson.gz')));
  localShas = Object.fromEntries(Object.entries(local.manifest!.tables).map(([k, v]) => [k, v.sha256]));
});

afterAll(async () => {
  for (const s of servers.splice(0)) await s.close();
  dirs.cleanup();
});

function pragma(path: string, name: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return Number(db.pragma(name, { simple: true }));
  } finally {
    db.close();
  }
}

async function roundTrip(name: string, opts: Partial<HranaServerOptions>) {
  const source = await serve(src, opts);
  const out = join(dir, `${name}.ndjson.gz`);
  const b = await backup({ url: source.url, authToken: TOKEN }, fileSink(out));
  // Bit-exact reading: every table's checksum equals the one of a local backup of the same file.
  expect(Object.fromEntries(Object.entries(b.manifest!.tables).map(([k, v]) => [k, v.sha256]))).toEqual(localShas);
  const v = await verify(createReadStream(out));
  expect(v.header.source).toBe(`${source.url}/`);
  expect(readFileSync(out).includes(TOKEN)).toBe(false);
  expect(gunzipSync(readFileSync(out)).includes(TOKEN)).toBe(false);

  const dst = join(dir, `${name}-restored.db`);
  const target = await serve(dst, opts);
  const r = await restore({ openInput: async () => createReadStream(out), target: remoteTargetFactory(target.url, TOKEN), confirm: true });
  expect(r.verified).toBe(true);
  expect(r.foreignKeyViolations).toEqual({});
  await target.close();
  // application_id cannot be set through sqld (PRAGMA not on its list); everything else must be identical.
  expect(diffDumps(dumpDb(src), dumpDb(dst), { pragmas: false })).toEqual([]);
  expect(pragma(dst, 'user_version')).toBe(pragma(src, 'user_version'));
  return { source, target, backup: b };
}

describe('remote backup and restore over HTTP', () => {
  it('round-trips the nasty database exactly (int64, REAL bits, ±Inf, NUL, non-UTF-8, blobs, rowids, FTS5)', async () => {
    await roundTrip('plain', {});
  });

  it('round-trips with 20 ms latency and every 9th request failing with 503', async () => {
    const { source, target } = await roundTrip('faulty', { latencyMs: 20, failEvery: 9 });
    expect(source.stats.failed).toBeGreaterThan(0);
    expect(target.stats.failed).toBeGreaterThan(0);
  });

  it('round-trips when every 7th connection is reset before the request runs', async () => {
    const { source, target } = await roundTrip('resets', { failEvery: 7, failMode: 'reset' });
    expect(source.stats.failed).toBeGreaterThan(0);
    expect(target.stats.failed).toBeGreaterThan(0);
  });

  it('records the URL without its token in the header and manifest', async () => {
    const source = await serve(src);
    const out = join(dir, 'query-token.ndjson.gz');
    // A token in the URL's query (as libsql:// URLs may carry it) must not reach the dump either.
    const b = await backup({ url: `${source.url}?authToken=${TOKEN}` }, fileSink(out));
    expect(b.source).not.toContain(TOKEN);
    expect(JSON.stringify(b.manifest)).not.toContain(TOKEN);
    expect(gunzipSync(readFileSync(out)).includes(TOKEN)).toBe(false);
    expect(readFileSync(`${out}.manifest.json`, 'utf8')).not.toContain(TOKEN);
  });
});
