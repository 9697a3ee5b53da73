/**
 * `--consistency per-table` against a database that changes while it is backed up: each table is read in a read
 * snapshot of its own, later than the plan's, so a write (or a migration) committed in between reaches it. Rows are
 * fine (each table is consistent on its own); a schema that is no longer the header's is not: its rows would be
 * dumped under columns that no longer describe them. The writes run inside the sink's open(), which the backup calls
 * after the plan's snapshot and before it takes the rows of the second table (the first one is large enough that the
 * reader thread cannot have reached the second by then).
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { backup } from '../src/backup/backup.js';
import { BackupError } from '../src/errors.js';
import { verifyDump } from '../src/api/verify.js';
import { fileSink } from '../src/sink/file.js';
import type { Sink } from '../src/sink/types.js';
import { tempDirs } from './support/dumps.js';

const dirs = tempDirs('tb-per-table-');

/** A WAL database: "a" of 60k rows (many pages), then "b" of 2 rows. */
function build(): string {
  const path = join(dirs.make(), 'app.db');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.exec(`CREATE TABLE a (id INTEGER PRIMARY KEY, p TEXT);
    WITH RECURSIVE q(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM q WHERE i < 60000) INSERT INTO a (p) SELECT hex(randomblob(100)) FROM q;
    CREATE TABLE b (id INTEGER PRIMARY KEY, n INT); INSERT INTO b (n) VALUES (1), (2);`);
  db.close();
  return path;
}

/** A file sink that runs `sql` on another connection when the backup opens it. */
function sinkWriting(path: string, out: string, sql: string): Sink {
  const inner = fileSink(out);
  return {
    kind: inner.kind,
    label: inner.label,
    fileName: inner.fileName,
    async open() {
      const w = new Database(path);
      w.exec(sql);
      w.close();
      await inner.open();
    },
    write: (chunk) => inner.write(chunk),
    commit: (m) => inner.commit(m),
    abort: () => inner.abort(),
  };
}

describe('--consistency per-table while the database changes', () => {
  it('a table altered after the plan (a column added) is refused, naming it; no dump is left', async () => {
    const path = build();
    const out = join(dirs.make(), 'x.ndjson.gz');
    const run = backup(
      { url: `file:${path}`, consistency: 'per-table' },
      sinkWriting(path, out, "ALTER TABLE b ADD COLUMN z TEXT DEFAULT 'zz'; INSERT INTO b (n, z) VALUES (3, 'new')"),
    );
    const e = await run.then(
      () => null,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(BackupError);
    expect((e as BackupError).code).toBe('SNAPSHOT');
    expect((e as BackupError).message).toBe(
      'table "b" was altered during the per-table backup (its definition is no longer the one the dump\'s header holds): run the backup again',
    );
    expect(existsSync(out)).toBe(false);
  });

  it('a column renamed, or the table dropped, after the plan: the same refusal, never an internal error', async () => {
    for (const [sql, what] of [
      ['ALTER TABLE b RENAME COLUMN n TO m', 'altered'],
      ['DROP TABLE b', 'dropped'],
    ] as const) {
      const path = build();
      const out = join(dirs.make(), 'x.ndjson.gz');
      const e = await backup({ url: `file:${path}`, consistency: 'per-table' }, sinkWriting(path, out, sql)).then(
        () => null,
        (err: unknown) => err,
      );
      expect((e as BackupError).code, sql).toBe('SNAPSHOT');
      expect((e as BackupError).message, sql).toMatch(new RegExp(`^table "b" was ${what} during the per-table backup`));
      expect(existsSync(out)).toBe(false);
    }
  });

  it("SQLite's own tables (sqlite_sequence of an AUTOINCREMENT table, sqlite_stat1) are no altered tables", async () => {
    const path = build();
    const db = new Database(path);
    db.exec("CREATE TABLE c (id INTEGER PRIMARY KEY AUTOINCREMENT, v TEXT); INSERT INTO c (v) VALUES ('x'), ('y'); CREATE INDEX b_n ON b (n); ANALYZE");
    db.close();
    const out = join(dirs.make(), 'x.ndjson.gz');
    const r = await backup({ url: `file:${path}`, consistency: 'per-table' }, sinkWriting(path, out, "INSERT INTO c (v) VALUES ('z')"));
    expect(r.tables).toMatchObject({ a: 60000, b: 2, c: 3, sqlite_sequence: 1 });
    expect((await verifyDump(out)).tables).toMatchObject({ c: 3, sqlite_sequence: 1 });
  });

  it("rows written after the plan are dumped, and the summary's counts are the dump's, not the plan's", async () => {
    const path = build();
    const out = join(dirs.make(), 'x.ndjson.gz');
    const r = await backup({ url: `file:${path}`, consistency: 'per-table' }, sinkWriting(path, out, 'INSERT INTO b (n) VALUES (3), (4), (5)'));
    expect(r.tables).toEqual({ a: 60000, b: 5 });
    expect(r.manifest!.tables.b?.rows).toBe(5);
    expect((await verifyDump(out)).tables).toEqual({ a: 60000, b: 5 });
  });
});
