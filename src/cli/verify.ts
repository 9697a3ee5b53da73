/** `verify-backup FILE`: reads a dump end to end without any database; exit 0 only if everything holds. */
import { verify } from '../verify.js';
import { BackupError } from '../errors.js';
import { parse } from './args.js';
import { resolveDumpSource } from '../dump-source.js';
import { encryptionKeyIfSet } from './keys.js';
import { makeOut, table } from './output.js';

const USAGE = 'verify-backup FILE|BLOB_PATHNAME|URL [--json]';

export async function verifyMain(argv: string[]): Promise<number> {
  const { values: v, positionals } = parse(argv, { json: { type: 'boolean' }, quiet: { type: 'boolean' } }, { min: 1, max: 1, usage: USAGE });
  const file = positionals[0]!;
  const out = makeOut({ json: v.json, quiet: v.quiet });
  const started = Date.now();
  const input = await resolveDumpSource(file);
  if (input.legacy) throw new BackupError('CORRUPT', `${file} is a legacy JSON backup, not a turso-backup dump: it has no checksums to verify`);
  const r = await verify(await input.openInput(), { key: encryptionKeyIfSet() });
  out.info(`ok: ${file} (format v${r.header.version}, created ${r.header.createdAt}${r.encrypted ? ', encrypted' : ''})`);
  for (const line of table(Object.entries(r.tables).map(([n, t]) => [n, `${t.rows} rows`]))) out.info(line);
  if (r.media) out.info(`  media inventory: ${r.media.rows} rows`);
  if (v.json) {
    out.json({
      ok: true,
      file,
      version: r.header.version,
      createdAt: r.header.createdAt,
      encrypted: r.encrypted,
      tables: Object.fromEntries(Object.entries(r.tables).map(([n, t]) => [n, t.rows])),
      mediaRows: r.media?.rows ?? 0,
      totalRows: r.trailer.rows,
      sha256: r.trailer.sha256,
      durationMs: Date.now() - started,
    });
  }
  return 0;
}
