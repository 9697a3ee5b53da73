/**
 * `prune --keep-daily N --keep-weekly N --keep-monthly N [--confirm]`: retention over the Blob store like
 * restic's `forget`. A dry run (the default) lists what would be deleted; --confirm deletes each dropped dump with
 * its manifest. The newest complete backup is never deleted; incomplete dumps older than a day are deleted too. A
 * backup dated in the future (a clock ahead) counts for no rule and is not deleted (retention.ts).
 */
import { requireBlobToken } from '../blob/config.js';
import { describePolicy, type RetentionPolicy } from '../blob/retention.js';
import { BackupError } from '../errors.js';
import { positiveInt, type Parsed } from './args.js';
import { fmtBytes, makeOut } from './output.js';

/** `prune`: the retention policy over the Blob store (deletes only with --confirm). */
export async function pruneMain(p: Parsed): Promise<number> {
  const keep = (what: string) => p.str(`keep-${what}`);
  if (keep('daily') === undefined && keep('weekly') === undefined && keep('monthly') === undefined) {
    throw new BackupError('USAGE', 'give at least one of --keep-daily, --keep-weekly, --keep-monthly');
  }
  const policy: RetentionPolicy = {
    daily: positiveInt(keep('daily'), '--keep-daily', 0),
    weekly: positiveInt(keep('weekly'), '--keep-weekly', 0),
    monthly: positiveInt(keep('monthly'), '--keep-monthly', 0),
  };
  const token = requireBlobToken();
  const out = makeOut({ json: p.bool('json'), quiet: p.bool('quiet') });
  const { pruneBackups } = await import('../blob/prune.js');
  const r = await pruneBackups(token, policy, { confirm: p.bool('confirm'), prefix: p.str('prefix') });
  out.info(
    `${r.mode === 'dry-run' ? 'dry run' : 'prune'}: policy ${describePolicy(policy)}; the newest complete backup is always kept; incomplete dumps older than a day are deleted too`,
  );
  for (const k of r.keep) out.info(`  keep    ${k.pathname}  (${k.reasons.join('; ')})`);
  for (const d of r.remove)
    out.info(
      `  ${r.mode === 'dry-run' ? 'would delete' : 'deleted'}  ${d.pathname}${d.pathnames.length > 1 ? ' + manifest' : ''}  ${fmtBytes(d.size)}  (${d.reasons.join('; ')})`,
    );
  const freed = r.remove.reduce((n, d) => n + d.size, 0);
  if (r.mode === 'dry-run') out.info(`${r.remove.length} to delete (${fmtBytes(freed)}), ${r.keep.length} kept; nothing was deleted: run again with --confirm`);
  else out.info(`deleted ${r.remove.length} (${r.deleted.length} blobs, ${fmtBytes(freed)}), ${r.keep.length} kept`);
  if (p.bool('json')) {
    out.json({
      mode: r.mode,
      policy: r.policy,
      keep: r.keep.map((k) => ({ pathname: k.pathname, createdAt: k.createdAt, complete: k.complete, reasons: k.reasons })),
      remove: r.remove.map((d) => ({
        pathname: d.pathname,
        createdAt: d.createdAt,
        complete: d.complete,
        size: d.size,
        reasons: d.reasons,
        pathnames: d.pathnames,
      })),
      deleted: r.deleted,
    });
  }
  return 0;
}
