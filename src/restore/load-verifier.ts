/**
 * Verifying a restore while it loads. A target file the restore creates is loaded into a scratch file that becomes
 * the target only after it verified, so the load may commit as it goes; a worker thread follows those commits on a
 * second, read-only connection and re-checksums each table on the second core while the next rows load. The
 * verification is the same as after a one-transaction load (same reader, same encoder, on the restored file),
 * without its ~30 % of the restore's time on the critical path (docs/BENCHMARKS.md).
 */
import type { Worker } from 'node:worker_threads';
import type { ScratchFile } from '../target/types.js';
import { spawnWorker } from '../worker.js';
import type { CommitMessage, StartMessage, VerifierData, VerifierReply } from './checksum-worker.js';
import type { TableChecksum } from './verify-target.js';

export interface LoadVerifier {
  /** Commits the load so far, so the verifier can read on; `complete` names a table whose rows are all loaded. */
  committed(complete?: string): Promise<void>;
  /**
   * Every row is loaded: whatever table the verifier still waits for is complete. (The dump's reader already
   * insists on every table's end line; this makes sure the verifier can never wait for one that did not come.)
   */
  loaded(): Promise<void>;
  /**
   * Every table's checksum on the target, once the writer completed them all, and the foreign key violations
   * (null when the check must wait for the indexes).
   */
  results(): Promise<VerifierResults>;
  stop(): Promise<void>;
}

export type VerifierResults =
  | { tables: Map<string, TableChecksum>; foreignKeys: Record<string, number> | null }
  /** The thread could not finish (it never vouches for rows it did not read): the caller verifies after the load. */
  | { failure: string };

/** The verifying thread, started before it has anything to read. */
export interface VerifierThread {
  worker: Worker;
  /** The first error the thread raised (it failed to start, or failed while it ran). */
  failure: string | null;
  /** Resolved once the thread is gone. */
  exited: Promise<void>;
}

/**
 * Starts the verifying thread ahead of the load: a thread's start (its isolate, its modules) took ~0.1 s, and with
 * the thread started only once the tables existed, that was ~0.1 s more of the restore's last phase, where the
 * load waits for the verifier (docs/BENCHMARKS.md). Started while pass 1 reads the dump, it waits for its
 * StartMessage; whoever starts it terminates it when no load follows.
 */
export function startVerifierThread(): VerifierThread {
  const worker = spawnWorker('restore/checksum-worker', undefined);
  const thread: VerifierThread = { worker, failure: null, exited: new Promise((resolve) => worker.once('exit', () => resolve())) };
  worker.on('error', (e) => (thread.failure ??= e.message));
  return thread;
}

/**
 * Starts verifying `scratch` (its tables' schema is created, uncommitted) as the load commits `tables`' rows, on
 * `thread` (started here when absent).
 */
export async function startLoadVerifier(
  scratch: ScratchFile,
  tables: VerifierData['tables'],
  lockedMs?: number,
  thread: VerifierThread = startVerifierThread(),
): Promise<LoadVerifier> {
  await scratch.checkpoint(); // the worker's connection must see the tables
  await scratch.follow();
  const { worker } = thread;
  worker.postMessage({ start: { path: scratch.path, tables, ...(lockedMs ? { lockedMs } : {}) } } satisfies StartMessage);
  const found = new Map<string, TableChecksum>();
  let foreignKeys: Record<string, number> | null | undefined;
  let failure: string | null = null;
  let gen = 0;
  worker.on('message', (m: VerifierReply) => {
    if ('error' in m) failure ??= m.error;
    else if ('foreignKeys' in m) foreignKeys = m.foreignKeys;
    else found.set(m.table, { rows: m.rows, sha256: m.sha256 });
  });
  // Resolved only once the thread is gone: its connection must be closed before the file is published.
  const done = thread.exited.then((): VerifierResults => {
    failure ??= thread.failure;
    if (!failure && found.size === tables.length && foreignKeys !== undefined) return { tables: found, foreignKeys };
    return { failure: failure ?? 'it stopped before it finished' };
  });
  return {
    async committed(complete) {
      await scratch.checkpoint();
      worker.postMessage({ gen: ++gen, complete } satisfies CommitMessage);
    },
    async loaded() {
      await scratch.rowsLoaded();
      worker.postMessage({ gen: ++gen, all: true } satisfies CommitMessage);
    },
    results: () => done,
    async stop() {
      await worker.terminate();
    },
  };
}
