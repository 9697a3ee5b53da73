/**
 * A `file:` target written with better-sqlite3: prepared multi-row INSERTs inside one transaction, values bound
 * with their exact storage class (bigint → INTEGER, number → REAL, Buffer → BLOB, TextBytes → CAST(? AS TEXT)).
 */
import Database from 'better-sqlite3';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, rmSync } from 'node:fs';
import { link, open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { BackupError } from '../errors.js';
import { fsyncDir } from '../sink/file.js';
import { TextBytes, type SqlValue } from '../format/values.js';
import { q } from '../source/sql.js';
import type { ScratchFile, Target, TargetFactory } from './types.js';

type Stmt = Database.Statement<unknown[], unknown>;

/** Rows per multi-row INSERT: fewer statement executions, within SQLite's 32766-variable limit. */
const ROWS_PER_STATEMENT = 64;

/**
 * A missing target is created under a hidden scratch name beside it and renamed into place once the restore
 * verified: an interrupted or failed restore (even a killed one) never leaves a half-loaded database under the
 * target's name.
 */
export function localTargetFactory(path: string): TargetFactory {
  const missing = !existsSync(path);
  let scratch: string | null = null;
  if (missing && !existsSync(dirname(path))) {
    throw new BackupError('NOT_FOUND', `the target's directory ${dirname(path)} does not exist: create it first (a restore creates the database file only)`);
  }
  const prefix = `.${basename(path)}.restore-`;
  const stale = readdirSync(dirname(path)).filter((f) => f.startsWith(prefix) && !/-(wal|shm|journal)$/.test(f));
  return {
    missing,
    // Only a killed process leaves one (any other failure removes it): nothing else uses these names.
    notes: stale.map((f) => `${join(dirname(path), f)} is left from an interrupted restore: remove it (and its -wal/-shm files)`),
    async open({ create }) {
      if (!missing) return openLocalTarget(path, null);
      if (!create) throw new BackupError('INTERNAL', 'refusing to create the target in a dry run');
      scratch = join(dirname(path), `${prefix}${randomBytes(4).toString('hex')}`);
      return openLocalTarget(path, scratch);
    },
    async discardCreated() {
      if (!scratch) return;
      for (const suffix of ['', '-journal', '-wal', '-shm']) rmSync(scratch + suffix, { force: true });
    },
  };
}

/** Moves `from` to `to` unless `to` appeared meanwhile (a link fails on an existing name; rename would replace it). */
async function placeNoClobber(from: string, to: string) {
  try {
    await link(from, to);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new BackupError('REFUSED', `${to} appeared while the restore ran: refusing to replace it`);
    if (existsSync(to)) throw e;
    await rename(from, to); // a filesystem without hard links
    return;
  }
  // The target is in place; a scratch name left behind would only be a second link to it (and named next time).
  await unlink(from).catch(() => {});
}

/** A scratch file's load is committed: make it a plain rollback-journal database and move it into place, durably. */
async function publish(db: Database.Database, scratchPath: string, path: string) {
  // The load ran in WAL mode so a reader could follow it: fold the log back into the file.
  db.pragma('journal_mode = DELETE');
  db.close();
  const fh = await open(scratchPath, 'r+');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  await placeNoClobber(scratchPath, path);
  await fsyncDir(dirname(path));
}

function openLocalTarget(path: string, scratchPath: string | null): Target {
  let db: Database.Database;
  try {
    db = new Database(scratchPath ?? path);
    db.pragma('busy_timeout = 10000');
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
  } catch (e) {
    if (scratchPath) throw new BackupError('REFUSED', `cannot create the target ${path}: ${(e as Error).message} (is ${dirname(path)} writable?)`);
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
  const scratch: ScratchFile | undefined = scratchPath
    ? {
        path: scratchPath,
        async checkpoint() {
          db.exec('COMMIT');
          db.exec('BEGIN IMMEDIATE');
        },
      }
    : undefined;
  return {
    kind: 'file',
    displayUrl: `file:${path}`,
    identity: path,
    ...(scratch ? { scratch } : {}),
    async query(sql, args = []) {
      const st = reader(sql);
      return (st.reader ? st.all(...(args as unknown[])) : (st.run(...(args as unknown[])), [])) as unknown[][];
    },
    async run(sql, args = []) {
      if (args.length === 0 && !sql.trim().toUpperCase().startsWith('SELECT')) db.exec(sql);
      else db.prepare(sql).run(...(args as unknown[]));
    },
    async beginLoad() {
      if (scratch) {
        // A reader may follow the load's commits (WAL); a crash discards the file, so nothing needs syncing yet.
        db.pragma('journal_mode = WAL');
        db.pragma('synchronous = OFF');
        // Rows arrive in key order into a fresh file, so a small page cache loses nothing; CREATE INDEX sorts in
        // cache_size of memory, and better-sqlite3's 16 MB default shows as ~20 MB more peak RSS.
        db.pragma('cache_size = -4000');
      }
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
      if (scratchPath) await publish(db, scratchPath, path);
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
