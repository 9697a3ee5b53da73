/**
 * The "nasty" database: one SQLite file holding every case a backup/restore engine can get wrong (storage classes,
 * REAL bits, huge values, invalid UTF-8, hidden and gapped rowids, AUTOINCREMENT state, WITHOUT ROWID, STRICT,
 * generated columns, triggers, FTS5, names that need quoting, Prisma-shaped tables), plus `dumpDb()`, which reads a
 * database cell by cell as [typeof, exact bytes] pairs so that a source and its restored copy can be compared
 * including storage classes, REAL bits and rowids.
 */
import { PRISMA_MIGRATIONS_DDL } from '../../src/migrate/index.js';
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';

/** Deterministic bytes (xorshift32): big blobs that do not compress to nothing, identical on every run. */
export function prngBytes(n: number, seed = 0x2545f491): Buffer {
  const out = Buffer.allocUnsafe(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = s & 0xff;
  }
  return out;
}

export const INT64_MAX = 9223372036854775807n;
export const INT64_MIN = -9223372036854775808n;

/** Every hard cell value, in the order they are stored in `mixed` (id 1..n). */
export const MIXED_VALUES: readonly unknown[] = [
  null,
  0n,
  1n,
  -1n,
  42n,
  INT64_MAX,
  INT64_MIN,
  2n ** 53n + 1n,
  -(2n ** 53n) - 1n,
  2n ** 53n - 1n,
  1.0,
  -0.0,
  0.0,
  Infinity,
  -Infinity,
  5e-324,
  1.7976931348623157e308,
  0.1,
  -2.5,
  1e21,
  123456789012345680000,
  '',
  'plain',
  'a\0b',
  'line\u2028sep\u2029para',
  'emoji 🎉👩‍👩‍👧 \uFFFD literal replacement char',
  'quote " backslash \\ newline \n tab \t',
  '\uFEFFbyte-order mark first', // a TextDecoder drops it unless told not to (hrana-client's Protobuf reader does)
  '42',
  '1.0',
  Buffer.alloc(0),
  Buffer.from([0, 1, 0, 0xff, 0, 0x0a, 0]),
];

/** Non-UTF-8 TEXT, written with CAST(? AS TEXT) so SQLite keeps the bytes as TEXT. */
export const BAD_UTF8 = Buffer.from([0x61, 0xff, 0xfe, 0x62]);
export const BAD_UTF8_2 = Buffer.from([0xc3, 0x28, 0xa0, 0xa1, 0xed, 0xa0, 0x80]); // overlong / surrogate bytes

export const ONE_MB_STRING = `${'x'.repeat(1024 * 1024 - 7)}the end`;
export const TWO_MB_BLOB = prngBytes(2 * 1024 * 1024, 7);

/** Prisma's own DDL for its migration table (the one migrate-turso writes). */
export const PRISMA_MIGRATIONS_SQL = PRISMA_MIGRATIONS_DDL;

export const PRISMA_MIGRATION_ROWS: unknown[][] = [
  [
    '0b7ac3e2-1d3c-4c55-9a43-0a9b6c1d2e01',
    'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    1704067200123n,
    '20240101000000_init',
    null,
    null,
    1704067200001n,
    1n,
  ],
  [
    '6f2d7a1c-8b8e-4e1e-b4c1-2b8e7d5c9f02',
    '9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08',
    '2024-02-15 09:30:01',
    '20240215093000_post_published',
    null,
    null,
    '2024-02-15 09:30:00',
    1n,
  ],
];

