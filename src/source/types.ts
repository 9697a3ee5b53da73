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
}
