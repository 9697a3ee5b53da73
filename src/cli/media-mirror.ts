/**
 * `media-mirror DIR [--concurrency N]`: downloads every inventoried object into DIR (pathname layout, resumable).
 * `media-mirror --upload-from DIR [--map-out FILE] [--access auto|public|private]`: puts the mirrored objects the store
 * lacks back under their pathnames and prints the url mapping old → new for `relink-media --map`. With `auto` (the
 * default) an object goes back private when it was private (src/media/mirror.ts).
 * The inventory is TURSO_DATABASE_URL's media table, or a dump's media section with --dump.
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
import { parse } from './args.js';
import { concurrencyFlag, MEDIA_FLAGS, MEDIA_USAGE, resolveInventory } from './media-common.js';
import { fmtBytes, makeOut } from './output.js';
import { makeProgress } from './progress.js';
import { scrub } from './run.js';

const USAGE = `media-mirror DIR [--concurrency N] [--dump DUMP] ${MEDIA_USAGE} [--quiet]\n       media-mirror --upload-from DIR [--map-out FILE] [--access auto|public|private] [--concurrency N] [--dump DUMP] ${MEDIA_USAGE}`;

const LIST_LIMIT = 1000;

export async function mediaMirrorMain(argv: string[], signal?: AbortSignal): Promise<number> {
  const { values: v, positionals } = parse(
    argv,
    {
      'upload-from': { type: 'string' },
      'map-out': { type: 'string' },
      access: { type: 'string' },
      dump: { type: 'string' },
      concurrency: { type: 'string' },
      quiet: { type: 'boolean' },
      ...MEDIA_FLAGS,
    },
    { min: 0, max: 1, usage: USAGE },
  );
  const upload = v['upload-from'];
  if ((upload === undefined) === (positionals.length === 0)) {
    throw new BackupError('USAGE', `give either DIR (download) or --upload-from DIR (re-upload), not ${upload === undefined ? 'neither' : 'both'} (usage: ${USAGE})`);
  }
  if (upload === undefined && (v['map-out'] !== undefined || v.access !== undefined)) {
    throw new BackupError('USAGE', `--map-out and --access go with --upload-from (usage: ${USAGE})`);
  }
  const access = v.access ?? 'auto';
  if (access !== 'public' && access !== 'private' && access !== 'auto') throw new BackupError('USAGE', `--access must be public, private or auto (got ${access})`);
  const concurrency = concurrencyFlag(v.concurrency, DEFAULT_CONCURRENCY);
  const token = requireBlobToken();
  // In upload mode stdout carries the mapping (old → new per line), so the summary goes to stderr.
  const out = makeOut({ json: upload !== undefined, quiet: v.quiet });
  const inventory = await resolveInventory(v.dump, v);
  await checkStoreAccess(token, signal);
  const progress = makeProgress({ quiet: v.quiet, unit: 'objects' });
  let total = 0;
  let listed = 0;
  const onProblem = (kind: 'missing' | 'failed', p: MirrorProblem) => {
    // Problems go to stderr: in upload mode stdout carries the mapping.
    if (listed++ < LIST_LIMIT) process.stderr.write(scrub(`${kind === 'missing' ? 'missing' : 'failed'}: id=${p.id ?? '?'} ${p.error}`) + '\n');
  };
  const common = {
    token,
    concurrency,
    signal,
    onTotal: (n: number) => (total = n),
    onProgress: (done: number, bytes: number) => progress.update({ label: upload ? 'media-mirror upload' : 'media-mirror', done, total: Math.max(total, done), bytes }),
    onProblem,
  };

  if (upload === undefined) {
    const dir = positionals[0]!;
    const r = await mirrorMedia(inventory, dir, common);
    progress.done();
    if (listed > LIST_LIMIT) process.stderr.write(`… and ${listed - LIST_LIMIT} more problems\n`);
    out.info(
      `${r.missing.length + r.failed.length ? 'INCOMPLETE' : 'ok'}: mirrored ${r.objects} objects from ${inventory.label} into ${dir} in ${(r.durationMs / 1000).toFixed(1)}s: ` +
        `${r.downloaded} downloaded (${fmtBytes(r.bytes)}), ${r.skipped} already there, ${r.missing.length} missing in the store, ${r.failed.length} failed` +
        (r.unreferenced ? `, ${r.unreferenced} rows without url or pathname` : ''),
    );
    return r.missing.length + r.failed.length ? 1 : 0;
  }

  const mapOut = v['map-out'] ? await openMapFile(v['map-out']) : null;
  try {
    const r = await uploadMirror(inventory, upload, {
      ...common,
      access,
      onMapping: (from, to) => {
        // stdout is for reading (scrubbed, like every printed url); the --map-out file holds the exact urls.
        process.stdout.write(`${scrub(from)} → ${scrub(to)}\n`);
        mapOut?.add(from, to);
      },
    });
    progress.done();
    if (listed > LIST_LIMIT) process.stderr.write(`… and ${listed - LIST_LIMIT} more problems\n`);
    if (mapOut) await mapOut.commit();
    out.info(
      `${r.unavailable.length + r.failed.length ? 'INCOMPLETE' : 'ok'}: ${r.objects} objects from ${inventory.label}: ${r.uploaded} re-uploaded from ${upload} (${fmtBytes(r.bytes)}, ${r.uploadedPrivate} of them private), ` +
        `${r.present} already in the store, ${r.unavailable.length} unavailable, ${r.failed.length} failed; ${r.mapped} urls changed` +
        (r.mapped ? (mapOut ? `, mapping written to ${v['map-out']} (apply it with relink-media --map ${v['map-out']})` : ' (save them with --map-out FILE for relink-media --map)') : ''),
    );
    return r.unavailable.length + r.failed.length ? 1 : 0;
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
