/**
 * One snapshot while a writer commits. A `file:` backup reads on a thread of its own (backup/reader.ts), through one
 * connection, inside one read transaction. Here another thread commits transactions that each add one row to
 * three tables while the backup runs, held back by a slow sink so that many commits fall inside it. The dump must
 * show one instant: the same transactions in every table (the tables are read one after the other, so any commit
 * seen by a later table and not by an earlier one would show), and the header's counts equal to the rows.
 *
 * WAL mode: the writer commits freely meanwhile, and the dump holds none of those commits. Rollback-journal mode: a
 * reader's lock keeps the writer from committing until the read ends, and the writer is seen being held back.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { afterAll, describe, expect, it } from 'vitest';
import { backup } from '../src/backup/backup.js';
import { fileSink } from '../src/sink/file.js';
import type { Sink } from '../src/sink/types.js';
import { dumpLines, gunzipFile, tempDirs } from './support/dumps.js';

const dirs = tempDirs('tb-backup-snapshot-');
afterAll(() => dirs.cleanup());

const TABLES = ['a', 'b', 'c'] as const;
const ROWS = 3000;

function buildDb(path: string, journal: 'wal' | 'delete'): void {
  const db = new Database(path);
  db.pragma(`journal_mode = ${journal}`);
  for (const t of TABLES) db.exec(`CREATE TABLE ${t} (id INTEGER PRIMARY KEY, tx INTEGER NOT NULL, pad TEXT)`);
  const insert = TABLES.map((t) => db.prepare(`INSERT INTO ${t} (tx, pad) VALUES (?, ?)`));
  db.transaction(() => {
    for (let i = 1; i <= ROWS; i++) for (const s of insert) s.run(i, 'x'.repeat(100));
  })();
  db.close();
}

/**
 * A thread that commits one row into every table per transaction (tx numbers from ROWS + 1 on), as fast as it may,
 * until told to stop; it reports how many commits it made and how often SQLite made it wait (SQLITE_BUSY).
 */
function startWriter(path: string) {
  const code = `
    const { parentPort, workerData } = require('node:worker_threads');
    const Database = require(workerData.driver);
    const db = new Database(workerData.path);
    db.pragma('busy_timeout = 5');
    const tables = ${JSON.stringify(TABLES)};
    const inserts = tables.map((t) => db.prepare('INSERT INTO ' + t + ' (tx, pad) VALUES (?, ?)'));
    let tx = ${ROWS}, busy = 0, stop = false;
    parentPort.on('message', () => (stop = true));
    const step = () => {
      if (stop) { db.close(); parentPort.postMessage({ commits: tx - ${ROWS}, busy }); return; }
      try {
        if (!db.inTransaction) { db.exec('BEGIN IMMEDIATE'); for (const s of inserts) s.run(tx + 1, 'y'); }
        db.exec('COMMIT');
        tx++;
        parentPort.postMessage({ committed: tx });
      } catch (e) {
        if (e.code !== 'SQLITE_BUSY') throw e;
        busy++;
      }
      setTimeout(step, 1);
    };
    step();`;
  const w = new Worker(code, { eval: true, workerData: { path, driver: require.resolve('better-sqlite3') } });
  let latest = ROWS;
  w.on('message', (m: { committed?: number }) => {
    if (m.committed) latest = m.committed;
  });
  return {
    /** The last tx number committed so far. */
    latest: () => latest,
    stop: () =>
      new Promise<{ commits: number; busy: number }>((resolve, reject) => {
        w.on('message', (m: { commits?: number; busy: number }) => m.commits !== undefined && resolve(m as { commits: number; busy: number }));
        w.on('error', reject);
        w.postMessage('stop');
      }),
  };
}

/** A file sink that takes its time over every write: the backup's reader is held back by it (backpressure). */
function slowSink(path: string, ms: number): Sink {
  const inner = fileSink(path);
  return {
    ...inner,
    write: async (chunk) => {
      await new Promise((r) => setTimeout(r, ms));
      return inner.write(chunk);
    },
  };
}

/** The tx numbers of each table's rows in the dump, and the header's counts. */
function dumpTxs(out: string) {
  const lines = dumpLines(gunzipFile(out)).map((l) => JSON.parse(l) as { type?: string; name?: string; tables?: { name: string; rows: number }[] } | unknown[]);
  const header = lines[0] as { tables: { name: string; rows: number }[] };
  const txs: Record<string, number[]> = {};
  let current = '';
  for (const l of lines) {
    if (Array.isArray(l)) txs[current]!.push(Number(l[1]));
    else if (l.type === 'table') {
      current = l.name!;
      txs[current] = [];
    }
  }
  return { header, txs };
}

describe.each(['wal', 'delete'] as const)('a file backup while a writer commits (journal_mode %s)', (journal) => {
  it('reads one snapshot: the same transactions in every table, counts as the header says', async () => {
    const dir = dirs.make();
    const path = join(dir, 'busy.db');
    buildDb(path, journal);
    const writer = startWriter(path);
    while (writer.latest() < ROWS + 5) await new Promise((r) => setTimeout(r, 5)); // it is committing
    const before = writer.latest();
    const out = join(dir, 'dump.ndjson.gz');
    // Small pages and a slow sink: the read lasts many of the writer's commits.
    const r = await backup(
      { url: `file:${path}`, pages: { maxRows: 100, targetBytes: 8 * 1024, firstRows: 100 }, gzip: { blockBytes: 16 * 1024 } },
      slowSink(out, 20),
    );
    const atEnd = writer.latest();
    const stats = await writer.stop();

    const { header, txs } = dumpTxs(out);
    const seen = txs.a!;
    expect(seen.length).toBeGreaterThanOrEqual(before);
    for (const t of TABLES) {
      expect(txs[t]).toEqual(seen); // one instant for every table
      expect(header.tables.find((x) => x.name === t)!.rows).toBe(seen.length);
      expect(r.tables[t]).toBe(seen.length);
    }
    expect(seen).toEqual(Array.from({ length: seen.length }, (_, i) => i + 1)); // every tx up to that instant
    if (journal === 'wal') {
      // The writer went on committing during the read, and the dump holds none of it.
      expect(atEnd - before).toBeGreaterThan(20);
      expect(seen.length).toBeLessThan(atEnd);
    } else {
      // The read's lock held the writer back: it was told to wait, again and again.
      expect(stats.busy).toBeGreaterThan(10);
    }
    // After the read, the writer's commits are all there.
    const db = new Database(path, { readonly: true });
    for (const t of TABLES) expect(Number(db.prepare(`SELECT count(*) FROM ${t}`).pluck().get())).toBe(ROWS + stats.commits);
    db.close();
  });
});
