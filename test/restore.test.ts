import Database from 'better-sqlite3';
import { createHash } from 'node:crypto';
import { copyFileSync, createReadStream, existsSync, linkSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyDump } from '../src/api/verify.js';
import { BackupError } from '../src/errors.js';
import { FORMAT_VERSION } from '../src/format/lines.js';
import { restore, type RestoreOptions } from '../src/restore/restore.js';
import { localTargetFactory } from '../src/target/local.js';
import { backupToFile, dumpLines, gunzipFile, gzip, listDir, rejection, reseal, tempDirs } from './support/dumps.js';
import { BAD_UTF8, buildNastyDb, diffDumps, dumpDb, MIXED_VALUES, PRISMA_MIGRATION_ROWS, replaySchema, type DbDump } from './support/nasty-db.js';

const dirs = tempDirs('tb-restore-');
let work: string;
let src: string;
let dump: string;
let source: DbDump;
/** A migrated target: the nasty schema, no rows but what migrations leave (the Prisma migration rows). */
let migratedTemplate: string;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function restoreInto(target: string, dumpPath: string | (() => Readable), opts: Partial<RestoreOptions> = {}) {
  const openInput = typeof dumpPath === 'string' ? async () => createReadStream(dumpPath) : async () => dumpPath();
  return restore({ openInput, target: localTargetFactory(target), confirm: true, ...opts });
}

function exec(path: string, f: (db: Database.Database) => void) {
  const db = new Database(path);
  try {
    f(db);
  } finally {
    db.close();
  }
}

function query<T = unknown>(path: string, sql: string, ...args: unknown[]): T[] {
  const db = new Database(path, { readonly: true });
  try {
    return db
      .prepare(sql)
      .raw(true)
      .safeIntegers(true)
      .all(...args) as T[];
  } finally {
    db.close();
  }
}

/** A migrated target as `migrate` would leave it, optionally with the schema edited. */
function migratedTarget(name: string, edit?: (sql: string, objectName: string) => string): string {
  const path = join(dirs.make(), name);
  if (!edit) {
    copyFileSync(migratedTemplate, path);
    return path;
  }
  replaySchema(src, path, edit);
  seedMigrations(path);
  return path;
}

