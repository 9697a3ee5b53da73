import type { Readable } from 'node:stream';
import { BufferPool } from '../../format/buffer-pool.js';
import { dumpBytes } from '../../format/decode.js';
import { readDump } from '../../format/reader.js';
import type { RestoreInput } from './types.js';

/**
 * A v1 dump (gzip, or encrypted with `key`), opened anew for every pass. Each pass inflates into a pool of buffers
 * its reader gives back (format/buffer-pool.ts): the restore's passes use an event only until they ask for the next.
 */
export function dumpInput(openInput: () => Promise<Readable>, key?: Buffer): RestoreInput {
  return {
    kind: 'dump',
    warnings: [],
    async *read({ checksums, memory }) {
      const pool = new BufferPool();
      const { bytes } = await dumpBytes(await openInput(), key, { memory, pool });
      yield* readDump(bytes, { checksums, release: (piece) => pool.release(piece) });
    },
  };
}
