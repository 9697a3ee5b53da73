import { DEFAULT_PAGES, type PageOptions } from '../pages.js';
/**
 * Tuning of the remote (Hrana over HTTP) source and target. One mutable object so tests and the bench can shorten
 * timers without new plumbing through BackupOptions; production code only reads it.
 */
export interface RemoteTuning {
  /** A transaction's stream gets a `SELECT 1` after this long without a request (sqld expires it after ~10 s idle,
   *  Turso documents ~5 s for interactive transactions). 0 disables the keep-alive (tests only). */
  keepAliveMs: number;
  /** Attempts per HTTP request for transient failures (503/502/504/429, resets, timeouts), first one included. */
  maxAttempts: number;
  /** Attempts when the connection cannot even be opened (refused, unreachable): a dead host fails fast. */
  maxConnectAttempts: number;
  /** First backoff delay; doubled per attempt up to maxBackoffMs, with jitter (50–100 % of the delay). */
  baseBackoffMs: number;
  maxBackoffMs: number;
  /** No new attempt starts once this long has passed since the first one (an unreachable host fails in ~30 s). */
  retryBudgetMs: number;
  /** One attempt (request and whole response body) is abandoned after this long and counts as transient. */
  requestTimeoutMs: number;
  /** The same, until the host has answered once: a silent host fails within ~30 s (three attempts). */
  firstContactTimeoutMs: number;
  /** Page sizing for reads over HTTP (see PageOptions): estimated response bytes in sqld's accounting (its limit is
   *  10 MB; a page over it is split). 2 MB: ~140 MB peak RSS for a backup (4 MB: ~175 MB) at the same speed. */
  pageTargetBytes: number;
  pageMaxRows: number;
  pageFirstRows: number;
  /** Estimated JSON bytes per request of restore INSERTs (well under ~8 MB). Measured: 1.5 MB keeps the restore's
   *  peak RSS at ~150 MB (6 MB: ~240 MB, the client encodes a request as many small strings) at the same speed. */
  requestBytes: number;
  /** Requests of one load in flight or queued at once (the stream runs them in order, one HTTP request at a time). */
  maxInFlight: number;
}

export const DEFAULT_REMOTE_TUNING: Readonly<RemoteTuning> = Object.freeze({
  keepAliveMs: 2_000,
  maxAttempts: 6,
  maxConnectAttempts: 3,
  baseBackoffMs: 200,
  maxBackoffMs: 4_000,
  retryBudgetMs: 25_000,
  requestTimeoutMs: 60_000,
  firstContactTimeoutMs: 7_000,
  pageTargetBytes: 2 * 1024 * 1024,
  pageMaxRows: 50_000,
  pageFirstRows: 1_000,
  requestBytes: 1536 * 1024,
  maxInFlight: 2,
});

export const remoteTuning: RemoteTuning = { ...DEFAULT_REMOTE_TUNING };

/** Restores the defaults (tests). */
export function resetRemoteTuning(): void {
  Object.assign(remoteTuning, DEFAULT_REMOTE_TUNING);
}

/** sqld's per-value overhead in its response-size estimate (`{"type":"integer","value":"…"}` and the like). */
export const CELL_OVERHEAD = 30;

/**
 * Page sizing for reads over HTTP: the caller's explicit choices win; our defaults replace the local ones (bigger
 * pages: fewer round trips), and the size estimate counts sqld's per-value JSON overhead.
 */
export function remotePageOptions(requested: PageOptions): PageOptions {
  const pick = <K extends keyof PageOptions>(k: K, remote: PageOptions[K]) => (requested[k] === DEFAULT_PAGES[k] ? remote : requested[k]);
  return {
    maxRows: pick('maxRows', remoteTuning.pageMaxRows),
    targetBytes: pick('targetBytes', remoteTuning.pageTargetBytes),
    firstRows: pick('firstRows', remoteTuning.pageFirstRows),
    cellOverhead: requested.cellOverhead ?? CELL_OVERHEAD,
  };
}
