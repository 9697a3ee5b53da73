/**
 * Where a dump comes from: a SOURCE (a path, a Blob pathname or a blob URL) resolved to something that can be opened
 * more than once (a restore reads it twice: verify pass, load pass), told apart by content (a v1 dump or a legacy
 * JSON backup).
 *
 * SOURCE is, in this order: an existing local file; a Vercel Blob pathname (`backups/…`) or a blob URL (http(s)),
 * looked up with head() and streamed with an authenticated fetch of the url the store returned (never of the
 * argument itself, so the token only goes to the store); anything else is a missing file.
 */
import { createReadStream, existsSync, openSync, statSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { DUMP_SUFFIX, looksLikeBlobRef, MANIFEST_SUFFIX, requireBlobToken } from './blob/config.js';
import { BackupError } from './errors.js';
import { sniff } from './format/decode.js';

/** A local dump file as a stream; NOT_FOUND says why it cannot be read. */
export function openLocalFile(path: string): Readable {
  let isFile: boolean;
  try {
    isFile = statSync(path).isFile();
  } catch (e) {
    if (denied(e)) throw cannotRead(path);
    throw new BackupError('NOT_FOUND', `${path} does not exist`);
  }
  if (!isFile) throw new BackupError('NOT_FOUND', `${path} is not a file`);
  // Opened here, not by the stream: a file the user may not read (dumps are 0600) is refused in the same words as a
  // directory it may not enter, instead of failing later as the stream's error.
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    if (denied(e)) throw cannotRead(path);
    throw e;
  }
  return createReadStream(path, { fd, highWaterMark: 1024 * 1024 });
}

const denied = (e: unknown) => ['EACCES', 'EPERM'].includes((e as NodeJS.ErrnoException).code ?? '');
const cannotRead = (path: string) => new BackupError('NOT_FOUND', `cannot read ${path}: permission denied`);

export interface DumpSource {
  openInput: () => Promise<Readable>;
  legacy: boolean;
  label: string;
  /** Read from the Blob store (a pathname or a blob URL), not from a local file or a caller's stream. */
  fromBlob: boolean;
}

export interface DumpSourceOptions {
  /** The Blob store's read-write token, for a pathname or URL source (default: BLOB_READ_WRITE_TOKEN). */
  blobToken?: string;
  env?: NodeJS.ProcessEnv;
}

async function blobInput(source: string, opts: DumpSourceOptions): Promise<() => Promise<Readable>> {
  const env = opts.env ?? process.env;
  if (!opts.blobToken && !env.BLOB_READ_WRITE_TOKEN?.trim() && !/^https?:/i.test(source)) {
    throw new BackupError('NOT_FOUND', `${source} is not a local file, and BLOB_READ_WRITE_TOKEN is not set to look for it in the Blob store`);
  }
  const token = opts.blobToken || requireBlobToken(env);
  // Loaded only for blob sources: a local restore never loads @vercel/blob.
  const { headBlob, openBlobStream } = await import('./blob/client.js');
  const meta = await headBlob(source, token);
  // Each call is a new download; size and etag must match the head(), so both passes read the same bytes.
  return () => openBlobStream(meta.url, token, meta.pathname, { size: meta.size, etag: meta.etag });
}

/** SOURCE as a dump that can be opened once per pass. */
export async function resolveDumpSource(source: string, opts: DumpSourceOptions = {}): Promise<DumpSource> {
  // A manifest is JSON and would pass for a legacy backup: verify called it one and restore said it was not.
  if (source.endsWith(DUMP_SUFFIX + MANIFEST_SUFFIX)) {
    const dump = source.slice(0, -MANIFEST_SUFFIX.length);
    throw new BackupError('USAGE', `${source} is a backup's manifest, not its dump: give ${dump}`);
  }
  let openInput: () => Promise<Readable>;
  const fromBlob = !existsSync(source) && looksLikeBlobRef(source);
  if (!fromBlob) {
    openInput = async () => openLocalFile(source);
  } else {
    openInput = await blobInput(source, opts);
  }
  return { ...(await dumpSourceOf(openInput, fromBlob ? `blob:${source}` : source, source)), fromBlob };
}

/** A dump the caller opens (a library user's stream factory), told apart by content like any other source. */
export async function dumpSourceOf(openInput: () => Promise<Readable>, label: string, name = label): Promise<DumpSource> {
  const first = await sniff(await openInput());
  first.raw.destroy();
  if (first.kind === 'unknown') throw new BackupError('CORRUPT', `${name} is neither a turso-backup dump nor a JSON backup`);
  return { openInput, legacy: first.kind === 'json', label, fromBlob: false };
}
