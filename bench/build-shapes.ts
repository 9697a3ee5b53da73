/**
 * Builders of the bench's data shapes beyond `current` (bench/build-db.ts). Each writes a fresh database at `path`
 * and returns its number of rows. Deterministic: seeded randomness only (bench/rng.ts).
 *
 * Each builder has a version in SHAPES (bench/shapes.ts): bump it whenever the data a builder writes changes, so
 * that cached databases under bench/data/ are rebuilt.
 */
import Database from 'better-sqlite3';
import { byteStream, rng } from './rng.js';

function open(path: string): Database.Database {
  const db = new Database(path);
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  return db;
}

/** '2023-11-14 22:13:20': SQLite's `datetime(x, 'unixepoch')` text. */
const sqlDatetime = (unixSeconds: number) => new Date(unixSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ');

/**
 * `events`: reproduces the shape of ../shared/bench/bigdb.sh (`bigdb.sh PATH ROWS`) — same tables, columns, indexes,
 * row counts and value shapes — with seeded bytes where bigdb.sh uses `randomblob()`, so that a fresh clone without
 * ../shared builds the same kind of database, and every build the same one. 1M rows: ~312 MB.
 */
export function buildEvents(path: string, rows: number): number {
  rows = Math.max(1, Math.round(rows));
  const users = Math.max(1, Math.floor(rows / 100));
  const media = Math.max(1, Math.floor(rows / 50));
  const bytes = byteStream(20_230_001);
  const db = open(path);
  // The DDL text is bigdb.sh's, byte for byte (it is dumped as is).
  db.exec(`CREATE TABLE "User" ("id" TEXT NOT NULL PRIMARY KEY, "email" TEXT NOT NULL, "name" TEXT, "createdAt" DATETIME NOT NULL);
    CREATE TABLE "Event" ("id" INTEGER PRIMARY KEY, "userId" TEXT NOT NULL REFERENCES "User"("id"), "kind" TEXT NOT NULL,
  "payload" TEXT, "score" REAL, "createdAt" DATETIME NOT NULL);
    CREATE INDEX "Event_userId_idx" ON "Event"("userId");
    CREATE TABLE "Media" ("id" TEXT NOT NULL PRIMARY KEY, "url" TEXT NOT NULL, "thumb" BLOB, "size" INTEGER);`);
  const cl = (i: number) => `cl${String(i).padStart(10, '0')}`;
  const insUser = db.prepare('INSERT INTO "User" VALUES (?, ?, ?, ?)');
  const insEvent = db.prepare('INSERT INTO "Event" VALUES (?, ?, ?, ?, ?, ?)');
  const insMedia = db.prepare('INSERT INTO "Media" VALUES (?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= users; i++) insUser.run(cl(i), `user${i}@example.com`, `User ${i}`, sqlDatetime(1_700_000_000 + i));
    for (let i = 1; i <= rows; i++) {
      const ref = bytes(40).toString('hex').toUpperCase();
      const payload = `{"n":${i},"path":"/app/page/${i % 1000}","ua":"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)","ref":"${ref}"}`;
      insEvent.run(i, cl(1 + (i % users)), `kind${i % 17}`, payload, (i % 1000) / 7.0, sqlDatetime(1_700_000_000 + i * 13));
    }
    for (let i = 1; i <= media; i++) {
      insMedia.run(`m${String(i).padStart(8, '0')}`, `https://s.public.blob.vercel-storage.com/m/${i}.jpg`, bytes(600), 1000 + i);
    }
  })();
  db.close();
  return users + rows + media;
}

const WORDS = `the of and to in is was for that with as on by at from his her this which are be had have not but they
  were one all their an been has more when there can who its out would about into than them only other time new some
  could these two may first then after any like our over such made most where even before through back years much
  under world very still between should during house system river market garden letter morning history question
  window evening company village mountain journey weather kitchen station library harbour meadow lantern orchard
  quietly slowly carefully suddenly finally perhaps almost always never often`.split(/\s+/);

/** Prose of exactly `n` characters: sentences of common words (compresses about 3–4× with gzip, like real text). */
function prose(r: () => number, n: number): string {
  const parts: string[] = [];
  let len = 0;
  while (len < n) {
    const words = 6 + Math.floor(r() * 14);
    let s = '';
    for (let w = 0; w < words; w++) s += (w ? ' ' : '') + WORDS[Math.floor(r() * WORDS.length)];
    s = `${s[0]!.toUpperCase()}${s.slice(1)}. `;
    parts.push(s);
    len += s.length;
  }
  return parts.join('').slice(0, n);
}

/**
 * `wide`: 20k documents per 1×. Every row has a prose TEXT body of 1–32 KiB (compressible); one row in five also a
 * BLOB attachment of 1–32 KiB random bytes (incompressible). ~400 MB per 1×.
 */
