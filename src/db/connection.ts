/**
 * A plain read/write connection for operator commands that change a database in small ways (migrations):
 * better-sqlite3 for `file:` URLs, @libsql/client over HTTP. Rows as arrays, INTEGER as bigint.
 */
import { existsSync } from 'node:fs';
import { BackupError } from '../errors.js';
import { parseDatabaseUrl, redactUrl } from '../source/url.js';

export interface Connection {
  readonly displayUrl: string;
  /** What was adapted for this server (shown to the operator). */
  readonly notes: string[];
  /** Runs a script of several statements. */
  exec(script: string): Promise<void>;
  run(sql: string, args?: readonly unknown[]): Promise<void>;
  query(sql: string, args?: readonly unknown[]): Promise<unknown[][]>;
  close(): Promise<void>;
}

/** `create` allows opening a `file:` path that does not exist yet (a confirmed migration of a new database). */
export async function openConnection(url: string, authToken: string | undefined, opts: { create: boolean }): Promise<Connection | null> {
  const loc = parseDatabaseUrl(url);
  if (loc.kind === 'file') {
    if (!existsSync(loc.path) && !opts.create) return null;
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(loc.path);
    db.pragma('busy_timeout = 10000');
    return {
      displayUrl: `file:${loc.path}`,
      notes: [],
      async exec(script) {
        db.exec(script);
      },
      async run(sql, args = []) {
        db.prepare(sql).run(...(args as unknown[]));
      },
      async query(sql, args = []) {
        return db.prepare(sql).raw(true).safeIntegers(true).all(...(args as unknown[])) as unknown[][];
      },
      async close() {
        db.close();
      },
    };
  }
  const { createClient } = await import('@libsql/client');
  const client = createClient({ url: loc.url, authToken, intMode: 'bigint' });
  const wrap = async <T>(f: () => Promise<T>) => {
    try {
      return await f();
    } catch (e) {
      throw new BackupError('REMOTE', `${redactUrl(loc.url)}: ${(e as Error).message}`);
    }
  };
  const notes: string[] = [];
  return {
    displayUrl: redactUrl(loc.url),
    notes,
    exec: (script) =>
      wrap(() => {
        // A server chooses its own journal mode (sqld refuses the pragma): a migration that sets it still applies.
        const adapted = script.replace(/^[ \t]*PRAGMA\s+journal_mode\s*=\s*[A-Za-z]+\s*;?[ \t]*$/gim, '');
        if (adapted !== script) notes.push('PRAGMA journal_mode in a migration was left out: the server chooses its journal mode');
        return client.executeMultiple(adapted);
      }),
    run: (sql, args = []) => wrap(async () => void (await client.execute({ sql, args: args as never }))),
    query: (sql, args = []) =>
      wrap(async () => (await client.execute({ sql, args: args as never })).rows.map((r) => Array.prototype.slice.call(r) as unknown[])),
    async close() {
      client.close();
    },
  };
}