const SCHEMA = `
CREATE TABLE mixed (id INTEGER PRIMARY KEY, v);
CREATE TABLE events (kind TEXT, payload);
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, price REAL, qty INTEGER);
CREATE TABLE desc_keyed (id INTEGER PRIMARY KEY DESC, label TEXT);
CREATE TABLE counters (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT);
CREATE TABLE seq_zero (id INTEGER PRIMARY KEY AUTOINCREMENT, label TEXT);
CREATE TABLE kv (ns TEXT COLLATE NOCASE NOT NULL, k TEXT NOT NULL, v, PRIMARY KEY (ns, k)) WITHOUT ROWID;
CREATE TABLE strict_t (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, a ANY) STRICT;
CREATE TABLE gen (
  id INTEGER PRIMARY KEY,
  a INTEGER,
  b INTEGER,
  total INTEGER GENERATED ALWAYS AS (a + b) VIRTUAL,
  label TEXT GENERATED ALWAYS AS (a || '-' || b) STORED
);
CREATE TABLE "order items" ("select" TEXT, "a""b" INTEGER, "with space" REAL, "rowid" TEXT);
CREATE INDEX "order items by select" ON "order items" ("select");
CREATE VIRTUAL TABLE docs USING fts5(title, body);
CREATE VIRTUAL TABLE items_fts USING fts5(name, content='items', content_rowid='id');
CREATE VIRTUAL TABLE contentless USING fts5(body, content='');
CREATE VIRTUAL TABLE old_fts USING fts4(body);
CREATE VIRTUAL TABLE fts3_cols USING fts3(body, content="searchable");
CREATE VIRTUAL TABLE boxes USING rtree(id, minX, maxX, minY, maxY);
CREATE VIRTUAL TABLE zones USING geopoly(name, fid);
CREATE VIEW item_totals AS SELECT name, price * qty AS total FROM items;
${PRISMA_MIGRATIONS_SQL};
CREATE TABLE "User" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "email" TEXT NOT NULL,
    "name" TEXT,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE "Post" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "title" TEXT NOT NULL,
    "body" TEXT,
    "published" BOOLEAN NOT NULL DEFAULT false,
    "authorId" INTEGER NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
    CONSTRAINT "Post_authorId_fkey" FOREIGN KEY ("authorId") REFERENCES "User" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE TABLE "Tag" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "name" TEXT NOT NULL
);
CREATE TABLE "_PostToTag" (
    "A" INTEGER NOT NULL,
    "B" TEXT NOT NULL,
    CONSTRAINT "_PostToTag_A_fkey" FOREIGN KEY ("A") REFERENCES "Post" ("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "_PostToTag_B_fkey" FOREIGN KEY ("B") REFERENCES "Tag" ("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE TABLE "MediaAsset" (
    "id" TEXT NOT NULL PRIMARY KEY,
    "url" TEXT NOT NULL,
    "blobPathname" TEXT NOT NULL,
    "contentType" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "createdAt" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE "AuditLog" (
    "id" INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    "action" TEXT NOT NULL,
    "postId" INTEGER,
    "at" DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX "User_email_key" ON "User"("email" COLLATE NOCASE);
CREATE UNIQUE INDEX "Tag_name_key" ON "Tag"("name");
CREATE UNIQUE INDEX "_PostToTag_AB_unique" ON "_PostToTag"("A", "B");
CREATE INDEX "_PostToTag_B_index" ON "_PostToTag"("B");
CREATE TRIGGER "Post_audit_insert" AFTER INSERT ON "Post" BEGIN
    INSERT INTO "AuditLog" ("action", "postId") VALUES ('post.created', NEW."id");
END;
`;

export interface NastyOptions {
  /** Leave the database in journal_mode=WAL (as some migrations set it). */
  wal?: boolean;
  /** Rows in the gapped rowid table (default ~10k before deletions). */
  eventRows?: number;
  /** Leave out the 1 MB string and the 2 MB blob (for tests that only need the shapes). */
  small?: boolean;
}

/** Builds the nasty database at `path` (which must not exist). */
export function buildNastyDb(path: string, opts: NastyOptions = {}): void {
  if (existsSync(path)) throw new Error(`buildNastyDb: ${path} already exists`);
  const db = new Database(path);
  try {
    db.pragma('foreign_keys = ON');
    db.exec(SCHEMA);
    db.pragma('user_version = 7');
    db.pragma('application_id = 1234');
    db.transaction(() => fill(db, opts))();
    if (opts.wal) db.pragma('journal_mode = WAL');
  } finally {
    db.close();
  }
}

