/**
 * The remote backend: a libSQL database over HTTP (Hrana 3 in Protobuf when the server offers it, else Hrana 2 in
 * JSON: hrana/client.ts), INTEGER as bigint. Protocol facts and the reasoning behind each rule: docs/DESIGN.md
 * "Remote databases" and docs/notes-hrana.md.
 *
 * - Every HTTP request is retried by the baton replay rule (hrana/retry.ts): an attempt that never ran runs once; one
 *   that ran but whose answer was lost is refused by the server, never applied twice.
 * - A transaction lives on one server-side stream (hrana/session.ts), kept alive while the caller is busy and never
 *   silently continued on a new stream once lost. Statements outside a transaction that change something run on a
 *   stream of their own too, so the replay rule protects them (and connection state such as a PRAGMA persists).
 * - Every read is exact (hrana/exact.ts): TEXT that is not plain ASCII travels as bytes, ±Infinity as a flag.
 * - In a write transaction, inserts and `write()` statements are pipelined (hrana/pipeline.ts).
 */
import { BackupError } from '../errors.js';
import type { SqlValue } from '../format/values.js';
import { executeOnce, type HranaClient, openHranaClient, type Stmt, type StmtResult } from './hrana/client.js';
import { remotePageOptions, remoteTuning } from './hrana/config.js';
import { classifyRemote, interruptible, remoteErrors, type RemoteErrors } from './hrana/errors.js';
import { bindExact, decodeExactRows, isReadQuery, jsonValueBytes, plainRows, selectColumnCount, wrapExact } from './hrana/exact.js';
import { insertStatements, MAX_ROWS_PER_STATEMENT } from './hrana/insert.js';
import { WritePipeline } from './hrana/pipeline.js';
import { retryingFetch, type RetryStats } from './hrana/retry.js';
import { TxSession } from './hrana/session.js';
import { PageTooLargeError, probeSqlEncoding, type PageOptions } from './pages.js';
import type { Db, OpenOptions, Row, WriteOptions } from './types.js';
import { hostOf, q, redactUrl } from './url.js';

export function openRemoteDb(url: string, opts: OpenOptions = {}): RemoteDb {
  return new RemoteDb(url, opts.authToken, opts.signal);
}

const describeSql = (sql: string) => sql.trim().split(/\s+/).slice(0, 4).join(' ').slice(0, 80);

/** A `Db` over one Hrana client with at most one open transaction stream. */
export class RemoteDb implements Db {
  readonly kind = 'remote' as const;
  readonly insertRows = MAX_ROWS_PER_STATEMENT;
  readonly exactText = true;
  readonly notes: string[] = [];
  readonly displayUrl: string;
  readonly identity: string;
  readonly host: string;
  /** Requests, retries, refused replays, keep-alive pings so far (diagnostics, tests). */
  readonly stats: RetryStats & { pings: number; snapshots: number; statements: number; batches: number };
  private readonly client: HranaClient;
  private readonly errors: RemoteErrors;
  private mode: 'idle' | 'read' | 'write' = 'idle';
  /** The stream of the open transaction (read snapshot or write). */
  private session: TxSession | null = null;
  /** The stream for statements outside a transaction (opened on first use). */
  private stream: TxSession | null = null;
  private pipeline: WritePipeline | null = null;
  private restoreForeignKeys = false;
  /** Result column counts of queries whose select list cannot be read from the text (`SELECT *`). */
  private readonly columnCounts = new Map<string, number>();
  private encoding: Promise<boolean> | null = null;
  /**
   * What ends the requests: the caller's signal, except while a COMMIT is in flight. An aborted COMMIT may still be
   * applied by the server, and the restore would then say it rolled back a target it had in fact replaced: the
   * COMMIT runs to its answer, and the interruption takes effect after it.
   */
  private readonly requests = new AbortController();
  private committing = false;
  private readonly onAbort = () => {
    if (!this.committing) this.requests.abort(this.signal?.reason);
  };

