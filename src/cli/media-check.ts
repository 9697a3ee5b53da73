/**
 * `media-check [DUMP] [--json] [--concurrency N]`: is every inventoried object in the Blob store of
 * BLOB_READ_WRITE_TOKEN? Exit 0 when all are present, 3 when any is missing (or could not be looked up); a refused
 * token or a failing store is a failure of the command (exit 1, one line), never "N missing objects".
 */
import { checkStoreAccess, requireBlobToken } from '../blob/client.js';
import { EXIT_PROBLEMS } from '../errors.js';
import { checkMedia, DEFAULT_CONCURRENCY } from '../media/check.js';
import type { Parsed } from './args.js';
import { concurrencyFlag, dumpArg, resolveInventory } from './media-common.js';
import { makeOut } from './output.js';
import { makeProgress } from './progress.js';
import { scrub } from './run.js';

/** Missing objects listed one per line on the human output; beyond this many, only counted. */
const LIST_LIMIT = 1000;

/** `media-check [DUMP]`: 0 when every object is present, 3 when any is missing or cannot be checked. */
export async function mediaCheckMain(p: Parsed, signal?: AbortSignal): Promise<number> {
  const concurrency = concurrencyFlag(p.str('concurrency'), DEFAULT_CONCURRENCY);
  const token = requireBlobToken();
  const out = makeOut({ json: p.bool('json'), quiet: p.bool('quiet') });
  const inventory = await resolveInventory(dumpArg(p), p);
  await checkStoreAccess(token, signal);

  const progress = makeProgress({ quiet: p.bool('quiet'), unit: 'objects' });
  let total = 0;
  let listed = 0;
  const list = (line: string) => {
    if (listed++ < LIST_LIMIT) out.warn(scrub(line));
  };
  const r = await checkMedia(inventory, {
    token,
    concurrency,
    signal,
    onTotal: (n) => (total = n),
    onProgress: (done) => progress.update({ label: 'media-check', done, total: Math.max(total, done) }),
    onMissing: (o) => list(`missing: id=${o.id ?? '?'} pathname=${o.pathname ?? '(none)'}${o.pathname ? '' : ` url=${o.url ?? ''}`}`),
    onMismatch: (o) => list(`size mismatch: id=${o.id ?? '?'} pathname=${o.pathname ?? '(none)'} inventory ${o.expected} bytes, store ${o.actual} bytes`),
    onInvalid: (o) => list(`cannot check: id=${o.id ?? '?'} ${o.error}`),
  });
  progress.done();
  if (listed > LIST_LIMIT) out.warn(`… and ${listed - LIST_LIMIT} more (see --json for the full list)`);
  const secs = (r.durationMs / 1000).toFixed(1);
  const problems = r.missing.length > 0 || r.invalid.length > 0 || r.mismatched.length > 0;
  (problems ? out.warn : out.info)(
    `${r.missing.length === 0 && r.invalid.length === 0 ? 'ok' : 'MISSING MEDIA'}: checked ${r.checked} objects from ${inventory.label} in ${secs}s: ` +
      `${r.present} present, ${r.missing.length} missing, ${r.mismatched.length} size mismatch${r.mismatched.length === 1 ? '' : 'es'}` +
      (r.invalid.length ? `, ${r.invalid.length} could not be checked` : '') +
      (r.skipped ? `, ${r.skipped} rows without url or pathname skipped` : '') +
      (r.retries ? ` (${r.retries} transient errors retried)` : ''),
  );
  const ok = r.missing.length === 0 && r.invalid.length === 0;
  if (p.bool('json')) {
    out.json({
      ok,
      checked: r.checked,
      missing: r.missing.map((m) => ({ ...m, url: m.url === null ? null : scrub(m.url) })),
      mismatched: r.mismatched,
      ...(r.invalid.length ? { invalid: r.invalid } : {}),
      skipped: r.skipped,
      durationMs: r.durationMs,
    });
  }
  return ok ? 0 : EXIT_PROBLEMS;
}