function fill(db: Database.Database, opts: NastyOptions) {
  // Every storage class in one untyped column.
  const mixed = db.prepare('INSERT INTO mixed (id, v) VALUES (?, ?)');
  let id = 1n;
  for (const v of MIXED_VALUES) mixed.run(id++, v);
  const mixedText = db.prepare('INSERT INTO mixed (id, v) VALUES (?, CAST(? AS TEXT))');
  mixedText.run(id++, BAD_UTF8);
  mixedText.run(id++, BAD_UTF8_2);
  if (!opts.small) {
    mixed.run(id++, ONE_MB_STRING);
    mixed.run(id++, TWO_MB_BLOB);
  }

  // A rowid table without a primary key: big, negative and gapped rowids, deleted ranges.
  const ev = db.prepare('INSERT INTO events (rowid, kind, payload) VALUES (?, ?, ?)');
  ev.run(-5n, 'negative', -5n);
  ev.run(1n, 'one', 1.5);
  ev.run(2n ** 62n, 'huge', 'far away');
  ev.run(INT64_MAX, 'max', null);
  const n = opts.eventRows ?? 10_000;
  for (let i = 0; i < n; i++) {
    const rowid = 1000n + BigInt(i) * 3n;
    ev.run(rowid, i % 5 === 0 ? 'five' : 'other', i % 2 === 0 ? BigInt(i) : `payload ${i}`);
  }
  db.exec('DELETE FROM events WHERE rowid BETWEEN 5000 AND 8000');
  db.exec('DELETE FROM events WHERE rowid % 7 = 0 AND rowid BETWEEN 1000 AND 1000000');

  // INTEGER PRIMARY KEY alias: negative and gapped keys, REAL affinity column.
  const it = db.prepare('INSERT INTO items (id, name, price, qty) VALUES (?, ?, ?, ?)');
  it.run(-3n, 'negative', 1.25, 2n);
  it.run(1n, 'one', 10.0, 1n);
  it.run(2n, 'two', 0.1, 3n);
  it.run(1_000_000n, 'gap', 99.99, null);
  it.run(2n ** 40n, 'big', null, 7n);

  db.exec("INSERT INTO items_fts (items_fts) VALUES ('rebuild')"); // external content: indexed from items

  // INTEGER PRIMARY KEY DESC is not a rowid alias: the hidden rowid differs from id.
  const dk = db.prepare('INSERT INTO desc_keyed (rowid, id, label) VALUES (?, ?, ?)');
  dk.run(100n, 1n, 'first');
  dk.run(7n, 2n, 'second');
  dk.run(-1n, 30n, 'third');

  // AUTOINCREMENT: seq ahead of max(id), and a Prisma-style seq 0 on an empty table.
  const ct = db.prepare('INSERT INTO counters (label) VALUES (?)');
  for (const l of ['a', 'b', 'c', 'd']) ct.run(l);
  db.exec('DELETE FROM counters WHERE id IN (2, 4)');
  db.exec("INSERT INTO seq_zero (label) VALUES ('gone')");
  db.exec('DELETE FROM seq_zero');
  db.exec("UPDATE sqlite_sequence SET seq = 0 WHERE name = 'seq_zero'");

  // WITHOUT ROWID with a composite TEXT key, one part COLLATE NOCASE.
  const kv = db.prepare('INSERT INTO kv (ns, k, v) VALUES (?, ?, ?)');
  kv.run('Alpha', 'x', 1n);
  kv.run('beta', 'x', 2.5);
  kv.run('beta', 'X', 'upper');
  kv.run('Gamma', 'é', Buffer.from([1, 2, 3]));
  kv.run('', '', null);
  // A TEXT key that is not UTF-8 (drivers decode it lossily: paging must use its exact bytes), with such a value.
  db.prepare('INSERT INTO kv (ns, k, v) VALUES (?, CAST(? AS TEXT), CAST(? AS TEXT))').run('beta', BAD_UTF8, BAD_UTF8_2);
  db.prepare('INSERT INTO kv (ns, k, v) VALUES (?, CAST(? AS TEXT), ?)').run('beta', Buffer.from([0x61, 0xfe]), 'next to it');

  // STRICT.
  const st = db.prepare('INSERT INTO strict_t (id, i, r, t, b, a) VALUES (?, ?, ?, ?, ?, ?)');
  st.run(1n, INT64_MAX, 1.5, 'text', Buffer.from('blob'), 3n);
  st.run(2n, INT64_MIN, -0.5, '', Buffer.alloc(0), 1.0);
  st.run(3n, null, null, null, null, 'any text');
  st.run(4n, 0n, 5e-324, 'a\0b', Buffer.from([0]), Buffer.from([9, 9]));

  // Generated columns.
  const gen = db.prepare('INSERT INTO gen (id, a, b) VALUES (?, ?, ?)');
  gen.run(1n, 1n, 2n);
  gen.run(2n, 10n, null);
  gen.run(5n, -4n, 4n);

  // Names that need quoting; a column named "rowid" hides the real rowid behind _rowid_.
  const oi = db.prepare('INSERT INTO "order items" (_rowid_, "select", "a""b", "with space", "rowid") VALUES (?, ?, ?, ?, ?)');
  oi.run(10n, 'from', 1n, 2.5, 'not the rowid');
  oi.run(-2n, 'where', 2n, null, 'r2');
  oi.run(3n, null, null, 1.0, null);

  // FTS5 with its own content.
  const docs = db.prepare('INSERT INTO docs (rowid, title, body) VALUES (?, ?, ?)');
  docs.run(1n, 'Backups', 'A streaming backup of a libSQL database');
  docs.run(5n, 'Restores', 'Restore checks every checksum before loading');
  docs.run(9n, 'Unicode', 'naïve café 🎉 zebra');

  // Other virtual tables: contentless FTS5 (schema only, left empty so the copy stays exact), FTS4,
  // R*Tree, and FTS3, where `content="searchable"` is a second column (FTS3 has no content option): rows of its own.
  db.prepare('INSERT INTO old_fts (rowid, body) VALUES (?, ?)').run(3n, 'an fts4 document');
  const fts3 = db.prepare('INSERT INTO fts3_cols (rowid, body, content) VALUES (?, ?, ?)');
  fts3.run(2n, 'an fts3 document', 'its second column');
  fts3.run(8n, 'another fts3 document', null);
  db.prepare('INSERT INTO boxes VALUES (?, ?, ?, ?, ?)').run(1n, 0.5, 2.5, -1.0, 1.0);
  // Geopoly (an R*Tree underneath): shapes as their binary blobs, aux columns of any class.
  db.prepare("INSERT INTO zones (rowid, _shape, name, fid) VALUES (4, geopoly_regular(10, 20, 5, 6), 'hexagon', 1)").run();
  db.prepare("INSERT INTO zones (rowid, _shape, name, fid) VALUES (9, '[[0,0],[3,0],[3,3],[0,0]]', NULL, 2.5)").run();

  // Prisma-shaped tables.
  const pm = db.prepare(
    'INSERT INTO "_prisma_migrations" ("id", "checksum", "finished_at", "migration_name", "logs", "rolled_back_at", "started_at", "applied_steps_count") VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
  );
  for (const r of PRISMA_MIGRATION_ROWS) pm.run(...r);
  const user = db.prepare('INSERT INTO "User" ("id", "email", "name", "createdAt") VALUES (?, ?, ?, ?)');
  user.run(1n, 'Ada@Example.com', 'Ada', 1704067200000n);
  user.run(2n, 'bob@example.com', null, '2024-01-02 03:04:05');
  user.run(5n, 'carol@example.com', 'Carol 🎉', 1704067200999n);
  const post = db.prepare('INSERT INTO "Post" ("title", "body", "published", "authorId", "createdAt") VALUES (?, ?, ?, ?, ?)');
  post.run('Hello', 'first post', 1n, 1n, 1704067201000n);
  post.run('Draft', null, 0n, 1n, 1704067202000n);
  post.run('Deleted later', 'x', 0n, 2n, 1704067203000n);
  post.run('Carol writes', 'y', 1n, 5n, 1704067204000n);
  db.exec('DELETE FROM "Post" WHERE "id" = 3');
  const tag = db.prepare('INSERT INTO "Tag" ("id", "name") VALUES (?, ?)');
  tag.run('t1', 'sqlite');
  tag.run('t2', 'backup');
  tag.run('t3', 'unused');
  const p2t = db.prepare('INSERT INTO "_PostToTag" ("A", "B") VALUES (?, ?)');
  p2t.run(1n, 't2'); // rowid 1, deleted below: hidden rowids are gapped
  p2t.run(1n, 't1');
  p2t.run(2n, 't1');
  p2t.run(4n, 't2');
  p2t.run(4n, 't1');
  db.exec(`DELETE FROM "_PostToTag" WHERE "A" = 1 AND "B" = 't2'`);
  const media = db.prepare('INSERT INTO "MediaAsset" ("id", "url", "blobPathname", "contentType", "size", "createdAt") VALUES (?, ?, ?, ?, ?, ?)');
  media.run('m1', 'https://store.public.blob.vercel-storage.com/a/cat.png', 'a/cat.png', 'image/png', 1234n, 1704067205000n);
  media.run('m2', 'https://store.public.blob.vercel-storage.com/b/doc.pdf', 'b/doc.pdf', 'application/pdf', 0n, '2024-01-03 00:00:00');
}

