/**
 * What went wrong with a remote request, in the operator's terms: refused token, unreachable host, a lost stream
 * (snapshot or load transaction), a statement the server rejected. Messages name the host, never the URL's query
 * or the token.
 */
import { BackupError } from '../../errors.js';
import { RemoteUnavailableError } from './retry.js';

export type RemoteFailure =
  | { kind: 'auth'; status: number }
  | { kind: 'unavailable'; error: RemoteUnavailableError }
  /** The stream is gone: expired, refused a replay, or the client closed it after a protocol/HTTP failure. */
  | { kind: 'stream'; code: string; message: string }
  | { kind: 'too-large'; message: string }
  /** A statement failed on the server (SQL error, constraint, ...): the stream is still usable. */
  | { kind: 'statement'; code: string; message: string }
  | { kind: 'other'; message: string };

function chain(e: unknown): unknown[] {
  const out: unknown[] = [];
  let cur = e;
  for (let i = 0; cur && i < 8; i++) {
    out.push(cur);
    cur = (cur as { cause?: unknown }).cause;
  }
  return out;
}

/** Statement-level codes: the server answered with a result error and the stream lives on. */
const isStatementCode = (code: string) => /^(SQLITE_|SQL_|ARGS_)/.test(code) || code === 'SQLITE_UNKNOWN';

/** Removes the client's "CODE: " prefix and squeezes the message onto one line. */
const clean = (m: string) =>
  m
    .replace(/^([A-Z_]+: )+/, '')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 300);

export function classifyRemote(e: unknown): RemoteFailure {
  const links = chain(e);
  for (const l of links) if (l instanceof RemoteUnavailableError) return { kind: 'unavailable', error: l };
  for (const l of links) {
    const status = (l as { status?: unknown }).status;
    if ((l as Error)?.name === 'HttpServerError' && (status === 401 || status === 403)) return { kind: 'auth', status: status as number };
  }
  const code = String((e as { code?: unknown })?.code ?? '');
  const message = clean((e as Error)?.message ?? String(e));
  if (code === 'RESPONSE_TOO_LARGE') return { kind: 'too-large', message };
  if (code && isStatementCode(code)) return { kind: 'statement', code, message };
  if (
    code === 'STREAM_EXPIRED' ||
    code === 'REPLAY_REJECTED' ||
    code === 'HRANA_PROTO_ERROR' ||
    code === 'HRANA_CLOSED_ERROR' ||
    code === 'TRANSACTION_CLOSED' ||
    code === 'SERVER_ERROR'
  ) {
    return { kind: 'stream', code, message };
  }
  if (code) return { kind: 'statement', code, message };
  return { kind: 'other', message };
}

/** A BackupError for failures that mean the same whatever was running: auth and reachability. */
export function connectionError(f: RemoteFailure, host: string): BackupError | null {
  if (f.kind === 'auth') {
    return new BackupError(
      'AUTH',
      // The library does not know which variable held the token: the CLI reads TURSO_AUTH_TOKEN or the one named.
      `the server refused the token (HTTP ${f.status}) for ${host}: check the database token (TURSO_AUTH_TOKEN, or the variable --auth-token-env names): one for this database, not expired`,
    );
  }
  if (f.kind === 'unavailable') return new BackupError('REMOTE', f.error.message, { cause: f.error });
  return null;
}

/** Why a stream was lost, in a few words (for SNAPSHOT and lost-load messages). */
export function lossReason(f: RemoteFailure): string {
  if (f.kind === 'stream' && f.code === 'REPLAY_REJECTED') return 'a response was lost and the server refused to run the request again';
  if (f.kind === 'stream' && f.code === 'STREAM_EXPIRED') return 'STREAM_EXPIRED: the stream expired';
  return describeFailure(f);
}

export const describeFailure = (f: RemoteFailure): string =>
  f.kind === 'auth'
    ? `HTTP ${f.status}`
    : f.kind === 'unavailable'
      ? f.error.message
      : f.kind === 'stream' || f.kind === 'statement'
        ? `${f.code}: ${f.message}`
        : f.message;

/**
 * The messages of every remote failure, by what was running: a read snapshot (the backup), a write transaction
 * (the load), or a statement outside either. They name the host, never the URL's query or the token.
 */
export const remoteErrors = (host: string) => ({
  /** The snapshot's stream is gone: the backup stops and writes nothing. */
  snapshotLost(e: unknown): BackupError {
    const f = classifyRemote(e);
    const conn = f.kind === 'auth' ? connectionError(f, host) : null;
    if (conn) return conn;
    return new BackupError(
      'SNAPSHOT',
      `the read snapshot on ${host} was lost (${lossReason(f)}); the backup stopped and wrote nothing` +
        ' (retry; for a database too busy or too large to hold one snapshot, see --consistency per-table)',
      { cause: e },
    );
  },
  cannotOpenSnapshot(e: unknown): BackupError {
    const f = classifyRemote(e);
    return connectionError(f, host) ?? new BackupError('REMOTE', `cannot open a read transaction on ${host} (${describeFailure(f)})`, { cause: e });
  },
  /** A query inside a snapshot that failed without losing it. */
  queryRefused(e: unknown): BackupError {
    const f = classifyRemote(e);
    return connectionError(f, host) ?? new BackupError('REMOTE', `${host} refused a query (${describeFailure(f)})`, { cause: e });
  },
  /** The load's stream is gone: the server rolls the whole transaction back. */
  loadLost(e: unknown, what: string): BackupError {
    const f = classifyRemote(e);
    if (f.kind === 'auth') return connectionError(f, host)!;
    return new BackupError(
      'REMOTE',
      `the load's transaction on ${host} was lost during ${what} (${lossReason(f)}); nothing was applied twice and the server ` +
        'rolls the whole transaction back: the target is unchanged',
      { cause: e },
    );
  },
  /** A statement of the load failed (a constraint, an SQL error): everything rolls back. */
  loadFailed(e: unknown, what: string): BackupError {
    const f = classifyRemote(e);
    const conn = connectionError(f, host);
    if (conn) return conn;
    const code = f.kind === 'statement' && /CONSTRAINT/.test(f.code + f.message) ? 'CONSTRAINT' : 'REMOTE';
    return new BackupError(code, `${what}: ${f.kind === 'statement' ? f.message : describeFailure(f)}; the load was rolled back and the target is as it was`, {
      cause: e,
    });
  },
  /** A statement outside any transaction. */
  statementRefused(e: unknown): BackupError {
    const f = classifyRemote(e);
    return connectionError(f, host) ?? new BackupError('REMOTE', `${host} refused a statement (${describeFailure(f)})`, { cause: e });
  },
  cannotOpenStream(e: unknown): BackupError {
    const f = classifyRemote(e);
    return connectionError(f, host) ?? new BackupError('REMOTE', `cannot open a stream on ${host} (${describeFailure(f)})`, { cause: e });
  },
});

export type RemoteErrors = ReturnType<typeof remoteErrors>;

/**
 * `errors`, except that once `aborted()` every failure is the interruption that caused it: the caller's signal ends
 * a request in flight (retry.ts), and the client reports that as a closed stream or a refused statement, which would
 * otherwise reach the operator as the server's failure (exit 1) instead of their own Ctrl-C (exit 130).
 */
export function interruptible<T extends Record<string, (...args: never[]) => BackupError>>(errors: T, aborted: () => boolean): T {
  const wrapped = Object.entries(errors).map(([name, make]) => [
    name,
    (...args: never[]) => (aborted() ? new BackupError('INTERRUPTED', 'interrupted') : make(...args)),
  ]);
  return Object.fromEntries(wrapped) as T;
}
