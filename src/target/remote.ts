/**
 * A remote target over HTTP (Hrana) through @libsql/client.
 *
 * The load is ONE transaction on ONE server-side stream, with foreign keys off on that stream's connection. The
 * pragma is per connection and ignored inside a transaction, so — like `client.migrate()` — it must run on the
 * stream before BEGIN. `client.transaction()` always sends its BEGIN first, so the stream is opened with a harmless
 * `BEGIN DEFERRED; COMMIT; PRAGMA foreign_keys=OFF` (a request without a baton: re-sending it after a lost response
 * is harmless, and it holds no lock), then `BEGIN IMMEDIATE` on the same stream starts the real transaction.
 * The end is `COMMIT; PRAGMA foreign_keys=ON` on that stream.
 *
 * Pipelining: statements of the load (inserts and DDL) are queued locally and sent in requests of ~1.5 MB
 * (estimated JSON), multi-row INSERTs within SQLite's variable limit; a request is sent while the previous one is
 * still in flight (the stream keeps them in order), at most `maxInFlight` at once. A failing statement skips the
 * rest of its request and fails the load; the failure is reported by the next call (insert/run/query/commit), and
 * every failure ends in a rollback, so a deferred report changes nothing on the target.
 *
 * Retries and idempotency: transient HTTP failures are retried with the same baton (src/remote/retry.ts): an
 * attempt that never ran is run once; one that ran but whose response was lost is refused by the server (the baton
 * was already used), so no batch is ever applied twice. Such a refusal — or any other loss of the stream — means the
 * transaction is gone: the server rolls it back when it drops the stream (at once, or when it expires, ~10 s), and
 * the restore fails with a message saying the target is unchanged. Nothing is retried inside a dead transaction.
 */
import { createClient, type Client, type InStatement, type ResultSet } from '@libsql/client';
import { BackupError } from '../errors.js';
import type { SqlValue } from '../format/values.js';
import { createMemoryGovernor } from '../memory.js';
import { remotePageOptions, remoteTuning } from '../remote/config.js';
import { classifyRemote, connectionError, describeFailure, lossReason } from '../remote/errors.js';
import { bindExact, bindValue, decodeExactRows, isReadQuery, jsonValueBytes, plainRows, selectColumnCount, wrapExact } from '../remote/exact.js';
import { retryingFetch, type RetryStats } from '../remote/retry.js';
import { TxSession } from '../remote/session.js';
import { type PageOptions } from '../source/pages.js';
import { PageTooLargeError } from '../source/types.js';
import { q } from '../source/sql.js';
import { hostOf, redactUrl } from '../source/url.js';
import type { Target, TargetFactory } from './types.js';

/** SQLite's default SQLITE_MAX_VARIABLE_NUMBER (3.32+), which sqld's libSQL keeps. */
const MAX_VARIABLES = 32766;
/** Rows per multi-row INSERT statement (fewer, larger statements: less per-statement work on the server). */
const MAX_ROWS_PER_STATEMENT = 512;

export interface RemoteTarget extends Target {
  readonly kind: 'remote';
  /** Things the load could not do over HTTP (e.g. PRAGMA application_id, which sqld refuses). */
  readonly notes: string[];
  readonly stats: RetryStats & { pings: number; statements: number; batches: number };
  /** Page sizing for reads (the post-load checksums), as a remote Source does. */
  pageOptions(requested: PageOptions): PageOptions;
  readonly exactText: true;
}

export function remoteTargetFactory(url: string, authToken?: string): TargetFactory {
  return {
    missing: false,
    async open() {
      return openRemoteTarget(url, authToken);
    },
    async discardCreated() {
      // A remote database is never created by a restore.
    },
  };
}

interface Queued {
  stmt: InStatement;
  /** What the statement is, for messages: `table "x"` or the statement's first words. */
  what: string;
  bytes: number;
}

