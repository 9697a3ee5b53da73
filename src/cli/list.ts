/** `list [--json]`: the backups in the Vercel Blob store, newest first, with what their manifests say. */
import { requireBlobToken } from '../blob/config.js';
import type { Parsed } from './args.js';
import { fmtBytes, makeOut } from './output.js';

/** `list`: the backups in the Blob store, newest first. */
export async function listMain(p: Parsed): Promise<number> {
  const token = requireBlobToken();
  const out = makeOut({ json: p.bool('json'), quiet: p.bool('quiet') });
  const { listBackups } = await import('../blob/list.js');
  const listing = await listBackups(token, { prefix: p.str('prefix') });
  const complete = listing.backups.filter((b) => b.complete).length;
  out.info(`${listing.backups.length} backup(s) under ${listing.prefix}: ${complete} complete, ${listing.backups.length - complete} incomplete`);
  if (listing.backups.length > 0) {
    const rows = listing.backups.map((b) => [
      b.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'),
      fmtBytes(b.size),
      b.tables === undefined ? '-' : String(b.tables),
      b.rows === undefined ? '-' : b.rows.toLocaleString('en-US'),
      b.complete ? (b.encrypted ? 'complete, encrypted' : 'complete') : `INCOMPLETE: ${b.problem}`,
      b.pathname,
    ]);
    const head = ['created (UTC)', 'size', 'tables', 'rows', 'status', 'pathname'];
    const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
    const fmt = (r: string[]) =>
      `  ${r.map((c, i) => (i === r.length - 1 ? c : i === 1 || i === 2 || i === 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ')}`;
    out.info(fmt(head));
    for (const r of rows) out.info(fmt(r));
  }
  for (const o of listing.orphans) out.info(`  orphan manifest (its dump is gone): ${o.pathname}`);
  if (p.bool('json')) {
    out.json({
      prefix: listing.prefix,
      backups: listing.backups.map((b) => ({
        pathname: b.pathname,
        url: b.url,
        size: b.size,
        createdAt: b.createdAt,
        uploadedAt: b.uploadedAt,
        complete: b.complete,
        problem: b.problem ?? null,
        manifest: b.manifest?.pathname ?? null,
        tables: b.tables ?? null,
        rows: b.rows ?? null,
        sha256: b.sha256 ?? null,
        encrypted: b.encrypted ?? null,
      })),
      orphans: listing.orphans.map((o) => o.pathname),
    });
  }
  return 0;
}
