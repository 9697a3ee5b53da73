/**
 * The backup Source contract (src/backup/source.ts, src/backup/reader.ts), driven through the library's `backup()`
 * and run against every backend: a local `file:` database (read on a reader thread) and a remote database over HTTP
 * (the stand-in sqld, driven by the real @libsql/client through src/db/remote.ts). Both must give the same outcome:
 *
 * - every storage class round-trips exactly (backup, restore into a new file, compared cell by cell: storage class,
 *   REAL bits incl. -0.0 and ±Infinity, 64-bit INTEGERs, BLOBs, TEXT that is not UTF-8, hidden rowids), and each
 *   table's checksum equals the reference dump's;
 * - the dump is one snapshot: commits made by a writer while the backup runs are not in it;
 * - pages a server refuses as too large are asked again smaller: the dump is the one read without a limit;
 * - pages of BLOBs (whose memory a reader thread writes its next pages into once they are compressed or copied)
 *   come back exact, with pages copied into gzip blocks and pages compressed as their own;
 * - an abort (AbortSignal) mid-table ends with INTERRUPTED and leaves no dump and no manifest.
 */
import Database from 'better-sqlite3';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, type BackupOptions, type BackupResult } from '../../src/backup/backup.js';
import { openDb } from '../../src/db/open.js';
import { PageTooLargeError } from '../../src/db/pages.js';
import { BackupError } from '../../src/errors.js';
import { restore } from '../../src/restore/restore.js';
import { fileSink } from '../../src/sink/file.js';
import type { Sink } from '../../src/sink/types.js';
import { localTargetFactory } from '../../src/target/local.js';
import { listDir, rejection, tempDirs } from '../support/dumps.js';
import { ENCODINGS, encodingLabel, startHranaServer, type HranaServerOptions } from '../support/hrana-server.js';
import { buildNastyDb, diffDumps, dumpDb } from '../support/nasty-db.js';

const dirs = tempDirs('tb-contract-source-');
const TOKEN = 'contract-source-token';

interface Served {
  /** What `backup()` is given. */
  opts: Pick<BackupOptions, 'url' | 'authToken'>;
  close(): Promise<void>;
}

interface SourceBackend {
  name: string;
  /** Serves the SQLite file at `path` as a backup source. */
  serve(path: string, server?: Partial<HranaServerOptions>): Promise<Served>;
  /**
   * Whether the backend has a response limit that refuses a page as too large (sqld's --max-response-size): 'refuses'
   * for the remote server; 'none' for a local file, which reads any page whole. Either way the dump must be the same.
   */
  responseLimit: 'refuses' | 'none';
}

const BACKENDS: SourceBackend[] = [
  {
    name: 'local file (reader thread)',
    responseLimit: 'none',
    async serve(path) {
      return { opts: { url: `file:${path}` }, close: async () => {} };
    },
  },
  ...ENCODINGS.map(
    (encoding): SourceBackend => ({
      name: `remote (stand-in sqld over HTTP, ${encodingLabel(encoding)})`,
      responseLimit: 'refuses',
      async serve(path, server = {}) {
        const s = await startHranaServer({ db: path, token: TOKEN, encodings: [encoding], ...server });
        return { opts: { url: s.url, authToken: TOKEN }, close: () => s.close() };
      },
    }),
  ),
];

type Tables = Record<string, { rows: number; sha256: string }>;

/** Per-table counts and checksums of a database as a plain local backup records them, before any test touches it. */
async function reference(path: string): Promise<Tables> {
  return (await backup({ url: `file:${path}` }, fileSink(join(dirs.make(), 'reference.ndjson.gz')))).manifest!.tables;
}

/**
 * The nasty database (every storage class and awkward value), a table of rows too wide for one small response, and
 * a busy database (rebuilt by each test that writes to it), with their reference checksums.
 */
let nasty: string;
let wide: string;
let busy: string;
let blobs: string;
const references = new Map<string, Tables>();

beforeAll(async () => {
  const dir = dirs.make();
  nasty = join(dir, 'nasty.db');
  // Without its 1 MB TEXT and 2 MB BLOB: rows too large for one response are the third test's.
  buildNastyDb(nasty, { wal: true, eventRows: 2000, small: true });
  wide = join(dir, 'wide.db');
  buildWideDb(wide);
  busy = join(dir, 'busy.db');
  buildBusyDb(busy);
  blobs = join(dir, 'blobs.db');
  buildBlobsDb(blobs);
  for (const p of [nasty, wide, busy, blobs]) references.set(p, await reference(p));
});
afterAll(() => dirs.cleanup());

