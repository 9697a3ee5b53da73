/** `drill [SOURCE]`: restores the latest local backup (or SOURCE) into a scratch database and reports pass/fail. */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { drill } from '../drill.js';
import { BackupError } from '../errors.js';
import type { Manifest } from '../format/lines.js';
import { parse } from './args.js';
import { encryptionKeyIfSet } from './keys.js';
import { makeOut } from './output.js';
import { makeProgress } from './progress.js';
import { recordDrillLine } from '../monitor/drills.js';
import { resolveDumpSource } from '../dump-source.js';

const USAGE = 'drill [SOURCE] [--dir backups] [--json] [--quiet]';

/**
 * The newest complete local dump (one with its sidecar manifest) in `dir` or one level below it, by the
 * timestamp in its name.
 */
export function latestLocalBackup(dir: string): string | null {
  if (!existsSync(dir)) return null;
  const found: [string, string][] = [];
  const scan = (d: string, depth: number) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory() && depth === 0) scan(join(d, e.name), 1);
      else if (/^backup-.*\.ndjson\.gz$/.test(e.name) && existsSync(join(d, `${e.name}.manifest.json`))) found.push([e.name, join(d, e.name)]);
    }
  };
  scan(dir, 0);
  found.sort((a, b) => a[0].localeCompare(b[0]));
  return found.length ? found[found.length - 1]![1] : null;
}

export async function drillMain(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(
    argv,
    { dir: { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' } },
    { min: 0, max: 1, usage: USAGE },
  );
  const source = positionals[0] ?? latestLocalBackup(v.dir ?? 'backups');
  if (!source) throw new BackupError('NOT_FOUND', `no complete backup in ${v.dir ?? 'backups'}/: give a SOURCE (a dump file or Blob pathname)`);
  const out = makeOut({ json: v.json, quiet: v.quiet });
  const progress = makeProgress({ quiet: v.quiet });
  const input = await resolveDumpSource(source);
  if (input.legacy) throw new BackupError('USAGE', 'the drill restores turso-backup dumps, not legacy JSON backups');
  const manifestPath = `${source}.manifest.json`;
  const manifest = existsSync(manifestPath) ? (JSON.parse(readFileSync(manifestPath, 'utf8')) as Manifest) : null;
  out.info(`restore drill: ${source} → a scratch database`);
  const report = await drill({
    openInput: input.openInput,
    manifest,
    key: encryptionKeyIfSet(),
    onProgress: (p) => progress.update({ label: p.table, done: p.rows, total: p.totalRows }),
  });
  progress.done();
  for (const c of report.checks) out.info(`  ${c.ok ? 'PASS' : 'FAIL'}  ${c.name}: ${c.detail}`);
  const rows = Object.values(report.tables).reduce((a, b) => a + b, 0);
  out.info(`${report.pass ? 'PASS' : 'FAIL'}: ${Object.keys(report.tables).length} tables, ${rows} rows restored in ${report.durationMs} ms`);
  // An immutable record beside the dump (monitor/drills.ts): the status page and check show the last drill.
  out.info(await recordDrillLine(source, input.label, manifest, report));
  if (v.json) out.json({ pass: report.pass, source, checks: report.checks, tables: report.tables, durationMs: report.durationMs });
  return report.pass ? 0 : 1;
}
