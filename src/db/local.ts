/**
 * The `file:` backend: better-sqlite3, rows as arrays, INTEGER as bigint, prepared statements cached.
 * better-sqlite3 rather than `libsql` because it reads TEXT exactly (libsql truncates at NUL and aborts the process
 * on invalid UTF-8) and is ~1.6× faster here: see docs/DESIGN.md.
 */
import Database from 'better-sqlite3';
import { closeSync, existsSync, openSync, readSync, type Stats, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { BackupError } from '../errors.js';
import type { SchemaObject } from '../format/lines.js';
import { rowsOf } from '../format/rows.js';
import { TextBytes, type SqlValue } from '../format/values.js';
import { probeSqlEncoding, type PageOptions } from './pages.js';
import type { Db, OpenOptions, Row, WriteOptions } from './types.js';
import { foldName, ownedShadows, tableList } from './schema.js';
import { q } from './url.js';

type Stmt = Database.Statement<unknown[], unknown>;

/** Rows per multi-row INSERT: fewer statement executions. */
const ROWS_PER_STATEMENT = 64;
/** SQLite's SQLITE_MAX_VARIABLE_NUMBER (3.32+): a statement of a table with more than 511 columns holds fewer rows. */
const MAX_VARIABLES = 32766;
const rowsPerStatement = (width: number) => Math.max(1, Math.min(ROWS_PER_STATEMENT, Math.floor(MAX_VARIABLES / Math.max(1, width))));

/**
 * The columns of a flat batch that hold TEXT as bytes (TextBytes), to be inserted as `CAST(? AS TEXT)`: null when
 * none does; false when such a column also holds an INTEGER, a REAL or a BLOB, which the cast would turn into TEXT
 * (the rows then go as insert() takes them). A string or NULL is the same after the cast.
 */
function castColumns(values: readonly SqlValue[], width: number): boolean[] | null | false {
  let cast: boolean[] | null = null;
  for (let i = 0; i < values.length; i++) {
    if (!(values[i] instanceof TextBytes)) continue;
    cast ??= new Array<boolean>(width).fill(false);
    cast[i % width] = true;
  }
  if (cast === null) return null;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (cast[i % width] && v !== null && typeof v !== 'string' && !(v instanceof TextBytes)) return false;
  }
  return cast;
}

/** SQLITE_BUSY / SQLITE_LOCKED and their extended codes: another connection held the file past the busy timeout. */
const isBusy = (code: string) => /^SQLITE_(BUSY|LOCKED)/.test(code);

/**
 * Why a file could not be opened, in the operator's terms: locked, not creatable, left for a writer to recover
 * (a hot journal), in WAL mode where its -shm file cannot be made, or not a database.
 */
function openFailure(path: string, e: Error & { code?: string }, create: boolean): BackupError {
  const code = e.code ?? '';
  if (isBusy(code)) {
    return new BackupError('REFUSED', `${path} is locked by another connection that is writing to it (waited 10 s): try again when it is done`, {
      cause: e,
    });
  }
  if (create && code.startsWith('SQLITE_CANTOPEN')) {
    return new BackupError('REFUSED', `cannot open or create ${path}: ${e.message} (is ${dirname(path)} writable?)`, { cause: e });
  }
  // A read-only connection cannot roll back a crashed writer's journal, nor create a WAL database's -shm file.
  const readonly = code.startsWith('SQLITE_READONLY');
  // The header's write version (byte 18) is 2 in WAL mode; a file that cannot be read is not taken for one.
  const walHeader = () => {
    try {
      const fd = openSync(path, 'r');
      try {
        const b = Buffer.alloc(1);
        return readSync(fd, b, 0, 1, 18) === 1 && b[0] === 2;
      } finally {
        closeSync(fd);
      }
    } catch {
      return false;
    }
  };
  if (readonly && existsSync(`${path}-journal`)) {
    return new BackupError(
      'REFUSED',
      `${path} has a hot journal (its -journal file: a writer stopped mid-transaction) that a writer must roll back first: open it once as a user who can write it and its directory, e.g. \`sqlite3 '${path}' 'SELECT 1'\`, then try again`,
      { cause: e },
    );
  }
  if (readonly && !existsSync(`${path}-shm`) && walHeader()) {
    return new BackupError(
      'REFUSED',
      `${path} is in WAL mode, which needs write access to ${dirname(path)} for its -shm file even to read it: run as a user who can write there, or back up a copy`,
      { cause: e },
    );
  }
  return new BackupError('NOT_FOUND', `${path} is not a readable SQLite/libSQL database: ${e.message}`, { cause: e });
}

