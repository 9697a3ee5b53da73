/**
 * The Hrana client: @libsql/hrana-client opened at protocol version 3, so that it uses sqld's Protobuf encoding
 * (`/v3-protobuf/pipeline`) when the server offers it and falls back to JSON (`/v2/pipeline`) when it does not.
 *
 * Why not @libsql/client, which wraps the same library: it always opens the HTTP client at version 2, where every
 * value travels as JSON and every BLOB as base64. A backup's page is one BLOB of up to a few MiB, and decoding it
 * from base64 JSON was most of a remote backup's client CPU (docs/BENCHMARKS.md "Remote"). In Protobuf it arrives
 * as raw bytes.
 *
 * What @libsql/client added on top is small and kept here with the same behaviour: URL checks (through
 * @libsql/core, which it uses), statements run as batch steps each conditioned on the previous one, and the
 * library's errors mapped to `LibsqlError` codes (hrana/errors.ts reads those).
 */
import { LibsqlBatchError, LibsqlError } from '@libsql/core/api';
import { expandConfig } from '@libsql/core/config';
import { encodeBaseUrl } from '@libsql/core/uri';
import * as hrana from '@libsql/hrana-client';
import type { FetchFn } from './retry.js';

/** One statement: SQL text, with positional arguments. */
export type Stmt = string | { sql: string; args?: readonly unknown[] };

/** What a statement gave back: column names, rows (each an array of values), changes. */
export interface StmtResult {
  columns: string[];
  rows: ArrayLike<unknown>[];
  rowsAffected: number;
}

export type HranaClient = hrana.HttpClient;
export type HranaStream = hrana.HttpStream;

/**
 * Opens a client for a `libsql:`, `https:` or `http:` URL with INTEGERs as bigint. Throws LibsqlError (with the
 * code @libsql/client gives) for a URL it cannot use.
 */
export function openHranaClient(url: string, authToken: string | undefined, fetch: FetchFn): HranaClient {
  const config = expandConfig({ url, authToken, intMode: 'bigint' }, true);
  if (config.scheme !== 'https' && config.scheme !== 'http') {
    throw new LibsqlError(
      `The HTTP client supports only "libsql:", "https:" and "http:" URLs, got ${JSON.stringify(`${config.scheme}:`)}`,
      'URL_SCHEME_NOT_SUPPORTED',
    );
  }
  if (config.scheme === 'http' && config.tls) throw new LibsqlError('A "http:" URL cannot opt into TLS by using ?tls=1', 'URL_INVALID');
  if (config.scheme === 'https' && !config.tls) throw new LibsqlError('A "https:" URL cannot opt out of TLS by using ?tls=0', 'URL_INVALID');
  const base = encodeBaseUrl(config.scheme, config.authority, config.path);
  const client = hrana.openHttp(base, config.authToken, fetch as typeof globalThis.fetch, undefined, 3);
  client.intMode = 'bigint';
  return client;
}

function toHranaStmt(stmt: Stmt): hrana.Stmt {
  if (typeof stmt === 'string') return new hrana.Stmt(stmt);
  const s = new hrana.Stmt(stmt.sql);
  if (stmt.args && stmt.args.length > 0) s.bindIndexes(stmt.args as hrana.InValue[]);
  return s;
}

const toResult = (r: hrana.RowsResult): StmtResult => ({
  columns: r.columnNames.map((c) => c ?? ''),
  rows: r.rows as unknown as ArrayLike<unknown>[],
  rowsAffected: r.affectedRowCount,
});

/** Runs `f`, its failures as mapHranaError gives them. */
async function mapped<T>(f: () => Promise<T>): Promise<T> {
  try {
    return await f();
  } catch (e) {
    throw mapHranaError(e);
  }
}

function ensureOpen(stream: HranaStream): void {
  if (stream.closed) throw new LibsqlError('Cannot execute statements because the stream is closed', 'TRANSACTION_CLOSED');
}

