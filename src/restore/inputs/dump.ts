import type { Readable } from 'node:stream';
import { dumpBytes } from '../../format/decode.js';
import { readDump } from '../../format/reader.js';
import type { RestoreInput } from './types.js';

/** A v1 dump (gzip, or encrypted with `key`), opened anew for every pass. */
export function dumpInput(openInput: () => Promise<Readable>, key?: Buffer): RestoreInput {
  return {
    kind: 'dump',
    warnings: [],
    async *read({ checksums, collectEvery }) {
      const { bytes } = await dumpBytes(await openInput(), key, collectEvery);
      yield* readDump(bytes, { checksums });
    },
  };
}