function seedMigrations(path: string) {
  exec(path, (db) => {
    const ins = db.prepare('INSERT INTO "_prisma_migrations" VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
    for (const r of PRISMA_MIGRATION_ROWS) ins.run(...r);
  });
}

/** The target's files and bytes, to prove a refusal left it exactly as it was. */
function fingerprint(path: string) {
  const dir = join(path, '..');
  return { files: listDir(dir), bytes: existsSync(path) ? sha256(readFileSync(path)) : null };
}

beforeAll(async () => {
  work = dirs.make();
  src = join(work, 'nasty.db');
  buildNastyDb(src);
  source = dumpDb(src);
  dump = join(work, 'nasty.ndjson.gz');
  await backupToFile(src, dump);
  migratedTemplate = join(dirs.make(), 'migrated-template.db');
  replaySchema(src, migratedTemplate);
  seedMigrations(migratedTemplate);
});
afterAll(() => dirs.cleanup());

describe('the comparison itself', () => {
  it('sees storage classes, REAL bits and hidden rowids (so an empty diff means something)', () => {
    const mixed = source.tables.mixed!.rows.map((r) => r[2]!); // (rowid), id, v
    expect(mixed).toContainEqual(['real', '8000000000000000']); // -0.0
    expect(mixed).toContainEqual(['real', '0000000000000001']); // 5e-324
    expect(mixed).toContainEqual(['real', '3ff0000000000000']); // 1.0
    expect(mixed).toContainEqual(['integer', '31']); // 1
    expect(mixed).toContainEqual(['text', '61FFFE62']);
    expect(mixed).toContainEqual(['text', '610062']);
    expect(mixed.filter((c) => c[0] === 'blob').map((c) => c[1].length / 2)).toEqual([0, 7, 2 * 1024 * 1024]);
    expect(source.tables.events!.columns[0]).toBe('(rowid)');
    expect(source.tables['order items']!.columns[0]).toBe('(rowid)');
    expect(source.sequence).toEqual([
      ['AuditLog', '4'],
      ['Post', '4'],
      ['User', '5'],
      ['counters', '4'],
      ['seq_zero', '0'],
    ]);

    const copy = join(dirs.make(), 'copy.db');
    copyFileSync(src, copy);
    const negZeroId = BigInt(MIXED_VALUES.findIndex((v) => Object.is(v, -0)) + 1);
    exec(copy, (db) => db.prepare('UPDATE mixed SET v = ? WHERE id = ?').run(0, negZeroId));
    expect(diffDumps(source, dumpDb(copy)).join('\n')).toMatch(/table mixed row \d+ column v: real:8000000000000000 vs real:0000000000000000/);
    exec(copy, (db) => db.prepare('UPDATE "_PostToTag" SET rowid = rowid + 100 WHERE rowid = (SELECT max(rowid) FROM "_PostToTag")').run());
    expect(diffDumps(source, dumpDb(copy)).join('\n')).toMatch(/_PostToTag/);
  });
});

describe('restore into an empty target (a file that does not exist)', () => {
  let target: string;
  let result: Awaited<ReturnType<typeof restore>>;

  beforeAll(async () => {
    target = join(dirs.make(), 'restored.db');
    result = await restoreInto(target, dump);
  });

  it('creates the schema and loads every table', () => {
    expect(result.mode).toBe('restore');
    expect(result.path).toBe('empty');
    expect(result.verified).toBe(true);
    expect(result.foreignKeyViolations).toEqual({});
    const plan = Object.fromEntries(result.plan.map((p) => [p.table, p.action]));
    expect(plan).toMatchObject({
      docs: 'create+load',
      items_fts: 'rebuild',
      contentless: 'schema-only',
      old_fts: 'create+load',
      fts3_cols: 'create+load',
      boxes: 'create+load',
      zones: 'create+load',
    });
    expect(result.warnings.join('\n')).toMatch(/contentless/);
  });

  it('creates indexes, views and triggers in the source’s creation order, after every table (as sqlite3 .dump replays them)', () => {
    // What `.dump` prints after the tables: sqlite_schema's other objects by rowid. Internal indexes and the FTS
    // shadow tables' objects come from their CREATE TABLE; the nasty schema interleaves tables, indexes, triggers
    // and views, so a restore that grouped them by type would print them in another order.
    const others = (path: string) =>
      query<[string, string]>(path, "SELECT type, name FROM sqlite_schema WHERE type <> 'table' AND sql IS NOT NULL ORDER BY rowid")
        .map(([type, name]) => `${type} ${name}`)
        .filter((o) => !/ sqlite_/.test(o));
    const expected = others(src);
    expect(new Set(expected.map((o) => o.split(' ')[0]))).toEqual(new Set(['index', 'view', 'trigger']));
    // Not grouped by type in the source: a view comes before an index.
    const lastIndex = expected.map((o) => o.startsWith('index')).lastIndexOf(true);
    expect(expected.findIndex((o) => !o.startsWith('index'))).toBeLessThan(lastIndex);
    expect(others(target)).toEqual(expected);
    const lastTable = (path: string) => query<[bigint]>(path, "SELECT max(rowid) FROM sqlite_schema WHERE type = 'table'")[0]![0];
    const firstOther = (path: string) => query<[bigint]>(path, "SELECT min(rowid) FROM sqlite_schema WHERE type <> 'table' AND sql IS NOT NULL")[0]![0];
    expect(firstOther(target)).toBeGreaterThan(lastTable(target));
  });

  it('is created with mode 0600, as its dumps are (it holds the same rows), whatever the umask', () => {
    expect(statSync(target).mode & 0o777).toBe(0o600);
  });

  it('holds exactly the source: every cell with its storage class and bytes, REAL bits, rowids, sqlite_sequence, schema, pragmas', () => {
    expect(diffDumps(source, dumpDb(target))).toEqual([]);
    // Spot checks of what the comparison covers.
    const restored = dumpDb(target);
    expect(restored.tables.mixed!.rows.length).toBe(source.tables.mixed!.rows.length);
    expect(restored.sequence).toEqual(
      expect.arrayContaining([
        ['seq_zero', '0'],
        ['counters', '4'],
      ]),
    );
    expect(query(target, 'SELECT rowid, id FROM desc_keyed ORDER BY rowid')).toEqual([
      [-1n, 30n],
      [7n, 2n],
      [100n, 1n],
    ]);
    expect(query(target, 'SELECT max(rowid), min(rowid) FROM events')).toEqual([[9223372036854775807n, -5n]]);
    expect(query(target, "SELECT typeof(v), hex(v) FROM mixed WHERE hex(v) = '61FFFE62'")).toEqual([['text', '61FFFE62']]);
  });

  it('did not fire triggers during the load, and they work afterwards', () => {
    const audit = source.tables.AuditLog!.rows.length;
    expect(query(target, 'SELECT count(*) FROM "AuditLog"')).toEqual([[BigInt(audit)]]);
    exec(target, (db) => db.prepare(`INSERT INTO "Post" ("title", "authorId") VALUES ('after', 1)`).run());
    expect(query(target, 'SELECT count(*) FROM "AuditLog"')).toEqual([[BigInt(audit + 1)]]);
  });

  it('has a searchable FTS5 index and passes the integrity check', () => {
    expect(query(target, "SELECT rowid FROM docs WHERE docs MATCH 'zebra'")).toEqual([[9n]]);
    expect(query(target, "SELECT rowid FROM docs WHERE docs MATCH 'checksum'")).toEqual([[5n]]);
    expect(query(target, "SELECT rowid FROM items_fts WHERE items_fts MATCH 'negative'")).toEqual([[-3n]]);
    expect(query(target, "SELECT rowid FROM old_fts WHERE old_fts MATCH 'fts4'")).toEqual([[3n]]);
    expect(query(target, 'SELECT id FROM boxes WHERE minX <= 1 AND maxX >= 1')).toEqual([[1n]]);
    expect(query(target, 'SELECT rowid FROM zones WHERE geopoly_overlap(_shape, geopoly_regular(10, 20, 1, 4))')).toEqual([[4n]]);
    exec(target, (db) => db.exec("INSERT INTO docs(docs) VALUES ('integrity-check')"));
    expect(query(target, 'PRAGMA integrity_check')).toEqual([['ok']]);
    expect(query(target, 'PRAGMA foreign_key_check')).toEqual([]);
  });
});

describe('restore of a dump read in tiny pages', () => {
  it('is still exact: keyset pagination over negative, huge and gapped rowids, composite NOCASE keys', async () => {
    const paged = join(dirs.make(), 'paged.ndjson.gz');
    await backupToFile(src, paged, { pages: { maxRows: 7, firstRows: 1, targetBytes: 64 } });
    const target = join(dirs.make(), 'paged.db');
    await restoreInto(target, paged);
    expect(diffDumps(source, dumpDb(target))).toEqual([]);
    expect(query(target, "SELECT rowid FROM items_fts WHERE items_fts MATCH 'gap'")).toEqual([[1000000n]]);
  });
});

describe('restore into a migrated target', () => {
  let target: string;
  let result: Awaited<ReturnType<typeof restore>>;

  beforeAll(async () => {
    target = migratedTarget('migrated.db');
    exec(target, (db) => {
      // A migration set WAL, and seeded rows that the dump also holds: same key and values…
      db.pragma('journal_mode = WAL');
      db.prepare(`INSERT INTO "Tag" ("id", "name") VALUES ('t1', 'sqlite')`).run();
      db.prepare(`INSERT INTO "User" ("id", "email", "name", "createdAt") VALUES (1, 'Ada@Example.com', 'Ada', 1704067200000)`).run();
      // A seeded TEXT that is not UTF-8 is still recognised as the dump's row.
      db.prepare('INSERT INTO mixed (id, v) VALUES (?, CAST(? AS TEXT))').run(BigInt(MIXED_VALUES.length + 1), BAD_UTF8);
      // …and a row of a table without a primary key, at a different hidden rowid than in the dump.
      db.pragma('foreign_keys = OFF');
      db.prepare(`INSERT INTO "_PostToTag" ("A", "B") VALUES (2, 't1')`).run();
    });
    expect(query(target, 'SELECT rowid FROM "_PostToTag"')).toEqual([[1n]]);
    result = await restoreInto(target, dump);
  });

  it('loads into the existing tables, treating matching seeded rows as seed', () => {
    expect(result.path).toBe('migrated');
    expect(result.verified).toBe(true);
    const plan = Object.fromEntries(result.plan.map((p) => [p.table, p]));
    expect(plan.Tag).toMatchObject({ action: 'load', targetRows: 1 });
    expect(plan.mixed).toMatchObject({ action: 'load', targetRows: 1 });
    expect(plan._prisma_migrations).toMatchObject({ action: 'keep-target' });
  });

  it('holds exactly the source, rowids and sqlite_sequence included, schema untouched', () => {
    expect(diffDumps(source, dumpDb(target), { pragmas: false })).toEqual([]);
    expect(query(target, 'SELECT rowid, "A", "B" FROM "_PostToTag" ORDER BY rowid')).toEqual(
      query(src, 'SELECT rowid, "A", "B" FROM "_PostToTag" ORDER BY rowid'),
    );
    expect(query(target, 'PRAGMA journal_mode')).toEqual([['wal']]);
  });

  it('did not fire the target’s triggers during the load, and kept them', () => {
    expect(query(target, 'SELECT count(*) FROM "AuditLog"')).toEqual([[BigInt(source.tables.AuditLog!.rows.length)]]);
    expect(query(target, "SELECT name FROM sqlite_schema WHERE type = 'trigger'")).toEqual([['Post_audit_insert']]);
  });

  it('has a searchable FTS5 index', () => {
    expect(query(target, "SELECT rowid FROM docs WHERE docs MATCH 'zebra'")).toEqual([[9n]]);
    expect(query(target, 'PRAGMA integrity_check')).toEqual([['ok']]);
  });
});

describe('refusals leave the target exactly as it was', () => {
  /** Runs a restore that must fail with `code`, against a missing target and an existing (migrated) one. */
  async function refused(
    input: string | (() => Readable),
    code: string,
    opts: { existing?: string; missing?: boolean; message?: RegExp } = {},
  ): Promise<string[]> {
    const messages: string[] = [];
    const targets: string[] = [];
    if (opts.missing !== false) targets.push(join(dirs.make(), 'never-created.db'));
    if (opts.existing !== undefined) targets.push(opts.existing);
    for (const target of targets) {
      const before = fingerprint(target);
      const e = await rejection(restoreInto(target, input));
      expect(e, String(e)).toBeInstanceOf(BackupError);
      expect((e as BackupError).code, e.message).toBe(code);
      if (opts.message) expect(e.message).toMatch(opts.message);
      expect(fingerprint(target)).toEqual(before);
      messages.push(e.message);
    }
    return messages;
  }

  let spare: string; // a migrated target that every refusal below must leave untouched
  beforeAll(() => {
    spare = migratedTarget('spare.db');
  });

  it('a target holding rows the dump does not have, naming the table and the count', async () => {
    const target = migratedTarget('data.db');
    exec(target, (db) => {
      db.prepare(`INSERT INTO "Tag" ("id", "name") VALUES ('t9', 'not in the dump')`).run();
      db.prepare(`INSERT INTO "Tag" ("id", "name") VALUES ('t8', 'nor this')`).run();
    });
    await refused(dump, 'REFUSED', { existing: target, missing: false, message: /table "Tag" has 2 rows that the dump does not/ });
  });

  it('a target row with a key the dump has but different values', async () => {
    const target = migratedTarget('differs.db');
    exec(target, (db) => db.prepare(`INSERT INTO "Tag" ("id", "name") VALUES ('t1', 'SQLite')`).run());
    await refused(dump, 'REFUSED', {
      existing: target,
      missing: false,
      message:
        /table "Tag" has 1 row that the dump does not hold with the same values \(a row a migration seeded with the time it ran never does\): --clean replaces/,
    });
  });

  it('a target table of few rows but many bytes is data, refused without being read into memory', async () => {
    // Rows that the dump holds too, so that compared they would pass as seed: 3 rows of 3 MiB is not what a
    // migration inserts, and comparing them meant holding the whole table in memory.
    const dir = dirs.make();
    const make = (path: string) =>
      exec(path, (db) => {
        db.exec('CREATE TABLE "Doc" ("id" INTEGER PRIMARY KEY, "body" TEXT NOT NULL)');
        for (let i = 1; i <= 3; i++) db.prepare('INSERT INTO "Doc" VALUES (?, ?)').run(i, String.fromCharCode(96 + i).repeat(3 << 20));
      });
    const docs = join(dir, 'docs.db');
    const target = join(dir, 'docs-target.db');
    make(docs);
    make(target);
    const docsDump = join(dir, 'docs.ndjson.gz');
    await backupToFile(docs, docsDump);
    await refused(docsDump, 'REFUSED', { existing: target, missing: false, message: /the target holds data: table "Doc" has 3 rows$/ });
    await restoreInto(target, docsDump, { clean: true });
    expect(query(target, 'SELECT id, length(body) FROM "Doc" ORDER BY id')).toEqual([1n, 2n, 3n].map((id) => [id, BigInt(3 << 20)]));
  });

  it('--clean replaces the contents of the dumped tables instead', async () => {
    const target = migratedTarget('clean.db');
    exec(target, (db) => db.prepare(`INSERT INTO "Tag" ("id", "name") VALUES ('t9', 'replaced')`).run());
    await restoreInto(target, dump, { clean: true });
    expect(diffDumps(source, dumpDb(target), { pragmas: false })).toEqual([]);
  });

  it('a target with several problems: each is named, in one line', async () => {
    const target = migratedTarget('several.db', (sql, name) => (name === 'order items' ? sql.replace(', "with space" REAL', '') : sql));
    exec(target, (db) => db.prepare(`INSERT INTO "Tag" ("id", "name") VALUES ('t9', 'not in the dump')`).run());
    const [message] = await refused(dump, 'REFUSED', { existing: target, missing: false });
    expect(message).toMatch(/table "order items": the dumped column "with space"/);
    expect(message).toMatch(/table "Tag" has 1 row/);
    expect(message).not.toMatch(/\n/);
  });

  it('--tables naming a table the dump does not hold is a usage error, as in a backup', async () => {
    const target = join(dirs.make(), 'never-created.db');
    const e = await rejection(restoreInto(target, dump, { tables: ['Nope'] }));
    expect((e as BackupError).code, e.message).toBe('USAGE');
    expect(e.message).toMatch(/--tables names "Nope"/);
    expect(existsSync(target)).toBe(false);
    const cased = await rejection(restoreInto(target, dump, { tables: ['tag'] }));
    expect((cased as BackupError).code, cased.message).toBe('USAGE');
    expect(cased.message).toMatch(/\(did you mean "Tag"\?/);
  });

  it('a target that is the dump’s own source', async () => {
    await refused(dump, 'REFUSED', { existing: src, missing: false, message: /own source/ });
    // The same file by another name: a hard link (sweep 4 found it reached the plan).
    const link = join(dirs.make(), 'linked.db');
    linkSync(src, link);
    await refused(dump, 'REFUSED', { existing: link, missing: false, message: /own source/ });
  });

  it('a dumped column the target lacks, naming the table and the column', async () => {
    const target = migratedTarget('nocolumn.db', (sql, name) => (name === 'order items' ? sql.replace(', "with space" REAL', '') : sql));
    await refused(dump, 'REFUSED', { existing: target, missing: false, message: /table "order items": the dumped column "with space"/ });
  });

  it('a target table holding rows but lacking a dumped column: the plan names the column, dry run and confirmed alike', async () => {
    const target = migratedTarget('rows-nocolumn.db', (sql, name) => (name === 'order items' ? sql.replace(', "with space" REAL', '') : sql));
    exec(target, (db) => {
      db.prepare(`INSERT INTO "order items" ("select") VALUES ('another app')`).run();
      db.prepare(`INSERT INTO "Tag" ("id", "name") VALUES ('t9', 'not in the dump')`).run();
    });
    const before = fingerprint(target);
    // The seeded-row check reads the dumped columns: it leaves "order items" out and still compares "Tag".
    const message = /table "order items": the dumped column "with space" has no place in the target.*table "Tag" has 1 row /;
    const dry = await rejection(restoreInto(target, dump, { confirm: false }));
    expect((dry as BackupError).code, dry.message).toBe('REFUSED');
    expect(dry.message).toMatch(message);
    await refused(dump, 'REFUSED', { existing: target, missing: false, message });
    expect(fingerprint(target)).toEqual(before);
  });

  it('a truncated dump (gzip cut short)', async () => {
    const bytes = readFileSync(dump);
    const cut = join(dirs.make(), 'cut.gz');
    writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    await refused(cut, 'CORRUPT', { existing: spare, message: /truncated/ });
  });

  it('a dump cut cleanly at a line boundary (valid gzip, no trailer)', async () => {
    const lines = dumpLines(gunzipFile(dump));
    const cut = join(dirs.make(), 'clean-cut.gz');
    writeFileSync(cut, gzip(`${lines.slice(0, -1).join('\n')}\n`));
    await refused(cut, 'CORRUPT', { existing: spare, message: /incomplete/ });
  });

  it('a dump with a flipped bit', async () => {
    const bytes = Buffer.from(readFileSync(dump));
    // Three places, so that one landing in a gzip header field zlib ignores (MTIME, OS) cannot hide the damage.
    for (const at of [0.3, 0.5, 0.7]) bytes[Math.floor(bytes.length * at)]! ^= 0x10;
    const flipped = join(dirs.make(), 'flipped.gz');
    writeFileSync(flipped, bytes);
    await refused(flipped, 'CORRUPT', { existing: spare });
  });

  it('a dump with bytes appended after its last gzip member', async () => {
    const junk = join(dirs.make(), 'junk.gz');
    writeFileSync(junk, Buffer.concat([readFileSync(dump), Buffer.from('appended junk')]));
    await refused(junk, 'CORRUPT', { existing: spare });
  });

  it('a dump whose rows were changed and re-gzipped, naming the table', async () => {
    const lines = dumpLines(gunzipFile(dump));
    const i = lines.findIndex((l) => l.startsWith('[') && l.includes('"Ada@Example.com"'));
    lines[i] = lines[i]!.replace('Ada@Example.com', 'Eve@Example.com');
    const edited = join(dirs.make(), 'edited.gz');
    writeFileSync(edited, gzip(`${lines.join('\n')}\n`));
    await refused(edited, 'CORRUPT', { existing: spare, message: /table "User": checksum mismatch/ });
  });

  it('a schema entry that is not exactly one CREATE statement of its type (a dump made by someone else): nothing of it runs', async () => {
    const lines = dumpLines(gunzipFile(dump));
    const header = JSON.parse(lines[0]!) as { schema: { type: string; name: string; sql: string }[] };
    const dir = dirs.make();
    const planted = join(dir, 'planted.db');
    const forged = (edit: (o: { type: string; name: string; sql: string }) => void, i = 0) => {
      const h = structuredClone(header);
      edit(h.schema[i]!);
      const path = join(dirs.make(), 'forged.gz');
      writeFileSync(path, gzip(reseal([JSON.stringify(h), ...lines.slice(1)])));
      return path;
    };
    const attach = forged((o) => (o.sql += `; ATTACH DATABASE '${planted}' AS p; CREATE TABLE p.pwned (a)`));
    await refused(attach, 'CORRUPT', { existing: spare, message: /schema entry for table "\w+" is not one CREATE TABLE statement/ });
    expect(existsSync(planted)).toBe(false);
    const index = header.schema.findIndex((o) => o.type === 'index');
    await refused(
      forged((o) => (o.sql = 'DROP TABLE "User"'), index),
      'CORRUPT',
      { existing: spare, message: /is not one CREATE INDEX statement/ },
    );
    await refused(
      forged((o) => (o.type = 'pragma')),
      'CORRUPT',
      { existing: spare, message: /not a table, index, view or trigger/ },
    );
    // A trigger's body holds statements of its own: that is still one statement.
    const trigger = forged((o) => {
      o.type = 'trigger';
      o.sql = `CREATE TRIGGER x AFTER INSERT ON "${o.name}" BEGIN SELECT 1; SELECT 2; END`;
    });
    expect((await restoreInto(join(dirs.make(), 'trig.db'), trigger, { confirm: false })).mode).toBe('dry-run');
    // A collation only an application has (a backup refuses such a database): the dry run refuses what --confirm could not do.
    const collated = forged((o) => (o.sql = o.sql.replace(/\)\s*$/, ', "x" TEXT COLLATE "unicase")')));
    for (const confirm of [false, true]) {
      const target = join(dirs.make(), 'coll.db');
      await expect(restoreInto(target, collated, { confirm })).rejects.toMatchObject({ code: 'REFUSED', message: /uses the collation "unicase"/ });
      expect(existsSync(target)).toBe(false);
    }
  });

  it('verify-backup decodes every row: a cell the format does not allow, or a row of the wrong width, is refused', async () => {
    // Checksums recomputed: only a dump made by someone else has such rows; a restore refused them, verify said ok.
    const lines = dumpLines(gunzipFile(dump));
    const at = lines.findIndex((l) => l.startsWith('['));
    const table = JSON.parse(
      lines
        .slice(0, at)
        .reverse()
        .find((l) => l.startsWith('{"type":"table"'))!,
    ).name as string;
    const row = JSON.parse(lines[at]!) as unknown[];
    const variants: [unknown[], RegExp][] = [
      [[...row.slice(0, -1), { b: '!!!' }], /blob is not base64/],
      [[...row.slice(0, -1), { i: '99999999999999999999' }], /integer beyond 64 bits/],
      [[...row.slice(0, -1), { zz: '1' }], /unknown tag/],
      [[...row, 3], new RegExp(`a row of ${row.length + 1} values, for ${row.length} columns`)],
    ];
    for (const [bad, message] of variants) {
      const forged = join(dirs.make(), 'cells.gz');
      writeFileSync(forged, gzip(reseal([...lines.slice(0, at), JSON.stringify(bad), ...lines.slice(at + 1)])));
      await expect(verifyDump(forged)).rejects.toMatchObject({
        code: 'CORRUPT',
        message: expect.stringMatching(new RegExp(`^table "${table}": .*${message.source}`)),
      });
      // A restore refuses it too, naming the table, and leaves every target as it was.
      if (message.source === 'blob is not base64')
        await refused(forged, 'CORRUPT', { existing: spare, message: new RegExp(`^table "${table}": .*not base64`) });
    }
    // The bare integer beyond 2^53, written as digits (JSON.stringify cannot).
    const digits = join(dirs.make(), 'digits.gz');
    const bare = lines[at]!.replace(/^\[[^,\]]+/, '[9007199254740993');
    writeFileSync(digits, gzip(reseal([...lines.slice(0, at), bare, ...lines.slice(at + 1)])));
    await expect(verifyDump(digits)).rejects.toMatchObject({ code: 'CORRUPT' });
  });

  it('a dump of a newer format version', async () => {
    const lines = dumpLines(gunzipFile(dump));
    const header = JSON.parse(lines[0]!);
    const newer = join(dirs.make(), 'newer.gz');
    writeFileSync(newer, gzip(reseal([JSON.stringify({ ...header, version: FORMAT_VERSION + 1 }), ...lines.slice(1)])));
    await refused(newer, 'UNSUPPORTED', { existing: spare, message: /newer/ });
  });

  it('a file that is not gzip, and gzip of something else', async () => {
    const dir = dirs.make();
    const cases: [string, Buffer][] = [
      ['random.bin', Buffer.from('this is not a dump at all, just some text\n')],
      ['empty.gz', Buffer.alloc(0)],
      ['text.gz', gzip('hello world\nsecond line\n')],
      ['json.gz', gzip('{"some":"json"}\n')],
      ['sqlite.gz', gzip(readFileSync(src).subarray(0, 4096))],
    ];
    for (const [name, bytes] of cases) {
      const p = join(dir, name);
      writeFileSync(p, bytes);
      await refused(p, 'CORRUPT', { existing: spare });
    }
    // A dump someone uncompressed to look into: not taken for a legacy JSON backup (sweep 4), refused with the way back.
    const plain = join(dir, 'plain.ndjson');
    writeFileSync(plain, gunzipFile(dump));
    await refused(plain, 'CORRUPT', { existing: spare, message: /uncompressed dump \(plain NDJSON\).*gzip FILE/ });
    await expect(verifyDump(plain)).rejects.toMatchObject({ code: 'CORRUPT', message: expect.stringMatching(/uncompressed dump/) });
  });

  it('a UNIQUE violation mid-load: rolled back, the target unchanged, the table named', async () => {
    const target = migratedTarget('unique.db', (sql, name) => (name === 'events' ? sql.replace('kind TEXT', 'kind TEXT UNIQUE') : sql));
    await refused(dump, 'CONSTRAINT', { existing: target, missing: false, message: /table "events": .*UNIQUE.*rolled back/ });
    expect(query(target, 'SELECT count(*) FROM mixed')).toEqual([[0n]]);
  });

  it('a target shape the rows cannot load into is refused by the plan, so the dry run says it (sweep 4)', async () => {
    // A NOT NULL column without default that the dump has no values for (it failed mid-load before).
    const notnull = migratedTarget('notnull.db', (sql, name) =>
      name === 'order items' ? sql.replace('"rowid" TEXT)', '"rowid" TEXT, "extra" TEXT NOT NULL)') : sql,
    );
    const message = /table "order items": the target's column "extra" is NOT NULL without a default, and the dump has no values for it/;
    await refused(dump, 'REFUSED', { existing: notnull, missing: false, message });
    await expect(restoreInto(notnull, dump, { confirm: false })).rejects.toMatchObject({ code: 'REFUSED', message: expect.stringMatching(message) });
    // A WITHOUT ROWID table where the dump keeps hidden rowids ("table s has no column named rowid" before).
    const { dumpPath: hidden } = await dumpOf("CREATE TABLE s (k TEXT NOT NULL, v); INSERT INTO s VALUES ('a', 1);");
    const wr = join(dirs.make(), 'wr.db');
    exec(wr, (db) => db.exec('CREATE TABLE s (k TEXT NOT NULL PRIMARY KEY, v) WITHOUT ROWID'));
    await refused(hidden, 'REFUSED', {
      existing: wr,
      missing: false,
      message: /table "s": the dump keeps its rowids, but the target's table is WITHOUT ROWID/,
    });
  });

  it('a column of another affinity on the target is named in the plan and in the refusal after the load', async () => {
    const { dumpPath: affDump } = await dumpOf("CREATE TABLE t (id INTEGER PRIMARY KEY, code TEXT); INSERT INTO t VALUES (1, '007');");
    const target = join(dirs.make(), 'aff-target.db');
    exec(target, (db) => db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, code INTEGER)'));
    const dry = await restoreInto(target, affDump, { confirm: false });
    expect(dry.warnings).toContain(
      'table "t": column "code" has TEXT affinity in the dump and INTEGER on the target: SQLite may change values as they load, and the verification then refuses the restore',
    );
    await refused(affDump, 'CORRUPT', {
      existing: target,
      missing: false,
      message: /table "t" does not match the dump after loading .*rolled back \(column "code" has TEXT affinity/,
    });
  });

  it('a load that fails in a target it created removes that target again', async () => {
    // A forged dump (every checksum and count recomputed) holding a duplicate primary key: only the load sees it.
    const lines = dumpLines(gunzipFile(dump));
    const i = lines.findIndex((l) => l.startsWith('[') && l.includes('"t1","sqlite"'));
    lines.splice(i, 0, lines[i]!);
    const forged = join(dirs.make(), 'forged.gz');
    writeFileSync(forged, gzip(reseal(lines, { headerCounts: true })));
    await refused(forged, 'CONSTRAINT', { message: /table "Tag": .*UNIQUE/ });
  });

  it('a forged row with a value too few or too many is CORRUPT, the table named; targets as they were', async () => {
    for (const edit of [(r: unknown[]) => r.slice(0, -1), (r: unknown[]) => [...r, null]]) {
      const lines = dumpLines(gunzipFile(dump));
      const i = lines.findIndex((l) => l.startsWith('[') && l.includes('"t1","sqlite"'));
      lines[i] = JSON.stringify(edit(JSON.parse(lines[i]!) as unknown[]));
      const forged = join(dirs.make(), 'forged-width.gz');
      writeFileSync(forged, gzip(reseal(lines)));
      await refused(forged, 'CORRUPT', { existing: migratedTarget('width.db'), message: /table "Tag": a row of \d+ values in the dump, for \d+ columns/ });
    }
  });

  it('the spare target was never touched', () => {
    expect(sha256(readFileSync(spare))).toBe(sha256(readFileSync(migratedTemplate)));
  });
});

describe('dry run', () => {
  it('verifies the dump and plans, but never creates a missing target', async () => {
    const target = join(dirs.make(), 'dry.db');
    const r = await restoreInto(target, dump, { confirm: false });
    expect(r.mode).toBe('dry-run');
    expect(r.verified).toBe(true);
    expect(r.path).toBe('empty');
    expect(r.tables.mixed).toBe(source.tables.mixed!.rows.length);
    expect(existsSync(target)).toBe(false);
    expect(listDir(join(target, '..'))).toEqual([]);
  });

  it('names a missing target by its path, as the confirmed run does', async () => {
    const target = join(dirs.make(), 'named.db');
    const r = await restoreInto(target, dump, { confirm: false });
    expect(r.target).toBe(`file:${target} (new file)`);
    expect(existsSync(target)).toBe(false);
  });

  it('leaves an existing target byte for byte as it was', async () => {
    const target = migratedTarget('dry-migrated.db');
    const before = fingerprint(target);
    const r = await restoreInto(target, dump, { confirm: false });
    expect(r.mode).toBe('dry-run');
    expect(r.path).toBe('migrated');
    expect(fingerprint(target)).toEqual(before);
  });

  it('still refuses a corrupt dump', async () => {
    const bytes = readFileSync(dump);
    const cut = join(dirs.make(), 'cut.gz');
    writeFileSync(cut, bytes.subarray(0, bytes.length - 100));
    const target = join(dirs.make(), 'dry2.db');
    const e = await rejection(restoreInto(target, cut, { confirm: false }));
    expect(e.code).toBe('CORRUPT');
    expect(existsSync(target)).toBe(false);
  });
});

describe('full-text tables whose content option decides what a dump holds', () => {
  it('keeps the rows of an FTS3 table with a column named content, and restores over a contentless FTS4 table', async () => {
    const src = join(dirs.make(), 'fts.db');
    exec(src, (db) =>
      db.exec(`
        CREATE TABLE searchable (id INTEGER PRIMARY KEY, text1 TEXT);
        INSERT INTO searchable VALUES (1, 'barry cat'), (2, 'terry dog');
        -- FTS3 has no content option: "content" is its third column and the table holds its own rows.
        CREATE VIRTUAL TABLE f3 USING fts3(text1, text2, content="searchable");
        INSERT INTO f3 (rowid, text1, text2, content) VALUES (1, 'barry cat', 'a', 'x'), (4, 'terry dog', 'b', NULL);
        -- Contentless FTS4: not even count(*) can read it; only its schema travels.
        CREATE VIRTUAL TABLE f4less USING fts4(body, content='');
        INSERT INTO f4less (docid, body) VALUES (7, 'contentless');
        CREATE VIRTUAL TABLE f4ext USING fts4(text1, content="searchable");
        INSERT INTO f4ext (f4ext) VALUES ('rebuild');
        -- External content read through a view (created after the tables on restore), and one that does not exist.
        CREATE VIEW vsearch AS SELECT id, text1 FROM searchable;
        CREATE VIRTUAL TABLE f5view USING fts5(text1, content='vsearch', content_rowid='id');
        INSERT INTO f5view (f5view) VALUES ('rebuild');
        CREATE VIRTUAL TABLE f5gone USING fts5(body, content='nosuch');
        -- SQLite finds a content table in other letter case by its ASCII letters only: "ABC" for 'abc', but not
        -- "Ünï" for 'ünï' (that one is missing, as f5gone's is).
        CREATE TABLE "ABC" (a); INSERT INTO "ABC" VALUES ('yak');
        CREATE VIRTUAL TABLE f5ascii USING fts5(a, content='abc');
        INSERT INTO f5ascii (f5ascii) VALUES ('rebuild');
        CREATE TABLE "Ünï" (a); INSERT INTO "Ünï" VALUES ('gnu');
        CREATE VIRTUAL TABLE f5uni USING fts5(a, content='ünï');
      `),
    );
    const dumpPath = join(dirs.make(), 'fts.ndjson.gz');
    const b = await backupToFile(src, dumpPath);
    expect(b.tables).toMatchObject({ searchable: 2, f3: 2, f4less: 0, f4ext: 0 });
    const target = join(dirs.make(), 'fts-restored.db');
    const first = await restoreInto(target, dumpPath);
    expect(Object.fromEntries(first.plan.map((p) => [p.table, p.action]))).toMatchObject({
      f3: 'create+load',
      f4less: 'schema-only',
      f4ext: 'rebuild',
      f5view: 'rebuild',
      f5gone: 'schema-only',
      f5ascii: 'rebuild',
      f5uni: 'schema-only',
    });
    expect(first.warnings.join('\n')).toMatch(/f5gone: its content table "nosuch" does not exist/);
    expect(first.warnings.join('\n')).toMatch(/f5uni: its content table "ünï" does not exist/);
    expect(query(target, "SELECT rowid FROM f5ascii WHERE f5ascii MATCH 'yak'")).toEqual([[1n]]);
    expect(query(target, "SELECT rowid FROM f5view WHERE f5view MATCH 'cat'")).toEqual([[1n]]);
    expect(query(target, "SELECT count(*) FROM sqlite_schema WHERE name = 'f5gone'")).toEqual([[1n]]);
    expect(query(target, 'SELECT rowid, text1, text2, content FROM f3 ORDER BY rowid')).toEqual(
      query(src, 'SELECT rowid, text1, text2, content FROM f3 ORDER BY rowid'),
    );
    expect(query(target, "SELECT rowid FROM f3 WHERE f3 MATCH 'dog'")).toEqual([[4n]]);
    expect(query(target, "SELECT rowid FROM f4ext WHERE f4ext MATCH 'dog'")).toEqual([[2n]]);
    // The restored file (with its contentless FTS4 table) as the target of the same dump: the same rows, accepted.
    const again = await restoreInto(target, dumpPath);
    expect(again.verified).toBe(true);
    expect(query(target, 'SELECT count(*) FROM f3')).toEqual([[2n]]);
  });
});

describe('physical settings the dump records', () => {
  it("a new file takes the source's page size", async () => {
    const src = join(dirs.make(), 'pages.db');
    exec(src, (db) => {
      db.pragma('page_size = 8192');
      db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v); INSERT INTO t (v) VALUES ('a'), (zeroblob(20000));");
    });
    const dumpPath = join(dirs.make(), 'pages.ndjson.gz');
    await backupToFile(src, dumpPath);
    const target = join(dirs.make(), 'pages-restored.db');
    expect((await restoreInto(target, dumpPath)).verified).toBe(true);
    expect(query(target, 'PRAGMA page_size')).toEqual([[8192n]]);
    expect(query(target, 'PRAGMA integrity_check')).toEqual([['ok']]);
  });

  it("a new file takes the source's text encoding and auto_vacuum mode, and every value stays exact", async () => {
    for (const [encoding, autoVacuum] of [
      ['UTF-16le', 1n],
      ['UTF-16be', 2n],
    ] as const) {
      const src = join(dirs.make(), 'u16.db');
      exec(src, (db) => {
        db.pragma(`encoding = '${encoding}'`);
        db.pragma(`auto_vacuum = ${autoVacuum}`);
        db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v); INSERT INTO t (v) VALUES ('héllo 𝄞'), (x'00ff'), (-0.0), (9223372036854775807);");
      });
      const dumpPath = join(dirs.make(), 'u16.ndjson.gz');
      await backupToFile(src, dumpPath);
      const target = join(dirs.make(), 'u16-restored.db');
      expect((await restoreInto(target, dumpPath)).verified).toBe(true);
      expect(query(target, 'PRAGMA encoding')).toEqual([[encoding]]);
      expect(query(target, 'PRAGMA auto_vacuum')).toEqual([[autoVacuum]]);
      expect(query(target, 'SELECT id, hex(v), typeof(v) FROM t ORDER BY id')).toEqual(query(src, 'SELECT id, hex(v), typeof(v) FROM t ORDER BY id'));
    }
  });

  it('a UTF-16 source: valid text holding U+FFFD or a surrogate pair is a plain string in the dump, exact in a UTF-16 and a UTF-8 target', async () => {
    for (const encoding of ['UTF-16le', 'UTF-16be']) {
      const src = join(dirs.make(), 'u16.db');
      const schema = 'CREATE TABLE t (k TEXT PRIMARY KEY, v) WITHOUT ROWID; CREATE TABLE r (id INTEGER PRIMARY KEY, v);';
      exec(src, (db) => {
        db.pragma(`encoding = '${encoding}'`);
        db.exec(schema);
        db.prepare('INSERT INTO t VALUES (?, ?)').run('k\uFFFD1', 'a\uFFFDb 😀');
        db.prepare('INSERT INTO t VALUES (?, ?)').run('k😀2', '\uFFFD');
        db.prepare('INSERT INTO r (v) VALUES (?), (?)').run('x\uFFFD', '𝄞 end\uFFFD');
      });
      const dumpPath = join(dirs.make(), 'u16.ndjson.gz');
      await backupToFile(src, dumpPath);
      const text = gunzipFile(dumpPath).toString('utf8');
      expect(text).not.toContain('{"t":');
      const values = 'SELECT id, v FROM r';
      const target = join(dirs.make(), 'u16-restored.db');
      expect((await restoreInto(target, dumpPath)).verified).toBe(true);
      expect(query(target, 'SELECT hex(k), hex(v), typeof(v) FROM t ORDER BY k')).toEqual(query(src, 'SELECT hex(k), hex(v), typeof(v) FROM t ORDER BY k'));
      const utf8 = join(dirs.make(), 'utf8.db');
      exec(utf8, (db) => db.exec(schema)); // a migrated UTF-8 target, as every Turso database is
      // t's TEXT keys sort otherwise in UTF-8 than in UTF-16 (memcmp of other bytes), and the target's read-back,
      // in key order, then differs from the dump's checksum: refused, rolled back, saying why.
      const refused = await rejection(restoreInto(utf8, dumpPath));
      expect(refused.message).toMatch(
        /^table "t" does not match the dump after loading .*the dump's source was UTF-16(le|be) and the target is UTF-8.*restore into a new file/,
      );
      expect(query(utf8, 'SELECT count(*) FROM t')).toEqual([[0n]]);
      expect((await restoreInto(utf8, dumpPath, { tables: ['r'] })).verified).toBe(true);
      expect(query(utf8, values)).toEqual(query(src, values));
    }
  });

  it('TEXT that is not valid UTF-8 into an empty UTF-16 target: refused after the load, saying why, rolled back', async () => {
    const { dumpPath } = await dumpOf("CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT); INSERT INTO t VALUES (1, 'ok'), (2, CAST(x'ff80' AS TEXT))");
    const target = join(dirs.make(), 'u16.db');
    exec(target, (db) => db.exec("PRAGMA encoding = 'UTF-16le'; CREATE TABLE x (a); DROP TABLE x"));
    const refused = await rejection(restoreInto(target, dumpPath));
    expect(refused.message).toBe(
      'table "t" does not match the dump after loading (2/2 rows, checksum differs): rolled back (the target is UTF-16le and the dump\'s source was UTF-8: ' +
        'TEXT that is not valid UTF-8, which the dump keeps as its bytes, cannot be stored as those bytes in a UTF-16 database; restore into a new file, which keeps UTF-8)',
    );
    expect(query(target, "SELECT count(*) FROM sqlite_schema WHERE name = 't'")).toEqual([[0n]]);
  });

  it('a UTF-16 source holding text that is not valid UTF-16 (a lone surrogate) is refused by table and column, nothing written', async () => {
    for (const [encoding, bad] of [
      ['UTF-16le', "x'00DC4100'"],
      ['UTF-16le', "x'410000D8'"],
      ['UTF-16be', "x'DC000041'"],
    ] as const) {
      const src = join(dirs.make(), 'u16.db');
      exec(src, (db) => {
        db.pragma(`encoding = '${encoding}'`);
        db.exec(`CREATE TABLE t (id INTEGER PRIMARY KEY, note); INSERT INTO t (note) VALUES ('fine'), (CAST(${bad} AS TEXT));`);
      });
      const dumpPath = join(dirs.make(), 'bad16.ndjson.gz');
      const refused = await backupToFile(src, dumpPath).catch((e: unknown) => e);
      expect(refused).toMatchObject({ code: 'UNSUPPORTED', message: expect.stringMatching(/table "t", column "note".*not valid UTF-16/) });
      expect(existsSync(dumpPath)).toBe(false);
    }
  });

  it("a new file takes the source's WAL mode (the one journal mode a file keeps); a rollback-journal source stays so", async () => {
    for (const mode of ['wal', 'delete']) {
      const src = join(dirs.make(), `${mode}.db`);
      exec(src, (db) => {
        db.pragma(`journal_mode = ${mode}`);
        db.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, v); INSERT INTO t (v) VALUES ('a');");
      });
      const dumpPath = join(dirs.make(), `${mode}.ndjson.gz`);
      await backupToFile(src, dumpPath);
      const header = JSON.parse(dumpLines(gunzipFile(dumpPath))[0]!) as { sqlite: { journalMode?: string } };
      expect(header.sqlite.journalMode).toBe(mode === 'wal' ? 'wal' : undefined);
      const dir = dirs.make();
      const target = join(dir, 'restored.db');
      expect((await restoreInto(target, dumpPath)).verified).toBe(true);
      // Only the file itself: the load's -wal and -shm were folded in and removed before it was moved into place.
      expect(listDir(dir)).toEqual(['restored.db']);
      expect(query(target, 'PRAGMA journal_mode')).toEqual([[mode]]);
    }
  });
});

