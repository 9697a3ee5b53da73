/**
 * `verifyDump(source)`: a dump checked end to end without any database, for the library and the CLI
 * (`turso-backup verify --json` prints what this returns).
 */
import { Readable } from 'node:stream';
import { dumpSourceOf, resolveDumpSource } from '../dump-source.js';
import { encryptionKeyOf, requiredSource } from './options.js';
import { BackupError } from '../errors.js';
import { verify } from '../verify.js';

export interface VerifyOptions {
  /** The key of an encrypted dump. */
  encryptionKey?: Buffer | string;
  /** The Blob store's token, for a Blob source (default: BLOB_READ_WRITE_TOKEN). */
  blobToken?: string;
  /** Aborting stops reading (the error's code is INTERRUPTED). */
  signal?: AbortSignal;
}

/** A verified dump: the summary `turso-backup verify --json` prints. */
export interface VerifySummary {
  ok: true;
  /** The source as given (a path, Blob pathname or URL), or `stream`. */
  file: string;
  /** The dump format's version. */
  version: number;
  createdAt: string;
  encrypted: boolean;
  /** Rows per table. */
  tables: Record<string, number>;
  mediaRows: number;
  totalRows: number;
  /**
   * The SHA-256 of the uncompressed content, from its trailer: the `contentSha256` of `backup --json` and of the
   * manifest (the file's own SHA-256 is their `sha256` / `file.sha256`).
   */
  sha256: string;
  durationMs: number;
}

/** The stream, destroyed with an INTERRUPTED error when the signal fires. */
function abortable(stream: Readable, signal: AbortSignal | undefined): Readable {
  if (!signal) return stream;
  const stop = () => stream.destroy(new BackupError('INTERRUPTED', 'verification interrupted'));
  if (signal.aborted) stop();
  else signal.addEventListener('abort', stop, { once: true });
  stream.once('close', () => signal.removeEventListener('abort', stop));
  return stream;
}

/**
 * Verifies a dump without any database: gzip integrity, format version, every table's row count and checksum, the
 * media inventory, the trailer and its whole-stream checksum.
 * @param source a local path, a Blob pathname (`backups/…`) or Blob URL, a readable stream, or a function opening one.
 * @returns the summary `turso-backup verify --json` prints.
 * @throws BackupError: CORRUPT (damaged, truncated, not a dump), DECRYPT, CONFIG (no key), UNSUPPORTED (a newer format, a legacy JSON backup), NOT_FOUND.
 */
export async function verifyDump(source: string | Readable | (() => Promise<Readable>), options: VerifyOptions = {}): Promise<VerifySummary> {
  const started = Date.now();
  if (!(source instanceof Readable))
    requiredSource(source, "verifyDump's source", 'the dump, a path, a Blob pathname or URL, a stream or a function opening one');
  const key = encryptionKeyOf(options.encryptionKey);
  const name = typeof source === 'string' ? source : 'stream';
  let stream: Readable;
  if (source instanceof Readable) {
    stream = source;
  } else {
    const input = typeof source === 'string' ? await resolveDumpSource(source, { blobToken: options.blobToken }) : await dumpSourceOf(source, 'the dump');
    if (input.legacy) throw new BackupError('UNSUPPORTED', `${name} is a legacy JSON backup, not a turso-backup dump: it has no checksums to verify`);
    stream = await input.openInput();
  }
  if (options.signal?.aborted) throw new BackupError('INTERRUPTED', 'verification interrupted');
  const r = await verify(abortable(stream, options.signal), { key });
  return {
    ok: true,
    file: name,
    version: r.header.version,
    createdAt: r.header.createdAt,
    encrypted: r.encrypted,
    tables: Object.fromEntries(Object.entries(r.tables).map(([n, t]) => [n, t.rows])),
    mediaRows: r.media?.rows ?? 0,
    totalRows: r.trailer.rows,
    sha256: r.trailer.sha256,
    durationMs: Date.now() - started,
  };
}
