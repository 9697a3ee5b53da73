/**
 * The backup history, derived from what the store already holds and nobody rewrites: each dump, its sidecar
 * manifest (written once, after the dump; since issue 15 with the run's summary in `run`) and its drill records
 * (drills.ts). There is no second, mutable history file that two overlapping runs could corrupt.
 *
 * Two stores: a local folder (`backups/`, and one level below it, like the drill's search) and the Vercel Blob
 * store (`backups/` prefix). Both list newest first and can stream a dump for `check --verify`.
 */
import { createReadStream, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { MANIFEST_SUFFIX } from '../blob/config.js';
import { BackupError } from '../errors.js';
import { type Manifest, sizeProblem } from '../format/lines.js';
import { DRILL_MARK, parseDrillRecord, type DrillRecord } from './drills.js';

export interface BackupRecord {
  /** A local path or a Blob pathname. */
  name: string;
  /** The manifest's createdAt (the snapshot's start); else the time in the name, the upload or the file's mtime. */
  createdAt: string;
  /** Bytes of the dump as stored. */
  size: number;
  complete: boolean;
  /** Why it is incomplete. */
  problem?: string;
  manifest?: Manifest;
  /** Newest first. */
  drills: DrillRecord[];
}

export interface BackupStore {
  /** What the output may call it: "local folder backups/", "Vercel Blob store (backups/)". Never a token. */
  label: string;
  /** Every dump in the store, newest first. */
  list(): Promise<BackupRecord[]>;
  /** The dump's bytes as stored, streamed. */
  open(record: BackupRecord): Promise<Readable>;
}

/**
 * A dump in a local folder: any `….ndjson.gz`, whatever it is called (`backup --out backups/today.ndjson.gz`, the
 * library's `out`), as the Blob listing takes them. Never a sidecar (`….manifest.json`, `….drill-….json`) nor what a
 * running backup writes (`.NAME.partial-…`, `.NAME.manifest.json.tmp-…`): those do not end in `.ndjson.gz`, and
 * hidden names (those, and e.g. macOS `._NAME` files) are skipped anyway. A dump renamed into place whose manifest
 * is not written yet is listed, incomplete, as any run that has not finished.
 */
export const isDumpName = (name: string): boolean => !name.startsWith('.') && name.endsWith('.ndjson.gz');

/** `backup-2026-01-02T03-04-05.678Z….ndjson.gz` → its ISO time, or null. */
export function timeFromName(name: string): string | null {
  const m = /backup-(\d{4}-\d\d-\d\dT\d\d)-(\d\d)-(\d\d(?:\.\d+)?Z)/.exec(name);
  if (!m) return null;
  const t = Date.parse(`${m[1]}:${m[2]}:${m[3]}`);
  return Number.isNaN(t) ? null : new Date(t).toISOString();
}

const validTime = (s: unknown): s is string => typeof s === 'string' && !Number.isNaN(Date.parse(s));

/** Newest first by createdAt, then by name. */
export const byNewest = (a: BackupRecord, b: BackupRecord) => Date.parse(b.createdAt) - Date.parse(a.createdAt) || (a.name < b.name ? 1 : -1);

/** Completeness of a dump from its manifest, the same rule as the Blob listing: readable, and the size matches. */
function judge(size: number, manifestText: string | null): { complete: boolean; problem?: string; manifest?: Manifest } {
  if (manifestText === null) return { complete: false, problem: 'no manifest (the run did not finish)' };
  let manifest: Manifest;
  try {
    manifest = JSON.parse(manifestText) as Manifest;
  } catch {
    return { complete: false, problem: 'its manifest is unreadable (the run did not finish writing it, or it was changed)' };
  }
  if (manifest?.file?.bytes !== size) return { complete: false, problem: sizeProblem(size, manifest?.file?.bytes), manifest };
  return { complete: true, manifest };
}

const readDrills = (texts: string[]) =>
  texts
    .map(parseDrillRecord)
    .filter((r): r is DrillRecord => r !== null)
    .sort((a, b) => Date.parse(b.drilledAt) - Date.parse(a.drilledAt));

function localRecord(dir: string, file: string, siblings: string[]): BackupRecord {
  const path = join(dir, file);
  const st = statSync(path);
  const mpath = `${path}.manifest.json`;
  const verdict = judge(st.size, existsSync(mpath) ? readFileSync(mpath, 'utf8') : null);
  const drills = readDrills(siblings.filter((s) => s.startsWith(`${file}${DRILL_MARK}`)).map((s) => readFileSync(join(dir, s), 'utf8')));
  const createdAt = validTime(verdict.manifest?.createdAt)
    ? new Date(verdict.manifest!.createdAt).toISOString()
    : (timeFromName(file) ?? st.mtime.toISOString());
  return { name: path, createdAt, size: st.size, drills, ...verdict };
}

/** Why a manifest whose dump is gone is listed: the run finished, then its dump was deleted or moved. */
export const MISSING_DUMP = 'the dump is missing (only its manifest remains)';

/** A manifest left without its dump: an incomplete record at the dump's path, dated by the manifest if it can be read. */
function orphanRecord(dir: string, manifestFile: string): BackupRecord {
  const dump = manifestFile.slice(0, -MANIFEST_SUFFIX.length);
  const path = join(dir, manifestFile);
  let createdAt: unknown;
  try {
    createdAt = (JSON.parse(readFileSync(path, 'utf8')) as Manifest)?.createdAt;
  } catch {
    // Unreadable: dated by its name, else by when it was written.
  }
  const when = validTime(createdAt) ? new Date(createdAt).toISOString() : (timeFromName(dump) ?? statSync(path).mtime.toISOString());
  return { name: join(dir, dump), createdAt: when, size: 0, complete: false, problem: MISSING_DUMP, drills: [] };
}

const isOrphanManifest = (name: string, names: Set<string>) =>
  name.endsWith(MANIFEST_SUFFIX) && isDumpName(name.slice(0, -MANIFEST_SUFFIX.length)) && !names.has(name.slice(0, -MANIFEST_SUFFIX.length));

/**
 * Every dump in the folder `dir` and its subfolders one level down, newest first (by createdAt, then name). The
 * drill's search for the latest backup uses it too, so that check, report and drill agree on what a dump is.
 */
export function localDumps(dir: string): BackupRecord[] {
  const out: BackupRecord[] = [];
  const scan = (d: string, depth: number) => {
    const entries = readdirSync(d, { withFileTypes: true });
    const names = entries.map((e) => e.name);
    const present = new Set(names);
    for (const e of entries) {
      if (e.isDirectory() && depth === 0) scan(join(d, e.name), 1);
      else if (e.isFile() && isDumpName(e.name)) out.push(localRecord(d, e.name, names));
      else if (e.isFile() && isOrphanManifest(e.name, present)) out.push(orphanRecord(d, e.name));
    }
  };
  scan(dir, 0);
  return out.sort(byNewest);
}

/** A local folder of backups (and its subfolders one level down). A missing folder is a NOT_FOUND (exit 1). */
export function localStore(dir: string): BackupStore {
  return {
    label: `local folder ${dir}`,
    async list() {
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new BackupError('NOT_FOUND', `${dir} is not a folder: nothing to check`);
      return localDumps(dir);
    },
    async open(record) {
      return createReadStream(record.name);
    },
  };
}

/** A manifest blob whose dump is gone, dated by its upload (the end of its run). */
const blobOrphan = (m: { pathname: string; uploadedAt: string }): BackupRecord => ({
  name: m.pathname.slice(0, -MANIFEST_SUFFIX.length),
  createdAt: new Date(m.uploadedAt).toISOString(),
  size: 0,
  complete: false,
  problem: MISSING_DUMP,
  drills: [],
});

/** The Vercel Blob store under `prefix`, read with `token` (the listing, manifests and drill records). */
export function blobStore(token: string, prefix?: string): BackupStore {
  const urls = new Map<string, { url: string; size: number }>();
  return {
    label: `Vercel Blob store (${prefix ?? 'backups/'})`,
    async list() {
      const { listBackups } = await import('../blob/list.js');
      const { readBlobText } = await import('../blob/client.js');
      const listing = await listBackups(token, { prefix });
      // Only each dump's newest drill record is read (names sort by time): one small download per drilled dump.
      return inBatches(listing.backups, 8, async (b): Promise<BackupRecord> => {
        urls.set(b.pathname, { url: b.url, size: b.size });
        const newest = (b.sidecars ?? []).filter((s) => s.pathname.includes(DRILL_MARK)).sort((x, y) => (x.pathname < y.pathname ? 1 : -1))[0];
        const texts = newest ? [await readBlobText(newest.url, token, newest.pathname)] : [];
        return {
          name: b.pathname,
          createdAt: b.createdAt,
          size: b.size,
          complete: b.complete,
          problem: b.problem,
          manifest: b.data,
          drills: readDrills(texts),
        };
      }).then((r) => [...r, ...listing.orphans.map(blobOrphan)].sort(byNewest));
    },
    async open(record) {
      const { openBlobStream } = await import('../blob/client.js');
      const ref = urls.get(record.name);
      if (!ref) throw new BackupError('INTERNAL', `${record.name} was not listed before being opened`);
      return openBlobStream(ref.url, token, record.name, { size: ref.size });
    },
  };
}

/** Maps `items` through `fn`, `n` at a time. */
async function inBatches<T, R>(items: T[], n: number, fn: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = [];
  for (let i = 0; i < items.length; i += n) out.push(...(await Promise.all(items.slice(i, i + n).map(fn))));
  return out;
}
