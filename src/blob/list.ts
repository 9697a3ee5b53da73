/**
 * The backups in a Vercel Blob store: every `backups/…ndjson.gz` paired with its `.manifest.json` sidecar. A dump
 * with a readable manifest that matches its size is complete; one without (upload still finishing, manifest upload
 * failed, or an old crash) is incomplete. Manifests whose dump is gone are reported as orphans.
 */
import { list, type ListBlobResultBlob } from '@vercel/blob';
import pLimit from 'p-limit';
import { type Manifest, sizeProblem } from '../format/lines.js';
import { BACKUP_PREFIX, DUMP_SUFFIX, MANIFEST_SUFFIX, objectFailure, readBlobText, withRetry } from './client.js';

export interface BlobRef {
  pathname: string;
  url: string;
  size: number;
  uploadedAt: string;
}

export interface BackupEntry {
  pathname: string;
  url: string;
  /** Bytes of the dump blob. */
  size: number;
  /** When the dump blob was stored (server time). */
  uploadedAt: string;
  /** The backup's own time: the manifest's createdAt (the snapshot's start), else uploadedAt. */
  createdAt: string;
  complete: boolean;
  /** Why an entry is incomplete. */
  problem?: string;
  manifest?: BlobRef;
  tables?: number;
  rows?: number;
  sha256?: string;
  encrypted?: boolean;
  source?: string;
  /** The manifest as read (issue 15: history, check and report need its per-table rows and run summary). */
  data?: Manifest;
  /** Other `<dump>.…` blobs beside it (drill records, src/monitor/drills.ts): they go when the dump goes. */
  sidecars?: BlobRef[];
}

export interface BackupListing {
  prefix: string;
  /** Newest first (by createdAt). */
  backups: BackupEntry[];
  /** Manifests without a dump. */
  orphans: BlobRef[];
  /** Other blobs under the prefix (not dumps, not manifests). */
  others: number;
}

const ref = (b: ListBlobResultBlob): BlobRef => ({
  pathname: b.pathname,
  url: b.url,
  size: b.size,
  uploadedAt: new Date(b.uploadedAt).toISOString(),
});

/** Every blob under `prefix`, following the cursor. */
export async function listAll(token: string, prefix = BACKUP_PREFIX, pageSize = 1000): Promise<BlobRef[]> {
  const out: BlobRef[] = [];
  let cursor: string | undefined;
  try {
    do {
      const page = await withRetry(`listing of ${prefix}`, () => list({ prefix, cursor, limit: pageSize, token }));
      out.push(...page.blobs.map(ref));
      cursor = page.hasMore ? page.cursor : undefined;
    } while (cursor);
  } catch (e) {
    return objectFailure(e);
  }
  return out;
}

async function readManifest(m: BlobRef, token: string): Promise<Manifest> {
  return JSON.parse(await readBlobText(m.url, token, m.pathname)) as Manifest;
}

export async function listBackups(token: string, opts: { prefix?: string; pageSize?: number } = {}): Promise<BackupListing> {
  const prefix = opts.prefix ?? BACKUP_PREFIX;
  const blobs = await listAll(token, prefix, opts.pageSize);
  const byPath = new Map(blobs.map((b) => [b.pathname, b]));
  const dumps = blobs.filter((b) => b.pathname.endsWith(DUMP_SUFFIX));
  const manifests = blobs.filter((b) => b.pathname.endsWith(MANIFEST_SUFFIX));
  const orphans = manifests.filter((m) => !byPath.has(m.pathname.slice(0, -MANIFEST_SUFFIX.length)));
  const sidecarsOf = (dump: string) => blobs.filter((b) => b.pathname.startsWith(`${dump}.`) && !b.pathname.endsWith(MANIFEST_SUFFIX));
  const others = blobs.length - dumps.length - manifests.length;

  // Manifests are read eight at a time: a store holds hundreds of backups.
  const limit = pLimit(8);
  const backups = await Promise.all(
    dumps.map((d) =>
      limit(async (): Promise<BackupEntry> => {
        const base: BackupEntry = {
          pathname: d.pathname,
          url: d.url,
          size: d.size,
          uploadedAt: d.uploadedAt,
          createdAt: d.uploadedAt,
          complete: false,
          sidecars: sidecarsOf(d.pathname),
        };
        const m = byPath.get(`${d.pathname}${MANIFEST_SUFFIX}`);
        if (!m) return { ...base, problem: 'no manifest (upload unfinished or failed)' };
        let manifest: Manifest;
        try {
          manifest = await readManifest(m, token);
        } catch (e) {
          return { ...base, manifest: m, problem: `manifest unreadable: ${(e as Error).message.split('\n')[0]}` };
        }
        const entry: BackupEntry = {
          ...base,
          manifest: m,
          createdAt:
            typeof manifest.createdAt === 'string' && !Number.isNaN(Date.parse(manifest.createdAt)) ? new Date(manifest.createdAt).toISOString() : d.uploadedAt,
          tables: manifest.tables ? Object.keys(manifest.tables).length : undefined,
          rows: manifest.totalRows,
          sha256: manifest.file?.sha256,
          encrypted: manifest.file?.encrypted,
          source: manifest.source,
          data: manifest,
        };
        if (manifest.file?.bytes !== d.size) return { ...entry, problem: sizeProblem(d.size, manifest.file?.bytes) };
        return { ...entry, complete: true };
      }),
    ),
  );
  backups.sort((a, b) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.pathname < b.pathname ? 1 : -1));
  return { prefix, backups, orphans, others };
}
