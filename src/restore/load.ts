/**
 * The load (pass 2), inside the target's write transaction with foreign keys off: the schema first on an empty
 * target (tables only, so no trigger exists while rows arrive), the rows as batched inserts with their exact storage
 * class, AUTOINCREMENT counters, rebuilt FTS indexes, then indexes, views and triggers. A migrated target's own
 * triggers are dropped first and re-created last (DDL is transactional in SQLite), so none fires during the load.
 */
import type { Db } from '../db/types.js';
import { q } from '../db/url.js';
import { BackupError } from '../errors.js';
import type { HeaderLine } from '../format/lines.js';
import { decodeRows, RowDecoder, rowsOf, TextArena } from '../format/rows.js';
import { integerColumns, tablesByName } from '../db/schema.js';
import { encodeCell, type SqlValue } from '../format/values.js';
import { schemaReplayer } from './ddl.js';
import type { RestoreInput } from './inputs/types.js';
import { loads, type PlannedTable, type RestorePlan } from './plan.js';
import type { TargetState } from './target-state.js';
import { trace } from '../trace.js';
import { passMemory } from '../memory.js';

/** The byte budget that closes a batch before its `db.insertRows` rows (wide rows, big blobs). */
const BATCH_BYTES = 4 * 1024 * 1024;
/** A scratch target commits about this often while it loads, so its verifier can read on. */
const COMMIT_BYTES = 2 * 1024 * 1024;

export interface LoadContext {
  db: Db;
  input: RestoreInput;
  header: HeaderLine;
  plan: RestorePlan;
  state: TargetState;
  warnings: string[];
  signal?: AbortSignal;
  onProgress?: (p: { table: string; rows: number; totalRows: number }) => void;
  /** A scratch target's verifier: called every COMMIT_BYTES and at each table's end (`complete`). */
  committed?: (complete?: string) => Promise<void>;
  /** Called once the tables exist and before the first row (a verifier starts following the load here). */
  beforeRows?: () => Promise<void>;
  /** Called once every row is loaded. */
  afterRows?: () => Promise<void>;
}

