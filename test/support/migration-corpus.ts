/**
 * The migration corpus (fixtures/migrations/<shape>/, each a Prisma migrations directory) and how a migrated
 * database is compared: sqlite_schema in rowid order, text exact; every table's rows with their hidden rowids,
 * each value typed and exact (REAL by its bits); sqlite_sequence; the journal mode. `_prisma_migrations` is left
 * out (its ids and times are per run; the tests check its rows against Prisma's rules directly).
 *
 * `<shape>.expected.json` holds what a SQLite that accepts double-quoted string literals (the sqlite3 CLI, as
 * Prisma's engine) leaves after applying the shape; test/support/migration-oracle.ts regenerates it.
 */
import Database from 'better-sqlite3';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const CORPUS = new URL('../../fixtures/migrations/', import.meta.url).pathname;

/** The shapes: every directory of fixtures/migrations. */
export const corpusShapes = (): string[] =>
  readdirSync(CORPUS)
    .filter((n) => statSync(join(CORPUS, n)).isDirectory())
    .sort();

export interface DbImage {
  /** sqlite_schema rows in rowid order: type, name, tbl_name, sql. */
  schema: (string | null)[][];
  /** Rows per table (rowid first for rowid tables), values encoded by `cell`. */
  tables: Record<string, string[][]>;
  sequence: string[][];
  journalMode: string;
}

/** A CURRENT_TIMESTAMP default differs from run to run; everything else must match exactly. */
const NOW = /^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/;

function cell(v: unknown, maskNow: boolean): string {
  if (v === null) return 'null';
  if (typeof v === 'bigint') return `int:${v}`;
  if (typeof v === 'number') {
    const b = Buffer.alloc(8);
    b.writeDoubleBE(v);
    return `real:${b.toString('hex')}`;
  }
  if (Buffer.isBuffer(v)) return `blob:${v.toString('hex')}`;
  const s = String(v);
  return maskNow && NOW.test(s) ? 'text:<CURRENT_TIMESTAMP>' : `text:${s}`;
}

const qi = (n: string) => `"${n.replaceAll('"', '""')}"`;

/** Tables a virtual table keeps its data in: their bytes depend on the module's version, not on the migration. */
function shadowTables(db: Database.Database): Set<string> {
  const virtual = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table' AND sql LIKE 'CREATE VIRTUAL TABLE%'").pluck().all() as string[];
  const all = db.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all() as string[];
  return new Set(all.filter((n) => virtual.some((v) => n.startsWith(`${v}_`))));
}

function tableRows(db: Database.Database, name: string, maskNow: boolean): string[][] {
  const info = db.prepare('SELECT name, pk FROM pragma_table_info(?)').all(name) as { name: string; pk: number }[];
  const withoutRowid = (db.prepare('SELECT wr FROM pragma_table_list WHERE name = ?').pluck().get(name) as number) === 1;
  const cols = info.map((c) => qi(c.name));
  const order = withoutRowid
    ? info
        .filter((c) => c.pk > 0)
        .sort((a, b) => a.pk - b.pk)
        .map((c) => qi(c.name))
        .join(', ')
    : 'rowid';
  const select = withoutRowid ? cols.join(', ') : ['rowid', ...cols].join(', ');
  const rows = db
    .prepare(`SELECT ${select} FROM ${qi(name)} ORDER BY ${order}`)
    .raw(true)
    .safeIntegers(true)
    .all() as unknown[][];
  return rows.map((r) => r.map((v) => cell(v, maskNow)));
}

/** What a migration leaves in the database at `path` (read-only). */
export function readImage(path: string, opts: { maskNow: boolean }): DbImage {
  const db = new Database(path, { readonly: true, fileMustExist: true });
  try {
    const schema = db.prepare('SELECT type, name, tbl_name, sql FROM sqlite_schema ORDER BY rowid').raw(true).all() as (string | null)[][];
    const shadow = shadowTables(db);
    const tables: DbImage['tables'] = {};
    for (const [type, name] of schema) {
      if (type !== 'table' || shadow.has(name!) || name === '_prisma_migrations' || name === 'sqlite_sequence') continue;
      tables[name!] = tableRows(db, name!, opts.maskNow);
    }
    const hasSeq = schema.some((r) => r[1] === 'sqlite_sequence');
    const sequence = hasSeq
      ? (db.prepare('SELECT name, seq FROM sqlite_sequence ORDER BY name').raw(true).safeIntegers(true).all() as unknown[][]).map((r) =>
          r.map((v) => cell(v, false)),
        )
      : [];
    return { schema, tables, sequence, journalMode: String(db.pragma('journal_mode', { simple: true })) };
  } finally {
    db.close();
  }
}

export const expectedImagePath = (shape: string) => join(CORPUS, `${shape}.expected.json`);

export function expectedImage(shape: string): DbImage & { oracle: string } {
  return JSON.parse(readFileSync(expectedImagePath(shape), 'utf8')) as DbImage & { oracle: string };
}
