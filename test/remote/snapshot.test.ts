/**
 * The read snapshot over HTTP: kept alive while a slow sink holds the pipeline back, isolated from concurrent
 * writes, and its loss (stream expiry, a request that ran but whose answer was lost) detected and reported as
 * SNAPSHOT with no dump left behind — never continued on a new connection.
 */
import Database from 'better-sqlite3';
import { copyFileSync, existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { backup, type BackupOptions } from '../../src/backup/backup.js';
import { BackupError } from '../../src/errors.js';
import { remoteTuning, resetRemoteTuning } from '../../src/db/hrana/config.js';
import { fileSink } from '../../src/sink/file.js';
import type { Sink } from '../../src/sink/types.js';
import { tempDirs } from '../support/dumps.js';
import { startHranaServer, type HranaServer, type HranaServerOptions } from '../support/hrana-server.js';

const dirs = tempDirs('tb-remote-snap-');
const servers: HranaServer[] = [];
const ROWS = 3000;

/** Small pages and small gzip blocks: the first sink write comes early and many page requests remain after it. */
const SMALL: Partial<BackupOptions> = {
  pages: { maxRows: 100, firstRows: 100, targetBytes: 1 << 30 },
  gzip: { blockBytes: 16 * 1024 },
};

function buildDb(path: string) {
  const db = new Database(path);
  try {
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, r REAL)');
    db.prepare(
      `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
       INSERT INTO t (id, body, r) SELECT x, hex(randomblob(100)), x / 3.0 FROM n`,
    ).run(ROWS);
    db.exec('CREATE TABLE u (k TEXT PRIMARY KEY, v) WITHOUT ROWID');
    db.prepare("INSERT INTO u VALUES ('a', 1), ('b', 2.5), ('c', x'00ff')").run();
  } finally {
    db.close();
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A sink whose first write stalls for `ms` (backpressure from a slow destination); `during` runs meanwhile. */
function stallingSink(inner: Sink, ms: number, during?: () => void): Sink {
  let stalled = false;
  return {
    kind: inner.kind,
    label: inner.label,
    fileName: inner.fileName,
    open: () => inner.open(),
    async write(chunk) {
      if (!stalled) {
        stalled = true;
        during?.();
        await sleep(ms);
      }
      await inner.write(chunk);
    },
    commit: (m) => inner.commit(m),
    abort: () => inner.abort(),
  };
}

let dir: string;
let db: string;
let localShas: Record<string, string>;

async function serve(opts: Partial<HranaServerOptions> = {}) {
  const s = await startHranaServer({ db, ...opts });
  servers.push(s);
  return s;
}

/** A server on a private copy of the database (for a test that writes to it). */
async function serveCopy(opts: Partial<HranaServerOptions> = {}) {
  const copy = join(dirs.make(), 'copy.db');
  copyFileSync(db, copy);
  const s = await startHranaServer({ db: copy, ...opts });
  servers.push(s);
  return { server: s, path: copy };
}

beforeAll(async () => {
  dir = dirs.make();
  db = join(dir, 'src.db');
  buildDb(db);
  const local = await backup({ url: `file:${db}` }, fileSink(join(dir, 'local.ndjson.gz')));
  localShas = Object.fromEntries(Object.entries(local.manifest!.tables).map(([k, v]) => [k, v.sha256]));
});

afterEach(() => resetRemoteTuning());
afterAll(async () => {
  for (const s of servers.splice(0)) await s.close();
  dirs.cleanup();
});

const shas = (m: { tables: Record<string, { sha256: string }> }) => Object.fromEntries(Object.entries(m.tables).map(([k, v]) => [k, v.sha256]));

describe('remote snapshot', () => {
  it('survives a sink that stalls longer than the stream idle timeout (keep-alive), isolated from concurrent writes', async () => {
    // The stream expires after 1.5 s idle, pings go every 150 ms: a loaded machine's late timers keep that margin.
    const { server, path } = await serveCopy({ streamIdleMs: 1500 });
    remoteTuning.keepAliveMs = 150;
    const out = join(dir, 'kept.ndjson.gz');
    const writer = new Database(path);
    let wrote = false;
    const started = Date.now();
    const r = await backup(
      { url: server.url, ...SMALL },
      stallingSink(fileSink(out), 4000, () => {
        // Changes committed while the backup runs must not reach the dump: it reads one snapshot.
        writer.prepare("INSERT INTO t (id, body, r) VALUES (?, 'new', 0.5)").run(BigInt(ROWS + 1));
        writer.prepare('DELETE FROM t WHERE id <= 10').run();
        writer.prepare("UPDATE u SET v = 'changed' WHERE k = 'a'").run();
        wrote = true;
      }),
    );
    writer.close();
    expect(wrote).toBe(true);
    expect(Date.now() - started).toBeGreaterThan(4000);
    expect(r.tables).toEqual({ t: ROWS, u: 3 });
    expect(shas(r.manifest!)).toEqual(localShas);
  });

  it('fails with SNAPSHOT, leaving no file, when the stream expires (keep-alive disabled)', async () => {
    const server = await serve({ streamIdleMs: 700 });
    remoteTuning.keepAliveMs = 0;
    const sub = dirs.make();
    const out = join(sub, 'expired.ndjson.gz');
    const err = await backup({ url: server.url, ...SMALL }, stallingSink(fileSink(out), 1500)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(BackupError);
    expect((err as BackupError).code).toBe('SNAPSHOT');
    expect((err as BackupError).message).toMatch(/snapshot on 127\.0\.0\.1:\d+ was lost \(STREAM_EXPIRED/);
    expect(existsSync(out)).toBe(false);
    expect(readdirSync(sub)).toEqual([]);
  });

  it('fails with SNAPSHOT when a request ran but its answer was lost (a retry would be a replay)', async () => {
    const server = await serve({ failEvery: 5, failAfterExecute: true });
    const sub = dirs.make();
    const out = join(sub, 'replay.ndjson.gz');
    const err = await backup({ url: server.url, ...SMALL }, fileSink(out)).then(
      () => null,
      (e: unknown) => e,
    );
    expect((err as BackupError).code).toBe('SNAPSHOT');
    expect((err as BackupError).message).toMatch(/was lost \((a response was lost and the server refused to run the request again|STREAM_EXPIRED)/);
    expect(readdirSync(sub)).toEqual([]);
  });

  it('takes each table in its own snapshot with --consistency per-table, and records it', async () => {
    const server = await serve({ latencyMs: 5 });
    const out = join(dir, 'per-table.ndjson.gz');
    const r = await backup({ url: server.url, consistency: 'per-table' }, fileSink(out));
    expect(r.consistency).toBe('per-table');
    expect(r.manifest!.consistency).toBe('per-table');
    expect(shas(r.manifest!)).toEqual(localShas);
  });
});
