/**
 * `report --html FILE [--dir backups | --blob] [--max-age 26h] [--min-rows-ratio 0.9] [--json]`: writes the status
 * page (src/monitor/report-html.ts), one self-contained HTML file, mode 0600 (it names tables and hosts).
 */
import { writeFileAtomic } from '../sink/file.js';
import { BackupError } from '../errors.js';
import { DEFAULT_MAX_AGE, DEFAULT_MIN_ROWS_RATIO, parseDuration, parseRatio } from '../monitor/check.js';
import { statusPage } from '../monitor/report.js';
import { parse } from './args.js';
import { STORE_FLAGS, storeFromFlags } from './check.js';
import { makeOut } from './output.js';

const USAGE = 'backup-report --html FILE [--dir backups | --blob [--prefix backups/]] [--max-age 26h] [--min-rows-ratio 0.9] [--json] [--quiet]';

export async function reportMain(argv: string[]): Promise<number> {
  const { values: v } = parse(
    argv,
    { html: { type: 'string' }, 'max-age': { type: 'string' }, 'min-rows-ratio': { type: 'string' }, json: { type: 'boolean' }, quiet: { type: 'boolean' }, ...STORE_FLAGS },
    { min: 0, max: 0, usage: USAGE },
  );
  if (!v.html) throw new BackupError('USAGE', `--html FILE is required (usage: ${USAGE})`);
  const maxAgeMs = parseDuration(v['max-age'] ?? DEFAULT_MAX_AGE);
  const minRowsRatio = v['min-rows-ratio'] === undefined ? DEFAULT_MIN_ROWS_RATIO : parseRatio(v['min-rows-ratio']);
  const store = storeFromFlags(v, USAGE);
  const out = makeOut({ json: v.json, quiet: v.quiet });
  const { html, model } = await statusPage(store, { maxAgeMs, minRowsRatio });
  await writeFileAtomic(v.html, html);
  out.info(`wrote ${v.html}: ${model.backups.length} backup(s) from ${store.label}; ${model.verdict.ok ? 'OK' : `${model.verdict.problems.length} problem(s)`}: ${model.verdict.summary}`);
  if (v.json) out.json({ file: v.html, backups: model.backups.length, ok: model.verdict.ok, problems: model.verdict.problems });
  return 0;
}
