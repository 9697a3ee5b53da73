/**
 * Pages of tables whose rows jump from small to large, on real SQLite files: a page is sized from the rows before
 * it, so without knowing the table's largest row one page held a whole run of large rows (60 rows of 5 MB read as one
 * 400 MB page). With it (Db.largestRow, or the dump's longest line for the restore's read-back) no page exceeds
 * MAX_PAGE_BYTES by more than one row, every row still comes back once, in order, exactly, and a backup of such a
 * table restores to the same rows.
 */
import Database from 'better-sqlite3';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreditMessage, ReaderData, ReaderMessage } from '../../src/backup/read-worker.js';
import { LOCAL_PAGES } from '../../src/backup/reader.js';
import { remoteTuning } from '../../src/db/hrana/config.js';
import { openLocalDb } from '../../src/db/local.js';
import { pageCredits, REUSE_MAX } from '../../src/memory.js';
import { spawnWorker } from '../../src/worker.js';
import { encodedPages, finishEncodedPage, MAX_PAGE_BYTES } from '../../src/db/pages.js';
import { longLine } from '../../src/format/reader.js';
import { encodeRow } from '../../src/format/values.js';
import { backup, restore } from '../../src/index.js';
import { FOLLOW_MAX_LINE, followedTables } from '../../src/restore/restore.js';
import { prngBytes } from '../support/nasty-db.js';
import { dumpLines, gunzipFile, gzip, listDir, rejection, reseal, tempDirs } from '../support/dumps.js';

const dirs = tempDirs('tb-large-rows-');
afterAll(() => dirs.cleanup());

const MB = 1024 * 1024;
/** Rows 1–400 small, 401–430 of 1.5 MB each (a run longer than a page of them may hold), then small again. */
const rowOf = (i: number): unknown[] => [
  BigInt(i),
  `name ${i}`,
  i > 400 && i <= 430 ? Buffer.from(prngBytes(1.5 * MB + i, i)) : Buffer.from(prngBytes(50 + (i % 90), i)),
];
const ROWS = 600;
let path = '';

beforeAll(() => {
  path = join(dirs.make(), 'large.db');
  const db = new Database(path);
  db.exec('CREATE TABLE m (id INTEGER PRIMARY KEY, name TEXT NOT NULL, data BLOB)');
  const insert = db.prepare('INSERT INTO m VALUES (?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= ROWS; i++) insert.run(...rowOf(i));
  })();
  db.close();
});

const table = { name: 'm', dataColumns: ['id', 'name', 'data'], keyColumns: ['id'] };
/** Pages sized for the small rows: a first page of 256 rows, then as many as 1 MiB of the rows before holds. */
const pages = { maxRows: 32768, targetBytes: MB, firstRows: 256 };

async function pagesOf(largestRow: number | undefined) {
  const db = await openLocalDb(path, { readonly: true });
  try {
    await db.beginRead();
    const out: Buffer[] = [];
    for await (const p of encodedPages(db, table, { pages: { ...pages, largestRow }, deferFinish: true })) out.push(finishEncodedPage('m', p));
    return out;
  } finally {
    await db.close();
  }
}

