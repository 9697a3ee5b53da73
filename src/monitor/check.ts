/**
 * The freshness check (`turso-backup check`): is there a recent, complete, sound backup, and did it lose rows?
 *
 * Pure rules over the history (history.ts) plus an optional streaming verify of the newest complete backup:
 *   NO_BACKUP   no complete backup in the store at all
 *   STALE       the newest complete backup is older than --max-age
 *   INCOMPLETE  a dump newer than the newest complete backup has no (valid) manifest, or not its size: that run did
 *               not finish, or its file changed since; or a manifest newer than it has lost its dump (deleted)
 *   VERIFY      --verify: the newest complete backup fails verification or does not match its manifest
 *   SHRUNK      a table has fewer than --min-rows-ratio × the most rows it had in the complete backups within
 *               --max-age before the newest (or, if none is, in the one before it): a loss stays reported while a
 *               backup from before it is that recent, however many backups follow it (a cron fired twice, a manual run)
 *   FUTURE      a complete backup is dated more than FUTURE_TOLERANCE_MS (5 min) after now: its host's clock ran
 *               ahead. It is not trusted as the newest (nor as a SHRUNK baseline); the rules above use the others
 */
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { FUTURE_TOLERANCE_MS } from '../blob/retention.js';
import { BackupError, isBackupError } from '../errors.js';
import type { Manifest } from '../format/lines.js';
import { plural } from '../units.js';
import { verify } from '../verify.js';
import type { BackupRecord, BackupStore } from './history.js';

export type ProblemCode = 'NO_BACKUP' | 'STALE' | 'INCOMPLETE' | 'VERIFY' | 'SHRUNK' | 'FUTURE';

export interface Problem {
  code: ProblemCode;
  /** One line, for the operator. */
  message: string;
}

export interface CheckOptions {
  maxAgeMs: number;
  /** 0 disables the row-count comparison. */
  minRowsRatio: number;
  now?: Date;
}

export interface TableChange {
  table: string;
  before: number | null;
  after: number | null;
  /** same, grew, shrank, new (not in the previous backup), dropped (gone), excluded (left out by the selection). */
  status: 'same' | 'grew' | 'shrank' | 'new' | 'dropped' | 'excluded';
}

export interface Verdict {
  ok: boolean;
  problems: Problem[];
  /** The newest complete backup not dated in the future, and the complete one before it. */
  newest?: BackupRecord;
  previous?: BackupRecord;
  ageMs?: number;
  changes: TableChange[];
}

export const DEFAULT_MAX_AGE = '26h';
export const DEFAULT_MIN_ROWS_RATIO = 0.9;

const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** "26h", "90m", "1d12h", "2d", "45s" → milliseconds; anything else is a USAGE error naming `flag`. */
export function parseDuration(text: string, flag = '--max-age'): number {
  const parts = [...text.trim().matchAll(/(\d+(?:\.\d+)?)\s*([smhdw])/gi)];
  const whole = parts.map((p) => p[0]).join('');
  if (parts.length === 0 || whole.replace(/\s/g, '') !== text.trim().replace(/\s/g, '')) {
    throw new BackupError('USAGE', `${flag} must be a duration like 26h, 90m, 1d12h (got "${text}")`);
  }
  const ms = parts.reduce((n, p) => n + Number(p[1]) * UNITS[p[2]!.toLowerCase()]!, 0);
  if (!(ms > 0)) throw new BackupError('USAGE', `${flag} must be more than zero (got "${text}")`);
  return ms;
}

