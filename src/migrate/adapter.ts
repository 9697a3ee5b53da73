/**
 * MigrationDb (db.ts) over the project's database layer (db/): better-sqlite3 for `file:` URLs, with the engine-level
 * tools the double-quoted-string replay needs, and a remote database's own statement stream over HTTP.
 *
 * Both hold a single connection for the whole run, in autocommit, like the schema engine's own connection: a
 * migration's `PRAGMA foreign_keys=OFF` must still hold for its next statements (and a RedefineTables `DROP TABLE`
 * would otherwise cascade into its child rows). Remotely, RemoteDb runs every statement outside a transaction on
 * one stream of its own (never a fresh stream per statement, never inside a transaction).
 */
import type Database from 'better-sqlite3';
import { closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { classifyRemote } from '../db/hrana/errors.js';
import { openLocalDb } from '../db/local.js';
import type { Db } from '../db/types.js';
import { parseDatabaseUrl } from '../db/url.js';
import { BackupError } from '../errors.js';
import { type LocalEngine, type MigrationDb, StatementError } from './db.js';

const asStatementError = (e: unknown): StatementError => {
  const err = e as { message?: string; code?: string };
  return new StatementError(err?.message ?? String(e), err?.code ?? 'SQLITE_ERROR');
};

/**
 * The connection settings of Prisma's engine (rusqlite with bundled SQLite): foreign keys on (libsqlite3-sys
 * builds with SQLITE_DEFAULT_FOREIGN_KEYS=1; so does better-sqlite3), recursive triggers off (SQLite's default),
 * and not in defensive mode, so a migration may use `PRAGMA writable_schema` (Prisma 2/3 generated
 * `Pragma writable_schema=1; CREATE UNIQUE INDEX "sqlite_autoindex_…"`). better-sqlite3's unsafe mode is what
 * turns defensive mode off.
 */
function prismaLike(db: Database.Database): Database.Database {
  db.pragma('busy_timeout = 10000');
  db.pragma('foreign_keys = ON');
  db.pragma('recursive_triggers = OFF');
  db.unsafeMode(true);
  return db;
}

function engineOf(db: Database.Database): LocalEngine & { close(): void } {
  const execNow = (sql: string) => {
    try {
      db.exec(sql);
    } catch (e) {
      throw asStatementError(e);
    }
  };
  return {
    execNow,
    compile(sql) {
      try {
        db.prepare(sql);
        return null;
      } catch (e) {
        return (e as Error).message;
      }
    },
    trial(sql) {
      db.exec('SAVEPOINT turso_backup_trial');
      try {
        db.exec(sql);
        return null;
      } catch (e) {
        return (e as Error).message;
      } finally {
        db.exec('ROLLBACK TO turso_backup_trial');
        db.exec('RELEASE turso_backup_trial');
      }
    },
    rows(sql, args = []) {
      const stmt = db.prepare(sql);
      if (!stmt.reader) {
        stmt.run(...(args as unknown[]));
        return [];
      }
      return stmt
        .raw(true)
        .safeIntegers(true)
        .all(...(args as unknown[])) as unknown[][];
    },
    setStoredSql(rowid, sql, reload) {
      const writable = db.pragma('writable_schema', { simple: true });
      db.pragma('writable_schema = ON');
      try {
        db.prepare('UPDATE sqlite_schema SET sql = ? WHERE rowid = ?').run(sql, rowid);
        // A new schema_version tells other connections the schema changed. It does not make this one parse it
        // again: writing the cookie also updates this connection's copy, so it would go on running the trigger or
        // view it parsed before the rewrite (and the replay would find nothing left to rewrite).
        if (reload) db.pragma(`schema_version = ${Number(db.pragma('schema_version', { simple: true })) + 1}`);
      } finally {
        // RESET turns writable_schema off and drops this connection's parsed schema, so the next statement reads
        // the new text (sqlite.org/pragma.html#pragma_writable_schema); a migration's own `writable_schema=1` stays.
        if (reload) db.pragma('writable_schema = RESET');
        db.pragma(`writable_schema = ${writable ? 'ON' : 'OFF'}`);
      }
    },
    // The same driver's class, from the connection: this file never loads native code for a remote run.
    scratch: () => engineOf(prismaLike(new (db.constructor as typeof Database)(':memory:'))),
    close: () => db.close(),
  };
}

const walFiles = (path: string) => [`${path}-wal`, `${path}-shm`];

/**
 * Lets SQLite remove the -wal and -shm files a read-only connection to a WAL database created and could not
 * remove on close (only a connection that may write checkpoints and removes them). Never unlinked here: another
 * connection may have opened the database meanwhile and be using them. A connection that may write, opened, read
 * from and closed, removes them itself if it is the last one, after a checkpoint of an empty log (the main file is
 * not written); otherwise they stay, as that other connection's. Best effort: a look that left files behind
 * still reported correctly.
 */
function removeWalLeftovers(Driver: typeof Database, path: string): void {
  try {
    const db = new Driver(path, { fileMustExist: true });
    try {
      db.pragma('schema_version');
    } finally {
      db.close();
    }
  } catch {
    // A file we may not write (the look itself then needed the -shm to exist already), or a lock: they stay.
  }
}

function openFile(path: string, readonly: boolean): MigrationDb {
  // A read-only look must leave the folder as it found it (the main file is never written either).
  const hadWalFiles = walFiles(path).some((f) => existsSync(f));
  const db = openLocalDb(path, readonly ? { readonly: true } : { create: true });
  const engine = engineOf(readonly ? db.handle : prismaLike(db.handle));
  const close = async () => {
    await db.close();
    if (readonly && !hadWalFiles && walFiles(path).some((f) => existsSync(f))) removeWalLeftovers(db.handle.constructor as typeof Database, path);
  };
  return {
    kind: 'file',
    displayUrl: db.displayUrl,
    exec: async (sql) => engine.execNow(sql),
    async query(sql, args = []) {
      try {
        return engine.rows(sql, args);
      } catch (e) {
        throw asStatementError(e);
      }
    },
    inTransaction: async () => db.handle.inTransaction,
    close,
    local: readonly ? undefined : engine,
  };
}

/** A statement the server refused is the migration's problem (StatementError); anything else ends the run. */
function remoteFailure(e: unknown): Error {
  const cause = (e as { cause?: unknown })?.cause;
  const f = cause === undefined ? null : classifyRemote(cause);
  if (f?.kind === 'statement') return new StatementError(f.message, f.code);
  return e instanceof BackupError ? e : new BackupError('REMOTE', (e as Error).message, { cause: e });
}

/**
 * Whether the statement stream is inside a transaction. No SQL reads SQLite's autocommit flag, but BEGIN is refused
 * inside a transaction, and a deferred one that is closed at once takes no lock and changes nothing.
 */
async function remoteInTransaction(db: Db): Promise<boolean> {
  try {
    await db.run('BEGIN DEFERRED');
  } catch (e) {
    if (/within a transaction/i.test(remoteFailure(e).message)) return true;
    throw e;
  }
  await db.run('ROLLBACK');
  return false;
}

async function openRemote(url: string, authToken: string | undefined): Promise<MigrationDb> {
  const { openRemoteDb } = await import('../db/remote.js');
  const db: Db = openRemoteDb(url, { authToken });
  const wrap = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      throw remoteFailure(e);
    }
  };
  return {
    kind: 'remote',
    displayUrl: db.displayUrl,
    exec: (sql) => wrap(async () => void (await db.run(sql))),
    query: (sql, args = []) => wrap(() => db.query(sql, args)),
    inTransaction: () => wrap(() => remoteInTransaction(db)),
    close: () => db.close(),
  };
}

/**
 * Opens the database for migrations. A `file:` target that does not exist gives null unless `create`; `readonly`
 * (status, dry run) opens a file read-only and never creates it.
 */
export async function openMigrationDb(url: string, authToken: string | undefined, opts: { create: boolean; readonly: boolean }): Promise<MigrationDb | null> {
  const loc = parseDatabaseUrl(url);
  if (loc.kind === 'file') {
    if (!existsSync(loc.path) && (!opts.create || opts.readonly)) return null;
    // As the schema engine creates a SQLite database (create_dir_all of its folder, then the file), but 0600: a
    // restore's rows go into it next, and they are kept 0600 everywhere else (SQLite's -wal/-shm take its mode).
    if (!opts.readonly) {
      mkdirSync(dirname(loc.path), { recursive: true });
      if (!existsSync(loc.path)) closeSync(openSync(loc.path, 'wx', 0o600));
    }
    return openFile(loc.path, opts.readonly);
  }
  return openRemote(loc.url, authToken);
}
