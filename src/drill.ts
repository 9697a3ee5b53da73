/**
 * The restore drill: proof that a backup restores. Restores a dump into a scratch embedded database (the full
 * restore path: verify, load, verify on the target), compares it with the sidecar manifest when there is one, runs
 * `PRAGMA integrity_check` and `PRAGMA foreign_key_check`, and removes the scratch database. Given a `target` (an
 * empty database of the operator's, e.g. a scratch Turso database), it drills into that instead and leaves it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { openDb } from './db/open.js';
import { type ErrorCode, errorCodeOf } from './errors.js';
import type { Manifest } from './format/lines.js';
import { restore, type RestoreResult } from './restore/restore.js';
import { targetFactory } from './target/open.js';
import { plural } from './units.js';

export interface DrillCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface DrillReport {
  pass: boolean;
  checks: DrillCheck[];
  tables: Record<string, number>;
  durationMs: number;
  /** The restore's warnings (e.g. a view or trigger that cannot be used on the restored database). */
  warnings: string[];
}

/**
 * Errors that say the drill could not run, not that the backup is bad: a missing or invalid setting (CONFIG: the
 * dump is encrypted and BACKUP_ENCRYPTION_KEY is not set, a bad --target URL), a usage error, credentials the target
 * refused (AUTH), a remote service that failed after its retries (REMOTE: a --target or a Blob store that cannot be
 * reached, or that fails mid-way), a disk that filled up (NO_SPACE). They are thrown as they are (the CLI exits 2
 * or 1 and records nothing): a FAIL recorded for them would show a sound backup as failing its drill. A wrong key
 * (DECRYPT) stays a FAIL: its error cannot tell a wrong key from a changed file.
 */
const COULD_NOT_RUN: ReadonlySet<ErrorCode> = new Set(['USAGE', 'CONFIG', 'AUTH', 'REMOTE', 'NO_SPACE']);
/** errorCodeOf: a full disk is NO_SPACE whether Node, SQLite or our own code reported it. */
const couldNotRun = (e: unknown): boolean => COULD_NOT_RUN.has(errorCodeOf(e));
/**
 * The operator's own --target may also refuse the restore (REFUSED: it holds data of its own, or is the dump's
 * source): the target's state, not the dump's. Into a scratch file the drill creates, a refusal is the dump's.
 */
const targetRefused = (e: unknown, target: boolean): boolean => target && errorCodeOf(e) === 'REFUSED';

/**
 * The sidecar manifest's tables that the restore did not load: only those it could not account for. A table the
 * restore rebuilds (an external-content FTS index) or creates as schema only (contentless) holds no rows of its own,
 * and one it leaves as the target has it (a migrated target's own `_prisma_migrations`) holds the target's rows.
 */
function missingFromRestore(manifest: Manifest, result: RestoreResult): { differ: string[]; missing: string[] } {
  const noRows = new Set(result.plan.filter((p) => ['rebuild', 'schema-only', 'keep-target'].includes(p.action)).map((p) => p.table));
  // Own keys only: a table may be named `constructor` or `__proto__`.
  const got = new Map(Object.entries(result.tables).filter(([t]) => !noRows.has(t)));
  return {
    differ: Object.entries(manifest.tables)
      .filter(([t, m]) => got.has(t) && got.get(t) !== m.rows)
      .map(([t]) => t),
    missing: Object.keys(manifest.tables).filter((t) => t !== 'sqlite_sequence' && !got.has(t) && !noRows.has(t)),
  };
}

/** The restored tables counted as the dump, verify and check count them: sqlite_sequence's counters included. */
function dumpedTables(result: RestoreResult): Record<string, number> {
  const sequence = result.plan.find((p) => p.action === 'sequence');
  return sequence ? { ...result.tables, sqlite_sequence: sequence.rows } : result.tables;
}

/**
 * Restores the dump into a scratch database and checks it; the scratch database is removed afterwards.
 * @returns pass/fail with each check's detail.
 * @throws BackupError USAGE, CONFIG, AUTH, REMOTE or NO_SPACE when the restore could not run, and the target's
 *   refusal (REFUSED, or its setup) when `target` cannot be one (nothing was found wrong with the dump).
 */
export async function drill(opts: {
  openInput: () => Promise<Readable>;
  manifest?: Manifest | null;
  key?: Buffer;
  onProgress?: (p: { table: string; rows: number; totalRows: number }) => void;
  /** Drill into this database (it must be empty or freshly migrated) instead of a scratch file; it is left in place. */
  target?: { url: string; authToken?: string };
  signal?: AbortSignal;
}): Promise<DrillReport> {
  const started = Date.now();
  const dir = opts.target ? null : mkdtempSync(join(tmpdir(), 'turso-backup-drill-'));
  const url = opts.target?.url ?? `file:${join(dir!, 'drill.db')}`;
  const checks: DrillCheck[] = [];
  let result: RestoreResult | null = null;
  try {
    // A --target that cannot be one (its folder missing, a file where the folder should be, a dangling link) is the
    // operator's setup, refused before the dump is read: thrown as it is, never recorded as the dump's FAIL.
    const target = await targetFactory(url, opts.target?.authToken, opts.signal);
    try {
      result = await restore({ openInput: opts.openInput, target, confirm: true, key: opts.key, onProgress: opts.onProgress, signal: opts.signal });
      checks.push({
        name: 'restore',
        ok: true,
        detail: `dump verified, ${plural(Object.keys(dumpedTables(result)).length, 'table')} loaded and re-verified on the ${opts.target ? 'target' : 'scratch'} database`,
      });
    } catch (e) {
      if (opts.signal?.aborted || couldNotRun(e) || targetRefused(e, opts.target !== undefined)) throw e;
      checks.push({ name: 'restore', ok: false, detail: (e as Error).message });
      return { pass: false, checks, tables: {}, durationMs: Date.now() - started, warnings: [] };
    }
    if (opts.manifest) {
      const { differ, missing } = missingFromRestore(opts.manifest, result!);
      checks.push({
        name: 'manifest',
        ok: differ.length === 0 && missing.length === 0,
        detail:
          differ.length || missing.length
            ? `differs from the sidecar manifest: ${[...differ, ...missing].join(', ')}`
            : 'row counts equal the sidecar manifest',
      });
    }
    const db = await openDb(url, { readonly: true, authToken: opts.target?.authToken });
    try {
      const integrity = (await db.query('SELECT * FROM pragma_integrity_check')).map((r) => String(r[0]));
      checks.push({ name: 'integrity_check', ok: integrity.length === 1 && integrity[0] === 'ok', detail: integrity.slice(0, 3).join('; ') });
    } finally {
      await db.close();
    }
    const fk = Object.entries(result.foreignKeyViolations);
    const unchecked = result.foreignKeysUnchecked.length
      ? ` (SQLite cannot check the foreign keys of ${result.foreignKeysUnchecked.join(', ')}: see the restore's warnings)`
      : '';
    checks.push({
      name: 'foreign_key_check',
      ok: fk.length === 0,
      detail: (fk.length ? `violations: ${fk.map(([t, n]) => `${t} (${n})`).join(', ')}` : 'no violations') + unchecked,
    });
    return { pass: checks.every((c) => c.ok), checks, tables: dumpedTables(result), durationMs: Date.now() - started, warnings: result.warnings };
  } finally {
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
}
