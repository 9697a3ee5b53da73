/**
 * Keyset pagination over a table another connection is still loading (a restore's scratch file): short pages wait
 * for the writer's next commit, and the table ends only when the writer declared it complete before a short read.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { TableInfo } from '../../src/format/lines.js';
import { openLocalDb } from '../../src/db/local.js';
import { rowPages, type Growing } from '../../src/db/pages.js';
import { tempDirs } from '../support/dumps.js';

const dirs = tempDirs('tb-growing-');
afterAll(() => dirs.cleanup());

const info = (name: string, keys: string[], columns: string[]): TableInfo =>
  ({
    name,
    kind: 'table',
    withoutRowid: keys[0] !== 'rowid',
    rowidColumn: keys[0] === 'rowid',
    dataColumns: columns,
    keyColumns: keys,
    columns: [],
    rows: 0,
  }) as unknown as TableInfo;

/** A writer the test drives step by step, and the Growing view of it that the reader gets. */
function writer(path: string, table: string) {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  let gen = 0;
  let complete = false;
  let wake: (() => void) | null = null;
  const waits: number[] = [];
  const growing: Growing = {
    state: () => ({ complete, gen }),
    changed: async (seen) => {
      waits.push(seen);
      while (gen === seen && !complete) await new Promise<void>((r) => (wake = r));
    },
  };
  const ins = (from: number, n: number) => {
    const st = db.prepare(`INSERT INTO ${table} VALUES (?, ?)`);
    db.transaction(() => {
      for (let i = from; i < from + n; i++) st.run(BigInt(i), `v${i}`);
    })();
  };
  return {
    db,
    growing,
    waits,
    /** Inserts keys [from, from+n) in one committed transaction, then tells the reader. */
    commit(from: number, n: number, last = false) {
      if (n > 0) ins(from, n);
      gen++;
      if (last) complete = true;
      wake?.();
    },
  };
}

async function readAll(path: string, t: TableInfo, growing: Growing, onPage: (rows: number) => void) {
  const source = openLocalDb(path, { readonly: true });
  const keys: bigint[] = [];
  try {
    for await (const page of rowPages(source, t, { pages: { maxRows: 100, targetBytes: 1 << 20, firstRows: 50 }, growing })) {
      for (const r of page) keys.push(r[0] as bigint);
      onPage(page.length);
    }
  } finally {
    await source.close();
  }
  return keys;
}

describe('rowPages over a growing table', () => {
  for (const [kind, ddl, t] of [
    ['a rowid table', 'CREATE TABLE g (id INTEGER PRIMARY KEY, v TEXT)', info('g', ['rowid'], ['rowid', 'v'])],
    ['a WITHOUT ROWID table', 'CREATE TABLE g (id INTEGER PRIMARY KEY, v TEXT) WITHOUT ROWID', info('g', ['id'], ['id', 'v'])],
  ] as const) {
    it(`${kind}: follows the commits, waits on short pages, reads every row once and in order`, async () => {
      const path = join(dirs.make(), 'g.db');
      const w = writer(path, 'g');
      w.db.exec(ddl);
      let step = 0;
      // The writer moves only when the reader has caught up (it waits on a short page): that drives every case.
      const script = [
        () => w.commit(0, 0), // a commit that adds nothing: the reader reads again and waits again
        () => w.commit(1, 5), // fewer rows than a page
        () => w.commit(6, 420), // several full pages, then a short one
        () => w.commit(426, 100), // exactly one page
        () => w.commit(526, 7, true), // the last rows and completion together: they must still be read
      ];
      const reading = readAll(path, t, w.growing, () => {});
      while (step < script.length) {
        await new Promise((r) => setTimeout(r, 5));
        if (w.waits.length > step) script[step++]!();
      }
      const keys = await reading;
      expect(keys).toEqual(Array.from({ length: 532 }, (_, i) => BigInt(i + 1)));
      expect(w.waits.length).toBe(5);
      w.db.close();
    });
  }

  it('an empty table declared complete ends without rows; a complete table reads as usual', async () => {
    const path = join(dirs.make(), 'e.db');
    const w = writer(path, 'g');
    w.db.exec('CREATE TABLE g (id INTEGER PRIMARY KEY, v TEXT)');
    const t = info('g', ['rowid'], ['rowid', 'v']);
    const reading = readAll(path, t, w.growing, () => {});
    while (w.waits.length === 0) await new Promise((r) => setTimeout(r, 5));
    w.commit(0, 0, true);
    expect(await reading).toEqual([]);
    w.commit(1, 3, true);
    expect(await readAll(path, t, w.growing, () => {})).toEqual([1n, 2n, 3n]);
    w.db.close();
  });

  it('without a writer (no Growing) a short page is the end, as in a backup', async () => {
    const path = join(dirs.make(), 'n.db');
    const db = new Database(path);
    db.exec("CREATE TABLE g (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO g VALUES (1, 'a'), (2, 'b')");
    db.close();
    const source = openLocalDb(path, { readonly: true });
    const pages: number[] = [];
    for await (const page of rowPages(source, info('g', ['rowid'], ['rowid', 'v']))) pages.push(page.length);
    await source.close();
    expect(pages).toEqual([2]);
  });
});
