/**
 * A remote libSQL database over HTTP (Hrana) through @libsql/client, INTEGER as bigint.
 *
 * The snapshot is one read transaction on one server-side stream (`client.transaction('read')`), opened with a
 * first read so that SQLite fixes the snapshot at once. The stream is kept alive while the caller is busy elsewhere
 * (a keep-alive `SELECT 1` after ~2 s idle) and its loss is detected: any later query fails with
 * BackupError('SNAPSHOT') — a backup never continues on a new connection. Transient HTTP failures are retried on
 * the same stream with the same baton (src/remote/retry.ts), so a 503 or a reset before the request ran costs a
 * retry, not the snapshot.
 *
 * Every read is exact: TEXT that is not plain ASCII travels as bytes, ±Infinity as a flag (src/remote/exact.ts).
 * With `--consistency per-table` the caller ends and begins a snapshot between tables; each is a fresh stream.
 */
import { createClient, type Client, type InStatement, type ResultSet } from '@libsql/client';
import { BackupError } from '../errors.js';
import { remotePageOptions, remoteTuning } from '../remote/config.js';
import { classifyRemote, connectionError, describeFailure, lossReason } from '../remote/errors.js';
import { bindExact, decodeExactRows, isReadQuery, plainRows, selectColumnCount, wrapExact } from '../remote/exact.js';
import { retryingFetch, type RetryStats } from '../remote/retry.js';
import { TxSession } from '../remote/session.js';
import { PageTooLargeError, type Source } from './types.js';
import { hostOf, redactUrl } from './url.js';

export interface RemoteSource extends Source {
  readonly kind: 'remote';
  /** Requests, retries and refused replays so far (diagnostics, tests). */
  readonly stats: RetryStats & { pings: number; snapshots: number };
}


export function openRemoteSource(url: string, authToken?: string): RemoteSource {
  const host = hostOf(url);
  const stats = { requests: 0, retries: 0, replayRejected: 0, pings: 0, snapshots: 0 };
  let client: Client;
  try {
    client = createClient({ url, authToken, intMode: 'bigint', fetch: retryingFetch(host, { stats }) });
  } catch (e) {
    throw new BackupError('CONFIG', `TURSO_DATABASE_URL is not a usable libSQL URL (${redactUrl(url)}): ${(e as { code?: string }).code ?? 'invalid'}`);
  }
  let session: TxSession | null = null;
  /** Result column counts of queries whose select list cannot be read from the text (`SELECT *`). */
  const columnCounts = new Map<string, number>();

  const lostSnapshot = (e: unknown) => {
    const f = classifyRemote(e);
    const conn = f.kind === 'auth' ? connectionError(f, host) : null;
    if (conn) return conn;
    return new BackupError(
      'SNAPSHOT',
      `the read snapshot on ${host} was lost (${lossReason(f)}); the backup stopped and wrote nothing` +
        ' (retry; for a database too busy or too large to hold one snapshot, see --consistency per-table)',
      { cause: e },
    );
  };

  const fail = (e: unknown): Error => {
    if (session?.lost) return lostSnapshot(e);
    const f = classifyRemote(e);
    const conn = connectionError(f, host);
    if (conn) return conn;
    if (f.kind === 'too-large') return new PageTooLargeError(`${host}: ${f.message}`);
    return new BackupError('REMOTE', `${host} refused a query (${describeFailure(f)})`, { cause: e });
  };

  const exec = async (stmt: InStatement): Promise<ResultSet> => {
    if (!session) throw new BackupError('INTERNAL', 'remote query outside a snapshot');
    try {
      return (await session.batch([stmt]))[0]!;
    } catch (e) {
      throw fail(e);
    }
  };

  const columnsOf = async (sql: string, args: unknown[]): Promise<number> => {
    const known = selectColumnCount(sql) ?? columnCounts.get(sql);
    if (known !== undefined) return known;
    const probe = bindExact(`SELECT * FROM (${sql.replace(/[\s;]+$/, '')}) LIMIT 0`, args);
    const n = (await exec({ sql: probe.sql, args: probe.args as never })).columns.length;
    columnCounts.set(sql, n);
    return n;
  };

  const query = async (sql: string, args: readonly unknown[] = []): Promise<unknown[][]> => {
    if (!isReadQuery(sql)) {
      const b = bindExact(sql, args);
      return plainRows((await exec({ sql: b.sql, args: b.args as never })).rows as never);
    }
    const n = await columnsOf(sql, args as unknown[]);
    const b = bindExact(wrapExact(sql, n), args);
    const rs = await exec({ sql: b.sql, args: b.args as never });
    return decodeExactRows(rs.rows as never, n);
  };

  return {
    kind: 'remote',
    displayUrl: redactUrl(url),
    exactText: true,
    stats,
    async beginSnapshot() {
      if (session) await this.endSnapshot();
      try {
        // The first read inside the transaction fixes the snapshot now, not at the first table.
        const opened = await TxSession.open(client, 'read', ['SELECT count(*) FROM sqlite_schema'], remoteTuning.keepAliveMs);
        session = opened.session;
        stats.snapshots++;
      } catch (e) {
        const f = classifyRemote(e);
        throw (
          connectionError(f, host) ??
          new BackupError('REMOTE', `cannot open a read transaction on ${host} (${describeFailure(f)})`, { cause: e })
        );
      }
    },
    query,
    async endSnapshot() {
      const s = session;
      session = null;
      if (!s) return;
      stats.pings += s.pings;
      // Every row was read (and checked) inside the snapshot already: a failing COMMIT of a read transaction
      // changes nothing, so it is not an error.
      await s.commit().catch(() => s.close());
    },
    async close() {
      if (session) {
        stats.pings += session.pings;
        session.close();
      }
      session = null;
      client.close();
    },
    pageOptions: remotePageOptions,
  };
}