  constructor(
    url: string,
    authToken?: string,
    private readonly signal?: AbortSignal,
  ) {
    this.host = hostOf(url);
    this.displayUrl = redactUrl(url);
    this.identity = this.displayUrl;
    this.errors = interruptible(remoteErrors(this.host), () => this.requests.signal.aborted);
    this.stats = { requests: 0, retries: 0, replayRejected: 0, pings: 0, snapshots: 0, statements: 0, batches: 0 };
    if (signal?.aborted) this.onAbort();
    else signal?.addEventListener('abort', this.onAbort, { once: true });
    try {
      this.client = openHranaClient(url, authToken, retryingFetch(this.host, { stats: this.stats, signal: signal && this.requests.signal }));
    } catch (e) {
      throw new BackupError('CONFIG', `TURSO_DATABASE_URL is not a usable libSQL URL (${this.displayUrl}): ${(e as { code?: string }).code ?? 'invalid'}`);
    }
  }

  get inTransaction(): boolean {
    return this.mode !== 'idle';
  }

  async query(sql: string, args: readonly unknown[] = []): Promise<Row[]> {
    this.guard();
    if (!isReadQuery(sql)) return plainRows((await this.execute(bindExact(sql, args), describeSql(sql))).rows as never);
    const n = await this.columnsOf(sql, args);
    return decodeExactRows((await this.execute(bindExact(wrapExact(sql, n), args), describeSql(sql))).rows as never, n);
  }

  async run(sql: string, args: readonly unknown[] = []): Promise<number> {
    this.guard();
    if (this.refusedByServer(sql)) return 0;
    const stmt = bindExact(sql, args);
    if (this.mode !== 'idle') return (await this.execute(stmt, `"${describeSql(sql)}…"`)).rowsAffected;
    const stream = await this.openStream();
    try {
      return (await stream.batch([stmt]))[0]!.rowsAffected;
    } catch (e) {
      throw this.errors.statementRefused(e);
    }
  }

  async runBatch(statements: readonly { sql: string; args?: readonly unknown[] }[]): Promise<number> {
    if (statements.length === 0) return 0;
    const stmts = statements.map((s) => bindExact(s.sql, s.args ?? []));
    if (this.pipeline) await this.pipeline.drain();
    const session = this.session ?? (await this.openStream());
    try {
      return (await session.batch(stmts)).reduce((n, r) => n + r.rowsAffected, 0);
    } catch (e) {
      throw this.mode === 'write' ? this.pipeline!.fail(this.loadError(e, `"${describeSql(statements[0]!.sql)}…"`)) : this.errors.statementRefused(e);
    }
  }

  async exec(script: string): Promise<void> {
    // A server chooses its own journal mode (sqld refuses the pragma): a script that sets it still applies.
    const adapted = script.replace(/^[ \t]*PRAGMA\s+journal_mode\s*=\s*[A-Za-z]+\s*;?[ \t]*$/gim, '');
    if (adapted !== script) this.note('PRAGMA journal_mode in a migration was left out: the server chooses its journal mode');
    const session = this.session ?? (await this.openStream());
    if (this.pipeline) await this.pipeline.drain();
    try {
      await session.script(adapted);
    } catch (e) {
      throw this.mode === 'write' ? this.pipeline!.fail(this.loadError(e, 'a script')) : this.errors.statementRefused(e);
    }
  }

  async beginRead(): Promise<void> {
    if (this.mode === 'read') await this.endRead();
    if (this.mode !== 'idle') throw new BackupError('INTERNAL', 'beginRead inside a transaction');
    try {
      // The first read inside the transaction fixes the snapshot now, not at the first table.
      this.session = (await TxSession.open(this.client, 'read', ['SELECT count(*) FROM sqlite_schema'], remoteTuning.keepAliveMs)).session;
    } catch (e) {
      throw this.errors.cannotOpenSnapshot(e);
    }
    this.mode = 'read';
    this.stats.snapshots++;
  }

  async endRead(): Promise<void> {
    const s = this.takeSession();
    // Every row was read (and checked) inside the snapshot already: a failing COMMIT of a read changes nothing.
    if (s) await s.commit().catch(() => s.close());
  }

