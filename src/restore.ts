/**
 * The restore pipeline. Pass 1 reads and verifies the whole dump (checksums, counts, trailer) and checks the
 * target's seeded rows, writing nothing. Pass 2 reads the dump again and loads it in one transaction with foreign
 * keys off: schema (empty target) or existing tables (migrated target), batched inserts, sqlite_sequence, then
 * indexes, views and triggers; then, still inside the transaction, every table is recounted and re-checksummed on
 * the target and foreign keys are checked. Any failure rolls back: the target is left as it was found.
 * A `file:` target that does not exist is loaded as a scratch file instead, committed as it loads and re-checksummed
 * meanwhile by a worker thread; it takes the target's name only once verified (src/restore/load-verifier.ts).
 */
import { realpathSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { BackupError } from './errors.js';
import type { HeaderLine } from './format/lines.js';
import { readDump } from './format/reader.js';
import { decodeRow, type SqlValue } from './format/values.js';
import { dumpBytes } from './input.js';
import { planRestore, type PlannedTable, type RestorePlan } from './restore/plan.js';
import { isDoubleQuotedStringError, knownIdentifiers, rewriteDoubleQuotedStrings } from './restore/ddl.js';
import { loadSeedCheck, MAX_SEED_ROWS } from './restore/seeds.js';
import { emptyState, inspectTarget, type TargetState } from './restore/target-state.js';
import { startLoadVerifier, type LoadVerifier } from './restore/load-verifier.js';
import { checkForeignKeys, checksumTable, uncheckedWarning } from './restore/verify-target.js';
import { q } from './source/sql.js';
import type { Target, TargetFactory } from './target/types.js';

export interface RestoreOptions {
  /** Opens the dump's bytes; called once per pass. */
  openInput: () => Promise<Readable>;
  target: TargetFactory;
  confirm: boolean;
  tables?: string[];
  clean?: boolean;
  key?: Buffer;
  onProgress?: (p: { table: string; rows: number; totalRows: number }) => void;
  signal?: AbortSignal;
}

export interface RestoreResult {
  mode: 'dry-run' | 'restore';
  /** What was read: a v1 dump (checksummed) or a legacy JSON backup (no checksums). */
  source: 'dump' | 'legacy-json';
  target: string;
  path: RestorePlan['path'];
  tables: Record<string, number>;
  plan: { table: string; rows: number; action: string; targetRows: number }[];
  warnings: string[];
  foreignKeyViolations: Record<string, number>;
  /** Tables whose foreign keys SQLite cannot check (see checkForeignKeys). */
  foreignKeysUnchecked: string[];
  verified: boolean;
  durationMs: number;
}

/** Rows per insert call, and the byte budget that closes a batch early (wide rows, big blobs). */
const BATCH_ROWS = 2048;
const BATCH_BYTES = 4 * 1024 * 1024;
/** A scratch target commits about this often while it loads, so its verifier can read on. */
const COMMIT_BYTES = 2 * 1024 * 1024;

function sameDatabase(header: HeaderLine, target: Target): boolean {
  const src = header.source;
  if (target.kind === 'file' && src.startsWith('file:')) {
    const real = (p: string) => {
      try {
        return realpathSync(p);
      } catch {
        return p;
      }
    };
    return real(src.slice('file:'.length)) === real(target.identity);
  }
  const norm = (u: string) => u.replace(/^libsql:/, 'https:').replace(/\?.*$/, '').replace(/\/+$/, '');
  return norm(src) === norm(target.displayUrl);
}

function refuse(messages: string[]): never {
  const more = messages.length > 1 ? ` (and ${messages.length - 1} more problem${messages.length > 2 ? 's' : ''})` : '';
  throw new BackupError('REFUSED', `${messages[0]}${more}`);
}

/** Pass 1: verify the whole dump and tick off the target's seeded rows. Returns the header and end lines. */
async function verifyPass(opts: RestoreOptions, target: Target | null, state: TargetState) {
  const { bytes } = await dumpBytes(await opts.openInput(), opts.key);
  let header: HeaderLine | null = null;
  let plan: RestorePlan | null = null;
  let seeds: Awaited<ReturnType<typeof loadSeedCheck>> | null = null;
  let current: string | null = null;
  const ends = new Map<string, { rows: number; sha256: string }>();
  for await (const ev of readDump(bytes)) {
    if (opts.signal?.aborted) throw new BackupError('INTERRUPTED', 'restore interrupted before writing anything');
    switch (ev.kind) {
      case 'header': {
        header = ev.header;
        if (target && sameDatabase(header, target)) {
          throw new BackupError('REFUSED', `the target ${target.displayUrl} is the dump's own source: refusing to restore over it`);
        }
        plan = planRestore(header, state, { tables: opts.tables, clean: opts.clean });
        const big = plan.seedCheck.filter((n) => (state.tables.get(n)?.rows ?? 0) > MAX_SEED_ROWS);
        for (const n of big) plan.refusals.push(`the target holds data: table "${n}" has ${state.tables.get(n)!.rows} rows`);
        if (target && plan.seedCheck.length > 0 && big.length === 0) {
          seeds = await loadSeedCheck(target, plan.tables.filter((t) => plan!.seedCheck.includes(t.info.name)).map((t) => t.info));
        }
        break;
      }
      case 'table':
        current = ev.start.name;
        break;
      case 'rows':
        if (seeds?.tables.has(current!)) for (const l of ev.lines) seeds.see(current!, JSON.parse(l.toString('utf8')) as unknown[]);
        break;
      case 'end':
        ends.set(ev.end.name, { rows: ev.end.rows, sha256: ev.end.sha256 });
        current = null;
        break;
    }
  }
  if (seeds) {
    for (const [table, n] of seeds.unmatched()) {
      plan!.refusals.push(`the target holds data: table "${table}" has ${n} row${n === 1 ? '' : 's'} that the dump does not (use --clean to replace the dumped tables' contents)`);
    }
  }
  return { header: header!, plan: plan!, ends };
}

const isReplayable = (sql: string) => !/^\s*create\s+table\s+(if\s+not\s+exists\s+)?["'`[]?sqlite_/i.test(sql);

/**
 * Parses a chunk of row lines with one JSON.parse. The reader's lines are consecutive slices of one buffer, so the
 * whole span is decoded once and its newlines become the array's commas (a newline never occurs inside a JSON
 * value: strings escape it).
 */
function parseRowLines(lines: Buffer[]): unknown[] {
  const first = lines[0]!;
  const last = lines[lines.length - 1]!;
  const contiguous = first.buffer === last.buffer && last.byteOffset + last.length - first.byteOffset >= 0;
  if (!contiguous) return JSON.parse(`[${lines.join(',')}]`) as unknown[];
  const span = Buffer.from(first.buffer, first.byteOffset, last.byteOffset + last.length - first.byteOffset);
  return JSON.parse(`[${span.toString('utf8').replaceAll('\n', ',')}]`) as unknown[];
}

/**
 * Pass 2: stream the rows into the target inside the open transaction. `committed` (a scratch target with a
 * verifier) is called every COMMIT_BYTES and at the end of each table, after the rows so far were committed.
 */
async function loadPass(opts: RestoreOptions, target: Target, plan: RestorePlan, totalRows: number, committed?: (complete?: string) => Promise<void>) {
  const byName = new Map(plan.tables.map((t) => [t.info.name, t]));
  const { bytes } = await dumpBytes(await opts.openInput(), opts.key);
  let table: PlannedTable | null = null;
  let columns: string[] = [];
  let batch: SqlValue[][] = [];
  let batchBytes = 0;
  let uncommitted = 0;
  let done = 0;
  const sequence: [string, SqlValue][] = [];
  const flush = async () => {
    if (batch.length === 0) return;
    try {
      await target.insert(table!.info.name, columns, batch);
    } catch (e) {
      if (e instanceof BackupError) throw e;
      throw new BackupError('CONSTRAINT', `table "${table!.info.name}": ${(e as Error).message}; the restore was rolled back and the target is as it was`);
    }
    done += batch.length;
    opts.onProgress?.({ table: table!.info.name, rows: done, totalRows });
    uncommitted += batchBytes;
    batch = [];
    batchBytes = 0;
    if (committed && uncommitted >= COMMIT_BYTES) {
      await committed();
      uncommitted = 0;
    }
  };
  // Pass 1 verified the checksums; this pass's rows are verified on the target (after the load, or while it loads).
  for await (const ev of readDump(bytes, { checksums: false })) {
    if (opts.signal?.aborted) throw new BackupError('INTERRUPTED', 'restore interrupted: rolled back, the target is as it was found');
    if (ev.kind === 'table') {
      table = byName.get(ev.start.name) ?? null;
      if (table && (table.action === 'create+load' || table.action === 'load')) {
        columns = table.info.rowidColumn ? [table.rowidName!, ...ev.start.columns.slice(1)] : ev.start.columns;
      }
    } else if (ev.kind === 'rows' && table) {
      if (table.action === 'sequence') {
        for (const l of ev.lines) {
          const r = decodeRow(JSON.parse(l.toString('utf8')));
          sequence.push([String(r[r.length - 2]), r[r.length - 1]!]);
        }
      } else if (table.action === 'create+load' || table.action === 'load') {
        const rows = parseRowLines(ev.lines);
        for (let i = 0; i < rows.length; i++) {
          batch.push(decodeRow(rows[i]));
          batchBytes += ev.lines[i]!.length;
          if (batch.length >= BATCH_ROWS || batchBytes >= BATCH_BYTES) await flush();
        }
      }
    } else if (ev.kind === 'end') {
      if (table) await flush();
      if (committed && (table?.action === 'create+load' || table?.action === 'load')) {
        await committed(table.info.name);
        uncommitted = 0;
      }
      table = null;
    }
  }
  return sequence;
}

async function restoreSequence(target: Target, plan: RestorePlan, sequence: [string, SqlValue][]) {
  const restored = new Set(plan.tables.filter((t) => t.action === 'create+load' || t.action === 'load').map((t) => t.info.name));
  const exists = (await target.query("SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'")).length > 0;
  if (!exists) return;
  for (const name of restored) await target.run('DELETE FROM sqlite_sequence WHERE name = ?', [name]);
  for (const [name, seq] of sequence) {
    if (restored.has(name)) await target.run('INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)', [name, seq]);
  }
}

/**
 * Runs schema SQL on the target; SQL that only an old SQLite accepted (double-quoted string literals) is created
 * from an equivalent rewrite, and its original text kept where the target allows (src/restore/ddl.ts).
 */
export function schemaReplayer(target: Target, header: HeaderLine | null, warnings: string[]) {
  const names = [...(header?.schema.map((o) => o.name) ?? []), ...(header?.tables.flatMap((t) => [t.name, ...t.columns.map((c) => c.name)]) ?? [])];
  const known = knownIdentifiers(names);
  return async (name: string, sql: string) => {
    try {
      await target.run(sql);
    } catch (e) {
      if (!isDoubleQuotedStringError(e)) throw new BackupError('SCHEMA', `cannot create "${name}" on the target: ${(e as Error).message}`);
      // Columns of the tables and views created so far are identifiers too (views select from views).
      for (const r of await target.query("SELECT p.name FROM sqlite_schema s, pragma_table_xinfo(s.name) p WHERE s.type IN ('table', 'view')")) known.add(String(r[0]).toLowerCase());
      try {
        await target.run(rewriteDoubleQuotedStrings(sql, known));
      } catch (e2) {
        throw new BackupError('SCHEMA', `cannot create "${name}" on the target: ${(e2 as Error).message}`);
      }
      if (target.setSchemaSql) await target.setSchemaSql(name, sql);
      else warnings.push(`"${name}" used double-quoted string literals, which the target refuses: created with single quotes`);
    }
  };
}

export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  // A dry run never creates a missing file target; a confirmed run creates it only after pass 1 succeeded.
  let target: Target | null = opts.target.missing ? null : await opts.target.open({ create: false });
  try {
    const state = target ? await inspectTarget(target) : emptyState();
    const { header, plan, ends } = await verifyPass(opts, target, state);
    const planned = plan.tables.map((t) => ({ table: t.info.name, rows: t.info.rows, action: t.action, targetRows: t.targetRows }));
    const loadable = plan.tables.filter((t) => t.action === 'create+load' || t.action === 'load');
    const result: RestoreResult = {
      mode: opts.confirm ? 'restore' : 'dry-run',
      source: 'dump',
      target: target?.displayUrl ?? `(new) ${opts.target.missing ? 'file' : ''}`,
      path: plan.path,
      // The end lines' counts: with per-table consistency the header's may be from an earlier snapshot.
      tables: Object.fromEntries(loadable.map((t) => [t.info.name, ends.get(t.info.name)?.rows ?? t.info.rows])),
      plan: planned,
      warnings: [...(opts.target.notes ?? []), ...plan.warnings, ...((header as { notes?: string[] }).notes ?? [])],
      foreignKeyViolations: {},
      foreignKeysUnchecked: [],
      verified: false,
      durationMs: 0,
    };
    if (plan.refusals.length > 0) refuse(plan.refusals);
    if (!opts.confirm) {
      result.verified = true; // the dump verified; nothing was written
      result.durationMs = Date.now() - started;
      return result;
    }

    target ??= await opts.target.open({ create: true });
    result.target = target.displayUrl;
    await target.beginLoad();
    let verifier: LoadVerifier | null = null;
    try {
      const triggers = plan.path === 'migrated' ? state.triggers : [];
      // Triggers must not fire during the load: drop the target's own and re-create them after (DDL is transactional).
      const replay = schemaReplayer(target, header, result.warnings);
      for (const t of triggers) await target.run(`DROP TRIGGER ${q(t.name)}`);
      for (const name of plan.clear) await target.run(`DELETE FROM ${q(name)}`);
      const restoredNames = new Set(plan.tables.map((t) => t.info.name));
      if (plan.path === 'empty') {
        for (const o of header.schema) if (o.type === 'table' && restoredNames.has(o.name) && isReplayable(o.sql)) await replay(o.name, o.sql);
      }
      const total = loadable.reduce((n, t) => n + t.info.rows, 0);
      // A scratch file is verified while it loads, by a second thread following the load's commits.
      if (target.scratch && loadable.length > 0) verifier = await startLoadVerifier(target.scratch, loadable.map((t) => ({ info: t.info, rowidName: t.rowidName })));
      const sequence = await loadPass(opts, target, plan, total, verifier?.committed);
      await verifier?.loaded();
      await restoreSequence(target, plan, sequence);
      for (const t of plan.tables) if (t.action === 'rebuild') await target.run(`INSERT INTO ${q(t.info.name)} (${q(t.info.name)}) VALUES ('rebuild')`);
      if (plan.path === 'empty') {
        for (const o of header.schema) {
          if (o.type === 'table') continue;
          if (o.type !== 'view' && !restoredNames.has(o.tbl_name)) continue;
          await replay(o.name, o.sql);
        }
        if (header.sqlite.userVersion) await target.run(`PRAGMA user_version = ${Number(header.sqlite.userVersion)}`);
        if (header.sqlite.applicationId) await target.run(`PRAGMA application_id = ${Number(header.sqlite.applicationId)}`);
      }
      for (const t of triggers) await replay(t.name, t.sql);

      let checked = verifier ? await verifier.results() : null;
      if (checked && 'failure' in checked) {
        result.warnings.push(`the verifying thread failed (${checked.failure}): the restored rows were verified after the load instead`);
        checked = null;
      }
      for (const t of loadable) {
        if (opts.signal?.aborted) throw new BackupError('INTERRUPTED', 'restore interrupted: rolled back, the target is as it was found');
        const found = checked?.tables.get(t.info.name) ?? (await checksumTable(target, t.info, t.rowidName));
        const want = ends.get(t.info.name)!;
        if (found.rows !== want.rows || found.sha256 !== want.sha256) {
          throw new BackupError(
            'CORRUPT',
            `table "${t.info.name}" does not match the dump after loading (${found.rows}/${want.rows} rows, checksum ${found.sha256 === want.sha256 ? 'equal' : 'differs'}): rolled back`,
          );
        }
      }
      if (checked?.foreignKeys) result.foreignKeyViolations = checked.foreignKeys;
      else {
        const fk = await checkForeignKeys(target);
        result.foreignKeyViolations = fk.violations;
        result.foreignKeysUnchecked = fk.unchecked.map((u) => u.table);
        result.warnings.push(...fk.unchecked.map(uncheckedWarning));
      }
      await target.commit(); // a scratch file takes the target's name here
    } catch (e) {
      await verifier?.stop();
      await target.rollback().catch(() => {});
      throw e;
    }
    result.warnings.push(...(target.notes ?? []));
    result.verified = true;
    result.durationMs = Date.now() - started;
    return result;
  } catch (e) {
    await target?.close().catch(() => {});
    target = null;
    await opts.target.discardCreated();
    throw e;
  } finally {
    await target?.close();
  }
}
