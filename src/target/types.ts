import type { Db } from '../db/types.js';

/**
 * A database being restored into. The load is one write transaction on one connection with foreign keys off, so a
 * failure anywhere leaves the target as it was found — or, for a `file:` target the restore creates, a scratch file
 * that only takes the target's name once everything verified.
 */
export interface Target {
  /** The connection the load runs on. */
  readonly db: Db;
  /** What the operator sees: the target's URL without credentials (the final path for a scratch file). */
  readonly displayUrl: string;
  /** Absolute path for file targets; the remote URL without credentials otherwise. */
  readonly identity: string;
  /** Present when the load goes to a scratch file (see ScratchFile). */
  readonly scratch?: ScratchFile;
  /**
   * Foreign keys off, then the write transaction: the whole load is one transaction. A file the restore creates
   * takes the source's `pageSize` first (a physical setting the dump records; an existing database keeps its own).
   */
  beginLoad(opts?: { pageSize?: number; autoVacuum?: number; encoding?: string; journalMode?: 'wal' }): Promise<void>;
  /** Ends the load; a scratch file then takes the target's name, durably. */
  commit(): Promise<void>;
  rollback(): Promise<void>;
  close(): Promise<void>;
}

/**
 * A `file:` target the restore creates is loaded into a scratch file beside it. A failure discards the file, so the
 * load may commit as it goes and a second connection may read what is committed meanwhile.
 */
export interface ScratchFile {
  /** Where the scratch file is (for a second, read-only connection). */
  readonly path: string;
  /** Commits the load so far and begins its next transaction (foreign keys stay off). */
  checkpoint(): Promise<void>;
  /** A reader follows the rows' commits from now on (each transaction is kept whole until its commit). */
  follow(): Promise<void>;
  /** Every row is committed: what follows (indexes, triggers) is written without locking the reader out. */
  rowsLoaded(): Promise<void>;
}

export interface TargetFactory {
  /** True when the target does not exist yet (a `file:` path with no file). */
  readonly missing: boolean;
  /** The target as the operator sees it, before it is opened (a dry run never opens a missing file). */
  readonly displayUrl?: string;
  /** What the operator should know before the restore (e.g. files an interrupted restore left behind). */
  readonly notes?: string[];
  /** Opens the target; `create` allows creating a missing file (only a confirmed restore does). */
  open(opts: { create: boolean }): Promise<Target>;
  /** Removes a target this run created (after a refusal or failure). */
  discardCreated(): Promise<void>;
}
