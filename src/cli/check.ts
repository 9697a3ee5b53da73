/**
 * `check [--max-age 26h] [--min-rows-ratio 0.9] [--verify] [--dir backups | --blob] [--json]`: is the newest
 * backup recent, complete, sound, and did a table lose rows? Exit 0 with a one-line summary, 3 with one line per
 * problem (src/monitor/check.ts), 2 for usage, 1 when the store cannot be read.
 */
import { requireBlobToken } from '../blob/config.js';
import { BackupError, EXIT_PROBLEMS } from '../errors.js';
import { DEFAULT_MAX_AGE, DEFAULT_MIN_ROWS_RATIO, evaluate, fmtAge, parseDuration, parseRatio, verifyRecord, type Verdict } from '../monitor/check.js';
import { blobStore, localStore, type BackupStore } from '../monitor/history.js';
import { parse } from './args.js';
import { encryptionKeyIfSet } from './keys.js';
import { fmtBytes, makeOut } from './output.js';

const USAGE = 'check [--max-age 26h] [--min-rows-ratio 0.9] [--verify] [--dir backups | --blob [--prefix backups/]] [--json]';

/** Flags shared by check and report: which store to read. */
export const STORE_FLAGS = { dir: { type: 'string' }, blob: { type: 'boolean' }, prefix: { type: 'string' } } as const;

/** The store the flags name: --dir (a local folder), else --blob or BLOB_READ_WRITE_TOKEN (the Blob store). */
export function storeFromFlags(v: { dir?: string; blob?: boolean; prefix?: string }, usage: string): BackupStore {
  if (v.dir !== undefined && (v.blob || v.prefix !== undefined)) throw new BackupError('USAGE', `--dir reads a local folder; --blob/--prefix the Blob store: give one (usage: ${usage})`);
  if (v.dir !== undefined) return localStore(v.dir);
  if (v.blob || v.prefix !== undefined || process.env.BLOB_READ_WRITE_TOKEN?.trim()) return blobStore(requireBlobToken(), v.prefix);
  throw new BackupError('USAGE', `which store? give --dir DIR for a local folder, or set BLOB_READ_WRITE_TOKEN for the Blob store (usage: ${usage})`);
}

/** The one-line summary of a verdict without problems. */
export function okLine(v: Verdict, maxAgeMs: number, verified: boolean): string {
  const n = v.newest!;
  const m = n.manifest!;
  return `ok: newest backup ${n.name} is ${fmtAge(v.ageMs!)} old (limit ${fmtAge(maxAgeMs)}), complete${verified ? ', verified' : ''}: ${Object.keys(m.tables).length} tables, ${m.totalRows} rows, ${fmtBytes(n.size)}`;
}

export async function checkMain(argv: string[]): Promise<number> {
  const { values: v } = parse(
    argv,
    { 'max-age': { type: 'string' }, 'min-rows-ratio': { type: 'string' }, verify: { type: 'boolean' }, json: { type: 'boolean' }, ...STORE_FLAGS },
    { min: 0, max: 0, usage: USAGE },
  );
  const maxAgeMs = parseDuration(v['max-age'] ?? DEFAULT_MAX_AGE);
  const minRowsRatio = v['min-rows-ratio'] === undefined ? DEFAULT_MIN_ROWS_RATIO : parseRatio(v['min-rows-ratio']);
  const store = storeFromFlags(v, USAGE);
  const key = v.verify ? encryptionKeyIfSet() : undefined;
  const out = makeOut({ json: v.json });
  const verdict = evaluate(await store.list(), { maxAgeMs, minRowsRatio });
  let verified = false;
  if (v.verify && verdict.newest) {
    const problem = await verifyRecord(store, verdict.newest, key);
    if (problem) verdict.problems.push(problem);
    verified = !problem;
    verdict.ok = verdict.problems.length === 0;
  }
  if (verdict.ok) out.info(okLine(verdict, maxAgeMs, verified));
  for (const p of verdict.problems) out.info(`${p.code}: ${p.message}`);
  if (v.json) {
    const n = verdict.newest;
    out.json({
      ok: verdict.ok,
      store: store.label,
      maxAgeMs,
      minRowsRatio,
      newest: n ? { name: n.name, createdAt: n.createdAt, ageMs: verdict.ageMs, bytes: n.size, rows: n.manifest!.totalRows, tables: Object.keys(n.manifest!.tables).length, verified } : null,
      previous: verdict.previous?.name ?? null,
      problems: verdict.problems,
    });
  }
  return verdict.ok ? 0 : EXIT_PROBLEMS;
}
