/**
 * `--profile`: one backup and one restore of a shape through the README's commands, with V8's CPU profiler on in the
 * process doing the work (bench/probe.cjs, switched on by BENCH_PROFILE_DIR), summarized per thread
 * (bench/profile.ts). The profiled runs are extra: their times are not in the table (profiling costs ~5–10 %).
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Measured } from './measure.js';
import { formatSummary, summarize } from './profile.js';
import { ensureDumps, runOursBackup, runOursRestore, type Files } from './shape-bench.js';

/** How to read the summaries; printed once after them. */
export const PROFILE_NOTE =
  "\n(Self time. V8 often books a native call to its JS caller: better-sqlite3's `all()`/`run()` usually show as the " +
  'self time of the function calling them, e.g. `query` in src/db/local.ts is row fetching. Idle: the thread waited.)';

async function profiled(dir: string, run: (env: NodeJS.ProcessEnv) => Promise<Measured>): Promise<{ m: Measured; files: string[] }> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const m = await run({ BENCH_PROFILE_DIR: dir });
  // One file per thread of the working process: `<pid>-<threadId>.cpuprofile`, main thread first.
  const files = readdirSync(dir)
    .filter((f) => m.work && f.startsWith(`${m.work.pid}-`))
    .sort((a, b) => Number(a.split('-')[1]!.split('.')[0]) - Number(b.split('-')[1]!.split('.')[0]))
    .map((f) => join(dir, f));
  return { m, files };
}

function describe(shape: string, job: string, m: Measured, files: string[]): string[] {
  const out = [
    `\n### profile: ${shape} ${job} — ${(m.ms / 1000).toFixed(2)} s wall (profiled run), ` +
      `${((m.cpuMs ?? NaN) / 1000).toFixed(2)} s CPU u+s of the working process, peak RSS ${m.peakRssMb?.toFixed(0)} MB`,
  ];
  if (!files.length) return [...out, 'no profile was written (did the working process exit normally?)'];
  files.forEach((f, i) => void out.push(...formatSummary(i === 0 ? 'main thread' : `worker thread ${i}`, summarize(f))));
  return out;
}

/** Markdown summaries of one profiled backup and/or restore (per `only`) of the database at `db`. */
export async function profileShape(shape: string, db: string, files: Files, only: Set<string>): Promise<string[]> {
  const out: string[] = [];
  const base = join(files.targets, '..', 'profiles');
  if (only.has('backup')) {
    const { m, files: profiles } = await profiled(join(base, 'backup'), (env) => runOursBackup(`file:${db}`, files.dump, env));
    out.push(...describe(shape, 'backup', m, profiles));
  }
  if (only.has('restore')) {
    await ensureDumps(db, files);
    const { m, files: profiles } = await profiled(join(base, 'restore'), (env) => runOursRestore(files.dump, files.targets, env));
    out.push(...describe(shape, 'restore', m, profiles));
  }
  return out;
}