/**
 * Runs `stmts` on `stream` as one batch: each step runs only if the one before it succeeded, so a failure skips the
 * rest. The first failure is thrown as a LibsqlBatchError whose `statementIndex` names the statement.
 *
 * `inTransaction` (Hrana 3 only): each step also runs only while the connection is still inside a transaction. A
 * statement that makes SQLite roll the whole transaction back (SQLITE_FULL, a `RAISE(ROLLBACK)`, `ON CONFLICT
 * ROLLBACK`) would otherwise leave the requests already sent behind it to run one by one in autocommit, and commit.
 */
export async function runBatch(stream: HranaStream, stmts: readonly Stmt[], inTransaction = false): Promise<StmtResult[]> {
  ensureOpen(stream);
  return mapped(async () => {
    const batch = stream.batch(false);
    let last: hrana.BatchStep | undefined;
    const outcomes = stmts.map((stmt) => {
      const step = batch.step();
      if (last !== undefined) step.condition(hrana.BatchCond.ok(last));
      if (inTransaction) step.condition(hrana.BatchCond.not(hrana.BatchCond.isAutocommit(batch)));
      last = step;
      const p = step.query(toHranaStmt(stmt));
      p.catch(() => undefined); // read below, in order; unread ones must not warn
      return p;
    });
    await batch.execute();
    const results: StmtResult[] = [];
    for (let i = 0; i < outcomes.length; i++) {
      let rows: hrana.RowsResult | undefined;
      try {
        rows = await outcomes[i];
      } catch (e) {
        const mapped = mapHranaError(e);
        throw mapped instanceof LibsqlError ? new LibsqlBatchError(mapped.message, i, mapped.code, undefined, mapped.rawCode, e as Error) : mapped;
      }
      if (rows === undefined) throw new LibsqlBatchError('Statement in a batch was not executed', i, 'TRANSACTION_CLOSED');
      results.push(toResult(rows));
    }
    return results;
  });
}

/** Runs a script of several statements (a Hrana `sequence`) on `stream`. */
export async function runScript(stream: HranaStream, sql: string): Promise<void> {
  ensureOpen(stream);
  await mapped(() => stream.sequence(sql));
}

/** Runs one statement on a stream of its own, opened and closed in the same request. */
export function executeOnce(client: HranaClient, stmt: Stmt): Promise<StmtResult> {
  return mapped(async () => {
    const stream = client.openStream();
    let rows: Promise<hrana.RowsResult>;
    try {
      rows = stream.query(toHranaStmt(stmt));
    } finally {
      stream.closeGracefully();
    }
    return toResult(await rows);
  });
}

/** Runs `sql` and closes the stream in the same request (a COMMIT at the end of a transaction). */
export async function runAndClose(stream: HranaStream, sql: string): Promise<void> {
  if (stream.closed) throw new LibsqlError('Cannot commit the transaction because it is already closed', 'TRANSACTION_CLOSED');
  try {
    const done = stream.run(sql);
    stream.closeGracefully();
    await done;
  } catch (e) {
    throw mapHranaError(e);
  } finally {
    stream.close();
  }
}

/** The library's errors as LibsqlError with @libsql/client's codes; anything else (our fetch's errors) as it is. */
export function mapHranaError(e: unknown): unknown {
  if (e instanceof LibsqlError || !(e instanceof hrana.ClientError)) return e;
  // The HTTP status stays on the cause (hrana/errors.ts finds 401/403 there).
  return new LibsqlError(e.message, errorCode(e), undefined, undefined, e);
}

function errorCode(e: hrana.ClientError): string {
  if (e instanceof hrana.ResponseError && e.code !== undefined) return e.code;
  if (e instanceof hrana.ProtoError) return 'HRANA_PROTO_ERROR';
  if (e instanceof hrana.ClosedError) return e.cause instanceof hrana.ClientError ? errorCode(e.cause) : 'HRANA_CLOSED_ERROR';
  if (e instanceof hrana.HttpServerError) return 'SERVER_ERROR';
  if (e instanceof hrana.ProtocolVersionError) return 'PROTOCOL_VERSION_ERROR';
  if (e instanceof hrana.InternalError) return 'INTERNAL_ERROR';
  return 'UNKNOWN';
}