  async beginWrite(opts: WriteOptions = {}): Promise<void> {
    if (this.mode !== 'idle') throw new BackupError('INTERNAL', 'beginWrite inside a transaction');
    const fk = opts.foreignKeys;
    let session: TxSession;
    try {
      // BEGIN DEFERRED (sent by TxSession.open) is closed at once, so the pragma runs outside a transaction, on this
      // stream's connection. Nothing here takes a lock: re-sending it after a lost response is harmless.
      const first = ['COMMIT', ...(fk === undefined ? [] : [`PRAGMA foreign_keys=${fk ? 'ON' : 'OFF'}`])];
      session = (await TxSession.open(this.client, 'deferred', first, remoteTuning.keepAliveMs)).session;
    } catch (e) {
      throw this.errors.cannotOpenStream(e);
    }
    try {
      const [, pragma] = await session.batch(['BEGIN IMMEDIATE', 'PRAGMA foreign_keys']);
      if (fk !== undefined && Number(pragma!.rows[0]?.[0] ?? -1) !== (fk ? 1 : 0)) {
        throw new BackupError('REMOTE', `${this.host} did not turn foreign keys ${fk ? 'on' : 'off'} for the load`);
      }
    } catch (e) {
      session.close();
      const err = e instanceof BackupError ? e : this.loadError(e, 'BEGIN IMMEDIATE', session);
      if (/SQLITE_BUSY|locked/i.test(err.message)) {
        throw new BackupError('REMOTE', `${this.host} is busy: another connection holds the write lock (retry when it is idle)`, { cause: e });
      }
      throw err;
    }
    session.inTransaction();
    this.session = session;
    this.mode = 'write';
    this.restoreForeignKeys = fk === false;
    this.pipeline = new WritePipeline(session, (e, what) => this.loadError(e, what));
  }

  async write(sql: string, args: readonly unknown[] = []): Promise<void> {
    if (this.mode !== 'write') {
      await this.run(sql, args);
      return;
    }
    if (this.refusedByServer(sql)) return;
    const b = bindExact(sql, args);
    await this.pipeline!.enqueue({
      stmt: b,
      what: `"${describeSql(sql)}…"`,
      bytes: 64 + sql.length + b.args.reduce((n: number, v) => n + jsonValueBytes(v), 0),
    });
  }

  async clear(table: string): Promise<void> {
    await this.write(`DELETE FROM ${q(table)}`);
  }

  async insert(table: string, columns: string[], rows: SqlValue[][]): Promise<void> {
    this.guard();
    if (this.mode !== 'write') throw new BackupError('INTERNAL', 'insert outside a write transaction');
    this.pipeline!.check();
    // In Protobuf (Hrana 3) a double travels as its eight bytes: bound as itself, with no JSON float trap to avoid.
    const exactFloats = this.session!.version >= 3;
    for (const q of insertStatements(table, columns, rows, exactFloats)) await this.pipeline!.enqueue(q);
  }

  async commit(): Promise<void> {
    this.guard();
    if (this.mode !== 'write') throw new BackupError('INTERNAL', 'commit outside a write transaction');
    await this.pipeline!.drain();
    const s = this.takeSession();
    this.committing = true;
    try {
      await s!.batch(['COMMIT', ...(this.restoreForeignKeys ? ['PRAGMA foreign_keys=ON'] : [])], true);
    } catch (e) {
      s!.close();
      const f = classifyRemote(e);
      if (s!.lost && f.kind === 'stream' && f.code === 'REPLAY_REJECTED') {
        throw new BackupError(
          'REMOTE',
          `the COMMIT on ${this.host} was sent but its answer was lost: the restore may or may not have been applied; check the target before retrying`,
          { cause: e },
        );
      }
      throw this.loadError(e, 'COMMIT', s!);
    } finally {
      this.committing = false;
      if (this.signal?.aborted) this.onAbort();
    }
    s!.close();
  }

  async rollback(): Promise<void> {
    const pipeline = this.pipeline;
    const s = this.takeSession();
    if (!s) return;
    // Closing the stream closes its connection on the server, which rolls the transaction back; the ROLLBACK is
    // only a courtesy when the stream is still there.
    if (!s.lost) {
      await pipeline?.discard();
      await s.batch(['ROLLBACK']).catch(() => {});
    }
    s.close();
  }

