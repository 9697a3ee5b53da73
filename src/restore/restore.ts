/**
 * The restore pipeline, in named phases:
 *   open    the input (a v1 dump, or a legacy JSON backup adapted to the same events) and the target, inspected;
 *   verify  pass 1 reads the whole input and verifies it (checksums, counts, trailer), ticking off the target's
 *           seeded rows; nothing is written;
 *   plan    what the restore will do, or the refusal (a dry run stops here);
 *   load    pass 2 in one write transaction with foreign keys off (restore/load.ts);
 *   verify target  every table recounted and re-checksummed on the target (while it loads, for a scratch file),
 *           foreign keys checked;
 *   publish COMMIT (a scratch file takes the target's name).
 * Any failure rolls back: the target is left as it was found, and a target the run created is removed.
 */
import { realpathSync, type Stats, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { countRows } from '../db/schema.js';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { BackupError, isNoSpace } from '../errors.js';
import type { HeaderLine, TableInfo } from '../format/lines.js';
import { longLine, rowLines } from '../format/reader.js';
import type { Target, TargetFactory } from '../target/types.js';
import { openRestoreInput } from './inputs/open.js';
import type { RestoreInput } from './inputs/types.js';
import { loadTarget } from './load.js';
import { type LoadVerifier, startLoadVerifier, startVerifierThread, type VerifierThread } from './load-verifier.js';
import { heldDataRefusal, loads, planRestore, unmatchedRefusal, type RestorePlan } from './plan.js';
import { loadSeedCheck, MAX_SEED_ROWS, type SeedCheck, seedColumnsIn } from './seeds.js';
import { emptyState, inspectTarget, targetTable, type TargetState } from './target-state.js';
import { checkConstraintWarnings, checkForeignKeys, checksumRows, uncheckedWarning, unusableObjects } from './verify-target.js';
import { trace } from '../trace.js';
import { plural } from '../units.js';
import { passMemory } from '../memory.js';

export interface RestoreOptions {
  /** Opens the dump's bytes (a v1 dump, possibly encrypted, or a legacy JSON backup); called once per pass. */
  openInput: () => Promise<Readable>;
  target: TargetFactory;
  /** Without it, a dry run: everything is read and verified, nothing is written. */
  confirm: boolean;
  tables?: string[];
  /** Replace the dumped tables' contents in a target that holds other rows (shown in the dry run's plan). */
  clean?: boolean;
  /** The key of an encrypted dump. */
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
  /** Per table: its rows in the input and what the restore does; `keep` is a target table left as it is (`why`). */
  plan: { table: string; rows: number; action: string; targetRows: number; why?: string }[];
  warnings: string[];
  foreignKeyViolations: Record<string, number>;
  /** Tables whose foreign keys SQLite cannot check (see checkForeignKeys). */
  foreignKeysUnchecked: string[];
  verified: boolean;
  durationMs: number;
}

/**
 * What pass 1 established: the header, the plan, and each table's end line (its count and checksum), with the length
 * of its longest row line when one reaches LONG_LINE (the target's read-back sizes its pages by it: db/pages.ts).
 */
interface Verified {
  header: HeaderLine;
  plan: RestorePlan;
  ends: Map<string, { rows: number; sha256: string; longest?: number }>;
}

/** Row lines this long or longer are measured in pass 1; shorter ones cannot make a read-back page large. */
const LONG_LINE = 8 * 1024;

/**
 * A table with a row line this long or longer is verified after the load, by the main thread, not by the verifying
 * thread while it loads. Each thread holds a large row several times over while it works on it (SQLite's copies,
 * the driver's, the encoded page, its base64): both at once took the bench's `large` shape (1–3 MiB rows) to 186–203
 * MB, one after the other to 145–150 MB, ~0.5 s slower (docs/BENCHMARKS.md, session 23). Rows of the other shapes
 * are at most ~45 KiB as lines.
 */
export const FOLLOW_MAX_LINE = 1024 * 1024;

/** The tables the verifying thread follows while they load: those without a row line of FOLLOW_MAX_LINE or more. */
export function followedTables<T extends { info: { name: string } }>(tables: T[], ends: ReadonlyMap<string, { longest?: number }>): T[] {
  return tables.filter((t) => (ends.get(t.info.name)?.longest ?? 0) < FOLLOW_MAX_LINE);
}

function sameDatabase(header: HeaderLine, target: Target): boolean {
  const src = header.source;
  if (!src) return false;
  if (target.db.kind === 'file' && src.startsWith('file:')) {
    const path = src.slice('file:'.length);
    // The same file under another name: a hard link has its own path but the same device and inode.
    const same = (a: Stats | null, b: Stats | null) => a !== null && b !== null && a.dev === b.dev && a.ino === b.ino;
    const stat = (p: string) => statSync(p, { throwIfNoEntry: false }) ?? null;
    const real = (p: string) => {
      try {
        return realpathSync(p);
      } catch {
        return p;
      }
    };
    return real(path) === real(target.identity) || same(stat(path), stat(target.identity));
  }
  const norm = (u: string) =>
    u
      .replace(/^libsql:/, 'https:')
      .replace(/\?.*$/, '')
      .replace(/\/+$/, '');
  return norm(src) === norm(target.displayUrl);
}

/** The first problems by name, so that one run shows what to fix (one line: the CLI prints errors that way). */
const NAMED_REFUSALS = 3;

function refuse(messages: string[]): never {
  const rest = messages.length - NAMED_REFUSALS;
  const more = rest > 0 ? `; and ${plural(rest, 'more problem')}` : '';
  throw new BackupError('REFUSED', `${messages.slice(0, NAMED_REFUSALS).join('; ')}${more}`);
}

/**
 * The seeded-row check of the tables the plan asks it for (none can be too big: the plan refused those). A table
 * lacking a dumped column is left out: its rows cannot be compared (the query would name a column it does not
 * have), and the plan's refusal of it is what the operator must see.
 */
async function seedsFor(target: Target | null, plan: RestorePlan, state: TargetState): Promise<SeedCheck | null> {
  const comparable = (info: TableInfo) => {
    const there = targetTable(state, info.name);
    return there !== undefined && there.rows <= MAX_SEED_ROWS && seedColumnsIn(info, there.columns);
  };
  const tables = plan.tables.filter((t) => plan.seedCheck.includes(t.info.name) && comparable(t.info));
  return target && tables.length > 0
    ? loadSeedCheck(
        target.db,
        tables.map((t) => t.info),
      )
    : null;
}

/** Phase verify (pass 1): the whole input verified and the target's seeded rows ticked off; nothing written. */
async function verifyInput(input: RestoreInput, target: Target | null, state: TargetState, opts: RestoreOptions): Promise<Verified> {
  let header: HeaderLine | null = null;
  let plan: RestorePlan | null = null;
  let seeds: SeedCheck | null = null;
  let current: string | null = null;
  let longest = 0;
  const ends: Verified['ends'] = new Map();
  for await (const ev of input.read({ checksums: true, memory: passMemory(target?.db) })) {
    if (opts.signal?.aborted) throw new BackupError('INTERRUPTED', 'restore interrupted before writing anything');
    if (ev.kind === 'header') {
      header = ev.header;
      if (target && sameDatabase(header, target))
        throw new BackupError('REFUSED', `the target ${target.displayUrl} is the dump's own source: refusing to restore over it`);
      plan = planRestore(header, state, { tables: opts.tables, clean: opts.clean, kind: input.kind });
      seeds = await seedsFor(target, plan, state);
      for (const name of seeds?.tooLarge ?? []) plan.refusals.push(heldDataRefusal(name, targetTable(state, name)?.rows ?? 0));
    } else if (ev.kind === 'table') {
      current = ev.start.name;
      longest = 0;
    } else if (ev.kind === 'rows' && current !== null) {
      longest = Math.max(longest, longLine(ev.bytes, LONG_LINE));
      if (seeds?.tables.has(current)) for (const [s, e] of rowLines(ev.bytes)) seeds.see(current, JSON.parse(ev.bytes.toString('utf8', s, e)) as unknown[]);
    } else if (ev.kind === 'end') {
      ends.set(ev.end.name, { rows: ev.end.rows, sha256: ev.end.sha256, ...(longest ? { longest } : {}) });
      current = null;
    }
  }
  for (const [table, n] of seeds?.unmatched() ?? []) plan!.refusals.push(unmatchedRefusal(table, n, input.kind));
  return { header: header!, plan: plan!, ends };
}

/** A target the dry run does not create, by its path: `file:PATH (new file)`. */
const newTarget = (t: TargetFactory) => (t.displayUrl ? `${t.displayUrl} (new file)` : '(new file)');

/** Phase plan: the result the run will report, or the refusal. */
function planned(input: RestoreInput, target: Target | null, v: Verified, opts: RestoreOptions): RestoreResult {
  const loadable = v.plan.tables.filter(loads);
  const result: RestoreResult = {
    mode: opts.confirm ? 'restore' : 'dry-run',
    source: input.kind,
    target: target?.displayUrl ?? newTarget(opts.target),
    path: v.plan.path,
    // The end lines' counts: with per-table consistency the header's may be from an earlier snapshot.
    tables: Object.fromEntries(loadable.map((t) => [t.info.name, v.ends.get(t.info.name)?.rows ?? t.info.rows])),
    plan: [
      ...v.plan.tables.map((t) => ({ table: t.info.name, rows: t.info.rows, action: t.action, targetRows: t.targetRows })),
      // The target's other tables with rows, left as they are: rows 0 from the input, `why` in the action's place.
      ...v.plan.kept.map((k) => ({ table: k.table, rows: 0, action: 'keep', targetRows: k.rows, why: k.why })),
    ],
    warnings: [...(opts.target.notes ?? []), ...v.plan.warnings, ...(v.header.notes ?? []), ...input.warnings],
    foreignKeyViolations: {},
    foreignKeysUnchecked: [],
    // A dry run of a dump has verified it; a JSON backup has nothing to verify by.
    verified: !opts.confirm && input.kind === 'dump',
    durationMs: 0,
  };
  if (v.plan.refusals.length > 0) refuse(v.plan.refusals);
  return result;
}

/**
 * Phase verify target: every restored table's count and checksum (from the verifying thread when it followed the
 * table and kept up, else read back now) against the input's end lines; a legacy JSON backup has counts only. Then foreign keys.
 */
async function verifyTarget(target: Target, input: RestoreInput, v: Verified, verifier: LoadVerifier | null, result: RestoreResult, signal?: AbortSignal) {
  let checked = verifier ? await verifier.results() : null;
  if (checked && 'failure' in checked) {
    result.warnings.push(`the verifying thread failed (${checked.failure}): the restored rows were verified after the load instead`);
    checked = null;
  }
  for (const t of v.plan.tables.filter(loads)) {
    if (signal?.aborted) throw new BackupError('INTERRUPTED', 'restore interrupted: rolled back, the target is as it was found');
    const want = v.ends.get(t.info.name)!;
    if (input.kind === 'legacy-json') {
      const n = await countRows(target.db, t.info.name);
      if (n !== want.rows) throw new BackupError('CORRUPT', `table "${t.info.name}": ${n} rows after the load, expected ${want.rows}: rolled back`);
      continue;
    }
    const found = checked?.tables.get(t.info.name) ?? (await checksumRows(target.db, t.info, t.rowidName, undefined, want.longest));
    if (found.rows !== want.rows || found.sha256 !== want.sha256) {
      // A column the target declares with another affinity is the likely cause (the plan warned of it): say so here.
      const why = t.affinity?.[0]?.column ?? (await encodingMismatch(target, v.header, t.info));
      throw new BackupError(
        'CORRUPT',
        `table "${t.info.name}" does not match the dump after loading (${found.rows}/${want.rows} rows, checksum ${found.sha256 === want.sha256 ? 'equal' : 'differs'}): rolled back${why ? ` (${why})` : ''}`,
      );
    }
  }
  if (checked?.foreignKeys) result.foreignKeyViolations = checked.foreignKeys;
  else {
    const fk = await checkForeignKeys(target.db);
    result.foreignKeyViolations = fk.violations;
    result.foreignKeysUnchecked = fk.unchecked.map((u) => u.table);
    result.warnings.push(...fk.unchecked.map(uncheckedWarning));
  }
  result.warnings.push(
    ...(await checkConstraintWarnings(
      target.db,
      v.plan.tables.filter(loads).map((t) => t.info.name),
    )),
  );
}

/**
 * Why a table may read back otherwise than the dump holds it, in a target of another encoding. SQLite orders TEXT keys by their bytes
 * in the file's encoding, so a UTF-16 source's rows with non-ASCII keys come in another order in a UTF-8 target
 * (every Turso database), and the checksum over the rows in key order differs. Null when that is not the case.
 */
async function encodingMismatch(target: Target, header: HeaderLine, info: TableInfo): Promise<string | null> {
  const source = header.sqlite.encoding;
  if (!source) return null;
  const [row] = await target.db.query('SELECT encoding FROM pragma_encoding');
  const own = String(row?.[0] ?? '');
  if (!own || own === source) return null;
  if (info.withoutRowid)
    return `the dump's source was ${source} and the target is ${own}: SQLite orders TEXT keys by their bytes, so this WITHOUT ROWID table's rows read back in another order than the dump's; restore into a new file, which keeps ${source}`;
  // SQLite converts bound TEXT to the file's encoding: bytes that are not UTF-8 come back as other bytes.
  if (source === 'UTF-8' && own.startsWith('UTF-16'))
    return `the target is ${own} and the dump's source was UTF-8: TEXT that is not valid UTF-8, which the dump keeps as its bytes, cannot be stored as those bytes in a UTF-16 database; restore into a new file, which keeps UTF-8`;
  return null;
}

/** The views and the tables with triggers that the load created from the dump's schema (an empty target's path). */
function createdObjects(v: Verified): { views: string[]; triggerTables: string[] } {
  const restored = new Set(v.plan.tables.map((t) => t.info.name));
  const views = v.header.schema.filter((o) => o.type === 'view').map((o) => o.name);
  const triggers = v.header.schema.filter((o) => o.type === 'trigger' && (restored.has(o.tbl_name) || views.includes(o.tbl_name)));
  return { views, triggerTables: [...new Set(triggers.map((o) => o.tbl_name))] };
}

/**
 * Phases load, verify target and publish, in the target's write transaction; any failure rolls it back. `thread`: the
 * verifying thread, when one was started ahead (restore()).
 */
async function loadVerifyPublish(
  target: Target,
  input: RestoreInput,
  state: TargetState,
  v: Verified,
  result: RestoreResult,
  opts: RestoreOptions,
  thread: VerifierThread | null,
) {
  // A scratch file is verified while it loads, by a second thread following the load's commits; the tables it does
  // not follow are read back after the load (verifyTarget).
  const followed = followedTables(v.plan.tables.filter(loads), v.ends);
  const follow = target.scratch && followed.length > 0 && input.kind === 'dump' ? target.scratch : null;
  let verifier: LoadVerifier | null = null;
  const { pageSize, autoVacuum, encoding, journalMode } = v.header.sqlite;
  await target.beginLoad({ pageSize, autoVacuum, encoding, journalMode });
  try {
    await loadTarget({
      db: target.db,
      input,
      header: v.header,
      plan: v.plan,
      state,
      warnings: result.warnings,
      signal: opts.signal,
      onProgress: opts.onProgress,
      beforeRows: async () => {
        if (follow)
          verifier = await startLoadVerifier(
            follow,
            followed.map((t) => ({ info: t.info, rowidName: t.rowidName, largestRow: v.ends.get(t.info.name)?.longest })),
            undefined,
            thread ?? undefined,
          );
      },
      ...(follow ? { committed: (complete?: string) => verifier!.committed(complete) } : {}),
      afterRows: async () => verifier?.loaded(),
    });
    trace('restore: loaded');
    await verifyTarget(target, input, v, verifier, result, opts.signal);
    if (v.plan.path === 'empty') result.warnings.push(...(await unusableObjects(target.db, createdObjects(v))));
    trace('restore: target verified');
    // An interrupt that came after the last batch was read is still one: rolled back, not published. The read-back of
    // large rows holds the thread for a while, so a signal that arrived meanwhile waits to be polled: the second
    // immediate runs after the event loop's next poll, where its handler runs.
    await yieldToEventLoop();
    await yieldToEventLoop();
    if (opts.signal?.aborted) throw new BackupError('INTERRUPTED', 'restore interrupted: rolled back, the target is as it was found');
    await target.commit(); // a scratch file takes the target's name here
    trace('restore: published');
  } catch (e) {
    await (verifier as LoadVerifier | null)?.stop();
    await target.rollback().catch(() => {});
    throw writeFailure(e, target);
  }
  result.warnings.push(...target.db.notes);
}

/**
 * The target's own failure as one line: a driver's error that reached here (SQLite's "disk I/O error" at COMMIT, say)
 * is the target's storage failing, not a bug. A full disk keeps its own code (the CLI names the device).
 */
function writeFailure(e: unknown, target: Target): unknown {
  if (e instanceof BackupError || isNoSpace(e) || !(e as { code?: unknown })?.code?.toString().startsWith('SQLITE_')) return e;
  return new BackupError(
    'SINK',
    `the target ${target.displayUrl} could not be written (${(e as Error).message}); the restore was rolled back and the target is as it was`,
    {
      cause: e,
    },
  );
}

/**
 * Restores a dump (or a legacy JSON backup) into a target: a dry run unless `confirm`. The input is verified before
 * the first write and the target before it is published.
 * @returns the plan, the counts and the warnings, as `--json` prints them.
 */
export async function restore(opts: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const input = await openRestoreInput(opts.openInput, opts.key);
  // A dry run never creates a missing file target; a confirmed run creates it only after pass 1 succeeded.
  let target: Target | null = opts.target.missing ? null : await opts.target.open({ create: false });
  // A new file is verified while it loads, by a thread that starts here, beside pass 1 (load-verifier.ts).
  const thread = opts.confirm && opts.target.missing && input.kind === 'dump' ? startVerifierThread() : null;
  try {
    const state = target ? await inspectTarget(target.db) : emptyState();
    const verified = await verifyInput(input, target, state, opts);
    trace('restore: input verified (pass 1)');
    const result = planned(input, target, verified, opts);
    if (opts.confirm) {
      target ??= await opts.target.open({ create: true });
      result.target = target.displayUrl;
      await loadVerifyPublish(target, input, state, verified, result, opts, thread);
      result.verified = true;
    }
    result.durationMs = Date.now() - started;
    return result;
  } catch (e) {
    await target?.close().catch(() => {});
    target = null;
    await opts.target.discardCreated();
    throw e;
  } finally {
    await thread?.worker.terminate(); // it has exited unless nothing was loaded, or the run failed
    await target?.close();
  }
}
