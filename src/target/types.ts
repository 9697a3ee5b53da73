import type { SqlValue } from '../format/values.js';
import type { PageOptions } from '../source/pages.js';

/**
 * A database being restored into. A load is one transaction on one connection with foreign keys off (the pragma
 * is per connection and ignored inside a transaction, so it is set before BEGIN), so a failure anywhere leaves
 * the target as it was found.
 */
export interface Target {
  readonly kind: 'file' | 'remote';
  /** The URL with credentials removed. */
  readonly displayUrl: string;
  /** Absolute path for file targets; the remote URL without credentials otherwise. */
  readonly identity: string;
  /** Reads (rows as arrays, INTEGER as bigint). */
  query(sql: string, args?: readonly unknown[]): Promise<unknown[][]>;
  /** Runs one statement that returns nothing (DDL, DELETE, PRAGMA). */
  run(sql: string, args?: readonly unknown[]): Promise<void>;
  /** Foreign keys off, then BEGIN: the whole load is one transaction. */
  beginLoad(): Promise<void>;
  /** Inserts rows into `table` (`columns` by name; `rowid`-like names address the hidden rowid). */
  insert(table: string, columns: string[], rows: SqlValue[][]): Promise<void>;
  /** Ends the load; a scratch file (below) then takes the target's name. */
  commit(): Promise<void>;
  rollback(): Promise<void>;
  close(): Promise<void>;
  /** Reading it back for verification: transport-specific page sizing (see Source.pageOptions). */
  pageOptions?(requested: PageOptions): PageOptions;
  /** True when query() returns TEXT exactly (see Source.exactText). */
  readonly exactText?: boolean;
  /**
   * Sets the stored SQL text of a schema object (after it was created from an equivalent rewrite), so the schema
   * reads back exactly as dumped. Absent where the target cannot (a remote server).
   */
  setSchemaSql?(name: string, sql: string): Promise<void>;
  /** What the target could not do (e.g. a pragma a server refuses), for the restore's warnings. */
  readonly notes?: string[];
  /**
   * Present when the target is a scratch file that takes the target's name only once the restore verified (a
   * `file:` target the restore creates). A failure then discards the file, so the load may commit as it goes and
   * a second connection may read what is committed meanwhile.
   */
  readonly scratch?: ScratchFile;
}

export interface ScratchFile {
  /** Where the scratch file is (for a second, read-only connection). */
  readonly path: string;
  /**
   * Commits the load so far and begins its next transaction (foreign keys stay off). The target's final commit()
   * is what moves the file into place (durably), as a plain rollback-journal database.
   */
  checkpoint(): Promise<void>;
}

export interface TargetFactory {
  /** True when the target does not exist yet (a `file:` path with no file). */
  readonly missing: boolean;
  /** What the operator should know before the restore (e.g. files an interrupted restore left behind). */
  readonly notes?: string[];
  /** Opens the target; `create` allows creating a missing file (only a confirmed restore does). */
  open(opts: { create: boolean }): Promise<Target>;
  /** Removes a target this run created (after a refusal or failure). */
  discardCreated(): Promise<void>;
}