describe('pages of large rows', () => {
  it("SQLite tells a table's largest row from its pages", async () => {
    const db = await openLocalDb(path, { readonly: true });
    try {
      const largest = (await db.largestRow('m'))!;
      expect(largest).toBeGreaterThanOrEqual(1.5 * MB + 430);
      expect(largest).toBeLessThan(1.5 * MB + 1024);
      expect(await db.largestRow('no_such_table')).toBeNull();
    } finally {
      await db.close();
    }
  });

  it('keeps every page under the bound (one row over at most), every row once, in order, exactly', async () => {
    const db = await openLocalDb(path, { readonly: true });
    const largest = (await db.largestRow('m'))!;
    await db.close();
    const bounded = await pagesOf(largest);
    const want = Array.from({ length: ROWS }, (_, i) => encodeRow(rowOf(i + 1))).join('');
    expect(Buffer.concat(bounded).equals(Buffer.from(want))).toBe(true);
    const biggestRow = Math.max(...Array.from({ length: ROWS }, (_, i) => Buffer.byteLength(encodeRow(rowOf(i + 1)))));
    for (const p of bounded) expect(p.length).toBeLessThanOrEqual(MAX_PAGE_BYTES + biggestRow);
    // The same walk without the largest row known: the run of large rows came as one page of its whole size.
    const unbounded = await pagesOf(undefined);
    expect(Buffer.concat(unbounded).equals(Buffer.from(want))).toBe(true);
    expect(Math.max(...unbounded.map((p) => p.length))).toBeGreaterThan(MAX_PAGE_BYTES + biggestRow);
  });

  it("the backup's reader thread sends a page of rows of MiBs alone: no other page until that one is taken", async () => {
    // The reader thread's credit protocol, driven by hand: the main thread (reader.ts) gives a page's credits back
    // once it has taken it. A page over REUSE_MAX costs all of them (memory.ts pageCredits): on its way alone. With
    // one credit per page, four such pages travelled at once, several copies of a row of MiBs each (the large bench
    // shape's backup peaked at 158–165 MB; docs/BENCHMARKS.md, session 30).
    const data: ReaderData = { opts: { url: `file:${path}`, pages: LOCAL_PAGES, cacheKiB: 2048, checksums: false }, credits: 4, tuning: { ...remoteTuning } };
    const worker = spawnWorker('backup/read-worker', data);
    const pages: number[] = [];
    let changed: () => void = () => {};
    worker.on('message', (m: ReaderMessage) => {
      if ('event' in m && m.event.kind === 'page') pages.push((m.event.bytes as unknown as Uint8Array).byteLength);
      changed();
    });
    /** Resolves once no page came for 400 ms: the thread waits for credits (or is done). */
    const settled = async () => {
      for (;;) {
        const n = pages.length;
        await new Promise<void>((r) => {
          changed = r;
          setTimeout(r, 400);
        });
        if (pages.length === n) return;
      }
    };
    const give = (bytes: number) => worker.postMessage({ credits: pageCredits(bytes, 4) } satisfies CreditMessage);
    try {
      // The thread's start (its modules loaded from the sources here) first.
      for (let i = 0; i < 200 && pages.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
      await settled();
      // The small rows' pages came, none of the large ones: they wait for the credits of the pages before them.
      expect(pages.length).toBeGreaterThan(0);
      expect(pages.every((b) => b <= REUSE_MAX)).toBe(true);
      const small = pages.length;
      for (const b of pages) give(b);
      await settled();
      expect(pages.length).toBe(small + 1);
      expect(pages[small]).toBeGreaterThan(REUSE_MAX);
      give(pages[small]!);
      await settled();
      expect(pages.length).toBe(small + 2);
      expect(pages[small + 1]).toBeGreaterThan(REUSE_MAX);
    } finally {
      await worker.terminate();
    }
  });

  it('a backup of such a table restores to the same rows', async () => {
    const dir = dirs.make();
    const out = join(dir, 'large.ndjson.gz');
    await backup({ url: `file:${path}`, out });
    const target = join(dir, 'restored.db');
    const r = await restore({ source: out, target: `file:${target}`, confirm: true });
    expect(r.tables).toEqual({ m: ROWS });
    const a = new Database(path, { readonly: true });
    const b = new Database(target, { readonly: true });
    const sum = (d: Database.Database) => d.prepare("SELECT count(*), sum(length(data)), group_concat(hex(substr(data, 1, 8)), '') FROM m").raw().get();
    expect(sum(b)).toEqual(sum(a));
    a.close();
    b.close();
  });
});

describe('longLine', () => {
  const lines = (...lengths: number[]) => Buffer.from(lengths.map((n) => `${'x'.repeat(n)}\n`).join(''));
  it('finds the longest line when one reaches the bound, wherever it lies', () => {
    expect(longLine(lines(10, 20, 30), 64)).toBe(0);
    expect(longLine(lines(10, 63, 30), 64)).toBe(0);
    expect(longLine(lines(10, 64, 30), 64)).toBe(64);
    expect(longLine(lines(200), 64)).toBe(200);
    expect(longLine(lines(5, 5, 5, 5, 100, 7), 64)).toBe(100);
    for (let at = 0; at < 80; at++) expect(longLine(lines(at, 100, 3), 64), `after ${at} bytes`).toBe(100);
  });
});

describe('a restore of tables with rows of a MiB or more', () => {
  const t = (name: string) => ({ info: { name } });
  it('the verifying thread follows only the tables whose longest row line is shorter than FOLLOW_MAX_LINE', () => {
    const ends = new Map([
      ['small', { rows: 3, sha256: '' }],
      ['long', { rows: 3, sha256: '', longest: 64 * 1024 }],
      ['edge', { rows: 3, sha256: '', longest: FOLLOW_MAX_LINE - 1 }],
      ['large', { rows: 3, sha256: '', longest: FOLLOW_MAX_LINE }],
    ]);
    expect(followedTables([t('small'), t('long'), t('edge'), t('large'), t('absent')], ends).map((x) => x.info.name)).toEqual([
      'small',
      'long',
      'edge',
      'absent',
    ]);
  });

  /** A small table and one with two 1 MiB BLOBs (1.33 MiB lines), and their dump. */
  async function mixedDump(dir: string): Promise<string> {
    const db = new Database(join(dir, 'mixed.db'));
    db.exec('CREATE TABLE s (id INTEGER PRIMARY KEY, v TEXT); CREATE TABLE big (id INTEGER PRIMARY KEY, data BLOB)');
    for (let i = 1; i <= 50; i++) db.prepare('INSERT INTO s VALUES (?, ?)').run(i, `v${i}`);
    for (let i = 1; i <= 20; i++) db.prepare('INSERT INTO big VALUES (?, ?)').run(i, Buffer.from(prngBytes(i % 7 === 3 ? MB : 40 + i, i)));
    db.close();
    const out = join(dir, 'mixed.ndjson.gz');
    await backup({ url: `file:${join(dir, 'mixed.db')}`, out });
    return out;
  }

  it('restores both exactly into a new file, verified', async () => {
    const dir = dirs.make();
    const target = join(dir, 'restored.db');
    const r = await restore({ source: await mixedDump(dir), target: `file:${target}`, confirm: true });
    expect(r.verified).toBe(true);
    expect(r.tables).toEqual({ s: 50, big: 20 });
    const q = (p: string) => new Database(p, { readonly: true });
    const [a, b] = [q(join(dir, 'mixed.db')), q(target)];
    const sum = (d: Database.Database) => d.prepare("SELECT group_concat(id || ':' || typeof(data) || ':' || hex(data), ',') FROM big").raw().get();
    expect(sum(b)).toEqual(sum(a));
    a.close();
    b.close();
  });

  it('still reads back the table it does not follow: rows out of key order in a forged dump are refused, nothing created', async () => {
    const dir = dirs.make();
    const lines = dumpLines(gunzipFile(await mixedDump(dir)));
    const start = lines.findIndex((l) => l.startsWith('{"type":"table"') && (JSON.parse(l) as { name: string }).name === 'big');
    // Two small rows of the large table swapped: every checksum and count is recomputed, so only a read-back sees it.
    [lines[start + 1], lines[start + 2]] = [lines[start + 2]!, lines[start + 1]!];
    const forged = join(dir, 'forged.gz');
    writeFileSync(forged, gzip(reseal(lines)));
    const out = dirs.make();
    const e = await rejection(restore({ source: forged, target: `file:${join(out, 'never.db')}`, confirm: true }));
    expect((e as { code?: string }).code, e.message).toBe('CORRUPT');
    expect(e.message).toMatch(/table "big" does not match the dump after loading/);
    expect(listDir(out)).toEqual([]);
  });
});
