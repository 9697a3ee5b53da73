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
import { decodeRowLine } from '../format/rows.js';
import { rowLines } from '../format/reader.js';
import type { SqlValue } from '../format/values.js';
import { schemaReplayer } from './ddl.js';
import type { RestoreInput } from './inputs/types.js';
import { loads, type PlannedTable, type RestorePlan } from './plan.js';
import type { TargetState } from './target-state.js';
import { trace } from '../trace.js';

/** Rows per insert call, and the byte budget that closes a batch early (wide rows, big blobs). */
const BATCH_ROWS = 2048;
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
  for (const name of plan.clear) await db.write(`DELETE FROM ${q(name)}`);
  const restored = new Set(plan.tables.map((t) => t.info.name));
  if (plan.path === 'empty') {
    for (const o of header.schema) if (o.type === 'table' && restored.has(o.name) && isReplayable(o.sql)) await replay(o.name, o.sql);
  }
  await ctx.beforeRows?.();
  const sequence = await loadRows(ctx);
  trace('restore: rows loaded');
  await ctx.afterRows?.();
  await restoreSequence(db, plan, sequence);
  for (const t of plan.tables) if (t.action === 'rebuild') await db.write(`INSERT INTO ${q(t.info.name)} (${q(t.info.name)}) VALUES ('rebuild')`);
  if (plan.path === 'empty') {
    for (const o of header.schema) {
      if (o.type === 'table' || (o.type !== 'view' && !restored.has(o.tbl_name))) continue;
      await replay(o.name, o.sql);
    }
    trace('restore: indexes, views, triggers');
    if (header.sqlite.userVersion) await db.write(`PRAGMA user_version = ${Number(header.sqlite.userVersion)}`);
    if (header.sqlite.applicationId) await db.write(`PRAGMA application_id = ${Number(header.sqlite.applicationId)}`);
  }
  for (const t of triggers) await replay(t.name, t.sql);
}

/** Rows being gathered for one insert call into the current table. */
class Batcher {
  rows: SqlValue[][] = [];
  bytes = 0;
  uncommitted = 0;
  done = 0;
  constructor(
    private readonly ctx: LoadContext,
    private readonly total: number,
  ) {}

  async flush(table: PlannedTable, columns: string[]): Promise<void> {
    if (this.rows.length === 0) return;
    try {
      await this.ctx.db.insert(table.info.name, columns, this.rows);
    } catch (e) {
      if (e instanceof BackupError) throw e;
      throw new BackupError('CONSTRAINT', `table "${table.info.name}": ${(e as Error).message}; the restore was rolled back and the target is as it was`);
    }
    this.done += this.rows.length;
    this.ctx.onProgress?.({ table: table.info.name, rows: this.done, totalRows: this.total });
    this.uncommitted += this.bytes;
    this.rows = [];
    this.bytes = 0;
    if (this.ctx.committed && this.uncommitted >= COMMIT_BYTES) {
      await this.ctx.committed();
      this.uncommitted = 0;
    }
  }
}

/** Streams pass 2's rows into the target; returns the dump's sqlite_sequence rows (set after the load). */
async function loadRows(ctx: LoadContext): Promise<[string, SqlValue][]> {
  const byName = new Map(ctx.plan.tables.map((t) => [t.info.name, t]));
  const batch = new Batcher(ctx, ctx.plan.tables.filter(loads).reduce((n, t) => n + t.info.rows, 0));
  const sequence: [string, SqlValue][] = [];
  let table: PlannedTable | null = null;
  let columns: string[] = [];
  // Pass 1 verified the checksums; this pass's rows are verified on the target (after the load, or while it loads).
  for await (const ev of ctx.input.read({ checksums: false })) {
    if (ctx.signal?.aborted) throw interrupted();
    if (ev.kind === 'table') {
      table = byName.get(ev.start.name) ?? null;
      if (table && loads(table)) columns = table.info.rowidColumn ? [table.rowidName!, ...ev.start.columns.slice(1)] : ev.start.columns;
    } else if (ev.kind === 'rows' && table?.action === 'sequence') {
      for (const [s, e] of rowLines(ev.bytes)) {
        const r = decodeRowLine(ev.bytes, s, e);
        sequence.push([String(r[r.length - 2]), r[r.length - 1]!]);
      }
    } else if (ev.kind === 'rows' && table && loads(table)) {
      for (const [s, e] of rowLines(ev.bytes)) {
        batch.rows.push(decodeRowLine(ev.bytes, s, e));
        batch.bytes += e - s;
        if (batch.rows.length >= BATCH_ROWS || batch.bytes >= BATCH_BYTES) await batch.flush(table, columns);
      }
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

async function restoreSequence(db: Db, plan: RestorePlan, sequence: [string, SqlValue][]) {
  const restored = new Set(plan.tables.filter(loads).map((t) => t.info.name));
  const exists = (await db.query("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'")).length > 0;
  if (!exists) return;
  for (const name of restored) await db.write('DELETE FROM sqlite_sequence WHERE name = ?', [name]);
  for (const [name, seq] of sequence) {
    if (restored.has(name)) await db.write('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)', [name, seq]);
  }
}
