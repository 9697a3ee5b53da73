/**
 * Pipelined statements inside a write transaction over HTTP. Statements are queued locally and sent in requests
 * of ~`requestBytes` (estimated JSON); a request is sent while the previous one is still in flight (the stream runs
 * them in order, one HTTP request at a time), at most `maxInFlight` at once. A failing statement skips the rest of
 * its request and fails the transaction: the failure is reported by the next call, and every failure ends in a
 * rollback, so a deferred report changes nothing on the target.
 */
import type { BackupError } from '../../errors.js';
import { createMemoryGovernor, REMOTE_COLLECT_BYTES } from '../../memory.js';
import type { Stmt } from './client.js';
import { remoteTuning } from './config.js';
import type { TxSession } from './session.js';

export interface Queued {
  stmt: Stmt;
  /** What the statement is, for messages: `a batch of table "x"` or the statement's first words. */
  what: string;
  bytes: number;
}

export class WritePipeline {
  private queue: Queued[] = [];
  private queuedBytes = 0;
  private readonly inFlight: Promise<void>[] = [];
  private failure: BackupError | null = null;
  /** Forced collections between requests (see the constructor). */
  private readonly memory: ReturnType<typeof createMemoryGovernor>;
  statements = 0;
  batches = 0;
  /**
   * Requests in flight at once. Over Hrana 2 a step cannot be made to run only inside the transaction, so a
   * statement that rolls it back would leave the request sent behind it to run in autocommit: there, one at a time.
   */
  private readonly maxInFlight: number;

  constructor(
    private readonly session: TxSession,
    /** Maps a failed request to the error the load reports. */
    private readonly toError: (e: unknown, what: string) => BackupError,
  ) {
    this.maxInFlight = session.version >= 3 ? remoteTuning.maxInFlight : 1;
    // In JSON the client encodes a request as many small strings: collect them often, or the heap balloons between
    // requests. In Protobuf a request is a few buffers, and collecting as often cost a sixth of the load's CPU: it
    // collects as the rest of a remote restore does.
    this.memory = createMemoryGovernor({ everyBytes: session.version >= 3 ? REMOTE_COLLECT_BYTES : 2 * remoteTuning.requestBytes });
  }

  /** Throws the failure of an earlier request, if any. */
  check(): void {
    if (this.failure) throw this.failure;
  }

  /** Records a failure seen by a direct call on the session (so later calls report it too). */
  fail(e: BackupError): BackupError {
    this.failure ??= e;
    return this.failure;
  }

  async enqueue(item: Queued): Promise<void> {
    this.queue.push(item);
    this.queuedBytes += item.bytes;
    if (this.queuedBytes >= remoteTuning.requestBytes) {
      this.send();
      while (this.inFlight.length >= this.maxInFlight) await this.inFlight[0];
    }
    this.check();
  }

  /** Sends everything queued and waits for every request: afterwards the stream is idle. */
  async drain(): Promise<void> {
    this.check();
    this.send();
    while (this.inFlight.length > 0) await this.inFlight[0];
    this.check();
  }

  /** Drops what is queued and waits for what is in flight (before a rollback). */
  async discard(): Promise<void> {
    this.queue = [];
    this.queuedBytes = 0;
    await Promise.allSettled(this.inFlight);
  }

  /** Sends the queued statements as one request, without waiting for its answer. */
  private send(): void {
    if (this.queue.length === 0) return;
    const items = this.queue;
    this.memory.tick(this.queuedBytes);
    this.queue = [];
    this.queuedBytes = 0;
    this.batches++;
    this.statements += items.length;
    const p = this.session.batch(items.map((i) => i.stmt)).then(
      () => undefined,
      (e: unknown) => {
        const idx = (e as { statementIndex?: number }).statementIndex;
        const what = (typeof idx === 'number' ? items[idx]?.what : undefined) ?? items[0]?.what ?? 'the load';
        this.failure ??= this.toError(e, what);
      },
    );
    this.inFlight.push(p);
    void p.finally(() => {
      const i = this.inFlight.indexOf(p);
      if (i >= 0) this.inFlight.splice(i, 1);
    });
  }
}
