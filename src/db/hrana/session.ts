/**
 * One server-side stream holding a transaction (a read snapshot, or a restore's load): every statement runs on that
 * stream, in order, after the BEGIN it was opened with.
 *
 * Keep-alive: sqld drops a stream that has been idle for ~10 s (Turso documents ~5 s for interactive transactions),
 * and with it the transaction. While the caller is busy elsewhere (a slow sink applying backpressure, a long local
 * decode), a timer sends `SELECT 1` on the transaction whenever nothing was sent or received for `keepAliveMs`.
 * Pings only go out when no statement is in flight, so they never delay real work by more than one small request.
 *
 * Loss detection: the client closes the stream on any HTTP-level failure (expired stream, a refused replay, a
 * protocol error, an unreachable host after retries). From then on every call fails with the error that lost it —
 * never silently continued on a new stream. Statement errors (SQL errors, RESPONSE_TOO_LARGE) leave the stream
 * usable and are only passed on.
 */
import { type HranaClient, type HranaStream, runAndClose, runBatch, runScript, type Stmt, type StmtResult } from './client.js';
import { classifyRemote, type RemoteFailure } from './errors.js';

/** How a session's transaction begins (libSQL's `BEGIN TRANSACTION READONLY` holds a read snapshot). */
export type TxMode = 'read' | 'deferred';
const BEGIN: Record<TxMode, string> = { read: 'BEGIN TRANSACTION READONLY', deferred: 'BEGIN DEFERRED' };

export class TxSession {
  private lostCause: unknown = undefined;
  private lostFailure: RemoteFailure | null = null;
  private pending = 0;
  private lastActivity = Date.now();
  private timer: NodeJS.Timeout | null = null;
  private finished = false;
  /** Keep-alive pings sent (tests, diagnostics). */
  pings = 0;
  /** Set while the stream's connection holds the transaction (from the caller's BEGIN on), when the server speaks
   *  Hrana 3: every later step then runs only inside it (see runBatch). */
  private guarded = false;

  private constructor(
    private readonly stream: HranaStream,
    private readonly keepAliveMs: number,
    /** The Hrana version the server speaks: 3 means Protobuf (hrana-client 0.10 offers version 3 only so). */
    readonly version: number,
  ) {}

  /** Opens a stream, begins the transaction with `first` sent in the same request, and starts the keep-alive. */
  static async open(client: HranaClient, mode: TxMode, first: Stmt[], keepAliveMs: number): Promise<{ session: TxSession; results: StmtResult[] }> {
    const session = new TxSession(client.openStream(), keepAliveMs, await client.getVersion());
    try {
      const results = (await session.batch([BEGIN[mode], ...first])).slice(1);
      // A read snapshot is held from here; a load's transaction from its BEGIN IMMEDIATE (inTransaction()).
      if (mode === 'read') session.inTransaction();
      session.startKeepAlive();
      return { session, results };
    } catch (e) {
      session.close();
      throw e;
    }
  }

  /** The failure that lost the stream, if it is lost. */
  get lost(): RemoteFailure | null {
    return this.lostFailure;
  }

  get busy(): boolean {
    return this.pending > 0;
  }

  /** The caller's BEGIN succeeded: from now on statements run only inside that transaction. */
  inTransaction(): void {
    this.guarded = this.version >= 3;
  }

  /**
   * Runs statements on the stream in one request (each after the previous one succeeded, and inside the
   * transaction once it is held). `leaving`: the batch ends the transaction (COMMIT, then statements after it).
   */
  batch(stmts: Stmt[], leaving = false): Promise<StmtResult[]> {
    return this.track(() => runBatch(this.stream, stmts, this.guarded && !leaving));
  }

  /** Runs a script of several statements (a Hrana `sequence`) on the stream. */
  script(sql: string): Promise<void> {
    return this.track(() => runScript(this.stream, sql));
  }

  /** Runs one request on the stream, recording a loss of the stream as the session's fate. */
  private async track<T>(request: () => Promise<T>): Promise<T> {
    if (this.lostCause !== undefined) throw this.lostCause;
    this.pending++;
    this.lastActivity = Date.now();
    try {
      return await request();
    } catch (e) {
      const f = classifyRemote(e);
      if (this.stream.closed || f.kind === 'stream' || f.kind === 'unavailable' || f.kind === 'auth') {
        if (this.lostCause === undefined) {
          this.lostCause = e;
          this.lostFailure = f;
        }
        this.stopKeepAlive();
      }
      throw e;
    } finally {
      this.pending--;
      this.lastActivity = Date.now();
    }
  }

  /** COMMIT and close the stream. */
  async commit(): Promise<void> {
    this.stopKeepAlive();
    this.finished = true;
    if (this.lostCause !== undefined) throw this.lostCause;
    await runAndClose(this.stream, 'COMMIT');
  }

  /** Closes the stream; the server rolls back whatever it had open. */
  close(): void {
    this.stopKeepAlive();
    this.finished = true;
    try {
      this.stream.close();
    } catch {
      /* already closed */
    }
  }

  private startKeepAlive(): void {
    if (this.keepAliveMs <= 0 || this.finished) return;
    const every = Math.max(20, Math.min(250, Math.floor(this.keepAliveMs / 4)));
    this.timer = setInterval(() => this.tick(), every);
    this.timer.unref();
  }

  private stopKeepAlive(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    if (this.finished || this.lostCause !== undefined || this.pending > 0) return;
    if (Date.now() - this.lastActivity < this.keepAliveMs) return;
    this.pings++;
    this.batch(['SELECT 1']).catch(() => {
      /* recorded as the loss; the next real call reports it */
    });
  }
}
