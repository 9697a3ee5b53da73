/**
 * The one place that knows today's drivers: MigrationDb (db.ts) over better-sqlite3 for `file:` URLs and over one
 * Hrana stream (sqld's HTTP protocol) for remote URLs. Swap this file when the database layer changes.
 *
 * Both hold a single connection for the whole run, in autocommit, like the schema engine's own connection: a
 * migration's `PRAGMA foreign_keys=OFF` must still hold for its next statements. That is why the remote side
 * uses a bare Hrana stream (@libsql/hrana-client) and not @libsql/client: the client runs a statement on a
 * fresh stream each time (connection state lost) or inside a transaction (where `PRAGMA foreign_keys` is a no-op,
 * and a RedefineTables `DROP TABLE` would then cascade into its child rows).
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { BackupError } from '../errors.js';
import { classifyRemote, connectionError, describeFailure } from '../remote/errors.js';
import { retryingFetch } from '../remote/retry.js';
import { hostOf, parseDatabaseUrl, redactUrl } from '../source/url.js';
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
      return stmt.raw(true).safeIntegers(true).all(...(args as unknown[])) as unknown[][];
    },
    setStoredSql(rowid, sql, reload) {
      const writable = db.pragma('writable_schema', { simple: true });
      db.pragma('writable_schema = ON');
      try {
        db.prepare('UPDATE sqlite_schema SET sql = ? WHERE rowid = ?').run(sql, rowid);
        // A new schema_version makes this connection parse the schema again (sqlite.org/pragma.html#pragma_writable_schema).
        if (reload) db.pragma(`schema_version = ${Number(db.pragma('schema_version', { simple: true })) + 1}`);
      } finally {
        db.pragma(`writable_schema = ${writable ? 'ON' : 'OFF'}`);
      }
    },
    scratch: () => engineOf(prismaLike(new Database(':memory:'))),
    close: () => db.close(),
  };
}

function openFile(path: string, readonly: boolean): MigrationDb {
  let db: Database.Database;
  try {
    db = readonly ? new Database(path, { readonly: true, fileMustExist: true }) : prismaLike(new Database(path));
  } catch (e) {
    throw new BackupError('NOT_FOUND', `cannot open ${path}: ${(e as Error).message}`);
  }
  if (readonly) db.pragma('busy_timeout = 10000');
  const engine = engineOf(db);
  return {
    kind: 'file',
    displayUrl: `file:${path}`,
    exec: async (sql) => engine.execNow(sql),
    async query(sql, args = []) {
      try {
        return engine.rows(sql, args);
      } catch (e) {
        throw asStatementError(e);
      }
    },
    close: async () => engine.close(),
    local: readonly ? undefined : engine,
  };
}

/** The http(s) base URL the client would use for a libsql:/ws: URL (same rules: @libsql/core expandConfig). */
async function httpUrl(url: string): Promise<string> {
  const { expandConfig } = await import('@libsql/core/config');
  const { encodeBaseUrl } = await import('@libsql/core/uri');
  const c = expandConfig({ url }, true);
  const scheme = c.scheme === 'wss' ? 'https' : c.scheme === 'ws' ? 'http' : c.scheme;
  if (scheme !== 'https' && scheme !== 'http') throw new BackupError('CONFIG', `unsupported URL scheme ${c.scheme}: for migrations`);
  return encodeBaseUrl(scheme, c.authority, c.path).toString();
}

async function openRemote(url: string, authToken: string | undefined): Promise<MigrationDb> {
  const hrana = await import('@libsql/hrana-client');
  const host = hostOf(url);
  const client = hrana.openHttp(await httpUrl(url), authToken, retryingFetch(host));
  client.intMode = 'bigint';
  const stream = client.openStream();
  const wrap = async <T>(f: () => Promise<T>): Promise<T> => {
    try {
      return await f();
    } catch (e) {
      const failure = classifyRemote(e);
      const fatal = connectionError(failure, host);
      if (fatal) throw fatal;
      if (failure.kind === 'statement') throw new StatementError(failure.message, failure.code);
      throw new BackupError('REMOTE', `${redactUrl(url)}: ${describeFailure(failure)}`, { cause: e });
    }
  };
  return {
    kind: 'remote',
    displayUrl: redactUrl(url),
    exec: (sql) => wrap(async () => void (await stream.run(sql))),
    query: (sql, args = []) =>
      wrap(async () => (await stream.query([sql, args as never])).rows.map((r) => Array.prototype.slice.call(r) as unknown[])),
    async close() {
      stream.close();
      client.close();
    },
  };
}

/**
 * Opens the database for migrations. A `file:` target that does not exist gives null unless `create`; `readonly`
 * (status, dry run) opens a file read-only and never creates it.
 */
export async function openMigrationDb(
  url: string,
  authToken: string | undefined,
  opts: { create: boolean; readonly: boolean },
): Promise<MigrationDb | null> {
  const loc = parseDatabaseUrl(url);
  if (loc.kind === 'file') {
    if (!existsSync(loc.path) && (!opts.create || opts.readonly)) return null;
    return openFile(loc.path, opts.readonly);
  }
  return openRemote(loc.url, authToken);
}
