/**
 * A `file:` target written with better-sqlite3: prepared multi-row INSERTs inside one transaction, values bound
 * with their exact storage class (bigint → INTEGER, number → REAL, Buffer → BLOB, TextBytes → CAST(? AS TEXT)).
 */
import Database from 'better-sqlite3';
import { existsSync, rmSync } from 'node:fs';
import { BackupError } from '../errors.js';
import { TextBytes, type SqlValue } from '../format/values.js';
import { q } from '../source/sql.js';
import type { Target, TargetFactory } from './types.js';

type Stmt = Database.Statement<unknown[], unknown>;

/** Rows per multi-row INSERT: fewer statement executions, within SQLite's 32766-variable limit. */
const ROWS_PER_STATEMENT = 64;

export function localTargetFactory(path: string): TargetFactory {
  const missing = !existsSync(path);
  let created = false;
  return {
    missing,
    async open({ create }) {
      if (missing && !create) throw new BackupError('INTERNAL', 'refusing to create the target in a dry run');
      created = missing;
      return openLocalTarget(path);
    },
    async discardCreated() {
      if (!created) return;
      for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(path + suffix, { force: true });
    },
  };
}

function openLocalTarget(path: string): Target {
  let db: Database.Database;
  try {
    db = new Database(path);
    db.pragma('busy_timeout = 10000');
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
  } catch (e) {
    throw new BackupError('REFUSED', `the target ${path} is not a readable SQLite/libSQL database (${(e as Error).message})`);
  }
  const readers = new Map<string, Stmt>();
  const inserts = new Map<string, Stmt>();
  const reader = (sql: string) => {
    let st = readers.get(sql);
    if (!st) {
      st = db.prepare(sql) as Stmt;
      if (st.reader) st.raw(true).safeIntegers(true);
      readers.set(sql, st);
    }
    return st;
  };
  const insertStmt = (table: string, columns: string[], rows: number, textBytes: boolean[] | null) => {
    const key = `${table}\u0000${columns.join('\u0000')}\u0000${rows}\u0000${textBytes?.join(',') ?? ''}`;
    let st = inserts.get(key);
    if (!st) {
      const one = `(${columns.map((_, i) => (textBytes?.[i] ? 'CAST(? AS TEXT)' : '?')).join(', ')})`;
      st = db.prepare(`INSERT INTO ${q(table)} (${columns.map(q).join(', ')}) VALUES ${Array(rows).fill(one).join(', ')}`) as Stmt;
      inserts.set(key, st);
    }
    return st;
  };
  const bind = (v: SqlValue) => (v instanceof TextBytes ? v.bytes : v);
  return {
    kind: 'file',
    displayUrl: `file:${path}`,
    identity: path,
    async query(sql, args = []) {
      const st = reader(sql);
      return (st.reader ? st.all(...(args as unknown[])) : (st.run(...(args as unknown[])), [])) as unknown[][];
    },
    async run(sql, args = []) {
      if (args.length === 0 && !sql.trim().toUpperCase().startsWith('SELECT')) db.exec(sql);
      else db.prepare(sql).run(...(args as unknown[]));
    },
    async beginLoad() {
      db.pragma('foreign_keys = OFF');
      db.exec('BEGIN IMMEDIATE');
    },
    async insert(table, columns, rows) {
      let i = 0;
      // Rows holding non-UTF-8 TEXT need CAST(? AS TEXT) in their own statement; they are rare.
      const plain: SqlValue[][] = [];
      const flush = () => {
        let j = 0;
        for (; j + ROWS_PER_STATEMENT <= plain.length; j += ROWS_PER_STATEMENT) {
          insertStmt(table, columns, ROWS_PER_STATEMENT, null).run(plain.slice(j, j + ROWS_PER_STATEMENT).flat());
        }
        const single = insertStmt(table, columns, 1, null);
        for (; j < plain.length; j++) single.run(plain[j]);
        plain.length = 0;
      };
      for (; i < rows.length; i++) {
        const row = rows[i]!;
        if (!row.some((v) => v instanceof TextBytes)) {
          plain.push(row);
          continue;
        }
        flush();
        insertStmt(table, columns, 1, row.map((v) => v instanceof TextBytes)).run(row.map(bind));
      }
      flush();
    },
    async setSchemaSql(name, sql) {
      // writable_schema needs better-sqlite3's unsafe mode; only the text changes, the object stays as created.
      db.unsafeMode(true);
      try {
        db.pragma('writable_schema = ON');
        db.prepare('UPDATE sqlite_schema SET sql = ? WHERE name = ?').run(sql, name);
        db.pragma('writable_schema = OFF');
      } finally {
        db.unsafeMode(false);
      }
    },
    async commit() {
      db.exec('COMMIT');
      db.pragma('foreign_keys = ON');
    },
    async rollback() {
      if (db.inTransaction) db.exec('ROLLBACK');
      db.pragma('foreign_keys = ON');
    },
    async close() {
      if (db.open) {
        if (db.inTransaction) db.exec('ROLLBACK');
        db.close();
      }
    },
  };
}