/** A source database made by `sql`, and its dump. */
async function dumpOf(sql: string, opts: Parameters<typeof backupToFile>[2] = {}) {
  const path = join(dirs.make(), 'src.db');
  exec(path, (db) => db.exec(sql));
  const dumpPath = join(dirs.make(), 'src.ndjson.gz');
  await backupToFile(path, dumpPath, opts);
  return { path, dumpPath };
}

describe('--tables and full-text indexes', () => {
  it("a chosen table's external-content FTS index comes with it: rebuilt, searchable, and its triggers can fire", async () => {
    const { dumpPath } = await dumpOf(`CREATE TABLE pages (id INTEGER PRIMARY KEY, body TEXT);
      CREATE TABLE "order" (id INTEGER PRIMARY KEY AUTOINCREMENT, n INT);
      CREATE TABLE other (id INTEGER PRIMARY KEY, t TEXT);
      CREATE VIRTUAL TABLE pages_fts USING fts5(body, content='pages', content_rowid='id');
      CREATE VIRTUAL TABLE other_fts USING fts5(t, content='other', content_rowid='id');
      CREATE TRIGGER pages_ai AFTER INSERT ON pages BEGIN INSERT INTO pages_fts (rowid, body) VALUES (new.id, new.body); END;
      INSERT INTO pages (body) VALUES ('hello world'), ('foo'); INSERT INTO pages_fts (pages_fts) VALUES ('rebuild');
      INSERT INTO "order" (n) VALUES (1); INSERT INTO other (t) VALUES ('x')`);
    const target = join(dirs.make(), 'chosen.db');
    const r = await restoreInto(target, dumpPath, { tables: ['pages', 'order'] });
    expect(r.plan.map((p) => [p.table, p.action])).toEqual([
      ['pages', 'create+load'],
      ['order', 'create+load'],
      ['pages_fts', 'rebuild'],
      ['sqlite_sequence', 'sequence'],
    ]);
    expect(r.warnings.filter((w) => /cannot fire/.test(w))).toEqual([]);
    expect(query(target, "SELECT rowid FROM pages_fts WHERE pages_fts MATCH 'hello'")).toEqual([[1n]]);
    exec(target, (db) => db.prepare("INSERT INTO pages (body) VALUES ('added later')").run());
    expect(query(target, "SELECT rowid FROM pages_fts WHERE pages_fts MATCH 'later'")).toEqual([[3n]]);
    expect(query(target, "SELECT name FROM sqlite_schema WHERE name LIKE 'other%'")).toEqual([]);
    // A migrated target without the index: the chosen tables load, as before.
    const bare = join(dirs.make(), 'bare.db');
    exec(bare, (db) => db.exec('CREATE TABLE pages (id INTEGER PRIMARY KEY, body TEXT)'));
    const b = await restoreInto(bare, dumpPath, { tables: ['pages'] });
    expect(b.plan.map((p) => [p.table, p.action])).toEqual([['pages', 'load']]);
    expect(query(bare, 'SELECT count(*) FROM pages')).toEqual([[2n]]);
  });
});

