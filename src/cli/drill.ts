/**
 * `drill [SOURCE]`: restores the latest local backup (or SOURCE) into a scratch database (or --target) and reports
 * PASS/FAIL: exit 0 on PASS, 3 on FAIL (recorded beside the dump). A drill that could not run (no backup, a missing
 * key or variable, a token the target refuses, a target or Blob store it cannot reach, a full disk) exits 2 or 1 with
 * its one-line error and records nothing.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { drill } from '../drill.js';
import { BackupError, EXIT_PROBLEMS } from '../errors.js';
import type { Manifest } from '../format/lines.js';
import type { Parsed } from './args.js';
import { connection } from './connection.js';
import { encryptionKeyIfSet } from './keys.js';
import { makeOut } from './output.js';
import { makeProgress } from './progress.js';
import { recordDrillLine } from '../monitor/drills.js';
import { localDumps } from '../monitor/history.js';
import { resolveDumpSource } from '../dump-source.js';
import { redactUrl } from '../db/url.js';
import { plural } from '../units.js';

/**
 * The newest complete local dump (one with its sidecar manifest) in `dir` or one level below it: any `….ndjson.gz`
 * (monitor/history.ts decides what a dump is and how old, for check and report too), by its manifest's createdAt,
 * else the time in a `backup-<time>` name, else the file's mtime.
 */
export function latestLocalBackup(dir: string): string | null {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return null;
  return localDumps(dir).find((r) => existsSync(r.name) && existsSync(`${r.name}.manifest.json`))?.name ?? null;
}

/** `drill [SOURCE]`: restores into a scratch database (or --target), prints each check; 0 PASS, 3 FAIL (2/1: could not run). */
export async function drillMain(p: Parsed, signal: AbortSignal): Promise<number> {
  const dir = p.str('dir') ?? 'backups';
  const source = p.positionals[0] ?? latestLocalBackup(dir);
  if (!source) throw new BackupError('NOT_FOUND', `no complete backup in ${dir}/: give a SOURCE (a dump file or Blob pathname)`);
  // Only an explicit --target: a drill never restores into TURSO_DATABASE_URL, the app's own database.
  if (p.str('target') === undefined && p.str('auth-token-env') !== undefined) throw new BackupError('USAGE', '--auth-token-env goes with --target URL');
  const target = p.str('target') !== undefined ? connection(p, 'target') : undefined;
  const out = makeOut({ json: p.bool('json'), quiet: p.bool('quiet') });
  const progress = makeProgress({ quiet: p.bool('quiet') });
  const input = await resolveDumpSource(source);
  if (input.legacy) throw new BackupError('USAGE', 'the drill restores turso-backup dumps, not legacy JSON backups');
  const manifestPath = `${source}.manifest.json`;
  const manifest = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest) : null;
  out.info(`restore drill: ${source} → ${target ? redactUrl(target.url) : 'a scratch database'}`);
  const report = await drill({
    openInput: input.openInput,
    manifest,
    key: encryptionKeyIfSet(),
    target,
    signal,
    onProgress: (s) => progress.update({ label: s.table, done: s.rows, total: s.totalRows }),
  });
  progress.done();
  for (const c of report.checks) (c.ok ? out.info : out.warn)(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  // What the restore warned of is not a failed check, but the operator must see it (a drill is how they look).
  for (const w of report.warnings) out.warn(`  note  ${w}`);
  const rows = Object.values(report.tables).reduce((a, b) => a + b, 0);
  (report.pass ? out.info : out.warn)(
    `${report.pass ? 'PASS' : 'FAIL'}: ${plural(Object.keys(report.tables).length, 'table')}, ${plural(rows, 'row')} restored in ${report.durationMs} ms`,
  );
  if (target) out.info(`the drilled database is left in place: ${redactUrl(target.url)}`);
  // An immutable record beside the dump (monitor/drills.ts): the status page and check show the last drill.
  out.info(await recordDrillLine(source, input.fromBlob, manifest, report));
  if (p.bool('json'))
    out.json({
      ok: report.pass,
      pass: report.pass,
      source,
      checks: report.checks,
      warnings: report.warnings,
      tables: report.tables,
      durationMs: report.durationMs,
    });
  return report.pass ? 0 : EXIT_PROBLEMS;
}
