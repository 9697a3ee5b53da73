/** `verify FILE`: reads a dump end to end without any database; exit 0 only if everything holds, 3 if it is damaged. */
import { verifyDump } from '../api/verify.js';
import type { Parsed } from './args.js';
import { encryptionKeyIfSet } from './keys.js';
import { makeOut, table } from './output.js';
import { plural } from '../units.js';

/** `verify FILE`: prints what the dump holds, or fails (CORRUPT: exit 3). */
export async function verifyMain(p: Parsed, signal: AbortSignal): Promise<number> {
  const file = p.positionals[0]!;
  const out = makeOut({ json: p.bool('json'), quiet: p.bool('quiet') });
  const r = await verifyDump(file, { encryptionKey: encryptionKeyIfSet(), signal });
  out.info(`ok: ${file} (format v${r.version}, created ${r.createdAt}${r.encrypted ? ', encrypted' : ''})`);
  for (const line of table(Object.entries(r.tables).map(([n, rows]) => [n, plural(rows, 'row')]))) out.info(line);
  if (r.mediaRows) out.info(`  media inventory: ${plural(r.mediaRows, 'row')}`);
  if (p.bool('json')) out.json(r);
  return 0;
}