describe('shapes found on databases we did not write (sweep 3)', () => {
  it('an INSTEAD OF trigger on a view is carried and restored, and works', async () => {
    const { dumpPath } = await dumpOf(
      'CREATE TABLE a (id INTEGER PRIMARY KEY, x); CREATE VIEW va AS SELECT * FROM a; ' +
        'CREATE TRIGGER tva INSTEAD OF INSERT ON va BEGIN INSERT INTO a (x) VALUES (NEW.x); END; INSERT INTO a (x) VALUES (1);',
    );
    const target = join(dirs.make(), 'views.db');
    const r = await restoreInto(target, dumpPath);
    expect(r.warnings).toEqual([]);
    expect(query(target, "SELECT type, name FROM sqlite_schema WHERE type = 'trigger'")).toEqual([['trigger', 'tva']]);
    exec(target, (db) => db.exec('INSERT INTO va (x) VALUES (7)'));
    expect(query(target, 'SELECT x FROM a ORDER BY id')).toEqual([[1n], [7n]]);
  });

  it('a migrated target whose tables and columns differ from the dump only in letter case is loaded (SQLite resolves them so)', async () => {
    const { dumpPath } = await dumpOf("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER); INSERT INTO t VALUES (1, 'a', 2), (2, 'b', 3);");
    const target = join(dirs.make(), 'case.db');
    exec(target, (db) => db.exec('CREATE TABLE T (ID INTEGER PRIMARY KEY, Name TEXT, N INTEGER)'));
    const r = await restoreInto(target, dumpPath);
    expect(r.verified).toBe(true);
    expect(query(target, 'SELECT ID, Name, N, typeof(N) FROM T ORDER BY ID')).toEqual([
      [1n, 'a', 2n, 'integer'],
      [2n, 'b', 3n, 'integer'],
    ]);
  });

  it('a dump of some tables restores into a target holding others with --clean, which keeps them; without it the refusal names --clean', async () => {
    const sql = 'CREATE TABLE a (id INTEGER PRIMARY KEY, qty INT); CREATE TABLE b (id INTEGER PRIMARY KEY, what TEXT);';
    const { path, dumpPath } = await dumpOf(`${sql} INSERT INTO a VALUES (1, 1); INSERT INTO b VALUES (1, 'x');`, { selection: { tables: ['a'] } });
    const target = join(dirs.make(), 'subset.db');
    copyFileSync(path, target);
    exec(target, (db) => db.exec("UPDATE a SET qty = 9; INSERT INTO b VALUES (2, 'y')"));
    const refused = await rejection(restoreInto(target, dumpPath));
    expect(refused).toMatchObject({ code: 'REFUSED' });
    expect(refused.message).toContain('table "b" has 2 rows and is not in the dump (--clean restores the dumped tables and keeps it)');
    // Another application's database: one refusal naming its tables, not one per table.
    const other = join(dirs.make(), 'other.db');
    exec(other, (db) => {
      for (let i = 0; i < 8; i++) db.exec(`CREATE TABLE t${i} (id INTEGER PRIMARY KEY); INSERT INTO t${i} VALUES (1);`);
    });
    const many = await rejection(restoreInto(other, dumpPath));
    expect(many.message).toMatch(
      /the target holds data: 8 tables not in the dump hold rows, "t0" \(1 row\), "t1" \(1 row\), "t2" \(1 row\), "t3" \(1 row\), "t4" \(1 row\) and 3 more tables: is it the right database\?/,
    );
    expect(many.message.match(/the target holds data/g)).toHaveLength(1);
    // The dry run names what --clean keeps, as well as what it replaces.
    const dry = await restoreInto(target, dumpPath, { clean: true, confirm: false });
    expect(dry.plan).toEqual([
      { table: 'a', rows: 1, action: 'load', targetRows: 1 },
      { table: 'b', rows: 0, action: 'keep', targetRows: 2, why: 'not in the dump' },
    ]);
    expect((await restoreInto(target, dumpPath, { clean: true })).verified).toBe(true);
    expect(query(target, 'SELECT * FROM a')).toEqual([[1n, 1n]]);
    expect(query(target, 'SELECT * FROM b ORDER BY id')).toEqual([
      [1n, 'x'],
      [2n, 'y'],
    ]);
  });

  it('--tables brings the AUTOINCREMENT counters only when a chosen table uses them (the plan said so and wrote nothing)', async () => {
    const { dumpPath } = await dumpOf(
      "CREATE TABLE book (id INTEGER PRIMARY KEY, title TEXT); CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, what TEXT); INSERT INTO book VALUES (1, 't'); INSERT INTO audit (what) VALUES ('x');",
    );
    const plain = await restoreInto(join(dirs.make(), 'book.db'), dumpPath, { tables: ['book'] });
    expect(plain.plan.map((p) => p.table)).toEqual(['book']);
    const counted = join(dirs.make(), 'audit.db');
    const withCounters = await restoreInto(counted, dumpPath, { tables: ['audit'] });
    expect(withCounters.plan.map((p) => p.table)).toEqual(['audit', 'sqlite_sequence']);
    expect(query(counted, 'SELECT name, seq FROM sqlite_sequence')).toEqual([['audit', 1n]]);
  });

  it("an empty target takes the dump's user_version and application_id even when they are 0, and every sqlite_sequence row", async () => {
    const { dumpPath } = await dumpOf(
      "CREATE TABLE t (id INTEGER PRIMARY KEY AUTOINCREMENT); INSERT INTO t DEFAULT VALUES; INSERT INTO sqlite_sequence VALUES ('ghost', 77);" +
        // Names that are not TEXT stay what they are (sweep 4: they came back as the text 'null' and '5').
        "INSERT INTO sqlite_sequence VALUES (NULL, 7), (5, 8), (x'00ff', 9);",
    );
    const target = join(dirs.make(), 'pragmas.db');
    exec(target, (db) => db.exec('PRAGMA user_version = 3; PRAGMA application_id = 99;'));
    expect((await restoreInto(target, dumpPath)).verified).toBe(true);
    expect(query(target, 'PRAGMA user_version')).toEqual([[0n]]);
    expect(query(target, 'PRAGMA application_id')).toEqual([[0n]]);
    expect(query(target, 'SELECT typeof(name), name, seq FROM sqlite_sequence ORDER BY name')).toEqual([
      ['null', null, 7n],
      ['integer', 5n, 8n],
      ['text', 'ghost', 77n],
      ['text', 't', 1n],
      ['blob', Buffer.from([0, 255]), 9n],
    ]);
  });

  it('a restore of some tables warns of the views and triggers it created that need a table it did not load', async () => {
    const { dumpPath } = await dumpOf(
      'CREATE TABLE a (id INTEGER PRIMARY KEY, qty INT); CREATE TABLE b (id INTEGER PRIMARY KEY, what TEXT); CREATE VIEW vb AS SELECT * FROM b; ' +
        "CREATE TRIGGER ta AFTER UPDATE ON a BEGIN INSERT INTO b (what) VALUES ('upd'); END; INSERT INTO a VALUES (1, 1);",
    );
    const whole = await restoreInto(join(dirs.make(), 'whole.db'), dumpPath);
    expect(whole.warnings).toEqual([]);
    const some = await restoreInto(join(dirs.make(), 'some.db'), dumpPath, { tables: ['a'] });
    expect(some.verified).toBe(true);
    expect(some.warnings).toEqual([
      'view "vb" cannot be used on the target: no such table: main.b',
      'a trigger on "a" cannot fire on the target: no such table: main.b',
    ]);
  });
});