/** A ratio in [0, 1]; a USAGE error otherwise. */
export function parseRatio(text: string, flag = '--min-rows-ratio'): number {
  const n = Number(text);
  if (text.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new BackupError('USAGE', `${flag} must be a number from 0 to 1 (got "${text}")`);
  return n;
}

/** "3 h 12 min", "2 d 4 h", "45 s" */
export function fmtAge(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`;
}

/** A table left out of `m`'s selection on purpose (so its absence is not data loss). */
const excludedBy = (m: Manifest, table: string) =>
  (m.selection?.excludeTables ?? []).includes(table) || (Array.isArray(m.selection?.tables) && !m.selection.tables.includes(table));

/** Per-table row counts of the newest backup against the previous one, in the newest's table order. */
export function tableChanges(newest: Manifest, previous?: Manifest): TableChange[] {
  const out: TableChange[] = [];
  for (const [table, t] of Object.entries(newest.tables)) {
    const before = previous && Object.hasOwn(previous.tables, table) ? previous.tables[table]!.rows : null;
    const after = t.rows;
    const status = before === null ? 'new' : after === before ? 'same' : after > before ? 'grew' : 'shrank';
    out.push({ table, before, after, status });
  }
  for (const [table, t] of Object.entries(previous?.tables ?? {})) {
    if (table in newest.tables) continue;
    out.push({ table, before: t.rows, after: null, status: excludedBy(newest, table) ? 'excluded' : 'dropped' });
  }
  return out;
}

/**
 * SQLite's own bookkeeping, not data: sqlite_sequence holds one row per AUTOINCREMENT table that has had a row, so
 * it shrinks whenever such a table is emptied (the loss is reported for that table); sqlite_stat* are planner stats.
 */
const isBookkeeping = (table: string) => /^sqlite_(sequence|stat\d)$/i.test(table);

/** The changes that are a data-loss signal: a table that kept fewer than `ratio` of its rows, or vanished. */
export function shrunk(changes: TableChange[], ratio: number): TableChange[] {
  if (ratio <= 0) return [];
  return changes.filter(
    (c) => (c.status === 'shrank' || c.status === 'dropped') && !isBookkeeping(c.table) && c.before! > 0 && (c.after ?? 0) < c.before! * ratio,
  );
}

/** Per table, the most rows it had in `records` and the (newest) backup that had them. */
function largestCounts(records: BackupRecord[]): Map<string, { rows: number; from: BackupRecord }> {
  const out = new Map<string, { rows: number; from: BackupRecord }>();
  for (const r of records) {
    for (const [table, t] of Object.entries(r.manifest!.tables)) {
      const best = out.get(table);
      if (!best || t.rows > best.rows) out.set(table, { rows: t.rows, from: r });
    }
  }
  return out;
}

/**
 * SHRUNK against the baseline: the complete backups within `maxAgeMs` before `newest` (else the one just before it,
 * `older[0]`), each table at its largest count there. Comparing with the previous backup alone would forget a loss
 * as soon as a second backup of the shrunken database follows (a cron delivered twice, a manual run).
 */
function shrunkProblems(newest: BackupRecord, older: BackupRecord[], opts: CheckOptions): Problem[] {
  const t0 = Date.parse(newest.createdAt);
  const inWindow = older.filter((r) => t0 - Date.parse(r.createdAt) <= opts.maxAgeMs);
  const counts = largestCounts(inWindow.length > 0 ? inWindow : older.slice(0, 1));
  const baseline = { tables: Object.fromEntries([...counts].map(([t, c]) => [t, { rows: c.rows }])) } as unknown as Manifest;
  return shrunk(tableChanges(newest.manifest!, baseline), opts.minRowsRatio).map((c) => {
    const from = counts.get(c.table)!.from;
    const where = from === older[0] ? 'the previous backup' : `${from.name} (${from.createdAt})`;
    const what =
      c.after === null
        ? `is missing from ${newest.name}, against ${plural(c.before!, 'row')}`
        : `has ${plural(c.after, 'row')} in ${newest.name}, against ${c.before}`;
    return { code: 'SHRUNK', message: `table "${c.table}" ${what} in ${where} (below the ${opts.minRowsRatio} ratio)` };
  });
}

/** FUTURE for each complete backup dated beyond the tolerance after `now`: a clock ahead, not a fresh backup. */
function futureProblems(future: BackupRecord[], now: number): Problem[] {
  return future.map((r) => ({
    code: 'FUTURE',
    message: `${r.name} is dated ${r.createdAt}, ${fmtAge(Date.parse(r.createdAt) - now)} in the future (a clock ahead?): not counted as the newest backup`,
  }));
}

/** Applies the rules (all but VERIFY) to a history listed newest first. */
export function evaluate(records: BackupRecord[], opts: CheckOptions): Verdict {
  const now = (opts.now ?? new Date()).getTime();
  const ahead = (r: BackupRecord) => Date.parse(r.createdAt) - now > FUTURE_TOLERANCE_MS;
  const all = records.filter((r) => r.complete && r.manifest);
  const complete = all.filter((r) => !ahead(r));
  const [newest, previous] = complete;
  const problems = futureProblems(all.filter(ahead), now);
  const newestTime = newest ? Date.parse(newest.createdAt) : -Infinity;
  for (const r of records.filter((x) => !x.complete && Date.parse(x.createdAt) > newestTime)) {
    problems.push({ code: 'INCOMPLETE', message: `${r.name} (${r.createdAt}) is incomplete: ${r.problem ?? 'no valid manifest (the run did not finish)'}` });
  }
  if (!newest) {
    problems.unshift({ code: 'NO_BACKUP', message: 'there is no complete backup in the store' });
    return { ok: false, problems, changes: [] };
  }
  const ageMs = now - newestTime;
  if (ageMs > opts.maxAgeMs) {
    problems.unshift({ code: 'STALE', message: `the newest complete backup ${newest.name} is ${fmtAge(ageMs)} old, over the ${fmtAge(opts.maxAgeMs)} limit` });
  }
  problems.push(...shrunkProblems(newest, complete.slice(1), opts));
  const changes = tableChanges(newest.manifest!, previous?.manifest);
  return { ok: problems.length === 0, problems, newest, previous, ageMs, changes };
}

/** Differences between a verified dump and its manifest, as short phrases. */
function mismatches(m: Manifest, r: Awaited<ReturnType<typeof verify>>, fileSha: string, bytes: number): string[] {
  const out: string[] = [];
  if (bytes !== m.file.bytes) out.push(`${bytes} bytes read, the manifest says ${m.file.bytes}`);
  else if (fileSha !== m.file.sha256) out.push('the file sha256 differs from the manifest');
  if (r.trailer.sha256 !== m.contentSha256) out.push('the content sha256 differs from the manifest');
  for (const [t, x] of Object.entries(m.tables)) {
    const got = Object.hasOwn(r.tables, t) ? r.tables[t] : undefined;
    if (!got || got.rows !== x.rows || got.sha256 !== x.sha256) out.push(`table "${t}" differs from the manifest`);
  }
  return out;
}

/**
 * Downloads (or reads) `record` as a stream and verifies it end to end (src/verify.ts), hashing the bytes as they
 * pass, then compares it with its manifest. A damaged dump is a VERIFY problem; a store that cannot be read throws.
 */
export async function verifyRecord(store: BackupStore, record: BackupRecord, key?: Buffer): Promise<Problem | null> {
  const source = await store.open(record);
  const hash = createHash('sha256');
  let bytes = 0;
  const tapped = Readable.from(
    (async function* () {
      for await (const chunk of source) {
        hash.update(chunk as Buffer);
        bytes += (chunk as Buffer).length;
        yield chunk as Buffer;
      }
    })(),
    { objectMode: false },
  );
  let result: Awaited<ReturnType<typeof verify>>;
  try {
    result = await verify(tapped, { key });
  } catch (e) {
    if (isBackupError(e) && (e.code === 'CORRUPT' || e.code === 'UNSUPPORTED' || e.code === 'DECRYPT')) {
      return { code: 'VERIFY', message: `${record.name} fails verification: ${e.message.split('\n')[0]}` };
    }
    throw e;
  } finally {
    source.destroy();
  }
  const diff = mismatches(record.manifest!, result, hash.digest('hex'), bytes);
  return diff.length ? { code: 'VERIFY', message: `${record.name} does not match its manifest: ${diff.slice(0, 3).join('; ')}` } : null;
}