/** Backs up through `backend` into a fresh directory; `sink` may wrap the file sink. */
async function backupVia(
  backend: SourceBackend,
  path: string,
  opts: Partial<BackupOptions> & { server?: Partial<HranaServerOptions>; wrap?: (s: Sink) => Sink } = {},
): Promise<{ result: BackupResult; dump: string }> {
  const { server: serverOpts, wrap = (s) => s, ...rest } = opts;
  const served = await backend.serve(path, serverOpts);
  const dump = join(dirs.make(), 'backup.ndjson.gz');
  try {
    return { result: await backup({ ...served.opts, ...rest }, wrap(fileSink(dump))), dump };
  } finally {
    await served.close();
  }
}

/** Restores `dump` into a new file and returns the file. */
async function restored(dump: string): Promise<string> {
  const target = join(dirs.make(), 'restored.db');
  const r = await restore({ openInput: async () => createReadStream(dump), target: localTargetFactory(target), confirm: true });
  expect(r.verified).toBe(true);
  return target;
}

const BUSY_ROWS = 5000;

/**
 * A WAL-mode database (a writer can commit beside a reader) of one rowid table of ~100-byte rows and one WITHOUT
 * ROWID table; its content is the same on every build, so one reference checksums them all.
 */
function buildBusyDb(path: string): void {
  const db = new Database(path);
  try {
    db.pragma('journal_mode = WAL');
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT, r REAL); CREATE TABLE u (k TEXT PRIMARY KEY, v) WITHOUT ROWID');
    db.prepare(
      `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
       INSERT INTO t (id, body, r) SELECT x, replace(hex(zeroblob(50)), '00', printf('%02x', x % 251)), x / 3.0 FROM n`,
    ).run(BUSY_ROWS);
    db.exec("INSERT INTO u VALUES ('a', 1), ('b', 2.5), ('c', x'00ff')");
  } finally {
    db.close();
  }
}

/** A sink that calls `first` once, when the first dump bytes reach it (the source is still reading then). */
function onFirstWrite(inner: Sink, first: () => void): Sink {
  let called = false;
  return {
    ...inner,
    open: () => inner.open(),
    commit: (m) => inner.commit(m),
    abort: () => inner.abort(),
    async write(chunk) {
      if (!called) {
        called = true;
        first();
      }
      await inner.write(chunk);
    },
  };
}

/** 40 rows of ~40 kB (TEXT and BLOB): one page of them all is far over a 300 kB response limit. */
function buildWideDb(path: string): void {
  const db = new Database(path);
  try {
    db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT, b BLOB)');
    const ins = db.prepare('INSERT INTO t (v, b) VALUES (?, randomblob(20000))');
    for (let i = 0; i < 40; i++) ins.run(`${i} ${'x'.repeat(20_000)}`);
  } finally {
    db.close();
  }
}

/** 4000 rows of a 600-byte random BLOB and a short TEXT (the events bench's Media table in small). */
function buildBlobsDb(path: string): void {
  const db = new Database(path);
  try {
    db.exec('CREATE TABLE m (id INTEGER PRIMARY KEY, name TEXT, data BLOB)');
    db.exec(`WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 4000)
      INSERT INTO m (id, name, data) SELECT x, 'file-' || x, randomblob(600) FROM n`);
  } finally {
    db.close();
  }
}

/** Whether the source answers `sql` in one response ('read') or refuses it as too large ('refused'). */
async function readWhole(opts: Served['opts'], sql: string): Promise<'read' | 'refused'> {
  const db = await openDb(opts.url, { readonly: true, authToken: opts.authToken });
  try {
    await db.query(sql);
    return 'read';
  } catch (e) {
    if (e instanceof PageTooLargeError) return 'refused';
    throw e;
  } finally {
    await db.close();
  }
}

/** Small pages and gzip blocks: the first bytes reach the sink while most pages are still to be read. */
const SMALL: Partial<BackupOptions> = { pages: { maxRows: 100, firstRows: 100, targetBytes: 1 << 30 }, gzip: { blockBytes: 16 * 1024 } };

