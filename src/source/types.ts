import type { PageOptions } from './pages.js';

/**
 * A database being read for a backup. Rows are arrays in the order of the SELECT list; INTEGER cells are bigint,
 * REAL cells number, TEXT string, BLOB Buffer/ArrayBuffer, NULL null.
 */
export interface Source {
  readonly kind: 'file' | 'remote';
  /** The URL with credentials removed. */
  readonly displayUrl: string;
  /** Opens the read snapshot that every later query sees. */
  beginSnapshot(): Promise<void>;
  /** Runs a read-only query inside the snapshot. */
  query(sql: string, args?: readonly unknown[]): Promise<unknown[][]>;
  /** Ends the snapshot (and, for per-table consistency, lets the next begin a new one). */
  endSnapshot(): Promise<void>;
  close(): Promise<void>;
  /**
   * Remote sources: page sizing for their transport (bigger pages hide round trips; bytes in the server's response
   * accounting). Given the caller's options, returns the ones to use. Absent: the caller's options as they are.
   */
  pageOptions?(requested: PageOptions): PageOptions;
  /** True when query() returns TEXT exactly (non-UTF-8 as TextBytes): no U+FFFD re-read is needed. */
  readonly exactText?: boolean;
}

/**
 * Thrown by a remote source's query() when the server refused to send a result that large (sqld's
 * RESPONSE_TOO_LARGE, ~10 MB): the page is asked again with fewer rows. The snapshot is still usable.
 */
export class PageTooLargeError extends Error {
  constructor(message = 'the response is larger than the server allows') {
    super(message);
    this.name = 'PageTooLargeError';
  }
}
