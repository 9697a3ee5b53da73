/**
 * From a dump's stored bytes to its uncompressed NDJSON: sniffed by content (gzip, the encryption container, or
 * plain JSON for legacy backups), decrypted and decompressed as one `pipeline`, so an error in any stage ends the
 * whole chain and surfaces once, as a one-line CORRUPT/DECRYPT error in the operator's terms.
 */
import { pipeline, Readable } from 'node:stream';
import { createDecryptStream, isEncrypted } from '../crypto/container.js';
import { BackupError } from '../errors.js';
import { createMemoryGovernor, type GovernorOptions } from '../memory.js';
import type { BufferPool } from './buffer-pool.js';
import { DEFAULT_GUNZIP, gunzipMembers, gzipError } from './gunzip.js';

/** `ndjson`: a dump someone uncompressed (to look into it); `json`: a legacy JSON backup. */
export type DumpKind = 'gzip' | 'encrypted' | 'ndjson' | 'json' | 'unknown';

/** What to say of a dump that is not compressed: it is refused with the way to make it readable again. */
export const UNCOMPRESSED = 'is an uncompressed dump (plain NDJSON): dumps are read gzip-compressed, as written; compress it again (gzip FILE) and retry';

export interface DumpInput {
  kind: DumpKind;
  /** The stream's bytes, unchanged, starting from the first. */
  raw: Readable;
}

/** Sniffs the first bytes of `stream` without consuming them. */
export async function sniff(stream: Readable): Promise<DumpInput> {
  const it = stream[Symbol.asyncIterator]();
  const head: Buffer[] = [];
  let len = 0;
  let done = false;
  while (len < 16) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    head.push(b);
    len += b.length;
  }
  const first = Buffer.concat(head);
  let kind: DumpKind = 'unknown';
  if (first[0] === 0x1f && first[1] === 0x8b) kind = 'gzip';
  else if (isEncrypted(first)) kind = 'encrypted';
  else if (first.subarray(0, 16).toString('latin1') === '{"type":"header"') kind = 'ndjson';
  else if (/^\s*[{[]/.test(first.subarray(0, 16).toString('latin1'))) kind = 'json';
  async function* replay() {
    if (first.length) yield first;
    if (done) return;
    for (;;) {
      const r = await it.next();
      if (r.done) return;
      yield r.value as Buffer;
    }
  }
  return { kind, raw: Readable.from(replay(), { objectMode: false }) };
}

/**
 * The uncompressed bytes of a dump. `key` decrypts an encrypted dump; without it such a dump is refused with a
 * clear message. Errors from any stage surface from the returned iterator; leaving it early stops every stage.
 * `memory`: when to collect garbage as the bytes go by (memory.ts); `pool`: the members' buffers, for a reader that
 * gives them back (readDump's `release`).
 */
export async function dumpBytes(
  stream: Readable,
  key?: Buffer,
  opts: { memory?: GovernorOptions; pool?: BufferPool } = {},
): Promise<{ kind: DumpKind; bytes: AsyncIterable<Buffer> }> {
  const input = await sniff(stream);
  if (input.kind === 'encrypted' && !key) {
    input.raw.destroy();
    throw new BackupError('CONFIG', 'the dump is encrypted: set BACKUP_ENCRYPTION_KEY to the key it was written with');
  }
  if (input.kind !== 'gzip' && input.kind !== 'encrypted') {
    input.raw.destroy();
    const what =
      input.kind === 'ndjson'
        ? `the file ${UNCOMPRESSED}`
        : input.kind === 'json'
          ? 'not a gzip dump (it is plain JSON)'
          : 'not a turso-backup dump (not gzip)';
    throw new BackupError('CORRUPT', what);
  }
  // pipeline() ends every stage when one fails and hands that error to the last stream, which gunzip iterates.
  const gzipped = input.kind === 'encrypted' ? (pipeline(input.raw, createDecryptStream(key!), () => {}) as Readable) : input.raw;
  // Reading a dump churns through its whole uncompressed size in buffers: keep the heap from drifting upwards.
  const memory = createMemoryGovernor(opts.memory ?? { everyBytes: 8 * 1024 * 1024 });
  async function* bytes(): AsyncGenerator<Buffer> {
    try {
      for await (const chunk of gunzipMembers(gzipped, { ...DEFAULT_GUNZIP, pool: opts.pool })) {
        memory.tick(chunk.length);
        yield chunk;
      }
    } catch (e) {
      throw gzipError(e);
    } finally {
      gzipped.destroy();
    }
  }
  return { kind: input.kind, bytes: bytes() };
}