/** A database of `rows` rows (~330 bytes each, poorly compressible), built with one statement. */
export function buildBigDb(path: string, rows: number): void {
  if (existsSync(path)) throw new Error(`buildBigDb: ${path} already exists`);
  const db = new Database(path);
  try {
    db.pragma('journal_mode = OFF');
    db.pragma('synchronous = OFF');
    db.exec('CREATE TABLE big (id INTEGER PRIMARY KEY, a TEXT, b BLOB, c REAL)');
    db.prepare(
      `WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < ?)
       INSERT INTO big (id, a, b, c) SELECT x, hex(randomblob(80)), randomblob(64), x / 7.0 FROM n`,
    ).run(rows);
  } finally {
    db.close();
  }
}

/** The FTS shadow tables and internal tables of a database (never replayed as schema). */
function shadowNames(db: Database.Database): Set<string> {
  const rows = db.prepare("SELECT name FROM pragma_table_list WHERE schema = 'main' AND type = 'shadow'").pluck().all() as string[];
  return new Set(rows);
}

/**
 * The schema of `fromPath` applied to a new database at `toPath`, as a migration tool would leave it: every table,
 * index, view and trigger, no rows (AUTOINCREMENT tables create sqlite_sequence themselves).
 */
export function replaySchema(fromPath: string, toPath: string, edit: (sql: string, name: string) => string = (s) => s): void {
  const src = new Database(fromPath, { readonly: true, fileMustExist: true });
  let objects: { type: string; name: string; sql: string }[];
  try {
    const shadow = shadowNames(src);
    objects = (src.prepare('SELECT type, name, sql FROM sqlite_schema WHERE sql IS NOT NULL ORDER BY rowid').all() as typeof objects).filter(
      (o) => !o.name.startsWith('sqlite_') && !shadow.has(o.name),
    );
  } finally {
    src.close();
  }
  const dst = new Database(toPath);
  try {
    dst.transaction(() => {
      for (const o of objects) dst.exec(edit(o.sql, o.name));
    })();
  } finally {
    dst.close();
  }
}