export function openRemoteTarget(url: string, authToken?: string): RemoteTarget {
  const host = hostOf(url);
  const displayUrl = redactUrl(url);
  const stats = { requests: 0, retries: 0, replayRejected: 0, pings: 0, statements: 0, batches: 0 };
  let client: Client;
  try {
    client = createClient({ url, authToken, intMode: 'bigint', fetch: retryingFetch(host, { stats }) });
  } catch (e) {
    throw new BackupError('CONFIG', `TURSO_DATABASE_URL is not a usable libSQL URL (${displayUrl}): ${(e as { code?: string }).code ?? 'invalid'}`);
  }
  const notes: string[] = [];
  let session: TxSession | null = null;
  let failure: BackupError | null = null;
  let queue: Queued[] = [];
  let queuedBytes = 0;
  const inFlight: Promise<void>[] = [];
  const columnCounts = new Map<string, number>();
  // The client encodes a request as many small strings: collect them often, or the heap balloons between requests.
  const memory = createMemoryGovernor({ everyBytes: 2 * remoteTuning.requestBytes });

  const lostLoad = (e: unknown, what: string): BackupError => {
    const f = classifyRemote(e);
    if (f.kind === 'auth') return connectionError(f, host)!;
    return new BackupError(
      'REMOTE',
      `the load's transaction on ${host} was lost during ${what} (${lossReason(f)}); nothing was applied twice and the server ` +
        'rolls the whole transaction back: the target is unchanged',
      { cause: e },
    );
  };

  /** Maps a failure of a statement sent inside the load. */
  const loadError = (e: unknown, what: string): BackupError => {
    if (session?.lost) return lostLoad(e, what);
    const f = classifyRemote(e);
    const conn = connectionError(f, host);
    if (conn) return conn;
    const code = f.kind === 'statement' && /CONSTRAINT/.test(f.code + f.message) ? 'CONSTRAINT' : 'REMOTE';
    return new BackupError(code, `${what}: ${f.kind === 'statement' ? f.message : describeFailure(f)}; the load was rolled back and the target is as it was`, {
      cause: e,
    });
  };

  /** Maps a failure outside the load (inspection before it). */
  const plainError = (e: unknown): Error => {
    const f = classifyRemote(e);
    return connectionError(f, host) ?? new BackupError('REMOTE', `${host} refused a statement (${describeFailure(f)})`, { cause: e });
  };

  const throwIfFailed = () => {
    if (failure) throw failure;
  };

  /** Sends the queued statements as one request, without waiting for its answer. */
  const send = () => {
    if (queue.length === 0 || !session) return;
    const items = queue;
    memory.tick(queuedBytes);
    queue = [];
    queuedBytes = 0;
    stats.batches++;
    stats.statements += items.length;
    const s = session;
    const p = s.batch(items.map((i) => i.stmt)).then(
      () => undefined,
      (e: unknown) => {
        const idx = (e as { statementIndex?: number }).statementIndex;
        const what = typeof idx === 'number' && items[idx] ? items[idx]!.what : (items[0]?.what ?? 'the load');
        failure ??= loadError(e, what);
      },
    );
    inFlight.push(p);
    void p.finally(() => {
      const i = inFlight.indexOf(p);
      if (i >= 0) inFlight.splice(i, 1);
    });
  };

  const enqueue = async (item: Queued) => {
    queue.push(item);
    queuedBytes += item.bytes;
    if (queuedBytes >= remoteTuning.requestBytes) {
      send();
      while (inFlight.length >= remoteTuning.maxInFlight) await inFlight[0];
    }
    throwIfFailed();
  };

  /** Sends everything queued and waits for every request of the load: afterwards the stream is idle. */
  const drain = async () => {
    throwIfFailed();
    send();
    while (inFlight.length > 0) await inFlight[0];
    throwIfFailed();
  };

  /** RESPONSE_TOO_LARGE leaves the stream usable: the page reader asks again with fewer rows. */
  const tooLarge = (e: unknown) => {
    const f = classifyRemote(e);
    return f.kind === 'too-large' ? new PageTooLargeError(`${host}: ${f.message}`) : null;
  };

  const execOutside = async (stmt: InStatement): Promise<ResultSet> => {
    try {
      return await client.execute(stmt);
    } catch (e) {
      throw tooLarge(e) ?? plainError(e);
    }
  };

  const execInLoad = async (stmt: InStatement, what: string): Promise<ResultSet> => {
    await drain();
    try {
      return (await session!.batch([stmt]))[0]!;
    } catch (e) {
      if (!session?.lost) {
        const big = tooLarge(e);
        if (big) throw big;
      }
      failure ??= loadError(e, what);
      throw failure;
    }
  };

  const exec = (stmt: InStatement, what: string) => (session ? execInLoad(stmt, what) : execOutside(stmt));

  const describeSql = (sql: string) => sql.trim().split(/\s+/).slice(0, 4).join(' ').slice(0, 80);

  const target: RemoteTarget = {
    kind: 'remote',
    displayUrl,
    identity: displayUrl,
    notes,
    stats,
    exactText: true,

    async query(sql, args = []) {
      if (!isReadQuery(sql)) {
        const b = bindExact(sql, args);
        return plainRows((await exec({ sql: b.sql, args: b.args as never }, describeSql(sql))).rows as never);
      }
      let n = selectColumnCount(sql) ?? columnCounts.get(sql);
      if (n === undefined) {
        const probe = bindExact(`SELECT * FROM (${sql.replace(/[\s;]+$/, '')}) LIMIT 0`, args);
        n = (await exec({ sql: probe.sql, args: probe.args as never }, describeSql(sql))).columns.length;
        columnCounts.set(sql, n);
      }
      const b = bindExact(wrapExact(sql, n), args);
      return decodeExactRows((await exec({ sql: b.sql, args: b.args as never }, describeSql(sql))).rows as never, n);
    },

    async run(sql, args = []) {
      if (/^\s*pragma\s+(main\.)?application_id\s*=/i.test(sql)) {
        // sqld only allows the pragmas on its list; application_id cannot be set over HTTP.
        notes.push(`${host} does not allow PRAGMA application_id over HTTP: the dump's application_id was not restored`);
        return;
      }
      const b = bindExact(sql, args);
      const stmt = { sql: b.sql, args: b.args as never };
      if (!session) {
        await execOutside(stmt);
        return;
      }
      // Inside the load: queued and sent with the next request; a failure is reported by the next call.
      await enqueue({ stmt, what: `"${describeSql(sql)}…"`, bytes: 64 + sql.length + b.args.reduce((n: number, v) => n + jsonValueBytes(v), 0) });
    },

    async beginLoad() {
      if (session) throw new BackupError('INTERNAL', 'beginLoad called twice');
      try {
        // A fresh stream: BEGIN DEFERRED (sent by the client) is closed at once, so the pragma runs outside a
        // transaction, on this connection. Nothing here takes a lock: re-sending it after a lost response is harmless.
        const opened = await TxSession.open(client, 'deferred', ['COMMIT', 'PRAGMA foreign_keys=OFF'], remoteTuning.keepAliveMs);
        session = opened.session;
      } catch (e) {
        const f = classifyRemote(e);
        throw connectionError(f, host) ?? new BackupError('REMOTE', `cannot open a stream on ${host} (${describeFailure(f)})`, { cause: e });
      }
      try {
        const [, fk] = await session.batch(['BEGIN IMMEDIATE', 'PRAGMA foreign_keys']);
        if (Number(fk!.rows[0]?.[0] ?? 1) !== 0) {
          throw new BackupError('REMOTE', `${host} did not turn foreign keys off for the load`);
        }
      } catch (e) {
        const err = e instanceof BackupError ? e : loadError(e, 'BEGIN IMMEDIATE');
        session.close();
        session = null;
        if (/SQLITE_BUSY|locked/i.test(err.message)) {
          throw new BackupError('REMOTE', `${host} is busy: another connection holds the write lock (retry when it is idle)`, { cause: e });
        }
        throw err;
      }
    },

    async insert(table, columns, rows) {
      throwIfFailed();
      if (!session) throw new BackupError('INTERNAL', 'insert outside the load');
      const ncols = columns.length;
      const perStatement = Math.max(1, Math.min(MAX_ROWS_PER_STATEMENT, Math.floor(MAX_VARIABLES / Math.max(1, ncols))));
      const head = `INSERT INTO ${q(table)} (${columns.map(q).join(', ')}) VALUES `;
      const plainTuple = `(${Array(ncols).fill('?').join(', ')})`;
      const what = `a batch of table "${table}"`;
      for (let i = 0; i < rows.length; ) {
        const end = Math.min(rows.length, i + perStatement);
        const tuples: string[] = [];
        const args: unknown[] = [];
        let bytes = head.length;
        for (; i < end; i++) {
          const row = rows[i]!;
          let special = false;
          for (const v of row) {
            bytes += jsonValueBytes(v);
            if (typeof v === 'number' ? !Number.isFinite(v) || Object.is(v, -0) : v !== null && typeof v === 'object' && !Buffer.isBuffer(v)) special = true;
          }
          if (!special) {
            tuples.push(plainTuple);
            for (const v of row) args.push(v);
          } else {
            const frags: string[] = [];
            for (const v of row as SqlValue[]) {
              const [frag, ...arg] = bindValue(v);
              frags.push(frag);
              if (arg.length) args.push(arg[0]);
            }
            tuples.push(`(${frags.join(', ')})`);
          }
          bytes += plainTuple.length + 2;
          if (bytes >= remoteTuning.requestBytes) {
            i++;
            break;
          }
        }
        await enqueue({ stmt: { sql: head + tuples.join(', '), args: args as never }, what, bytes });
      }
    },

    async commit() {
      if (!session) throw new BackupError('INTERNAL', 'commit outside the load');
      await drain();
      const s = session;
      try {
        await s.batch(['COMMIT', 'PRAGMA foreign_keys=ON']);
      } catch (e) {
        const f = classifyRemote(e);
        s.close();
        session = null;
        if (s.lost && f.kind === 'stream' && f.code === 'REPLAY_REJECTED') {
          throw new BackupError(
            'REMOTE',
            `the COMMIT on ${host} was sent but its answer was lost: the restore may or may not have been applied; check the target before retrying`,
            { cause: e },
          );
        }
        throw loadError(e, 'COMMIT');
      }
      stats.pings += s.pings;
      s.close();
      session = null;
    },

    async rollback() {
      queue = [];
      queuedBytes = 0;
      const s = session;
      session = null;
      if (!s) return;
      stats.pings += s.pings;
      // Closing the stream closes its connection on the server, which rolls the transaction back; the ROLLBACK is
      // only a courtesy when the stream is still there.
      if (!s.lost) {
        await Promise.allSettled(inFlight);
        await s.batch(['ROLLBACK']).catch(() => {});
      }
      s.close();
    },

    async close() {
      if (session) {
        stats.pings += session.pings;
        session.close();
        session = null;
      }
      client.close();
    },

    pageOptions: remotePageOptions,
  };
  return target;
}
