/**
 * `report --html FILE [--dir backups | --blob] [--max-age 26h] [--min-rows-ratio 0.9] [--json]`: writes the status
 * page (src/monitor/report-html.ts), one self-contained HTML file, mode 0600 (it names tables and hosts).
 */
import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileOnPath, writeFileAtomic } from '../sink/file.js';
import { BackupError } from '../errors.js';
import { DEFAULT_MAX_AGE, DEFAULT_MIN_ROWS_RATIO, parseDuration, parseRatio } from '../monitor/check.js';
import { statusPage } from '../monitor/report.js';
import type { Parsed } from './args.js';
import { storeFromFlags } from './check.js';
import { makeOut } from './output.js';

/** The operator's --html path, checked before the store is read: a folder, or a file in a folder that is not there. */
function checkHtmlPath(file: string): void {
  const folder = dirname(resolve(file));
  const blocker = fileOnPath(folder);
  if (blocker) throw new BackupError('USAGE', `--html ${file}: ${blocker} is a file, not a folder`);
  const isDir = (path: string) => statSync(path, { throwIfNoEntry: false })?.isDirectory();
  if (isDir(file)) throw new BackupError('USAGE', `--html names a folder (${file}): give the page's file name, e.g. ${join(file, 'status.html')}`);
  if (!isDir(folder)) throw new BackupError('USAGE', `--html ${file}: its folder ${dirname(file)} does not exist`);
}

/** `report --html FILE`: writes the status page. */
export async function reportMain(p: Parsed): Promise<number> {
  const file = p.str('html');
  if (!file) throw new BackupError('USAGE', '--html FILE is required');
  checkHtmlPath(file);
  const maxAgeMs = parseDuration(p.str('max-age') ?? DEFAULT_MAX_AGE);
  const ratio = p.str('min-rows-ratio');
  const minRowsRatio = ratio === undefined ? DEFAULT_MIN_ROWS_RATIO : parseRatio(ratio);
  const store = storeFromFlags(p);
  const out = makeOut({ json: p.bool('json'), quiet: p.bool('quiet') });
  const { html, model } = await statusPage(store, { maxAgeMs, minRowsRatio });
  await writeFileAtomic(file, html);
  out.info(
    `wrote ${file}: ${model.backups.length} backup(s) from ${store.label}; ${model.verdict.ok ? 'OK' : `${model.verdict.problems.length} problem(s)`}: ${model.verdict.summary}`,
  );
  if (p.bool('json')) out.json({ file, backups: model.backups.length, ok: model.verdict.ok, problems: model.verdict.problems });
  return 0;
}
