/**
 * `check [--max-age 26h] [--min-rows-ratio 0.9] [--verify] [--dir backups | --blob] [--json]`: is the newest
 * backup recent, complete, sound, and did a table lose rows? Exit 0 with a one-line summary, 3 with one line per
 * problem (src/monitor/check.ts), 2 for usage, 1 when the store cannot be read. --quiet drops the summary, never
 * a problem line.
 */
import { requireBlobToken } from '../blob/config.js';
import { BackupError, EXIT_PROBLEMS } from '../errors.js';
import { DEFAULT_MAX_AGE, DEFAULT_MIN_ROWS_RATIO, evaluate, fmtAge, parseDuration, parseRatio, verifyRecord, type Verdict } from '../monitor/check.js';
import { blobStore, localStore, type BackupStore } from '../monitor/history.js';
import type { Parsed } from './args.js';
import { encryptionKeyIfSet } from './keys.js';
import { fmtBytes, makeOut } from './output.js';
import { plural } from '../units.js';

/** The store the flags name: --dir (a local folder), else --blob or BLOB_READ_WRITE_TOKEN (the Blob store). */
export function storeFromFlags(p: Parsed): BackupStore {
  const [dir, blob, prefix] = [p.str('dir'), p.bool('blob'), p.str('prefix')];
  if (dir !== undefined && (blob || prefix !== undefined))
    throw new BackupError('USAGE', '--dir reads a local folder; --blob/--prefix the Blob store: give one');
  if (dir !== undefined) return localStore(dir);
  if (blob || prefix !== undefined || process.env.BLOB_READ_WRITE_TOKEN?.trim()) return blobStore(requireBlobToken(), prefix);
  throw new BackupError('USAGE', 'which store? give --dir DIR for a local folder, or set BLOB_READ_WRITE_TOKEN for the Blob store');
}

/** The one-line summary of a verdict without problems. */
export function okLine(v: Verdict, maxAgeMs: number, verified: boolean): string {
  const n = v.newest!;
  const m = n.manifest!;
  return `ok: newest backup ${n.name} is ${fmtAge(v.ageMs!)} old (limit ${fmtAge(maxAgeMs)}), complete${verified ? ', verified' : ''}: ${plural(Object.keys(m.tables).length, 'table')}, ${plural(m.totalRows, 'row')}, ${fmtBytes(n.size)}`;
}

/** `check`: 0 with one ok line, 3 with one line per problem. */
export async function checkMain(p: Parsed): Promise<number> {
  const maxAgeMs = parseDuration(p.str('max-age') ?? DEFAULT_MAX_AGE);
  const ratio = p.str('min-rows-ratio');
  const minRowsRatio = ratio === undefined ? DEFAULT_MIN_ROWS_RATIO : parseRatio(ratio);
  const store = storeFromFlags(p);
  const key = p.bool('verify') ? encryptionKeyIfSet() : undefined;
  const out = makeOut({ json: p.bool('json'), quiet: p.bool('quiet') });
  // --quiet drops the ok line only: a problem line is the one thing the operator (or a cron's mail) must see.
  const problemOut = makeOut({ json: p.bool('json') });
  const verdict = evaluate(await store.list(), { maxAgeMs, minRowsRatio });
  let verified = false;
  if (p.bool('verify') && verdict.newest) {
    const problem = await verifyRecord(store, verdict.newest, key);
    if (problem) verdict.problems.push(problem);
    verified = !problem;
    verdict.ok = verdict.problems.length === 0;
  }
  if (verdict.ok) out.info(okLine(verdict, maxAgeMs, verified));
  for (const problem of verdict.problems) problemOut.info(`${problem.code}: ${problem.message}`);
  if (p.bool('json')) {
    const n = verdict.newest;
    out.json({
      ok: verdict.ok,
      store: store.label,
      maxAgeMs,
      minRowsRatio,
      newest: n
        ? {
            name: n.name,
            createdAt: n.createdAt,
            ageMs: verdict.ageMs,
            bytes: n.size,
            rows: n.manifest!.totalRows,
            tables: Object.keys(n.manifest!.tables).length,
            verified,
          }
        : null,
      previous: verdict.previous?.name ?? null,
      problems: verdict.problems,
    });
  }
  return verdict.ok ? 0 : EXIT_PROBLEMS;
}