/**
 * SQLite's error for a collation its application registers when it opens the file (Anki's `unicase`, say): no other
 * program has it, so nothing that orders or indexes by it can be read or built here. Refused by name, not guessed.
 */
function appCollationError(e: unknown): BackupError | null {
  const m = /no such collation sequence: (.+)$/.exec((e as Error)?.message ?? '');
  if (!m) return null;
  return new BackupError(
    'UNSUPPORTED',
    `the database uses the collation "${m[1]}", which its application defines when it opens the file and SQLite does not have here: what is ordered or indexed by it cannot be read in key order or rebuilt`,
    { cause: e },
  );
}

/**
 * SQLite's failures that are about the file, in the operator's terms (a BackupError), or null for any other error:
 * a damaged file (found mid-read: opening it succeeded), and a collation only its application has.
 */
export function sqliteFailure(e: unknown, path: string): BackupError | null {
  if (e instanceof BackupError) return null;
  const code = (e as { code?: unknown })?.code;
  if (typeof code === 'string' && (code.startsWith('SQLITE_CORRUPT') || code === 'SQLITE_NOTADB')) {
    return new BackupError(
      'CORRUPT',
      `${path} is damaged (SQLite: ${(e as Error).message}): \`sqlite3 '${path}' 'PRAGMA integrity_check'\` shows where; recover it (sqlite3's .recover) or use a good copy`,
      { cause: e },
    );
  }
  return appCollationError(e);
}

/** Opens `path`; a missing file is NOT_FOUND unless `create` (read-only never creates). */
export function openLocalDb(path: string, opts: OpenOptions = {}): LocalDb {
  let stat: Stats | undefined;
  try {
    stat = statSync(path);
  } catch (e) {
    // existsSync says false for a file the user may not reach as well: permission denied is not a missing file.
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw new BackupError('NOT_FOUND', `cannot read ${path}: permission denied`);
  }
  if (!stat && (opts.readonly || !opts.create)) {
    throw new BackupError('NOT_FOUND', `database file ${path} does not exist${opts.readonly ? ' (a backup never creates a database)' : ''}`);
  }
  if (stat && !stat.isFile()) throw new BackupError('NOT_FOUND', `${path} is not a database file`);
  let db: Database.Database | undefined;
  try {
    db = new Database(path, { readonly: opts.readonly ?? false, fileMustExist: !opts.create });
    db.pragma(`busy_timeout = ${Math.max(0, Math.floor(opts.busyTimeoutMs ?? 10_000))}`);
    if (opts.cacheKiB) db.pragma(`cache_size = -${Math.floor(opts.cacheKiB)}`);
    db.prepare('SELECT count(*) FROM sqlite_schema').get();
  } catch (e) {
    db?.close(); // a caller may try again (a locked file): no connection is left open meanwhile
    throw openFailure(path, e as Error & { code?: string }, opts.create === true);
  }
  return new LocalDb(db, path, opts.signal);
}

/** A `Db` over one better-sqlite3 connection. */
export class LocalDb implements Db {
  readonly kind = 'file' as const;
  readonly exactText = false;
  readonly notes: string[] = [];
  readonly displayUrl: string;
  private readonly statements = new Map<string, Stmt>();
  private readonly inserts = new Map<string, Stmt>();
  /** Per table: an application's own table SQLite takes for a shadow table by its name (writingTo). */
  private readonly shadowNamed = new Map<string, boolean>();
  /** All such tables (folded names), as of one version of the schema (appShadowNamed). */
  private shadowNamedTables: { version: string; names: Set<string> } | null = null;
  private encoding: Promise<boolean> | null = null;

  constructor(
    /** The connection itself, for what only a local file can do (publishing a scratch file). */
    readonly handle: Database.Database,
    readonly identity: string,
    private readonly signal?: AbortSignal,
  ) {
    this.displayUrl = `file:${identity}`;
  }