describe.each(BACKENDS)('Source contract: $name', (backend) => {
  it('every storage class round-trips exactly, and each table checksums as in the reference dump', async () => {
    const { result, dump } = await backupVia(backend, nasty);
    expect(result.manifest!.tables).toEqual(references.get(nasty));
    const copy = await restored(dump);
    // Cell by cell: storage class, exact bytes, REAL bits (-0.0, ±Inf, 5e-324), int64 bounds, non-UTF-8 TEXT, rowids.
    expect(diffDumps(dumpDb(nasty), dumpDb(copy))).toEqual([]);
  });

  it('the dump is one snapshot: commits made while the backup runs are not in it', async () => {
    const path = join(dirs.make(), 'busy.db');
    buildBusyDb(path);
    const before = dumpDb(path);
    const writer = new Database(path);
    let wrote = false;
    try {
      const { result } = await backupVia(backend, path, {
        ...SMALL,
        // Rows the source has not read yet (it reads in key order): updated, deleted, and new ones added.
        wrap: (s) =>
          onFirstWrite(s, () => {
            writer.exec(`UPDATE t SET body = 'changed' WHERE id > ${BUSY_ROWS - 50}; DELETE FROM t WHERE id BETWEEN ${BUSY_ROWS - 500} AND ${BUSY_ROWS - 400}`);
            writer.prepare("INSERT INTO t (id, body, r) VALUES (?, 'new', -0.0)").run(BigInt(BUSY_ROWS + 1));
            writer.exec("UPDATE u SET v = 'changed' WHERE k = 'c'; INSERT INTO u VALUES ('d', NULL)");
            wrote = true;
          }),
      });
      expect(wrote).toBe(true);
      // Every row as it was when the backup began: same counts, same checksums over every row's bytes.
      expect(result.manifest!.tables).toEqual(references.get(busy));
    } finally {
      writer.close();
    }
    // The commits did land in the database: the dump left them out because it read one snapshot.
    expect(diffDumps(before, dumpDb(path)).length).toBeGreaterThan(0);
  });

  it('pages a server refuses as too large are asked again smaller: the dump is the one read without a limit', async () => {
    const served = await backend.serve(wide, { maxResponseBytes: 300_000 });
    try {
      // All 40 rows (~1.6 MB) in one answer: refused by a server with a 300 kB limit, read whole from a local file.
      expect(await readWhole(served.opts, 'SELECT * FROM t')).toBe(backend.responseLimit === 'refuses' ? 'refused' : 'read');
      // The backup asks for them all in its first page too: only pages asked again smaller can pass.
      const dump = join(dirs.make(), 'wide.ndjson.gz');
      const result = await backup({ ...served.opts, pages: { maxRows: 40, firstRows: 40, targetBytes: 8 << 20 } }, fileSink(dump));
      expect(result.manifest!.tables).toEqual(references.get(wide));
      expect(diffDumps(dumpDb(wide), dumpDb(await restored(dump)))).toEqual([]);
    } finally {
      await served.close();
    }
  });

  it('pages of BLOBs come back exact, copied into gzip blocks or compressed as their own', async () => {
    // ~200 pages of ~16 kB: with 16 kB blocks each page is compressed as its own block; with 1 MiB ones, copied.
    for (const blockBytes of [16 * 1024, 1024 * 1024]) {
      const { result, dump } = await backupVia(backend, blobs, { pages: { maxRows: 20, firstRows: 20, targetBytes: 1 << 30 }, gzip: { blockBytes } });
      expect(result.manifest!.tables).toEqual(references.get(blobs));
      expect(diffDumps(dumpDb(blobs), dumpDb(await restored(dump)))).toEqual([]);
    }
  });

  it('an abort mid-table ends with INTERRUPTED and leaves no dump and no manifest', async () => {
    const ac = new AbortController();
    let seen = 0;
    const served = await backend.serve(busy);
    const out = dirs.make();
    try {
      const e = await rejection(
        backup(
          {
            ...served.opts,
            ...SMALL,
            signal: ac.signal,
            onProgress: (p) => {
              seen = p.rows;
              if (p.rows >= 1000) ac.abort();
            },
          },
          fileSink(join(out, 'aborted.ndjson.gz')),
        ),
      );
      expect(e).toBeInstanceOf(BackupError);
      expect(e.code).toBe('INTERRUPTED');
    } finally {
      await served.close();
    }
    // It was stopped mid-table, not at the end.
    expect(seen).toBeGreaterThanOrEqual(1000);
    expect(seen).toBeLessThan(BUSY_ROWS);
    expect(listDir(out)).toEqual([]);
  });
});
