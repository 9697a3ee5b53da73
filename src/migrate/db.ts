/**
 * What the migration runner needs from a database, and nothing more: the runner is written against this
 * interface, and adapter.ts implements it over today's drivers (better-sqlite3 for `file:`, a Hrana stream over
 * HTTP for remote), so a new database layer only has to provide another adapter.
 */

/** A statement the database refused, in the database's own words. */
export class StatementError extends Error {
  constructor(
    message: string,
    /** The driver's error code (`SQLITE_ERROR`, `SQLITE_CONSTRAINT_UNIQUE`, a Hrana code …). */
    readonly code: string,
  ) {
    super(message);
    this.name = 'StatementError';
  }
}

/** One connection, held for the whole run: connection state (PRAGMA foreign_keys …) carries from one statement to the next, as on Prisma's connection. */
export interface MigrationDb {
  readonly kind: 'file' | 'remote';
  /** The URL without secrets. */
  readonly displayUrl: string;
  /** Runs one statement in autocommit (no implicit transaction); rows it returns are ignored. Throws StatementError. */
  exec(sql: string): Promise<void>;
  /** Runs one statement with arguments; rows as arrays, INTEGER as bigint. Throws StatementError. */
  query(sql: string, args?: readonly unknown[]): Promise<unknown[][]>;
  /** Whether a statement left the connection inside a transaction (a migration's BEGIN without COMMIT). */
  inTransaction(): Promise<boolean>;
  close(): Promise<void>;
  /** `file:` targets only: the engine-level tools the double-quoted-string replay needs (dqs.ts). */
  readonly local?: LocalEngine;
}

/** Engine-level access on a local SQLite connection. */
export interface LocalEngine {
  /** Compiles a statement without running it: the error message SQLite gives, or null. */
  compile(sql: string): string | null;
  /** Runs a statement inside a savepoint that is always rolled back: the error message, or null. */
  trial(sql: string): string | null;
  /** Runs one statement now (synchronously). Throws StatementError. */
  execNow(sql: string): void;
  /** Rows of a query (synchronously). */
  rows(sql: string, args?: readonly unknown[]): unknown[][];
  /** Replaces the stored text of the sqlite_schema row `rowid`; `reload` makes this connection parse it again. */
  setStoredSql(rowid: bigint, sql: string, reload: boolean): void;
  /** A fresh in-memory database of the same engine and settings, to try statements on. */
  scratch(): LocalEngine & { close(): void };
}
