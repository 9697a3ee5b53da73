/** `restore SOURCE`: dry run by default (verify the dump, inspect the target, print the plan); --confirm loads. */
import { runRestore, summarizeRestore } from '../api/restore.js';
import type { RestoreResult } from '../restore/restore.js';
import { list, type Parsed } from './args.js';
import { connection } from './connection.js';
import { encryptionKeyIfSet } from './keys.js';
import { plural } from '../units.js';
import { makeOut, table, type Out } from './output.js';
import { makeProgress } from './progress.js';

/** `restore SOURCE`: verifies, plans and (with --confirm) loads; prints the plan, then the --json summary. */
export async function restoreMain(p: Parsed, signal: AbortSignal): Promise<number> {
  const source = p.positionals[0]!;
  const target = connection(p, 'target');
  const out = makeOut({ json: p.bool('json'), quiet: p.bool('quiet') });
  const progress = makeProgress({ quiet: p.bool('quiet') });
  const result = await runRestore({
    source,
    target: target.url,
    authToken: target.authToken,
    confirm: p.bool('confirm'),
    tables: list(p.str('tables')),
    clean: p.bool('clean'),
    encryptionKey: encryptionKeyIfSet(),
    signal,
    onProgress: (s) => progress.update({ label: s.table, done: s.rows, total: s.totalRows }),
  });
  progress.done();
  report(result, source, out);
  if (p.bool('json')) out.json(summarizeRestore(result));
  return 0;
}

function report(r: RestoreResult, source: string, out: Out) {
  const actions: Record<string, string> = {
    'create+load': 'create and load',
    load: 'load into existing table',
    'keep-target': "keep the target's own rows",
    sequence: 'restore AUTOINCREMENT counters',
    rebuild: 'rebuild from its content table',
    'schema-only': 'schema only (its data cannot be dumped; see the warning)',
  };
  out.info(
    `${r.mode === 'dry-run' ? 'dry run' : 'restored'}: ${source} → ${r.target} (${r.path === 'empty' ? 'empty target: schema created from the dump' : 'migrated target: data loaded into its tables'})`,
  );
  out.info(
    r.source === 'dump'
      ? '  the dump verified: checksums, counts and trailer hold'
      : '  the legacy JSON backup parsed: its shape, tables and columns fit the target (it carries no checksums)',
  );
  for (const line of table(
    r.plan.map((p) => [
      p.table,
      p.action === 'keep'
        ? `left as it is — ${plural(p.targetRows, 'row')} on the target, ${p.why}`
        : `${plural(p.rows, 'row')} — ${actions[p.action] ?? p.action}${p.targetRows && p.action === 'load' ? ` (target had ${p.targetRows}, replaced)` : ''}`,
    ]),
  ))
    out.info(line);
  for (const w of r.warnings) out.warn(`warning: ${w}`);
  const fk = Object.entries(r.foreignKeyViolations);
  if (fk.length) out.warn(`warning: foreign key violations after the load: ${fk.map(([t, n]) => `${t} (${n})`).join(', ')}`);
  if (r.mode === 'dry-run') out.info('nothing was written; run again with --confirm to restore');
  else if (r.source === 'dump') out.info(`verified on the target: every table's row count and checksum match the dump (${r.durationMs} ms)`);
  else out.info(`verified on the target: every table's row count matches the backup (${r.durationMs} ms)`);
}
