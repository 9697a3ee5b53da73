/**
 * One shape's backup and restore runs: ours through the README's commands against the anchors, alternating which
 * goes first in each run (the machine's speed drifts; alternation spreads the drift over both sides).
 */
import { closeSync, mkdirSync, openSync, readSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { measure, type Command, type Measured } from './measure.js';

/** The runs of one job (backup or restore) on one shape. */
export interface JobRuns {
  ours: Measured[];
  anchor: Measured[];
  /** Output sizes of the last run (backup only). */
  oursBytes?: number;
  anchorBytes?: number;
  /** Our one run on the 3× database, when asked for. */
  triple?: Measured;
}

/** Where one shape's dumps and restore targets go; the dumps stay for the restore runs and --profile. */
export interface Files {
  dump: string;
  sql: string;
  /** Emptied before each restore run. */
  targets: string;
}

/** The files of the shape whose work directory is `dir` (created if missing). */
export function filesFor(dir: string): Files {
  mkdirSync(dir, { recursive: true });
  return { dump: join(dir, 'ours.ndjson.gz'), sql: join(dir, 'anchor.sql.gz'), targets: join(dir, 'targets') };
}

const q = (p: string) => `'${p.replaceAll("'", "'\\''")}'`;
const withDb = (url: string, extra: NodeJS.ProcessEnv = {}) => ({ ...process.env, ...extra, TURSO_DATABASE_URL: url });

/** The README's backup command; `url` is TURSO_DATABASE_URL. `extraEnv`: e.g. --profile's BENCH_PROFILE_DIR. */
export const oursBackup = (url: string, out: string, extraEnv?: NodeJS.ProcessEnv): Command => ({
  argv: ['npx', 'tsx', 'scripts/backup-turso.ts', '--write', '--out', out, '--quiet'],
  env: withDb(url, extraEnv),
});
/** The backup anchor: a savvy operator's two-core C pipe. */
export const anchorBackup = (db: string, out: string): Command => ({ shell: `sqlite3 ${q(db)} .dump | pigz -p 2 -6 > ${q(out)}` });
/** The README's restore command into TURSO_DATABASE_URL=`url` (here: a new file, or an empty remote database). */
export const oursRestore = (dump: string, url: string, extraEnv?: NodeJS.ProcessEnv): Command => ({
  argv: ['npx', 'tsx', 'scripts/restore-turso.ts', dump, '--confirm', '--quiet'],
  env: withDb(url, extraEnv),
});
/** The restore anchor, into a new file. */
export const anchorRestore = (sql: string, target: string): Command => ({ shell: `gunzip -c ${q(sql)} | sqlite3 ${q(target)}` });

/** Our backup of `url` into `dump` (a previous dump and manifest removed first: --write refuses to overwrite). */
export function runOursBackup(url: string, dump: string, extraEnv?: NodeJS.ProcessEnv): Promise<Measured> {
  rmSync(dump, { force: true });
  rmSync(`${dump}.manifest.json`, { force: true });
  return measure(oursBackup(url, dump, extraEnv));
}

/** Our restore of `dump` into a new file in an emptied `targets` directory, deleted afterwards (disk). */
export async function runOursRestore(dump: string, targets: string, extraEnv?: NodeJS.ProcessEnv): Promise<Measured> {
  freshDir(targets);
  try {
    return await measure(oursRestore(dump, `file:${join(targets, 'restored.db')}`, extraEnv));
  } finally {
    rmSync(targets, { recursive: true, force: true });
  }
}

function freshDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
}

/**
 * Reads `paths` once, untimed, so that both sides start with them in the page cache. Without it the first run of
 * a job paid alone for reading its input from disk (this machine reclaims idle page cache), and that first run is
 * always ours: the first of each backup job was a second slower than the rest on current and events.
 */
function warm(paths: string[]): void {
  const buf = Buffer.allocUnsafe(4 << 20);
  for (const p of paths) {
    const fd = openSync(p, 'r');
    try {
      while (readSync(fd, buf, 0, buf.length, null) > 0);
    } finally {
      closeSync(fd);
    }
  }
}

/**
 * `runs` alternating pairs; `ours`/`anchor` run one side once. `inputs` are read once before the first, and each
 * side runs once untimed before them (a warm-up, as hyperfine's --warmup): the first run of a job is always ours,
 * and it was the slow one on wide's and events' restores (0.5–0.9 s over the later runs in two full runs of
 * session 25; 0.07–0.2 s by hand), and after an edit to the sources it also bundled them (docs/BENCHMARKS.md).
 */
async function alternate(runs: number, ours: () => Promise<Measured>, anchor: () => Promise<Measured>, inputs: string[]): Promise<JobRuns> {
  warm(inputs);
  if (runs > 0) {
    await ours();
    await anchor();
  }
  const r: JobRuns = { ours: [], anchor: [] };
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) {
      r.ours.push(await ours());
      r.anchor.push(await anchor());
    } else {
      r.anchor.push(await anchor());
      r.ours.push(await ours());
    }
  }
  return r;
}

/** `runs` alternating backups, ours and the anchor's; sizes are those of the last run's outputs. */
export async function backupRuns(db: string, f: Files, runs: number): Promise<JobRuns> {
  const r = await alternate(
    runs,
    () => runOursBackup(`file:${db}`, f.dump),
    () => {
      rmSync(f.sql, { force: true });
      return measure(anchorBackup(db, f.sql));
    },
    [db],
  );
  return { ...r, oursBytes: statSync(f.dump).size, anchorBytes: statSync(f.sql).size };
}

/** Restores need both dumps: made once, untimed, when the backup job did not run. */
export async function ensureDumps(db: string, f: Files): Promise<void> {
  const missing = (p: string) => {
    try {
      return statSync(p).size === 0;
    } catch {
      return true;
    }
  };
  if (missing(f.dump) || missing(`${f.dump}.manifest.json`)) await runOursBackup(`file:${db}`, f.dump);
  if (missing(f.sql)) await measure(anchorBackup(db, f.sql));
}

/** `runs` alternating restores of the dumps in `f`, each into a new file. */
export async function restoreRuns(f: Files, runs: number): Promise<JobRuns> {
  return alternate(
    runs,
    () => runOursRestore(f.dump, f.targets),
    async () => {
      freshDir(f.targets);
      try {
        return await measure(anchorRestore(f.sql, join(f.targets, 'anchor.db')));
      } finally {
        rmSync(f.targets, { recursive: true, force: true });
      }
    },
    [f.dump, f.sql],
  );
}