export function buildWide(path: string, rows: number): number {
  rows = Math.max(1, Math.round(rows));
  const r = rng(7_001);
  const bytes = byteStream(7_002);
  const kib = () => 1024 + Math.floor(r() * 31 * 1024);
  const db = open(path);
  db.exec(`CREATE TABLE "Document" ("id" INTEGER PRIMARY KEY, "title" TEXT NOT NULL, "body" TEXT NOT NULL,
    "attachment" BLOB, "createdAt" DATETIME NOT NULL)`);
  const ins = db.prepare('INSERT INTO "Document" VALUES (?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) {
      const attachment = i % 5 === 0 ? bytes(kib()) : null;
      ins.run(i, prose(r, 20 + Math.floor(r() * 60)), prose(r, kib()), attachment, sqlDatetime(1_700_000_000 + i * 61));
    }
  })();
  db.close();
  return rows;
}

/**
 * `narrow`: 8M rows per 1× of five small integers and a short code, plus an index on two of them (which brings it
 * to ~400 MB). Built in SQL with a multiplicative hash of the row number instead of randomness: deterministic, and
 * ten times faster than 8M inserts from JavaScript.
 */
export function buildNarrow(path: string, rows: number): number {
  rows = Math.max(1, Math.round(rows));
  const db = open(path);
  db.exec(`CREATE TABLE "Reading" ("id" INTEGER PRIMARY KEY, "sensor" INTEGER NOT NULL, "kind" INTEGER NOT NULL,
      "value" INTEGER NOT NULL, "flags" INTEGER NOT NULL, "code" TEXT NOT NULL);
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows}),
      h(i, x) AS (SELECT i, (i * 2654435761 + 12345) % 4294967296 FROM n)
    INSERT INTO "Reading" SELECT i, x % 5000, (x >> 13) % 8, (x >> 7) % 100000 - 50000, (x >> 20) % 4,
      char(65 + (x >> 3) % 26, 65 + (x >> 9) % 26) || '-' || ((x >> 16) % 1000) FROM h;
    CREATE INDEX "Reading_sensor_value_idx" ON "Reading"("sensor", "value");`);
  db.close();
  return rows;
}

/**
 * `large`: an app that keeps files in the database: 120k rows per 1× of file metadata (~150 B), of which one in a
 * thousand carries a 1–3 MiB random BLOB, and a run of 30 consecutive rows in the middle a 1 MiB prose TEXT each.
 * Pages are sized from the rows before them: this is the shape where a page of small rows meets large ones.
 */
export function buildLarge(path: string, rows: number): number {
  rows = Math.max(1, Math.round(rows));
  const r = rng(9_001);
  const bytes = byteStream(9_002);
  const mid = Math.floor(rows / 2);
  const db = open(path);
  db.exec(`CREATE TABLE "File" ("id" INTEGER PRIMARY KEY, "name" TEXT NOT NULL, "contentType" TEXT NOT NULL,
    "size" INTEGER NOT NULL, "sha1" TEXT NOT NULL, "data" BLOB, "notes" TEXT, "createdAt" DATETIME NOT NULL)`);
  const ins = db.prepare('INSERT INTO "File" VALUES (?, ?, ?, ?, ?, ?, ?, ?)');
  db.transaction(() => {
    for (let i = 1; i <= rows; i++) {
      const data = i % 1000 === 500 ? bytes(1024 * 1024 + Math.floor(r() * 2 * 1024 * 1024)) : null;
      const notes = i > mid && i <= mid + 30 ? prose(r, 1024 * 1024) : null;
      const size = data?.length ?? Math.floor(r() * 5_000_000);
      const sha1 = Buffer.from(bytes(20)).toString('hex');
      ins.run(
        i,
        `upload-${i}.${['jpg', 'png', 'pdf'][i % 3]}`,
        ['image/jpeg', 'image/png', 'application/pdf'][i % 3],
        size,
        sha1,
        data,
        notes,
        sqlDatetime(1_700_000_000 + i * 13),
      );
    }
  })();
  db.close();
  return rows;
}

/**
 * `columns`: an analytics table, 1.4M rows per 1× of 40 columns in the order INTEGER, REAL, TEXT, INTEGER, BOOLEAN:
 * counters, REALs of which half are prices (two decimals) and half computed ratios (16–17 digits), short labels
 * (one in four NULL), millisecond timestamps and flags, one index. Where a restore's time goes per cell rather than
 * per byte. Built in SQL from a multiplicative hash of the row number (deterministic, as `narrow`).
 */