/** A cell as [typeof(col), exact bytes]: hex() of the stored bytes, or the IEEE-754 bits of a REAL. */
export type Cell = [string, string];

export interface DbDump {
  tables: Record<string, { columns: string[]; rows: Cell[][] }>;
  /** sqlite_sequence as [name, seq] pairs, by name. */
  sequence: [string, string][];
  /** sqlite_schema as [type, name, tbl_name, sql], sorted by type and name. */
  schema: [string, string, string, string | null][];
  pragmas: { userVersion: number; applicationId: number };
}

const qi = (n: string) => `"${n.replaceAll('"', '""')}"`;

function realBits(v: number): string {
  const b = Buffer.allocUnsafe(8);
  b.writeDoubleBE(v);
  return b.toString('hex');
}

/**
 * Every table of the database at `path` (FTS shadow tables aside: their layout depends on how the index was
 * built), every row in rowid/primary-key order with the rowid as the first cell of rowid tables, every cell as
 * [typeof, hex of the stored bytes | bits of the REAL]; plus sqlite_sequence, sqlite_schema and two pragmas.
 */
export function dumpDb(path: string): DbDump {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const shadow = shadowNames(db);
    const list = db.prepare("SELECT name, type, wr FROM pragma_table_list WHERE schema = 'main' AND type IN ('table', 'virtual') ORDER BY name").all() as {
      name: string;
      type: string;
      wr: number;
    }[];
    const tables: DbDump['tables'] = {};
    for (const t of list) {
      if (shadow.has(t.name) || t.name === 'sqlite_schema' || t.name === 'sqlite_temp_schema') continue;
      const cols = db.prepare('SELECT name, pk, hidden FROM pragma_table_xinfo(?)').all(t.name) as { name: string; pk: number; hidden: number }[];
      const visible = cols.filter((c) => c.hidden !== 1);
      const exprs: string[] = visible.map((c) => qi(c.name));
      const columns = visible.map((c) => c.name);
      let order: string;
      if (t.wr) {
        order = cols
          .filter((c) => c.pk > 0)
          .sort((a, b) => a.pk - b.pk)
          .map((c) => qi(c.name))
          .join(', ');
      } else {
        const taken = new Set(cols.map((c) => c.name.toLowerCase()));
        const rowid = ['rowid', '_rowid_', 'oid'].find((n) => !taken.has(n));
        if (!rowid) throw new Error(`dumpDb: table ${t.name} hides its rowid`);
        exprs.unshift(rowid);
        columns.unshift('(rowid)');
        order = rowid;
      }
      const select = exprs.map((e) => `typeof(${e}), hex(${e}), ${e}`).join(', ');
      const stmt = db
        .prepare(`SELECT ${select} FROM ${qi(t.name)} ORDER BY ${order}`)
        .raw(true)
        .safeIntegers(true);
      const rows: Cell[][] = [];
      for (const r of stmt.iterate() as IterableIterator<unknown[]>) {
        const row: Cell[] = [];
        for (let i = 0; i < r.length; i += 3) {
          const type = r[i] as string;
          row.push([type, type === 'real' ? realBits(r[i + 2] as number) : (r[i + 1] as string)]);
        }
        rows.push(row);
      }
      tables[t.name] = { columns, rows };
    }
    const hasSeq = db.prepare("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'").get() !== undefined;
    const sequence = hasSeq
      ? (db.prepare('SELECT name, seq FROM sqlite_sequence ORDER BY name').raw(true).safeIntegers(true).all() as [string, bigint][]).map(
          ([n, s]): [string, string] => [n, String(s)],
        )
      : [];
    const schema = db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY type, name').raw(true).all() as DbDump['schema'];
    const pragmas = {
      userVersion: Number(db.pragma('user_version', { simple: true })),
      applicationId: Number(db.pragma('application_id', { simple: true })),
    };
    return { tables, sequence, schema, pragmas };
  } finally {
    db.close();
  }
}

