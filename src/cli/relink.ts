/**
 * `relink-media --from PREFIX --to PREFIX | --map FILE [--confirm] [--json]`: re-points the media rows of
 * TURSO_DATABASE_URL after the media moved. Dry run by default (counts and a few examples); --confirm applies it in
 * one transaction. The rule is in src/media/relink.ts and docs/notes-media.md.
 */
import { BackupError } from '../errors.js';
import { openDb } from '../db/open.js';
import { readMapFile, relinkMedia, type RelinkRule } from '../media/relink.js';
import { requireDatabaseUrl } from '../db/url.js';
import { parse } from './args.js';
import { fullSpec, MEDIA_FLAGS, MEDIA_USAGE } from './media-common.js';
import { makeOut } from './output.js';
import { scrub } from './run.js';

const USAGE = `relink-media (--from PREFIX --to PREFIX | --map FILE) [--confirm] [--json] ${MEDIA_USAGE} [--quiet]`;

export async function relinkMain(argv: string[]): Promise<number> {
  const { values: v } = parse(
    argv,
    {
      from: { type: 'string' },
      to: { type: 'string' },
      map: { type: 'string' },
      confirm: { type: 'boolean' },
      json: { type: 'boolean' },
      quiet: { type: 'boolean' },
      ...MEDIA_FLAGS,
    },
    { min: 0, max: 0, usage: USAGE },
  );
  let rule: RelinkRule;
  if (v.map !== undefined) {
    if (v.from !== undefined || v.to !== undefined) throw new BackupError('USAGE', `--map cannot be combined with --from/--to (usage: ${USAGE})`);
    rule = { kind: 'map', map: await readMapFile(v.map) };
  } else {
    if (v.from === undefined || v.to === undefined) throw new BackupError('USAGE', `give both --from and --to, or --map (usage: ${USAGE})`);
    if (v.from === '') throw new BackupError('USAGE', '--from must not be empty (it would match every url)');
    if (v.from === v.to) throw new BackupError('USAGE', '--from and --to are the same prefix: nothing to do');
    rule = { kind: 'prefix', from: v.from, to: v.to };
  }
  const spec = fullSpec(v);
  const out = makeOut({ json: v.json, quiet: v.quiet });
  const db = await openDb(requireDatabaseUrl(), { authToken: process.env.TURSO_AUTH_TOKEN || undefined });
  try {
    const r = await relinkMedia(db, spec, rule, { confirm: v.confirm === true });
    const what = rule.kind === 'map' ? `the ${rule.map.size}-entry map` : `${rule.from} → ${rule.to}`;
    const paths = r.pathnames ? ` (${r.pathnames} with their ${spec.pathnameColumn} too)` : '';
    if (r.mode === 'dry-run') {
      out.info(`dry run: ${r.matched} ${spec.table} rows of ${db.displayUrl} would be relinked by ${what}${paths}; nothing was changed`);
    } else {
      out.info(`relinked ${r.changed} ${spec.table} rows of ${db.displayUrl} by ${what}${paths}, in one transaction`);
    }
    // Urls are not secrets, but a signed url's query may carry one: printed output goes through scrub().
    for (const e of r.examples) {
      out.info(scrub(`  id=${e.id ?? '?'}: ${e.url.old} → ${e.url.new}${e.pathname ? ` (${spec.pathnameColumn}: ${e.pathname.old} → ${e.pathname.new})` : ''}`));
    }
    if (r.matched > r.examples.length) out.info(`  … and ${r.matched - r.examples.length} more`);
    if (r.mode === 'dry-run' && r.matched > 0) out.info('run again with --confirm to apply');
    if (v.json) {
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