export function buildColumns(path: string, rows: number): number {
  rows = Math.max(1, Math.round(rows));
  const cols: string[] = [];
  const cells: string[] = [];
  for (let c = 0; c < 40; c++) {
    const x = `((i * ${2654435761 + 2 * c} + ${c * 7919}) % 4294967296)`;
    const kind = c % 5;
    cols.push(`"c${c}" ${['INTEGER', 'REAL', 'TEXT', 'INTEGER', 'BOOLEAN'][kind]}`);
    if (kind === 0) cells.push(`${x} % ${10 ** (1 + (c % 6))}`);
    else if (kind === 1) cells.push(`CASE WHEN i % ${c + 3} = 0 THEN NULL WHEN ${c} % 2 = 0 THEN (${x} % 1000000) / 100.0 ELSE (${x} % 100000) / 7.0 END`);
    else if (kind === 2) cells.push(`CASE WHEN i % 4 = 0 THEN NULL ELSE 'v' || (${x} % 997) END`);
    else if (kind === 3) cells.push(`1700000000000 + ${x} % 100000000`);
    else cells.push(`(${x} >> ${c % 7}) % 2`);
  }
  const db = open(path);
  db.exec(`CREATE TABLE "Metric" ("id" INTEGER PRIMARY KEY, ${cols.join(', ')});
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows})
    INSERT INTO "Metric" SELECT i, ${cells.join(', ')} FROM n;
    CREATE INDEX "Metric_c0_c3_idx" ON "Metric"("c0", "c3");`);
  db.close();
  return rows;
}

/**
 * `keyed`: per-tenant settings in a WITHOUT ROWID table keyed by two TEXT columns, 3M rows per 1× of a short JSON
 * value: where a keyset walk compares row values (a walk that did not search the key scanned the table from its
 * start on every page). Built in SQL from a hash of the row number; colliding keys are skipped (INSERT OR IGNORE).
 */
export function buildKeyed(path: string, rows: number): number {
  rows = Math.max(1, Math.round(rows));
  const db = open(path);
  db.exec(`CREATE TABLE "Setting" ("tenantId" TEXT NOT NULL, "key" TEXT NOT NULL, "value" TEXT, "version" INTEGER NOT NULL DEFAULT 1,
      "updatedAt" DATETIME NOT NULL, PRIMARY KEY ("tenantId", "key")) WITHOUT ROWID;
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows}),
      h(i, x) AS (SELECT i, (i * 2654435761 + 12345) % 4294967296 FROM n)
    INSERT OR IGNORE INTO "Setting" SELECT 'tenant_' || (x % 2000),
      'cfg.' || substr('featureflagslimitsthemebilling', 1 + (x >> 5) % 20, 8) || '.' || (x >> 8),
      '{"enabled":' || ((x >> 3) % 2) || ',"limit":' || (x % 10000) || ',"label":"Setting ' || i || '"}', 1 + (x >> 11) % 50,
      1700000000000 + i * 1000 FROM h;`);
  const n = Number(db.prepare('SELECT count(*) FROM "Setting"').pluck().get());
  db.close();
  return n;
}

/**
 * `documents`: 60k JSON documents per 1× (~7 KiB each: 40 blocks of text with quotes, backslashes and hex ids), a
 * TEXT primary key and one index: text whose every quote the dump escapes (and a restore unescapes). Built in SQL
 * with json_object from a hash of the row number.
 */
export function buildDocuments(path: string, rows: number): number {
  rows = Math.max(1, Math.round(rows));
  const db = open(path);
  db.exec(`CREATE TABLE "Document" ("id" TEXT NOT NULL PRIMARY KEY, "ownerId" TEXT NOT NULL, "data" TEXT NOT NULL, "createdAt" DATETIME NOT NULL);
    CREATE INDEX "Document_ownerId_idx" ON "Document"("ownerId");
    WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${rows}),
      item(k) AS (SELECT 1 UNION ALL SELECT k + 1 FROM item WHERE k < 40)
    INSERT INTO "Document" SELECT printf('doc_%08x%04x', (i * 2654435761) % 4294967296, i % 65536), 'user_' || (i % 5000),
      (SELECT json_object('version', 3, 'title', 'Document ' || i, 'tags', json_array('alpha', 'beta', 'gamma "quoted"'),
        'blocks', json_group_array(json_object('type', 'paragraph', 'id', 'b' || k,
          'text', 'Line ' || k || ' of document ' || i || ': the "quick" brown fox\\tjumps over the lazy dog. ' ||
            printf('%08x%08x', (i * 40 + k) * 2246822519 % 4294967296, (i * 40 + k) * 3266489917 % 4294967296),
          'meta', json_object('bold', k % 2 = 0, 'size', k * 1.5)))) FROM item),
      1700000000000 + i * 1000 FROM n;`);
  db.close();
  return rows;
}
