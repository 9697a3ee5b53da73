/**
 * Applying the retention policy (retention.ts) to the store: list, plan, and with `confirm` delete each dropped
 * backup's dump and manifest together in one del() call. Without `confirm` nothing is deleted (dry run).
 */
import { del } from '@vercel/blob';
import { objectFailure, withRetry } from './client.js';
import { listBackups, type BlobRef } from './list.js';
import { planRetention, type RetentionPolicy } from './retention.js';

export interface PruneItem {
  pathname: string;
  createdAt: string;
  complete: boolean;
  size: number;
  reasons: string[];
  /** The blobs deleted (or to delete) for this item: the dump and its manifest, or an orphan manifest alone. */
  pathnames: string[];
}

export interface PruneResult {
  mode: 'dry-run' | 'confirm';
  policy: RetentionPolicy;
  keep: PruneItem[];
  remove: PruneItem[];
  /** Pathnames actually deleted (confirm only). */
  deleted: string[];
}

export async function pruneBackups(
  token: string,
  policy: RetentionPolicy,
  opts: { confirm?: boolean; now?: Date; prefix?: string; incompleteGraceMs?: number; pageSize?: number } = {},
): Promise<PruneResult> {
  const listing = await listBackups(token, { prefix: opts.prefix, pageSize: opts.pageSize });
  const items = new Map<string, { size: number; blobs: BlobRef[] }>();
  for (const b of listing.backups) {
    items.set(b.pathname, {
      size: b.size,
      blobs: [{ pathname: b.pathname, url: b.url, size: b.size, uploadedAt: b.uploadedAt }, ...(b.manifest ? [b.manifest] : []), ...(b.sidecars ?? [])],
    });
  }
  for (const o of listing.orphans) items.set(o.pathname, { size: o.size, blobs: [o] });

  const plan = planRetention(
    [
      ...listing.backups.map((b) => ({ id: b.pathname, createdAt: b.createdAt, complete: b.complete, uploadedAt: b.uploadedAt })),
      ...listing.orphans.map((o) => ({ id: o.pathname, createdAt: o.uploadedAt, complete: false, uploadedAt: o.uploadedAt, orphan: true })),
    ],
    policy,
    opts.now,
    { incompleteGraceMs: opts.incompleteGraceMs },
  );
  const toItem = (d: { id: string; createdAt: string; complete: boolean; reasons: string[] }): PruneItem => ({
    pathname: d.id,
    createdAt: d.createdAt,
    complete: d.complete,
    size: items.get(d.id)!.size,
    reasons: d.reasons,
    pathnames: items.get(d.id)!.blobs.map((b) => b.pathname),
  });
  const result: PruneResult = {
    mode: opts.confirm ? 'confirm' : 'dry-run',
    policy,
    keep: plan.keep.map(toItem),
    remove: plan.remove.map(toItem),
    deleted: [],
  };
  if (!opts.confirm) return result;
  for (const item of result.remove) {
    const urls = items.get(item.pathname)!.blobs.map((b) => b.url);
    try {
      // Dump and manifest in one call: they go together.
      await withRetry(`deleting ${item.pathname} (after ${result.deleted.length} blob(s) were deleted)`, () => del(urls, { token }));
    } catch (e) {
      objectFailure(e);
    }
    result.deleted.push(...item.pathnames);
  }
  return result;
}
