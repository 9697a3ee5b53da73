/**
 * The one way this project talks to a database. Two backends implement it: better-sqlite3 for `file:` URLs
 * (db/local.ts) and @libsql/hrana-client over HTTP (db/remote.ts). Everything above this layer (backup, restore, migrate,
 * media, drill) is written against this interface and never imports a driver.
 *
 * One `Db` is one connection (locally) or one client with at most one open server-side stream (remotely), so a
 * transaction is a state of the handle: `beginRead`/`endRead` hold a read snapshot, `beginWrite`/`commit`/`rollback`
 * a write transaction; every query in between runs inside it.
 */
import type { SchemaObject } from '../format/lines.js';
import type { SqlValue } from '../format/values.js';
import type { PageOptions } from './pages.js';

/**
 * A result row, exact: INTEGER → bigint, REAL → number, TEXT → string (or TextBytes where the backend can tell the
 * text is not UTF-8), BLOB → Buffer, NULL → null. Cells are in the order of the select list.
 */
export type Row = unknown[];

export interface WriteOptions {
  /** PRAGMA foreign_keys for the transaction, set before BEGIN (the pragma is per connection, ignored inside one). */
  foreignKeys?: boolean;
  /**
   * False: CHECK constraints are not enforced while the transaction's rows arrive (`PRAGMA ignore_check_constraints`).
   * A source may hold rows its CHECKs refuse (written under that pragma, or before the CHECK was edited into the
   * schema): a restore brings them back as they are, as it does rows whose foreign keys dangle. Local files only:
   * sqld refuses the pragma (libsql-server query_analysis.rs), so over HTTP such a row fails the load, rolled back.
   */
  checkConstraints?: boolean;
}

export interface Db {
  readonly kind: 'file' | 'remote';
  /** The URL with credentials removed: safe for messages and the dump's header. */
  readonly displayUrl: string;
  /** The absolute path of a file, or the redacted URL: what "the same database" compares. */
  readonly identity: string;
  /** True when query() returns TEXT exactly; otherwise a cell decoded lossily (U+FFFD) must be re-read as bytes. */
  readonly exactText: boolean;
  /** What this server could not do as asked (e.g. a pragma it refuses), for the operator's warnings. */
  readonly notes: string[];

  /** Runs a query, inside the open transaction if there is one. */
  query(sql: string, args?: readonly unknown[]): Promise<Row[]>;
  /** Runs one statement now and returns the rows it changed. */
  run(sql: string, args?: readonly unknown[]): Promise<number>;
  /** Runs statements in order (over HTTP in one request) and returns the rows they changed in all. */
  runBatch(statements: readonly { sql: string; args?: readonly unknown[] }[]): Promise<number>;
  /** Runs a script of several statements without arguments. */
  exec(script: string): Promise<void>;

  /** Opens a read snapshot: every later query sees the database as it was now, until endRead(). */
  beginRead(): Promise<void>;
  endRead(): Promise<void>;

  /** Opens a write transaction holding the write lock (BEGIN IMMEDIATE). */
  beginWrite(opts?: WriteOptions): Promise<void>;
  /**
   * Inside a write transaction: a statement whose failure may surface at the next call instead (over HTTP such
   * statements are pipelined); any failure ends in a rollback, so reporting it one call late changes nothing.
   */
  write(sql: string, args?: readonly unknown[]): Promise<void>;
  /**
   * Inside a write transaction: every row of `table` deleted (a restore's `--clean`). Locally the table may be an
   * application's own whose name SQLite takes for a shadow table's, which only this (and insert) may write.
   */
  clear(table: string): Promise<void>;
  /** Inside a write transaction: rows into `table` (`columns` by name; a `rowid`-like name addresses the rowid). */
  insert(table: string, columns: string[], rows: SqlValue[][]): Promise<void>;
  /**
   * Local only: insert() without an array per row: `rows` rows of `columns.length` values each, one after the other
   * in `values` (which the caller reuses once this returns). A call of `insertRows` rows is one statement.
   */
  insertFlat?(table: string, columns: string[], values: SqlValue[], rows: number): Promise<void>;
  /**
   * The rows one insert() or insertFlat() call takes best: one statement's worth (64 locally, 512 over HTTP). A
   * restore's batches hold no more, so that their decoded values die young: over HTTP, batches of 2048 rows outlived
   * a scavenge and were copied (scavenges 304-432 ms against 186-217 ms on the 200k-row events restore,
   * docs/BENCHMARKS.md "Remote", session 19).
   */
  readonly insertRows: number;
  commit(): Promise<void>;
  rollback(): Promise<void>;
  readonly inTransaction: boolean;

  /**
   * Local only: commits the write transaction so far and begins the next one (foreign keys stay as they were), so
   * that a second connection can read what is committed.
   */
  checkpoint?(): Promise<void>;
  /**
   * Local only: sets the stored SQL text of a schema object, so a schema created from an equivalent rewrite reads
   * back exactly as written.
   */
  setSchemaSql?(name: string, sql: string): Promise<void>;

  /**
   * Local only: runs schema SQL creating an object whose name SQLite reserves (`sqlite_…`, or a virtual table's
   * shadow table's), with defensive mode off and writable_schema on, as its application made it.
   */
  createReserved?(sql: string): Promise<void>;

  /**
   * Local only: creates `objects` (tables and indexes, in order) in a new, empty in-memory database and returns
   * those SQLite refused, with its words: what a restore into SQLite will not be able to create either.
   */
  rehearseSchema?(objects: readonly SchemaObject[]): Promise<{ object: SchemaObject; error: string }[]>;

  /**
   * Local only: the stored size in bytes of `table`'s largest row (SQLite's payload), read from the file's pages
   * without reading the rows; null for an empty table, or when SQLite cannot tell. Keyset pages are sized by it
   * (db/pages.ts PageOptions).
   */
  largestRow?(table: string): Promise<number | null>;

  /** Page sizing for keyset reads over this transport, given the caller's (see db/pages.ts). */
  pageOptions(requested: PageOptions): PageOptions;
  /** True when SQLite on this database can write the dump's encoding itself (db/encode.ts; probed once). */
  encodesInSql(): Promise<boolean>;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Read-only access (a backup): never creates, never changes the file. */
  readonly?: boolean;
  /** Allows creating a `file:` database that does not exist yet (a confirmed migration or restore). */
  create?: boolean;
  /** SQLite's page cache for this connection, in KiB (local only). */
  cacheKiB?: number;
  /**
   * How long a local connection waits for another connection's lock (default 10 s). 0: a locked file fails at once
   * with SQLITE_BUSY, for a caller that knows when to try again.
   */
  busyTimeoutMs?: number;
  /** The token for a remote database (never on a command line). */
  authToken?: string;
  /**
   * Ends the handle's work: every later call fails with INTERRUPTED, and a remote request in flight is cancelled (a
   * local statement, which SQLite runs synchronously, finishes first). The caller rolls back as on any failure.
   */
  signal?: AbortSignal;
}