const interrupted = () => new BackupError('INTERRUPTED', 'restore interrupted: rolled back, the target is as it was found');
const isReplayable = (sql: string) => !/^\s*create\s+table\s+(if\s+not\s+exists\s+)?["'`[]?sqlite_/i.test(sql);

/** Everything of pass 2 up to (not including) the target's verification and commit. */
export async function loadTarget(ctx: LoadContext): Promise<void> {
  const { db, header, plan } = ctx;
  const triggers = plan.path === 'migrated' ? ctx.state.triggers : [];
  const replay = schemaReplayer(db, plan.path === 'empty' ? header : null, ctx.warnings);
  for (const t of triggers) await db.write(`DROP TRIGGER ${q(t.name)}`);
  for (const name of plan.clear) await db.clear(name);
  const restored = new Set(plan.tables.map((t) => t.info.name));
  if (plan.path === 'empty') {
    for (const o of header.schema) if (o.type === 'table' && restored.has(o.name) && isReplayable(o.sql)) await replay(o.name, o.sql);
  }
  await ctx.beforeRows?.();
  const sequence = await loadRows(ctx);
  trace('restore: rows loaded');
  await ctx.afterRows?.();
  await restoreSequence(ctx, sequence);
  if (plan.path === 'empty') {
    // Indexes and triggers of the restored tables; views, and the INSTEAD OF triggers on them.
    const views = new Set(header.schema.filter((o) => o.type === 'view').map((o) => o.name));
    for (const o of header.schema) {
      if (o.type === 'table' || (o.type !== 'view' && !restored.has(o.tbl_name) && !views.has(o.tbl_name))) continue;
      await replay(o.name, o.sql);
    }
    trace('restore: indexes, views, triggers');
    // Even when 0: an empty target may have had its own set (a file made by `sqlite3` with pragmas, no tables).
    if (header.sqlite.userVersion !== undefined) await db.write(`PRAGMA user_version = ${Number(header.sqlite.userVersion)}`);
    if (header.sqlite.applicationId !== undefined) await db.write(`PRAGMA application_id = ${Number(header.sqlite.applicationId)}`);
  }
  // After the views: an external-content index may read a view. Rebuilding writes only the index's own tables.
  for (const t of plan.tables) if (t.action === 'rebuild') await db.write(`INSERT INTO ${q(t.info.name)} (${q(t.info.name)}) VALUES ('rebuild')`);
  for (const t of triggers) await replay(t.name, t.sql);
}

/**
 * Rows being gathered for one insert call into the current table, flat (no array per row): a local target takes
 * them one multi-row statement at a time, so only that many rows are ever alive (the rest is garbage at once, and
 * cheap to collect); a remote one a request's worth.
 */
class Batcher {
  private values: SqlValue[] = [];
  private rows = 0;
  private readonly maxRows: number;
  bytes = 0;
  uncommitted = 0;
  done = 0;
  /** `arena`: where long strings go as bytes (format/rows.ts TextArena), for a target that takes them so. */
  constructor(
    private readonly ctx: LoadContext,
    private readonly total: number,
    private readonly arena: TextArena | null,
  ) {
    this.maxRows = ctx.db.insertRows;
  }

  /** Decodes the row lines `bytes` into the batch, inserting it each time it is full. */
  async add(bytes: Buffer, plainIntegers: boolean[], table: PlannedTable, columns: string[]): Promise<void> {
    // Counted per event: a batch closes by bytes at most one event late (an event is at most ~1 MiB of lines).
    this.bytes += bytes.length;
    const rows = new RowDecoder(bytes, plainIntegers, this.arena);
    const width = columns.length;
    for (;;) {
      let n: number;
      try {
        n = rows.nextInto(this.values, this.rows * width);
      } catch (e) {
        throw new BackupError('CORRUPT', `table "${table.info.name}": ${(e as Error).message.split('\n')[0]}`);
      }
      if (n < 0) return;
      if (n !== width) throw new BackupError('CORRUPT', `table "${table.info.name}": a row of ${n} values in the dump, for ${width} columns`);
      if (++this.rows >= this.maxRows || this.bytes >= BATCH_BYTES) await this.flush(table, columns);
    }
  }

  async flush(table: PlannedTable, columns: string[]): Promise<void> {
    if (this.rows === 0) return;
    const { db } = this.ctx;
    const width = columns.length;
    this.values.length = this.rows * width; // a last, shorter batch: no values of the one before
    try {
      if (db.insertFlat) await db.insertFlat(table.info.name, columns, this.values, this.rows);
      else await db.insert(table.info.name, columns, rowsOf(this.values, this.rows, width));
    } catch (e) {
      if (e instanceof BackupError) throw e;
      throw new BackupError('CONSTRAINT', `table "${table.info.name}": ${(e as Error).message}; the restore was rolled back and the target is as it was`);
    }
    this.arena?.reset();
    this.done += this.rows;
    this.ctx.onProgress?.({ table: table.info.name, rows: this.done, totalRows: this.total });
    this.uncommitted += this.bytes;
    this.rows = 0;
    this.bytes = 0;
    if (this.ctx.committed && this.uncommitted >= COMMIT_BYTES) {
      await this.ctx.committed();
      this.uncommitted = 0;
    }
  }
}

/**
 * Whether long strings may go to the target as bytes: a local one (insertFlat, which casts them in SQL) whose text
 * is UTF-8. `CAST(? AS TEXT)` reads the bytes in the database's encoding, and a local file may be UTF-16.
 */
async function takesTextBytes(db: Db): Promise<boolean> {
  if (!db.insertFlat) return false;
  return String((await db.query('SELECT encoding FROM pragma_encoding'))[0]?.[0]) === 'UTF-8';
}

/** Streams pass 2's rows into the target; returns the dump's sqlite_sequence rows (set after the load). */
async function loadRows(ctx: LoadContext): Promise<[SqlValue, SqlValue][]> {
  const byName = new Map(ctx.plan.tables.map((t) => [t.info.name, t]));
  const batch = new Batcher(
    ctx,
    ctx.plan.tables.filter(loads).reduce((n, t) => n + t.info.rows, 0),
    (await takesTextBytes(ctx.db)) ? new TextArena() : null,
  );
  // Every table the rows go to exists by now (loadTarget created them first): the table list is read once here, not
  // once per table (each read walks the whole schema: a restore of many tables was quadratic in them).
  const listed = await tablesByName(ctx.db);
  const sequence: [SqlValue, SqlValue][] = [];
  let table: PlannedTable | null = null;
  let columns: string[] = [];
  let plainIntegers: boolean[] = [];
  // Pass 1 verified the checksums; this pass's rows are verified on the target (after the load, or while it loads).
  for await (const ev of ctx.input.read({ checksums: false, memory: passMemory(ctx.db) })) {
    if (ctx.signal?.aborted) throw interrupted();
    if (ev.kind === 'table') {
      table = byName.get(ev.start.name) ?? null;
      if (table && loads(table)) {
        columns = table.info.rowidColumn ? [table.rowidName!, ...ev.start.columns.slice(1)] : ev.start.columns;
        plainIntegers = await integerColumns(ctx.db, listed(table.info.name), columns, table.rowidName);
      }
    } else if (ev.kind === 'rows' && table?.action === 'sequence') {
      // The name as stored: SQLite keeps a row whose name is NULL or not TEXT if it was put there.
      for (const r of decodeRows(ev.bytes)) sequence.push([r[r.length - 2]!, r[r.length - 1]!]);
    } else if (ev.kind === 'rows' && table && loads(table)) {
      await batch.add(ev.bytes, plainIntegers, table, columns);
    } else if (ev.kind === 'end') {
      if (table) await batch.flush(table, columns);
      if (ctx.committed && table && loads(table)) {
        await ctx.committed(table.info.name);
        batch.uncommitted = 0;
      }
      table = null;
    }
  }
  return sequence;
}

/**
 * The dump's AUTOINCREMENT counters of the restored tables, set after the load (inserting moved them), then read back.
 * Into an empty target the rows naming no table of the dump come too (SQLite keeps such a row if it was put there):
 * a whole restore holds sqlite_sequence exactly as the source did.
 */
async function restoreSequence(ctx: LoadContext, sequence: [SqlValue, SqlValue][]) {
  const { db, plan } = ctx;
  const restored = new Set<SqlValue>(plan.tables.filter(loads).map((t) => t.info.name));
  const dumped = new Set<SqlValue>(ctx.header.tables.map((t) => t.name));
  const wanted = sequence.filter(([name]) => restored.has(name) || (plan.path === 'empty' && !dumped.has(name)));
  const exists = (await db.query("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'")).length > 0;
  if (!exists) {
    const names = wanted.map(([name]) => `"${name}"`).join(', ');
    if (wanted.length > 0)
      ctx.warnings.push(
        `sqlite_sequence: the dump's counters for ${names} were not restored (the target has no AUTOINCREMENT table, so SQLite keeps no sqlite_sequence)`,
      );
    return;
  }
  // Compared and matched by their encoding: a name may be NULL, a number or a BLOB (and a BLOB is a new Buffer each read).
  const names = new Map([...restored, ...wanted.map(([name]) => name)].map((n) => [encodeCell(n), n]));
  for (const name of names.values()) await db.write('DELETE FROM sqlite_sequence WHERE name IS ?', [name]);
  for (const [name, seq] of wanted) await db.write('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)', [name, seq]);
  const key = (name: unknown, seq: unknown) => `${encodeCell(name)}\0${encodeCell(seq)}`;
  const back = (await db.query('SELECT name, seq FROM sqlite_sequence')).filter((r) => names.has(encodeCell(r[0]))).map((r) => key(r[0], r[1]));
  const want = wanted.map(([name, seq]) => key(name, seq));
  if (back.sort().join('\n') !== want.sort().join('\n')) {
    throw new BackupError('CORRUPT', `sqlite_sequence does not match the dump after loading (${back.length}/${want.length} rows): rolled back`);
  }
}