const short = (c: Cell | undefined) => (c === undefined ? 'nothing' : `${c[0]}:${c[1].length > 40 ? `${c[1].slice(0, 40)}…(${c[1].length / 2} bytes)` : c[1]}`);

/**
 * The differences between two dumps, described briefly (a failing test prints a readable list instead of a
 * multi-megabyte diff). Empty when the databases hold the same cells, sequence and schema.
 */
export function diffDumps(a: DbDump, b: DbDump, opts: { ignoreTables?: string[]; pragmas?: boolean } = {}): string[] {
  const out: string[] = [];
  const ignore = new Set(opts.ignoreTables ?? []);
  const names = new Set([...Object.keys(a.tables), ...Object.keys(b.tables)]);
  for (const name of [...names].sort()) {
    if (ignore.has(name)) continue;
    const ta = a.tables[name];
    const tb = b.tables[name];
    if (!ta || !tb) {
      out.push(`table ${name}: only in ${ta ? 'the first' : 'the second'}`);
      continue;
    }
    if (ta.columns.join('\u0000') !== tb.columns.join('\u0000')) out.push(`table ${name}: columns ${ta.columns} vs ${tb.columns}`);
    if (ta.rows.length !== tb.rows.length) out.push(`table ${name}: ${ta.rows.length} rows vs ${tb.rows.length}`);
    const n = Math.min(ta.rows.length, tb.rows.length);
    let shown = 0;
    for (let i = 0; i < n && shown < 5; i++) {
      const ra = ta.rows[i]!;
      const rb = tb.rows[i]!;
      for (let j = 0; j < Math.max(ra.length, rb.length); j++) {
        const ca = ra[j];
        const cb = rb[j];
        if (!ca || !cb || ca[0] !== cb[0] || ca[1] !== cb[1]) {
          out.push(`table ${name} row ${i} column ${ta.columns[j] ?? j}: ${short(ca)} vs ${short(cb)}`);
          shown++;
          break;
        }
      }
    }
  }
  if (JSON.stringify(a.sequence) !== JSON.stringify(b.sequence)) {
    out.push(`sqlite_sequence: ${JSON.stringify(a.sequence)} vs ${JSON.stringify(b.sequence)}`);
  }
  const sa = new Map(a.schema.map((s) => [`${s[0]} ${s[1]}`, s]));
  const sb = new Map(b.schema.map((s) => [`${s[0]} ${s[1]}`, s]));
  for (const k of new Set([...sa.keys(), ...sb.keys()])) {
    const x = sa.get(k);
    const y = sb.get(k);
    if (!x || !y) out.push(`schema ${k}: only in ${x ? 'the first' : 'the second'}`);
    else if (x[2] !== y[2] || x[3] !== y[3]) out.push(`schema ${k}: ${x[3]} vs ${y[3]}`);
  }
  if (opts.pragmas !== false && JSON.stringify(a.pragmas) !== JSON.stringify(b.pragmas)) {
    out.push(`pragmas: ${JSON.stringify(a.pragmas)} vs ${JSON.stringify(b.pragmas)}`);
  }
  return out;
}
