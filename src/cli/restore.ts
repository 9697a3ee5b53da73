/** `restore-turso SOURCE`: dry run by default (verify the dump, inspect the target, print the plan); --confirm loads. */
import { restore, type RestoreResult } from '../restore/restore.js';
import { resolveDumpSource } from '../dump-source.js';
import { targetFactory } from '../target/open.js';
import { requireDatabaseUrl } from '../db/url.js';
import { list, parse } from './args.js';
import { encryptionKeyIfSet } from './keys.js';
import { makeOut, table } from './output.js';
import { makeProgress } from './progress.js';

const USAGE = 'restore-turso SOURCE [--confirm] [--clean] [--tables a,b] [--json] [--quiet]';

export async function restoreMain(argv: string[], signal: AbortSignal): Promise<number> {
  const { values: v, positionals } = parse(
    argv,
    {
      confirm: { type: 'boolean' },
      clean: { type: 'boolean' },
      tables: { type: 'string' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
    },
    { min: 1, max: 1, usage: USAGE },
  );
  const source = positionals[0]!;
  const url = requireDatabaseUrl();
  const out = makeOut({ json: v.json, quiet: v.quiet });
  const progress = makeProgress({ quiet: v.quiet });
  const key = encryptionKeyIfSet();
  const { openInput } = await resolveDumpSource(source);
  const target = await targetFactory(url, process.env.TURSO_AUTH_TOKEN || undefined);
  const common = {
    openInput,
    target,
    confirm: v.confirm ?? false,
    tables: list(v.tables),
    clean: v.clean ?? false,
    key,
    signal,
    onProgress: (p: { table: string; rows: number; totalRows: number }) => progress.update({ label: p.table, done: p.rows, total: p.totalRows }),
  };
  const result = await restore(common);
  progress.done();
  report(result, source, out);
  if (v.json) {
    out.json({
      mode: result.mode,
      target: result.target,
      path: result.path,
      source: result.source,
      tables: result.tables,
      foreignKeyViolations: result.foreignKeyViolations,
      foreignKeysUnchecked: result.foreignKeysUnchecked,
      warnings: result.warnings,
      durationMs: result.durationMs,
      verified: result.verified,
    });
  }
  return 0;
}

function report(r: RestoreResult, source: string, out: ReturnType<typeof makeOut>) {
  const actions: Record<string, string> = {
    'create+load': 'create and load',
    load: 'load into existing table',
    'keep-target': "keep the target's own rows",
    sequence: 'restore AUTOINCREMENT counters',
    rebuild: 'rebuild from its content table',
    'schema-only': 'schema only (its data cannot be dumped; see the warning)',
  };
  out.info(`${r.mode === 'dry-run' ? 'dry run' : 'restored'}: ${source} → ${r.target} (${r.path === 'empty' ? 'empty target: schema created from the dump' : 'migrated target: data loaded into its tables'})`);
  out.info(r.source === 'dump' ? '  the dump verified: checksums, counts and trailer hold' : '  the legacy JSON backup parsed: its shape, tables and columns fit the target (it carries no checksums)');
  for (const line of table(r.plan.map((p) => [p.table, `${p.rows} rows — ${actions[p.action] ?? p.action}${p.targetRows && p.action === 'load' ? ` (target had ${p.targetRows}, replaced)` : ''}`]))) out.info(line);
  for (const w of r.warnings) out.info(`warning: ${w}`);
  const fk = Object.entries(r.foreignKeyViolations);
  if (fk.length) out.info(`warning: foreign key violations after the load: ${fk.map(([t, n]) => `${t} (${n})`).join(', ')}`);
  if (r.mode === 'dry-run') out.info('nothing was written; run again with --confirm to restore');
  else if (r.source === 'dump') out.info(`verified on the target: every table's row count and checksum match the dump (${r.durationMs} ms)`);
  else out.info(`verified on the target: every table's row count matches the backup (${r.durationMs} ms)`);
}