  /** Runs `f`, turning SQLite's failures that are about the file into their BackupError (sqliteFailure). */
  private sqlite<T>(f: () => T): T {
    try {
      return f();
    } catch (e) {
      throw sqliteFailure(e, this.identity) ?? e;
    }
  }

  /** Before each call: an aborted run stops here (SQLite cannot be interrupted in the middle of a statement). */
  private guard(): void {
    if (this.signal?.aborted) throw new BackupError('INTERRUPTED', 'interrupted');
  }

  get inTransaction(): boolean {
    return this.handle.inTransaction;
  }

  /** A cached statement; readers return raw rows with bigint integers (the one place this is set up). */
  prepare(sql: string): Stmt {
    let st = this.statements.get(sql);
    if (!st) {
      st = this.sqlite(() => this.handle.prepare(sql) as Stmt);
      if (st.reader) st.raw(true).safeIntegers(true);
      this.statements.set(sql, st);
    }
    return st;
  }

  async query(sql: string, args: readonly unknown[] = []): Promise<Row[]> {
    this.guard();
    const st = this.prepare(sql);
    return this.sqlite(() => {
      if (st.reader) return st.all(...(args as unknown[])) as Row[];
      st.run(...(args as unknown[]));
      return [];
    });
  }

  async run(sql: string, args: readonly unknown[] = []): Promise<number> {
    this.guard();
    if (args.length === 0 && !/^\s*(select|with|values)\b/i.test(sql)) {
      // exec() runs the statement text as it is (several statements, pragmas); changes are counted around it.
      const before = this.handle.prepare('SELECT total_changes()').pluck().get() as number;
      this.sqlite(() => this.handle.exec(sql));
      return (this.handle.prepare('SELECT total_changes()').pluck().get() as number) - before;
    }
    return this.sqlite(() => this.handle.prepare(sql).run(...(args as unknown[])).changes);
  }

  async runBatch(statements: readonly { sql: string; args?: readonly unknown[] }[]): Promise<number> {
    this.guard();
    let n = 0;
    for (const s of statements) n += this.prepare(s.sql).run(...((s.args ?? []) as unknown[])).changes;
    return n;
  }

  async exec(script: string): Promise<void> {
    this.sqlite(() => this.handle.exec(script));
  }

  async beginRead(): Promise<void> {
    this.handle.exec('BEGIN');
    // A deferred BEGIN takes its snapshot at the first read: take it now.
    this.handle.prepare('SELECT count(*) FROM sqlite_schema').get();
  }

  async endRead(): Promise<void> {
    if (this.handle.inTransaction) this.handle.exec('COMMIT');
  }

  async beginWrite(opts: WriteOptions = {}): Promise<void> {
    // The schema may have changed since (and a rolled-back DDL's schema version may come again with another schema).
    this.shadowNamed.clear();
    this.shadowNamedTables = null;
    if (opts.foreignKeys !== undefined) this.handle.pragma(`foreign_keys = ${opts.foreignKeys ? 'ON' : 'OFF'}`);
    if (opts.checkConstraints === false) this.handle.pragma('ignore_check_constraints = ON');
    try {
      this.handle.exec('BEGIN IMMEDIATE');
    } catch (e) {
      // Another writer held the file for the whole busy timeout: said as at open, nothing written.
      throw isBusy((e as { code?: string }).code ?? '') ? openFailure(this.identity, e as Error, false) : e;
    }
  }

  async write(sql: string, args: readonly unknown[] = []): Promise<void> {
    await this.run(sql, args);
  }

  async clear(table: string): Promise<void> {
    await this.writingTo(table, () => {
      this.guard();
      this.handle.prepare(`DELETE FROM ${q(table)}`).run();
    });
  }

  async insert(table: string, columns: string[], rows: SqlValue[][]): Promise<void> {
    // The load's path, known not to need defensive mode off: no second promise per statement.
    if (this.shadowNamed.get(table) === false) this.insertNow(table, columns, rows);
    else await this.writingTo(table, () => this.insertNow(table, columns, rows));
  }