describe('shapes found on databases we did not write (sweep 4)', () => {
  it('a view over a dropped table with an INSTEAD OF trigger restores with a warning, whole or with --tables', async () => {
    // The source has it (SQLite keeps a view whose table was dropped); its trigger's table has no columns to list.
    const { dumpPath } = await dumpOf(
      'CREATE TABLE keep (id INTEGER PRIMARY KEY, v); INSERT INTO keep VALUES (1, 1); CREATE TABLE gone (id INTEGER PRIMARY KEY, v); ' +
        'CREATE VIEW vg AS SELECT * FROM gone; CREATE TRIGGER vg_ins INSTEAD OF INSERT ON vg BEGIN INSERT INTO keep VALUES (NEW.id, NEW.v); END; ' +
        'DROP TABLE gone; CREATE TABLE a (id INTEGER PRIMARY KEY); CREATE VIEW va AS SELECT * FROM a; ' +
        'CREATE TRIGGER va_ins INSTEAD OF INSERT ON va BEGIN INSERT INTO a VALUES (NEW.id); END;',
    );
    const whole = await restoreInto(join(dirs.make(), 'whole.db'), dumpPath);
    expect(whole.verified).toBe(true);
    expect(whole.warnings).toEqual(['view "vg" cannot be used on the target: no such table: main.gone']);
    const some = await restoreInto(join(dirs.make(), 'some.db'), dumpPath, { tables: ['keep'] });
    expect(some.verified).toBe(true);
    expect(some.warnings).toEqual([
      'view "vg" cannot be used on the target: no such table: main.gone',
      'view "va" cannot be used on the target: no such table: main.a',
    ]);
  });
});
