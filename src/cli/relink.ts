/**
 * `relink --from PREFIX --to PREFIX | --map FILE [--confirm] [--json]`: re-points the media rows of the database
 * (--db, else TURSO_DATABASE_URL) after the media moved. Dry run by default (counts and a few examples); --confirm
 * applies it in one transaction. The rule is in src/media/relink.ts and docs/notes-media.md.
 */
import { BackupError } from '../errors.js';
import { openDb } from '../db/open.js';
import { readMapFile, relinkMedia, type RelinkRule } from '../media/relink.js';
import type { Parsed } from './args.js';
import { connection } from './connection.js';
import { fullSpec } from './media-common.js';
import { makeOut } from './output.js';
import { scrub } from './run.js';

async function ruleOf(p: Parsed): Promise<RelinkRule> {
  const [from, to, map] = [p.str('from'), p.str('to'), p.str('map')];
  if (map !== undefined) {
    if (from !== undefined || to !== undefined) throw new BackupError('USAGE', '--map cannot be combined with --from/--to');
    return { kind: 'map', map: await readMapFile(map) };
  }
  if (from === undefined || to === undefined) throw new BackupError('USAGE', 'give both --from and --to, or --map');
  if (from === '') throw new BackupError('USAGE', '--from must not be empty (it would match every url)');
  if (from === to) throw new BackupError('USAGE', '--from and --to are the same prefix: nothing to do');
  return { kind: 'prefix', from, to };
}

/** `relink`: re-points the media rows (in one transaction with --confirm). */
export async function relinkMain(p: Parsed): Promise<number> {
  const rule = await ruleOf(p);
  const spec = fullSpec(p);
  const out = makeOut({ json: p.bool('json'), quiet: p.bool('quiet') });
  const conn = connection(p, 'db');
  const db = await openDb(conn.url, { authToken: conn.authToken });
  try {
    const r = await relinkMedia(db, spec, rule, { confirm: p.bool('confirm') });
    const what = rule.kind === 'map' ? `the ${rule.map.size}-entry map` : `${rule.from} → ${rule.to}`;
    const paths = r.pathnames ? ` (${r.pathnames} with their ${spec.pathnameColumn} too)` : '';
    if (r.mode === 'dry-run') {
      out.info(`dry run: ${r.matched} ${spec.table} rows of ${db.displayUrl} would be relinked by ${what}${paths}; nothing was changed`);
    } else {
      out.info(`relinked ${r.changed} ${spec.table} rows of ${db.displayUrl} by ${what}${paths}, in one transaction`);
    }
    // Urls are not secrets, but a signed url's query may carry one: printed output goes through scrub().
    for (const e of r.examples) {
      out.info(
        scrub(`  id=${e.id ?? '?'}: ${e.url.old} → ${e.url.new}${e.pathname ? ` (${spec.pathnameColumn}: ${e.pathname.old} → ${e.pathname.new})` : ''}`),
      );
    }
    if (r.matched > r.examples.length) out.info(`  … and ${r.matched - r.examples.length} more`);
    if (r.mode === 'dry-run' && r.matched > 0) out.info('run again with --confirm to apply');
    if (p.bool('json')) {
      out.json({
        mode: r.mode,
        matched: r.matched,
        changed: r.changed,
        pathnames: r.pathnames,
        examples: r.examples.map((e) => ({ ...e, url: { old: scrub(e.url.old), new: scrub(e.url.new) } })),
        durationMs: r.durationMs,
      });
    }
    return 0;
  } finally {
    await db.close();
  }
}
