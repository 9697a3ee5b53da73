/**
 * `media-mirror DIR [--concurrency N]`: downloads every inventoried object into DIR (pathname layout, resumable).
 * `media-mirror --upload-from DIR [--map-out FILE] [--access auto|public|private]`: puts the mirrored objects the store
 * lacks back under their pathnames and prints the url mapping old → new for `relink-media --map`. With `auto` (the
 * default) an object goes back private when it was private (src/media/mirror.ts).
 * The inventory is the media table of the database (--db, else TURSO_DATABASE_URL), or a dump's media section
 * with --dump. With --json the last stdout line is the summary (in upload mode the mapping lines come before it).
 */
import { randomBytes } from 'node:crypto';
import { createWriteStream, type WriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { onInterrupt } from '../cleanup.js';
import { BackupError } from '../errors.js';
import { checkStoreAccess, requireBlobToken } from '../blob/client.js';
import { DEFAULT_CONCURRENCY } from '../media/check.js';
import { mirrorMedia, uploadMirror, type MirrorProblem } from '../media/mirror.js';
import type { Parsed } from './args.js';
import { concurrencyFlag, resolveInventory } from './media-common.js';
import { fmtBytes, makeOut, terminalSafe } from './output.js';
import { makeProgress } from './progress.js';
import { scrub } from './run.js';

const LIST_LIMIT = 1000;

/** A problem as printed: a signed url's query may carry a secret. */
const scrubbed = (m: MirrorProblem): MirrorProblem => ({ ...m, url: m.url === null ? null : scrub(m.url), error: scrub(m.error) });

/** Which way the mirror runs (download into DIR, or re-upload from --upload-from DIR), its flags checked. */
function mirrorMode(p: Parsed): { upload: string | undefined; access: 'public' | 'private' | 'auto' } {
  const upload = p.str('upload-from');
  if ((upload === undefined) === (p.positionals.length === 0)) {
    throw new BackupError('USAGE', `give either DIR (download) or --upload-from DIR (re-upload), not ${upload === undefined ? 'neither' : 'both'}`);
  }
  if (upload === undefined && (p.str('map-out') !== undefined || p.str('access') !== undefined)) {
    throw new BackupError('USAGE', '--map-out and --access go with --upload-from');
  }
  const access = p.str('access') ?? 'auto';
  if (access !== 'public' && access !== 'private' && access !== 'auto')
    throw new BackupError('USAGE', `--access must be public, private or auto (got ${access})`);
  return { upload, access };
}

/** What both directions of a mirror share: the flags, the output, the inventory, the callbacks. */
interface MirrorRun {
  p: Parsed;
  json: boolean;
  out: ReturnType<typeof makeOut>;
  inventory: Awaited<ReturnType<typeof resolveInventory>>;
  common: Parameters<typeof mirrorMedia>[2];
  /** Ends the progress line and says how many problems were not listed. */
  finish(): void;
}

/** `media-mirror DIR` (download) or `--upload-from DIR` (re-upload): 0 when complete, 1 otherwise. */
export async function mediaMirrorMain(p: Parsed, signal?: AbortSignal): Promise<number> {
  const { upload, access } = mirrorMode(p);
  const concurrency = concurrencyFlag(p.str('concurrency'), DEFAULT_CONCURRENCY);
  const token = requireBlobToken();
  const json = p.bool('json');
  // In upload mode stdout carries the mapping (old → new per line), so the summary goes to stderr.
  const out = makeOut({ json: json || upload !== undefined, quiet: p.bool('quiet') });
  const inventory = await resolveInventory(p.str('dump'), p);
  await checkStoreAccess(token, signal);
  const progress = makeProgress({ quiet: p.bool('quiet'), unit: 'objects' });
  let total = 0;
  let listed = 0;
  const onProblem = (kind: 'missing' | 'failed', problem: MirrorProblem) => {
    // Problems go to stderr: in upload mode stdout carries the mapping.
    if (listed++ < LIST_LIMIT)
      process.stderr.write(`${terminalSafe(scrub(`${kind === 'missing' ? 'missing' : 'failed'}: id=${problem.id ?? '?'} ${problem.error}`))}\n`);
  };
  const common = {
    token,
    concurrency,
    signal,
    onTotal: (n: number) => (total = n),
    onProgress: (done: number, bytes: number) =>
      progress.update({ label: upload ? 'media-mirror upload' : 'media-mirror', done, total: Math.max(total, done), bytes }),
    onProblem,
  };
  const finish = () => {
    progress.done();
    if (listed > LIST_LIMIT) process.stderr.write(`… and ${listed - LIST_LIMIT} more problems\n`);
  };
  const run: MirrorRun = { p, json, out, inventory, common, finish };
  return upload === undefined ? downloadMirror(run, p.positionals[0]!) : reuploadMirror(run, upload, access);
}

/** The download direction: every object into `dir`. */
async function downloadMirror({ json, out, inventory, common, finish }: MirrorRun, dir: string): Promise<number> {
  const r = await mirrorMedia(inventory, dir, common);
  finish();
  out.info(
    `${r.missing.length + r.failed.length ? 'INCOMPLETE' : 'ok'}: mirrored ${r.objects} objects from ${inventory.label} into ${dir} in ${(r.durationMs / 1000).toFixed(1)}s: ` +
      `${r.downloaded} downloaded (${fmtBytes(r.bytes)}), ${r.skipped} already there, ${r.missing.length} missing in the store, ${r.failed.length} failed` +
      (r.unreferenced ? `, ${r.unreferenced} rows without url or pathname` : ''),
  );
  const ok = r.missing.length + r.failed.length === 0;
  if (json) {
    const { objects, downloaded, bytes, skipped, durationMs } = r;
    const problems = { missing: r.missing.map(scrubbed), failed: r.failed.map(scrubbed) };
    out.json({ ok, mode: 'download', dir, objects, downloaded, bytes, skipped, ...problems, durationMs });
  }
  return ok ? 0 : 1;
}

/** The upload direction: every object re-uploaded from `upload`, the url mapping printed and kept (--map-out). */
async function reuploadMirror({ p, json, out, inventory, common, finish }: MirrorRun, upload: string, access: 'public' | 'private' | 'auto'): Promise<number> {
  const mapPath = p.str('map-out');
  const mapOut = mapPath ? await openMapFile(mapPath) : null;
  try {
    const r = await uploadMirror(inventory, upload, {
      ...common,
      access,
      onMapping: (from, to) => {
        // stdout is for reading (scrubbed, like every printed url); the --map-out file holds the exact urls.
        process.stdout.write(`${terminalSafe(scrub(from))} → ${terminalSafe(scrub(to))}\n`);
        mapOut?.add(from, to);
      },
    });
    finish();
    if (mapOut) await mapOut.commit();
    const saved = mapOut ? `, mapping written to ${mapPath} (apply it with relink --map ${mapPath})` : ' (save them with --map-out FILE for relink --map)';
    out.info(
      `${r.unavailable.length + r.failed.length ? 'INCOMPLETE' : 'ok'}: ${r.objects} objects from ${inventory.label}: ${r.uploaded} re-uploaded from ${upload} (${fmtBytes(r.bytes)}, ${r.uploadedPrivate} of them private), ` +
        `${r.present} already in the store, ${r.unavailable.length} unavailable, ${r.failed.length} failed; ${r.mapped} urls changed` +
        (r.mapped ? saved : ''),
    );
    const ok = r.unavailable.length + r.failed.length === 0;
    if (json) {
      const { objects, uploaded, uploadedPrivate, bytes, present, mapped, durationMs } = r;
      const problems = { unavailable: r.unavailable.map(scrubbed), failed: r.failed.map(scrubbed) };
      const counts = { objects, uploaded, uploadedPrivate, bytes, present, mapped };
      out.json({ ok, mode: 'upload', from: upload, ...counts, ...problems, mapFile: mapOut ? mapPath : null, durationMs });
    }
    return ok ? 0 : 1;
  } finally {
    await mapOut?.discard();
  }
}

/** The --map-out JSON object ({old: new}), streamed to a temporary name and renamed into place when complete. */
async function openMapFile(path: string) {
  const tmp = join(dirname(path), `.${basename(path)}.tmp-${randomBytes(4).toString('hex')}`);
  const ws: WriteStream = createWriteStream(tmp, { flags: 'wx', mode: 0o600 });
  await new Promise<void>((resolve, reject) => ws.once('open', () => resolve()).once('error', reject)).catch((e) => {
    throw new BackupError('SINK', `cannot write ${path}: ${(e as Error).message}`);
  });
  const unregister = onInterrupt(() => rm(tmp, { force: true }));
  let n = 0;
  let committed = false;
  ws.write('{');
  return {
    add(from: string, to: string) {
      ws.write(`${n++ ? ',' : ''}\n  ${JSON.stringify(from)}: ${JSON.stringify(to)}`);
    },
    async commit() {
      await new Promise<void>((resolve, reject) => ws.end(`${n ? '\n' : ''}}\n`, () => resolve()).once('error', reject));
      await rename(tmp, path);
      committed = true;
      unregister();
    },
    async discard() {
      if (committed) return;
      ws.destroy();
      await rm(tmp, { force: true });
      unregister();
    },
  };
}