  private insertNow(table: string, columns: string[], rows: SqlValue[][]): void {
    this.guard();
    // Rows holding TEXT as bytes need CAST(? AS TEXT) in a statement of their own here: non-UTF-8 TEXT is rare, and
    // insertFlat takes the load's long strings in its multi-row statements.
    let start = 0;
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      if (!row.some((v) => v instanceof TextBytes)) continue;
      this.insertPlain(table, columns, rows, start, i);
      const cast = row.map((v) => v instanceof TextBytes);
      this.insertStatement(table, columns, 1, cast).run(row.map((v) => (v instanceof TextBytes ? v.bytes : v)));
      start = i + 1;
    }
    this.insertPlain(table, columns, rows, start, rows.length);
  }

  readonly insertRows = ROWS_PER_STATEMENT;

  async insertFlat(table: string, columns: string[], values: SqlValue[], rows: number): Promise<void> {
    if (this.shadowNamed.get(table) === false) this.insertFlatNow(table, columns, values, rows);
    else await this.writingTo(table, () => this.insertFlatNow(table, columns, values, rows));
  }

  /**
   * Runs `insert` (or a clear) into `table`, with SQLite's defensive mode off when the table is an application's own whose name
   * SQLite takes for a virtual table's shadow table (`docs_fts_content` beside an external-content FTS5 `docs_fts`:
   * schema.ts ownedShadows). Defensive mode refuses writes to any table so named; only these inserts go without it.
   */
  private async writingTo(table: string, insert: () => void): Promise<void> {
    let named = this.shadowNamed.get(table);
    if (named === undefined) {
      // By name as SQLite resolves it: a migrated target may spell the table in other letter case than the dump.
      named = (await this.appShadowNamed()).has(foldName(table));
      this.shadowNamed.set(table, named);
    }
    if (!named) return insert();
    this.handle.unsafeMode(true);
    try {
      insert();
    } finally {
      this.handle.unsafeMode(false);
    }
  }

  /**
   * The application's tables SQLite takes for shadow tables by their name (folded), read from the whole schema once
   * per version of it, not once per table: each read walks every table, and a restore of many tables (its first
   * insert into each) was quadratic in them. SQLite changes the schema version with every CREATE, DROP and ALTER,
   * inside this transaction too, so tables created since the last read (a restore creates its tables) are seen.
   */
  private async appShadowNamed(): Promise<Set<string>> {
    const version = String((await this.query('PRAGMA schema_version'))[0]?.[0]);
    if (this.shadowNamedTables?.version === version) return this.shadowNamedTables.names;
    const list = await tableList(this);
    const listed = list.filter((t) => t.type === 'shadow');
    // Only a schema with tables so named needs its virtual tables made again (ownedShadows).
    const owned = listed.length > 0 ? await ownedShadows(list, await this.query('SELECT type, name, tbl_name, sql FROM sqlite_schema')) : new Set<string>();
    const names = new Set(listed.filter((t) => !owned.has(t.name)).map((t) => foldName(t.name)));
    this.shadowNamedTables = { version, names };
    return names;
  }

  private insertFlatNow(table: string, columns: string[], values: SqlValue[], rows: number): void {
    this.guard();
    if (rows === rowsPerStatement(columns.length) && values.length === rows * columns.length) {
      const cast = castColumns(values, columns.length);
      if (cast === null) {
        this.insertStatement(table, columns, rows, null).run(values);
        return;
      }
      if (cast) {
        this.insertStatement(table, columns, rows, cast).run(values.map((v) => (v instanceof TextBytes ? v.bytes : v)));
        return;
      }
    }
    this.insertNow(table, columns, rowsOf(values, rows, columns.length));
  }

  /** rows[from, to) in statements of rowsPerStatement() rows, the rest one by one. */
  private insertPlain(table: string, columns: string[], rows: SqlValue[][], from: number, to: number): void {
    let i = from;
    const per = rowsPerStatement(columns.length);
    if (to - i >= per) {
      const st = this.insertStatement(table, columns, per, null);
      const args = new Array<SqlValue>(per * columns.length);
      for (; i + per <= to; i += per) {
        let k = 0;
        for (let r = i; r < i + per; r++) for (const v of rows[r]!) args[k++] = v;
        st.run(args);
      }
    }
    if (i < to) {
      const one = this.insertStatement(table, columns, 1, null);
      for (; i < to; i++) one.run(rows[i]!);
    }
  }

  private insertStatement(table: string, columns: string[], rows: number, castText: boolean[] | null): Stmt {
    const key = `${table}\u0000${columns.join('\u0000')}\u0000${rows}\u0000${castText?.join(',') ?? ''}`;
    let st = this.inserts.get(key);
    if (!st) {
      const one = `(${columns.map((_, i) => (castText?.[i] ? 'CAST(? AS TEXT)' : '?')).join(', ')})`;
      st = this.handle.prepare(`INSERT INTO ${q(table)} (${columns.map(q).join(', ')}) VALUES ${Array(rows).fill(one).join(', ')}`) as Stmt;
      this.inserts.set(key, st);
    }
    return st;
  }

  async commit(): Promise<void> {
    this.guard();
    this.handle.exec('COMMIT');
    this.handle.pragma('foreign_keys = ON');
    this.handle.pragma('ignore_check_constraints = OFF');
  }

  async rollback(): Promise<void> {
    this.shadowNamedTables = null; // the schema version of a rolled-back DDL may come again with another schema
    if (this.handle.inTransaction) this.handle.exec('ROLLBACK');
    this.handle.pragma('foreign_keys = ON');
    this.handle.pragma('ignore_check_constraints = OFF');
  }

  async checkpoint(between?: () => Promise<void>): Promise<void> {
    this.handle.exec('COMMIT');
    await between?.();
    this.handle.exec('BEGIN IMMEDIATE');
  }

  async setSchemaSql(name: string, sql: string): Promise<void> {
    // writable_schema needs better-sqlite3's unsafe mode; only the text changes, the object stays as created.
    this.handle.unsafeMode(true);
    try {
      this.handle.pragma('writable_schema = ON');
      this.handle.prepare('UPDATE sqlite_schema SET sql = ? WHERE name = ?').run(sql, name);
      this.handle.pragma('writable_schema = OFF');
    } finally {
      this.handle.unsafeMode(false);
    }
  }

  async createReserved(sql: string): Promise<void> {
    this.guard();
    // SQLite skips its reserved-name checks only with writable_schema on and defensive mode (unsafe mode) off.
    this.handle.unsafeMode(true);
    try {
      this.handle.pragma('writable_schema = ON');
      try {
        this.handle.exec(sql);
      } finally {
        this.handle.pragma('writable_schema = OFF');
      }
    } finally {
      this.handle.unsafeMode(false);
    }
  }

  async largestRow(table: string): Promise<number | null> {
    try {
      // dbstat walks the table's pages (overflow chains included) in C: ~0.2 s for 300 MB, no row decoded.
      const [r] = this.handle.prepare('SELECT max(mx_payload) FROM dbstat WHERE name = ? AND aggregate = TRUE').raw().all(table) as Row[];
      const n = Number(r?.[0]);
      return Number.isFinite(n) && n > 0 ? n : null;
    } catch {
      // A SQLite without the dbstat table: pages are sized from the rows seen, as before.
      return null;
    }
  }

  pageOptions(requested: PageOptions): PageOptions {
    return requested;
  }

  encodesInSql(): Promise<boolean> {
    // Not kept when it failed (a locked file): the next call asks again.
    this.encoding ??= probeSqlEncoding(this).catch((e: unknown) => {
      this.encoding = null;
      throw e;
    });
    return this.encoding;
  }

  async rehearseSchema(objects: readonly SchemaObject[]): Promise<{ object: SchemaObject; error: string }[]> {
    const scratch = new Database(':memory:');
    try {
      const refused: { object: SchemaObject; error: string }[] = [];
      for (const object of objects) {
        try {
          scratch.exec(object.sql);
        } catch (e) {
          refused.push({ object, error: (e as Error).message });
        }
      }
      return refused;
    } finally {
      scratch.close();
    }
  }

  async close(): Promise<void> {
    if (!this.handle.open) return;
    try {
      if (this.handle.inTransaction) this.handle.exec('ROLLBACK');
    } finally {
      // Closed even when the ROLLBACK fails (an I/O error): the next connection rolls a hot journal back.
      this.handle.close();
    }
  }
}
