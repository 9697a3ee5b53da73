import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backup, inspect } from '../src/backup/backup.js';
import { refuseLongRows } from '../src/db/pages.js';
import { BackupError } from '../src/errors.js';
import type { Manifest } from '../src/format/lines.js';
import { fileSink, manifestPathFor } from '../src/sink/file.js';
import type { Sink } from '../src/sink/types.js';
import { verify } from '../src/verify.js';
import { backupToFile, listDir, rejection, tempDirs } from './support/dumps.js';
import { buildNastyDb } from './support/nasty-db.js';

const dirs = tempDirs('tb-backup-');
let srcDir: string;
let src: string;
let counts: Record<string, number>;

/** Every user table's row count, straight from SQLite (what a backup must report). */
function tableCounts(path: string): Record<string, number> {
  const db = new Database(path, { readonly: true });
  try {
    const names = db
      // FTS/R*Tree shadow tables are type 'shadow': not user tables.
      .prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'virtual') AND name NOT LIKE 'sqlite_%'")
      .pluck()
      .all() as string[];
    const out: Record<string, number> = {};
    for (const n of names)
      out[n] = Number(
        db
          .prepare(`SELECT count(*) FROM "${n.replaceAll('"', '""')}"`)
          .pluck()
          .get(),
      );
    out.sqlite_sequence = Number(db.prepare('SELECT count(*) FROM sqlite_sequence').pluck().get());
    return out;
  } finally {
    db.close();
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const snapshotFile = (p: string) => ({ bytes: sha256(readFileSync(p)), mtime: statSync(p).mtimeMs, size: statSync(p).size });

beforeAll(() => {
  srcDir = dirs.make();
  src = join(srcDir, 'nasty.db');
  buildNastyDb(src);
  counts = tableCounts(src);
  // FTS5 shadow tables are not user tables.
  // An external-content FTS table holds no rows of its own (it is rebuilt from its content table on restore).
  counts.items_fts = 0;
});
afterAll(() => dirs.cleanup());

describe('backup to a file', () => {
  let out: string;
  let result: Awaited<ReturnType<typeof backup>>;
  let before: ReturnType<typeof snapshotFile>;

  beforeAll(async () => {
    out = join(dirs.make(), 'nested', 'dump.ndjson.gz');
    before = snapshotFile(src);
    result = await backupToFile(src, out, { gzip: { blockBytes: 256 * 1024 } });
  });

  it('writes a dump that verifies, with every table and its exact row count', async () => {
    expect(result.mode).toBe('write');
    expect(result.tables).toEqual(counts);
    const v = await verify(createReadStream(out));
    expect(v.ok).toBe(true);
    expect(v.encrypted).toBe(false);
    expect(Object.fromEntries(Object.entries(v.tables).map(([n, t]) => [n, t.rows]))).toEqual(counts);
    expect(v.media).toEqual({ rows: 2, sha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('leaves the dump and its manifest with mode 0600, and nothing else in the directory', () => {
    expect(statSync(out).mode & 0o777).toBe(0o600);
    expect(statSync(manifestPathFor(out)).mode & 0o777).toBe(0o600);
    expect(listDir(join(out, '..'))).toEqual(['dump.ndjson.gz', 'dump.ndjson.gz.manifest.json']);
    // The folder the backup made for them is the operator's alone too: dumps hold PII, whatever the umask.
    expect(statSync(join(out, '..')).mode & 0o777).toBe(0o700);
  });

  it('writes a manifest with the checksums of the dump, its tables and its file', async () => {
    const m = JSON.parse(readFileSync(manifestPathFor(out), 'utf8')) as Manifest;
    const bytes = readFileSync(out);
    expect(m.format).toBe('turso-backup');
    expect(m.file).toEqual({ name: 'dump.ndjson.gz', bytes: bytes.length, sha256: sha256(bytes), encrypted: false });
    expect(result.sha256).toBe(sha256(bytes));
    const v = await verify(createReadStream(out));
    expect(m.tables).toEqual(v.tables);
    expect(m.contentSha256).toBe(v.trailer.sha256);
    expect(m.totalRows).toBe(Object.values(counts).reduce((a, b) => a + b, 0));
    expect(m.media).toEqual({ table: 'MediaAsset', ...v.media });
    expect(m.selection).toEqual({ tables: null, excludeTables: [] });
    expect(m.source).toBe(`file:${src}`);
  });

  it('is plain multi-member gzip: zlib reads it whole, the first line is the header, the last the trailer', () => {
    const gz = readFileSync(out);
    const text = gunzipSync(gz).toString('utf8');
    const lines = text.split('\n');
    expect(lines.pop()).toBe('');
    const header = JSON.parse(lines[0]!);
    expect(header).toMatchObject({ type: 'header', format: 'turso-backup', version: 1 });
    expect(JSON.parse(lines[lines.length - 1]!)).toMatchObject({ type: 'trailer' });
    // More than one member: some offset > 0 starts a gzip member that ends a valid prefix.
    let members = 1;
    for (let at = gz.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), 1); at > 0; at = gz.indexOf(Buffer.from([0x1f, 0x8b, 0x08]), at + 1)) {
      try {
        gunzipSync(gz.subarray(0, at));
        members++;
      } catch {
        // a coincidental 1f 8b 08 inside compressed data
      }
    }
    expect(members).toBeGreaterThan(1);
  });

  it('never modifies the source database', () => {
    expect(snapshotFile(src)).toEqual(before);
    expect(listDir(srcDir)).toEqual(['nasty.db']);
  });

  it('refuses to overwrite an existing dump', async () => {
    const dumpBefore = sha256(readFileSync(out));
    const e = await rejection(backupToFile(src, out));
    expect(e).toBeInstanceOf(BackupError);
    expect(e.code).toBe('REFUSED');
    expect(sha256(readFileSync(out))).toBe(dumpBefore);
  });
});

describe('backup failures leave nothing behind', () => {
  it('a row too long for any reader to decode (TEXT of control characters, six bytes each in JSON) is refused by table, and nothing is left', async () => {
    const dir = dirs.make();
    const path = join(dir, 'huge.db');
    const db = new Database(path);
    // 100M U+0001: 100 MB stored, 600 MB as the dump's JSON string, over SQLite's and V8's longest string.
    db.exec('CREATE TABLE small (id INTEGER PRIMARY KEY); CREATE TABLE huge (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO small VALUES (1);');
    db.exec("INSERT INTO huge (v) VALUES (replace(hex(zeroblob(100000000)), '00', char(1)))");
    db.close();
    const out = join(dir, 'dump.ndjson.gz');
    const e = await rejection(backupToFile(path, out));
    expect(e).toMatchObject({ code: 'UNSUPPORTED' });
    expect(e.message).toMatch(/^table "huge": a row's line in the dump would be longer than the 536870888 bytes a reader can decode.*--exclude-tables "huge"/);
    expect(listDir(dir)).toEqual(['huge.db']);
  }, 60_000);

  it('refuseLongRows: only a page longer than the limit is scanned, and only a line over it is refused', () => {
    const page = Buffer.from('[1,"abc"]\n[2,"abcdefgh"]\n');
    expect(() => refuseLongRows('t', page, 100)).not.toThrow();
    expect(() => refuseLongRows('t', page, 14)).not.toThrow(); // the longest line holds 14 bytes
    expect(() => refuseLongRows('t', page, 13)).toThrow(/table "t": a row's line in the dump would be 14 bytes, over the 13 bytes/);
  });

  it('a sink that fails mid-way leaves no dump, no manifest and no temp file', async () => {
    const dir = dirs.make();
    const out = join(dir, 'dump.ndjson.gz');
    const real = fileSink(out);
    let writes = 0;
    const failing: Sink = {
      ...real,
      async write(chunk) {
        if (++writes === 3) throw new Error('disk full (simulated)');
        await real.write(chunk);
      },
    };
    const e = await rejection(backup({ url: `file:${src}`, gzip: { blockBytes: 64 * 1024 } }, failing));
    expect(e.message).toMatch(/disk full/);
    expect(writes).toBe(3);
    expect(listDir(dir)).toEqual([]);
  });

  it('an abort signal mid-way stops the backup with INTERRUPTED and leaves nothing', async () => {
    const dir = dirs.make();
    const ac = new AbortController();
    const e = await rejection(
      backupToFile(src, join(dir, 'dump.ndjson.gz'), {
        signal: ac.signal,
        pages: { maxRows: 100, firstRows: 50 },
        onProgress: (p) => {
          if (p.rows > 500) ac.abort();
        },
      }),
    );
    expect(e).toBeInstanceOf(BackupError);
    expect(e.code).toBe('INTERRUPTED');
    expect(listDir(dir)).toEqual([]);
  });

  it('a file: URL to a missing database is NOT_FOUND and creates neither the database nor a dump', async () => {
    const dir = dirs.make();
    const missing = join(dir, 'missing.db');
    const out = join(dir, 'out', 'dump.ndjson.gz');
    // Made one at a time: a second promise made up front would reject unhandled while the first is awaited.
    for (const run of [() => backup({ url: `file:${missing}` }, fileSink(out)), () => inspect({ url: `file:${missing}` })]) {
      const e = await rejection(run());
      expect(e).toBeInstanceOf(BackupError);
      expect(e.code).toBe('NOT_FOUND');
      expect(e.message).toContain(missing);
    }
    expect(existsSync(missing)).toBe(false);
    expect(listDir(dir)).toEqual([]);
  });

  it('a selection naming an unknown table is a usage error and writes nothing', async () => {
    const dir = dirs.make();
    const e = await rejection(backupToFile(src, join(dir, 'd.gz'), { selection: { tables: ['nope'] } }));
    expect(e.code).toBe('USAGE');
    expect(e.message).toContain('"nope"');
    expect(listDir(dir)).toEqual([]);
  });
});

describe('dry run (inspect)', () => {
  it('reports every table with its count and creates nothing', async () => {
    const before = snapshotFile(src);
    const r = await inspect({ url: `file:${src}` });
    expect(r.mode).toBe('dry-run');
    expect(r.tables).toEqual(counts);
    expect(r.bytes).toBeUndefined();
    expect(snapshotFile(src)).toEqual(before);
    expect(listDir(srcDir)).toEqual(['nasty.db']);
  });
});

describe('table selection', () => {
  it('--tables: only the named tables (and sqlite_sequence for their AUTOINCREMENT), recorded in the manifest', async () => {
    const out = join(dirs.make(), 'sel.ndjson.gz');
    const r = await backupToFile(src, out, { selection: { tables: ['items', 'User'] } });
    expect(Object.keys(r.tables).sort()).toEqual(['User', 'items', 'sqlite_sequence']);
    const m = JSON.parse(readFileSync(manifestPathFor(out), 'utf8')) as Manifest;
    expect(m.selection).toEqual({ tables: ['items', 'User'], excludeTables: [] });
    expect(Object.keys(m.tables).sort()).toEqual(['User', 'items', 'sqlite_sequence']);
    expect(m.media).toBeNull();
    const v = await verify(createReadStream(out));
    expect(v.header.selection).toEqual(m.selection);
  });

  it('--exclude-tables: everything but the named tables, recorded in the manifest', async () => {
    const out = join(dirs.make(), 'excl.ndjson.gz');
    const r = await backupToFile(src, out, { selection: { excludeTables: ['mixed', 'events'] } });
    const expected = { ...counts };
    delete expected.mixed;
    delete expected.events;
    expect(r.tables).toEqual(expected);
    const m = JSON.parse(readFileSync(manifestPathFor(out), 'utf8')) as Manifest;
    expect(m.selection).toEqual({ tables: null, excludeTables: ['mixed', 'events'] });
    expect(Object.keys(m.tables).sort()).toEqual(Object.keys(expected).sort());
    expect((await verify(createReadStream(out))).ok).toBe(true);
  });
});

describe('a WAL-mode source', () => {
  it('backs up and verifies, and its database file is unchanged byte for byte', async () => {
    const dir = dirs.make();
    const wal = join(dir, 'wal.db');
    buildNastyDb(wal, { wal: true, small: true });
    const before = snapshotFile(wal);
    const out = join(dirs.make(), 'wal.ndjson.gz');
    const r = await backupToFile(wal, out);
    expect(r.tables.events).toBeGreaterThan(5000);
    expect((await verify(createReadStream(out))).ok).toBe(true);
    expect(snapshotFile(wal)).toEqual(before);
  });
});

describe('a media table of another shape', () => {
  it('has its rows inventoried, with a note that neither its url nor its pathname column exists', async () => {
    const path = join(dirs.make(), 'ma.db');
    const db = new Database(path);
    db.exec(`CREATE TABLE "MediaAsset" ("id" TEXT NOT NULL PRIMARY KEY, "path" TEXT NOT NULL, "mimeType" TEXT NOT NULL);
      INSERT INTO "MediaAsset" VALUES ('a', 'img/a.png', 'image/png')`);
    db.close();
    const note =
      'the media table "MediaAsset" has neither a "url" nor a "blobPathname" column: its rows are inventoried as they are, ' +
      'and media-check, relink and media-mirror need --url-column (and --pathname-column) to read them';
    expect((await inspect({ url: `file:${path}` })).notes).toEqual([note]);
    const r = await backupToFile(path, join(dirs.make(), 'ma.ndjson.gz'));
    expect(r.notes).toEqual([note]);
    expect(r.manifest!.media?.rows).toBe(1);
  });

  it('one of the two columns is enough: no note', async () => {
    const path = join(dirs.make(), 'mb.db');
    const db = new Database(path);
    db.exec(`CREATE TABLE "MediaAsset" ("id" TEXT NOT NULL PRIMARY KEY, "blobPathname" TEXT); INSERT INTO "MediaAsset" VALUES ('a', 'img/a.png')`);
    db.close();
    expect((await inspect({ url: `file:${path}` })).notes).toEqual([]);
  });
});
