/**
 * A writable connection for relink: better-sqlite3 for `file:` URLs, @libsql/client for remote ones. Rows come back
 * as arrays with INTEGER as bigint (the same shapes as src/source), and `transaction` runs its callback in ONE write
 * transaction (BEGIN IMMEDIATE locally, an interactive `write` transaction remotely), committed only if it resolves.
 */
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { BackupError } from '../errors.js';
import { hostOf, parseDatabaseUrl, redactUrl } from '../source/url.js';
import type { QueryFn } from './table.js';

export interface Stmt {
  sql: string;
  args: unknown[];
}

export interface TxHandle {
  query: QueryFn;
  /** Runs the statements in order; returns the total of rows they changed. */
  run(stmts: Stmt[]): Promise<number>;
}

export interface WritableDb {
  displayUrl: string;
  query: QueryFn;
  transaction<T>(fn: (tx: TxHandle) => Promise<T>): Promise<T>;
  close(): Promise<void>;
}

export async function openWritableDb(url: string, authToken?: string): Promise<WritableDb> {
  const loc = parseDatabaseUrl(url);
  return loc.kind === 'file' ? openLocal(loc.path) : openRemote(loc.url, authToken);
}

function openLocal(path: string): WritableDb {
  if (!existsSync(path)) throw new BackupError('NOT_FOUND', `database file ${path} does not exist`);
  let db: Database.Database;
  try {
    db = new Database(path, { fileMustExist: true });
    db.pragma('busy_timeout = 10000');
  } catch (e) {
    throw new BackupError('NOT_FOUND', `cannot open ${path}: ${(e as Error).message}`);
  }
  const cache = new Map<string, Database.Statement<unknown[], unknown>>();
  const prepare = (sql: string) => {
    let st = cache.get(sql);
    if (!st) {
      st = db.prepare(sql) as Database.Statement<unknown[], unknown>;
      if (st.reader) st.raw(true).safeIntegers(true);
      cache.set(sql, st);
    }
    return st;
  };
  const query: QueryFn = async (sql, args = []) => prepare(sql).all(...(args as unknown[])) as unknown[][];
  const run = async (stmts: Stmt[]) => {
    let n = 0;
    for (const s of stmts) n += prepare(s.sql).run(...s.args).changes;
    return n;
  };
  return {
    displayUrl: `file:${path}`,
    query,
    async transaction(fn) {
      db.exec('BEGIN IMMEDIATE');
      try {
        const out = await fn({ query, run });
        db.exec('COMMIT');
        return out;
      } catch (e) {
        if (db.inTransaction) db.exec('ROLLBACK');
        throw e;
      }
    },
    async close() {
      if (db.open) {
        if (db.inTransaction) db.exec('ROLLBACK');
        db.close();
      }
    },
  };
}

async function openRemote(url: string, authToken?: string): Promise<WritableDb> {
  const { createClient } = await import('@libsql/client');
  const client = createClient({ url, authToken, intMode: 'bigint' });
  const host = hostOf(url);
  const wrap = (e: unknown): never => {
    if (e instanceof BackupError) throw e;
    const err = e as { code?: string; message?: string };
    const auth = /\b(401|403)\b|unauthori[sz]ed|forbidden/i.test(err.message ?? '');
    throw new BackupError(auth ? 'AUTH' : 'REMOTE', `${host}: ${err.message ?? String(e)}`, { cause: e });
  };
  const rows = (rs: { rows: ArrayLike<unknown>[] }) => rs.rows.map((r) => Array.prototype.slice.call(r) as unknown[]);
  return {
    displayUrl: redactUrl(url),
    query: async (sql, args = []) => rows(await client.execute({ sql, args: args as never }).catch(wrap)),
    async transaction(fn) {
      const tx = await client.transaction('write').catch(wrap);
      try {
        const out = await fn({
          query: async (sql, args = []) => rows(await tx.execute({ sql, args: args as never }).catch(wrap)),
          async run(stmts) {
            if (stmts.length === 0) return 0;
            const rs = await tx.batch(stmts.map((s) => ({ sql: s.sql, args: s.args as never }))).catch(wrap);
            return rs.reduce((n, r) => n + r.rowsAffected, 0);
          },
        });
        await tx.commit().catch(wrap);
        return out;
      } catch (e) {
        await tx.rollback().catch(() => {});
        throw e;
      } finally {
        tx.close();
      }
    },
    async close() {
      client.close();
    },
  };
}