  pageOptions(requested: PageOptions): PageOptions {
    return remotePageOptions(requested);
  }

  encodesInSql(): Promise<boolean> {
    // Not kept when it failed (the server was busy): the next call asks again.
    this.encoding ??= probeSqlEncoding(this).catch((e: unknown) => {
      this.encoding = null;
      throw e;
    });
    return this.encoding;
  }

  async close(): Promise<void> {
    this.signal?.removeEventListener('abort', this.onAbort);
    this.takeSession()?.close();
    this.stream?.close();
    this.stream = null;
    this.client.close();
  }

  /** Before each call, and after a request that failed: an aborted run stops with INTERRUPTED. */
  private guard(): void {
    if (this.signal?.aborted) throw new BackupError('INTERRUPTED', 'interrupted');
  }

  /** Ends the transaction state and hands back its stream (its keep-alive pings counted). */
  private takeSession(): TxSession | null {
    const s = this.session;
    if (s) this.stats.pings += s.pings;
    if (this.pipeline) {
      this.stats.statements += this.pipeline.statements;
      this.stats.batches += this.pipeline.batches;
    }
    this.session = null;
    this.pipeline = null;
    this.mode = 'idle';
    return s;
  }

  private async openStream(): Promise<TxSession> {
    if (this.stream && !this.stream.lost) return this.stream;
    this.stream?.close();
    try {
      this.stream = (await TxSession.open(this.client, 'deferred', ['COMMIT'], remoteTuning.keepAliveMs)).session;
    } catch (e) {
      this.stream = null;
      throw this.errors.cannotOpenStream(e);
    }
    return this.stream;
  }

  /** sqld only allows the pragmas on its list: those it refuses are noted, not sent. */
  private refusedByServer(sql: string): boolean {
    if (!/^\s*pragma\s+(main\.)?application_id\s*=/i.test(sql)) return false;
    this.note(`${this.host} does not allow PRAGMA application_id over HTTP: the dump's application_id was not restored`);
    return true;
  }

  private note(text: string): void {
    if (!this.notes.includes(text)) this.notes.push(text);
  }

  private loadError(e: unknown, what: string, session = this.session): BackupError {
    return session?.lost ? this.errors.loadLost(e, what) : this.errors.loadFailed(e, what);
  }

  /**
   * Runs one statement where the handle's state says: in the snapshot, in the load, or on its own. On its own it
   * goes to the statement stream once one is open (it then sees that connection's state, e.g. a PRAGMA), else to a
   * stream of its own.
   */
  private async execute(stmt: Stmt, what: string): Promise<StmtResult> {
    if (this.mode === 'idle') {
      try {
        if (this.stream && !this.stream.lost) return (await this.stream.batch([stmt]))[0]!;
        return await executeOnce(this.client, stmt);
      } catch (e) {
        throw this.tooLarge(e) ?? this.errors.statementRefused(e);
      }
    }
    if (this.pipeline) await this.pipeline.drain();
    const s = this.session!;
    try {
      return (await s.batch([stmt]))[0]!;
    } catch (e) {
      this.guard();
      if (this.mode === 'read') throw s.lost ? this.errors.snapshotLost(e) : (this.tooLarge(e) ?? this.errors.queryRefused(e));
      if (!s.lost) {
        const big = this.tooLarge(e);
        if (big) throw big;
      }
      throw this.pipeline!.fail(this.loadError(e, what));
    }
  }

  /** RESPONSE_TOO_LARGE leaves the stream usable: the page reader asks again with fewer rows. */
  private tooLarge(e: unknown): PageTooLargeError | null {
    const f = classifyRemote(e);
    return f.kind === 'too-large' ? new PageTooLargeError(`${this.host}: ${f.message}`) : null;
  }

  private async columnsOf(sql: string, args: readonly unknown[]): Promise<number> {
    const known = selectColumnCount(sql) ?? this.columnCounts.get(sql);
    if (known !== undefined) return known;
    const probe = bindExact(`SELECT * FROM (${sql.replace(/[\s;]+$/, '')}) LIMIT 0`, args);
    const n = (await this.execute(probe, describeSql(sql))).columns.length;
    this.columnCounts.set(sql, n);
    return n;
  }
}
